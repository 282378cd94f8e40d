// LeaseKeeper: keeps a lease alive from its own thread (see client.h).
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "api/client.h"

namespace api {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A failed keepalive is retried this often at least: a lease of 1 s still
// gets several tries within its ttl.
constexpr milliseconds kRetryMin{100};

}  // namespace

struct LeaseKeeper::State {
  Options opts;
  std::unique_ptr<Client> client;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;  // guarded by mu
  std::atomic<bool> lost{false};
  std::atomic<uint64_t> renewals{0};
  std::thread thread;

  void run();
  void report_lost(const Status& s) {
    lost = true;
    if (opts.on_lost) opts.on_lost(s);
  }
  // Sleeps until `until` or stop(); true if stopping.
  bool sleep_until(Clock::time_point until) {
    std::unique_lock lock(mu);
    return cv.wait_until(lock, until, [&] { return stopping; });
  }
};

void LeaseKeeper::State::run() {
  const milliseconds ttl(opts.ttl_seconds * 1000);
  const milliseconds period = ttl / 3;
  const milliseconds retry = std::max(ttl / 10, kRetryMin);
  // The lease is good for ttl after the last keepalive was SENT (the leader
  // renewed it at some point after that), so that is when we count from.
  Clock::time_point renewed_at = Clock::now();
  Clock::time_point next = renewed_at;  // renew at once: we do not know how much is left
  // Bounded by stop() or loss: every round sleeps at least `retry`.
  while (!sleep_until(next)) {
    Clock::time_point sent_at = Clock::now();
    auto r = client->lease_keepalive(opts.lease_id);
    Clock::time_point now = Clock::now();
    if (r.is_ok()) {
      renewed_at = sent_at;
      renewals++;
      if (opts.on_renewed) opts.on_renewed(*r);
      next = now + period;
      continue;
    }
    if (r.status().code() == Code::kNotFound) {
      report_lost(r.status());
      return;
    }
    if (now - renewed_at >= ttl) {
      report_lost(Status(Code::kTimeout, "lease " + std::to_string(opts.lease_id) +
                                             " was not renewed within its ttl of " +
                                             std::to_string(opts.ttl_seconds) +
                                             " s; last error: " + r.status().to_string()));
      return;
    }
    next = now + retry;
  }
  if (opts.revoke_on_stop && !lost) {
    Status s = client->lease_revoke(opts.lease_id);
    (void)s;  // best effort: the lease expires on its own otherwise
  }
}

Result<std::unique_ptr<LeaseKeeper>> LeaseKeeper::start(Options opts) {
  if (opts.lease_id == 0) return Status(Code::kInvalidArgument, "LeaseKeeper: lease id is 0");
  if (opts.ttl_seconds < kLeaseTtlSecondsMin || opts.ttl_seconds > kLeaseTtlSecondsMax) {
    return Status(Code::kInvalidArgument, "LeaseKeeper: ttl out of range");
  }
  // A keepalive that hangs longer than a renewal period is worth less than
  // a fresh try (perhaps on another endpoint).
  milliseconds cap = std::max(milliseconds(opts.ttl_seconds * 1000 / 3), kRetryMin);
  opts.client.request_timeout = std::min(opts.client.request_timeout, cap);
  opts.client.connect_timeout = std::min(opts.client.connect_timeout, cap);
  auto client = Client::create(opts.client);
  if (!client.is_ok()) return client.status();
  auto state = std::make_shared<State>();
  state->opts = std::move(opts);
  state->client = std::move(client.value());
  state->thread = std::thread([state] { state->run(); });
  return std::unique_ptr<LeaseKeeper>(new LeaseKeeper(std::move(state)));
}

LeaseKeeper::LeaseKeeper(std::shared_ptr<State> state) : state_(std::move(state)) {}

LeaseKeeper::~LeaseKeeper() {
  stop();
}

void LeaseKeeper::stop() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_all();
  if (!state_->thread.joinable()) return;
  // Called from a callback on the keeper's own thread: it ends by itself
  // (the thread holds the state).
  if (state_->thread.get_id() == std::this_thread::get_id()) {
    state_->thread.detach();
  } else {
    state_->thread.join();
  }
}

bool LeaseKeeper::lost() const {
  return state_->lost;
}

uint64_t LeaseKeeper::renewals() const {
  return state_->renewals;
}

}  // namespace api
