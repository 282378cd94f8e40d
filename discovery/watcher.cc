#include "discovery/watcher.h"

#include <algorithm>

#include "discovery/log.h"

namespace discovery {

Watcher::Watcher(std::unique_ptr<Source> source, std::chrono::milliseconds interval)
    : source_(std::move(source)), interval_(interval) {
  snap_.source = source_->describe();
  snap_.last.status = Status(Code::kUnavailable, "not polled yet");
  thread_ = std::thread([this] { run(); });
}

Watcher::~Watcher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Snapshot Watcher::snapshot() const {
  std::lock_guard lock(mu_);
  return snap_;
}

Snapshot Watcher::wait_newer(uint64_t after, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return stop_ || snap_.generation > after; });
  return snap_;
}

void Watcher::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    // The IO happens unlocked: a slow DNS server never blocks snapshot().
    Lookup now = source_->poll();
    lock.lock();
    Lookup before = snap_.last;
    snap_.polls++;
    snap_.last_poll = std::chrono::system_clock::now();
    if (!now.status.is_ok()) snap_.failures++;
    if (now.status.is_ok() && !now.peers.empty()) {
      snap_.good = now.peers;
      snap_.good_complete = now.complete();
    }
    if (!(now == before) || snap_.polls == 1) {
      log_change(before, now, snap_.good);
      snap_.last = std::move(now);
      snap_.generation++;
      cv_.notify_all();
    }
    cv_.wait_for(lock, interval_, [this] { return stop_; });
  }
}

void Watcher::log_change(const Lookup& before, const Lookup& now, const std::vector<Peer>& good) {
  auto log = logger();
  const std::string& src = snap_.source;
  if (!now.status.is_ok()) {
    log->warn("{} failed: {}; {}", src, now.status.message(),
              good.empty() ? std::string("nothing discovered yet")
                           : "keeping the last good set of " + std::to_string(good.size()) +
                                 " peers (" + describe(good) + ")");
    return;
  }
  for (const auto& issue : now.issues) {
    bool known =
        std::find(before.issues.begin(), before.issues.end(), issue) != before.issues.end();
    if (!known || !before.status.is_ok()) log->warn("{}: {}", src, issue);
  }
  if (now.peers.empty()) {
    log->info(
        "{} lists no peers{}", src,
        good.empty() ? std::string() : "; keeping the last good set (" + describe(good) + ")");
    return;
  }
  if (!before.status.is_ok() || now.peers != before.peers) {
    log->info("{} lists {} peers: {}{}", src, now.peers.size(), describe(now.peers),
              now.issues.empty() ? "" : " (entries left out: see above)");
  }
}

}  // namespace discovery
