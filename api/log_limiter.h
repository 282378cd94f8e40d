// One log line per period for events a client can cause at will (failed
// logins, refused connections, timeouts): the first event of a period is
// logged with the number of events that were not, the rest are counted.
// Keeps a misbehaving client from filling the disk through our logs.
#pragma once

#include <chrono>
#include <cstdint>

namespace api {

class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LogLimiter(std::chrono::seconds period = std::chrono::seconds(10)) : period_(period) {}

  // True when a line may be written now; `suppressed` is then the number of
  // events swallowed since the previous line (to say so in this one).
  bool allow(Clock::time_point now, uint64_t& suppressed) {
    if (logged_once_ && now - last_ < period_) {
      dropped_++;
      return false;
    }
    logged_once_ = true;
    last_ = now;
    suppressed = dropped_;
    dropped_ = 0;
    return true;
  }

 private:
  std::chrono::seconds period_;
  bool logged_once_ = false;
  Clock::time_point last_{};
  uint64_t dropped_ = 0;  // events since last_ that were not logged
};

}  // namespace api
