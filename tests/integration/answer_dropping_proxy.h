// A TCP proxy on a free loopback port in front of one changeagent node that
// can lose answers: it forwards a request, waits for the node's full
// answer, and then — for the next N requests matching a prefix of the
// request line — closes the client's connection instead of replying. The
// node did the work; the client cannot know (an unknown outcome), which is
// exactly what a retry must survive. One thread per connection; requests
// and answers must carry Content-Length (changeagent's do, except streams,
// which this proxy is not for).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

namespace integration {

class AnswerDroppingProxy {
 public:
  static common::Result<std::unique_ptr<AnswerDroppingProxy>> start(uint16_t upstream_port);
  ~AnswerDroppingProxy();
  AnswerDroppingProxy(const AnswerDroppingProxy&) = delete;
  AnswerDroppingProxy& operator=(const AnswerDroppingProxy&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The next `n` requests whose request line starts with `line_prefix`
  // (e.g. "POST /changes") are forwarded and their answers dropped.
  void drop_answers(const std::string& line_prefix, uint32_t n);
  uint32_t answers_dropped() const { return dropped_; }
  // Requests matching the current prefix that reached the node.
  uint32_t matching_forwarded() const { return matching_forwarded_; }

 private:
  AnswerDroppingProxy(int listen_fd, uint16_t port, uint16_t upstream)
      : listen_fd_(listen_fd), port_(port), upstream_port_(upstream) {}
  void accept_loop();
  void serve(int client_fd);
  bool take_drop(const std::string& request_line);

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  uint16_t upstream_port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::string drop_prefix_;
  uint32_t drops_left_ = 0;
  std::atomic<uint32_t> dropped_{0};
  std::atomic<uint32_t> matching_forwarded_{0};
  std::vector<int> open_fds_;  // closed at stop so the threads end
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace integration
