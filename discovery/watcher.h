// Polls one Source from its own thread every interval and keeps what it
// saw, so that neither the Raft loop nor the HTTP server ever waits on a
// file or a DNS server. Logs (component "discovery") once per change of
// state — a new set, a new failure, new left-out entries, recovery — never
// on every poll. A failed or empty poll never replaces the last good set:
// a DNS outage does not make the peers disappear.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "discovery/sources.h"

namespace discovery {

struct Snapshot {
  std::string source;  // Source::describe()
  Lookup last;         // the latest poll
  // The latest poll that succeeded with at least one peer, and whether it
  // was complete (nothing left out). Empty until there is one.
  std::vector<Peer> good;
  bool good_complete = false;
  uint64_t polls = 0;
  uint64_t failures = 0;    // polls whose status was not OK
  uint64_t generation = 0;  // grows whenever `last` differs from the poll before
  std::chrono::system_clock::time_point last_poll{};
};

class Watcher {
 public:
  // interval: between polls (the first poll happens at once).
  Watcher(std::unique_ptr<Source> source, std::chrono::milliseconds interval);
  ~Watcher();  // stops and joins
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  Snapshot snapshot() const;
  // Blocks until a poll made `generation` exceed `after`, or `timeout`
  // passed; the snapshot then.
  Snapshot wait_newer(uint64_t after, std::chrono::milliseconds timeout) const;
  std::chrono::milliseconds interval() const { return interval_; }

 private:
  void run();
  void log_change(const Lookup& before, const Lookup& now, const std::vector<Peer>& good);

  std::unique_ptr<Source> source_;
  const std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  Snapshot snap_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace discovery
