#include "pgha/agent/event_log.h"

#include <spdlog/spdlog.h>

#include "common/logger.h"

namespace pgha::agent {

using common::Code;
using common::Result;
using common::Status;

namespace {

std::shared_ptr<spdlog::logger> log() {
  return common::component_logger("store");
}

// Failures worth another attempt with the same id: the outcome is unknown
// or the store cannot answer yet. Anything else (a 400, a 409 for an id
// reused with other content) will not get better by resending.
bool retryable(const Status& s) {
  return s.code() == Code::kTimeout || s.code() == Code::kUnavailable ||
         s.code() == Code::kNotLeader || s.code() == Code::kBusy || s.code() == Code::kIoError ||
         s.code() == Code::kInternal;
}

// How long stop waits for queued events to reach the store.
constexpr std::chrono::milliseconds kDrainAtStop{1000};

}  // namespace

Result<std::unique_ptr<EventLog>> EventLog::start(const std::vector<std::string>& endpoints,
                                                  std::chrono::milliseconds request_timeout) {
  api::ClientOptions o;
  o.endpoints = endpoints;
  o.connect_timeout = std::min(request_timeout, std::chrono::milliseconds(1000));
  o.request_timeout = request_timeout;
  auto c = api::Client::create(o);
  if (!c.is_ok()) return c.status();
  std::unique_ptr<EventLog> l(new EventLog(std::move(*c)));
  l->thread_ = std::thread([p = l.get()] { p->run(); });
  return l;
}

EventLog::~EventLog() {
  (void)drain(kDrainAtStop);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EventLog::push(Event e) {
  {
    std::lock_guard lock(mu_);
    // Never drop the front while it is being sent: its retry must stay the
    // same event (and id).
    if (queue_.size() >= kQueuedEventsMax) {
      auto victim = queue_.begin() + (in_flight_ ? 1 : 0);
      if (victim != queue_.end()) {
        queue_.erase(victim);
        dropped_++;
      }
    }
    queue_.push_back(std::move(e));
  }
  cv_.notify_all();
}

void EventLog::push(const std::vector<Event>& events) {
  for (const auto& e : events) push(e);
}

bool EventLog::drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return queue_.empty(); });
}

uint64_t EventLog::appended() const {
  std::lock_guard lock(mu_);
  return appended_;
}
uint64_t EventLog::attempts_failed() const {
  std::lock_guard lock(mu_);
  return attempts_failed_;
}
uint64_t EventLog::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}
size_t EventLog::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void EventLog::run() {
  std::unique_lock lock(mu_);
  bool warned = false;  // one line per outage, not one per attempt
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    api::ChangeInput in;
    in.data_json = to_json(queue_.front());
    in.tags = event_tags(queue_.front());
    in.request_id = event_request_id(queue_.front());
    in_flight_ = true;
    lock.unlock();
    // With a request id the client itself resends a lost answer, a 503 or
    // a 504 with the same id; what comes back failed here is retried again
    // below, still with that id.
    auto r = client_->post_change(in);
    lock.lock();
    in_flight_ = false;
    if (r.is_ok() || !retryable(r.status())) {
      if (r.is_ok()) {
        appended_++;
        if (warned) log()->info("history appends work again");
        warned = false;
      } else {
        dropped_++;
        log()->error("event {} refused by the store, dropped: {}", in.request_id,
                     r.status().to_string());
      }
      queue_.pop_front();
      cv_.notify_all();
      continue;
    }
    attempts_failed_++;
    if (!warned) {
      log()->warn("{} event(s) kept until the store takes them: {}", queue_.size(),
                  r.status().to_string());
      warned = true;
    }
    cv_.wait_for(lock, kRetryPause, [&] { return stopping_; });
  }
}

}  // namespace pgha::agent
