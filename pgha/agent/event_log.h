// The agent's way into the cluster's history: events go into a bounded
// queue and one thread appends them to the store, each as its own change
// with the request id event_request_id(e) (Idempotency-Key). So:
//   - the agent's loop never waits on the history (a store that went away
//     mid-loop must not delay a failsafe fence by the client's retries);
//   - an event whose append outcome is unknown (lost answer, timeout, leader
//     change) is sent again with the same id until the store answers, and
//     the server's exactly-once appends turn the retry into the original
//     entry: one event in the history, not two;
//   - events raised while the store is unreachable wait (up to
//     kQueuedEventsMax; the oldest go first when full) and reach the history
//     once it is back.
// Exactly-once holds within the store's request id window (10 minutes by
// default): an append retried after that may be recorded twice.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/client.h"
#include "pgha/core/model.h"

namespace pgha::agent {

class EventLog {
 public:
  static constexpr size_t kQueuedEventsMax = 100;
  // Pause between two attempts at the same event once the client's own
  // retries gave up (the store is down or has no leader).
  static constexpr std::chrono::milliseconds kRetryPause{500};

  // request_timeout bounds one attempt.
  static common::Result<std::unique_ptr<EventLog>> start(const std::vector<std::string>& endpoints,
                                                         std::chrono::milliseconds request_timeout);
  // Stops after at most `drain_for` spent appending what is still queued.
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  void push(Event e);
  void push(const std::vector<Event>& events);
  // Waits until the queue is empty (all appended) or the timeout passed;
  // true when empty. For tests and a clean shutdown.
  bool drain(std::chrono::milliseconds timeout);

  // Counters for tests and /status.
  uint64_t appended() const;
  uint64_t attempts_failed() const;  // attempts that will be (or were) retried
  uint64_t dropped() const;          // lost to a full queue or refused by the store
  size_t queued() const;

 private:
  explicit EventLog(std::unique_ptr<api::Client> client) : client_(std::move(client)) {}
  void run();

  std::unique_ptr<api::Client> client_;  // used by the thread only
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> queue_;
  bool in_flight_ = false;  // the front event is being sent
  bool stopping_ = false;
  uint64_t appended_ = 0;
  uint64_t attempts_failed_ = 0;
  uint64_t dropped_ = 0;
  std::thread thread_;
};

}  // namespace pgha::agent
