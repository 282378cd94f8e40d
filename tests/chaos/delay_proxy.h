// A userspace TCP proxy that adds latency: the chaos harness's slow-link
// fault (the kernel's netem is not available everywhere, and needs a qdisc
// per veth). It listens on one address, connects each accepted connection
// to one target, and forwards the bytes of both directions after `delay`
// (plus up to `jitter`). Each chunk read is stamped with its release time
// and queued per direction; release times never decrease, so bytes leave
// in the order they came — a slow link, never a reordering one (TCP would
// not reorder either).
//
// One thread per proxy runs a poll loop over the listener and every
// connection. stop() (and the destructor) resets every connection it
// carries — the nodes see the link break and redial — and joins the thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "common/status.h"

namespace chaos {

struct DelayProxyOptions {
  std::string listen_host;  // an IPv4 address; the port is chosen by the kernel
  std::string target_host;  // an IPv4 address
  uint16_t target_port = 0;
  std::chrono::milliseconds delay{100};  // added to each direction
  std::chrono::milliseconds jitter{0};   // each chunk: delay + uniform [0, jitter]
  uint64_t seed = 1;                     // for the jitter
  // Per direction: above this many queued bytes the proxy stops reading
  // that side (TCP flow control then slows the sender) instead of growing.
  size_t queued_bytes_max = 8 << 20;
};

class DelayProxy {
 public:
  static common::Result<std::unique_ptr<DelayProxy>> start(DelayProxyOptions options);
  ~DelayProxy();
  DelayProxy(const DelayProxy&) = delete;
  DelayProxy& operator=(const DelayProxy&) = delete;

  uint16_t port() const { return port_; }
  // Resets every connection (RST both ways), closes the listener, joins.
  void stop();
  uint64_t connections_accepted() const { return accepted_.load(); }
  uint64_t bytes_forwarded() const { return bytes_.load(); }

 private:
  DelayProxy(DelayProxyOptions options, int listener, int wake_read, int wake_write, uint16_t port);
  void loop();

  DelayProxyOptions opts_;
  int listener_;
  int wake_read_, wake_write_;  // a pipe: stop() wakes the poll
  uint16_t port_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> bytes_{0};
  std::thread thread_;
};

}  // namespace chaos
