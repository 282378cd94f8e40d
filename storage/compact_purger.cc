// The background purger (see compact_purger.h).
#include "storage/compact_purger.h"

#include "common/assert.h"

namespace storage {

Purger::Purger(Store* store, uint64_t batch_entries, std::chrono::milliseconds pause)
    : store_(store), batch_entries_(batch_entries), pause_(pause) {
  CA_ASSERT(store != nullptr);
  CA_ASSERT(batch_entries > 0);
  thread_ = std::thread([this] { run(); });
}

Purger::~Purger() {
  stop();
}

void Purger::request(Index target, Index applied) {
  CA_ASSERT(target <= applied + 1);
  {
    std::lock_guard lock(mu_);
    if (target <= target_) return;
    target_ = target;
    applied_ = applied;
  }
  cv_.notify_one();
}

void Purger::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

Purger::Stats Purger::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Purger::run() {
  std::unique_lock lock(mu_);
  // Bounded per wake-up: each pass deletes at most batch_entries_ and then
  // sleeps pause_ (or until stop), so it ends when the target is reached.
  while (!stopping_) {
    cv_.wait(lock, [this] { return stopping_ || store_->first_index() < target_; });
    if (stopping_) break;
    Index target = target_, applied = applied_;
    Index before = store_->first_index();
    lock.unlock();
    auto step = compact_step(*store_, target, applied, batch_entries_);
    lock.lock();
    if (!step.is_ok()) {
      stats_.failures++;
      stats_.last_error = step.status().to_string();
      // Do not spin on a failing store: drop the target; the next request
      // (a second later) tries again.
      target_ = Index(0);
    } else if (*step > before) {
      stats_.purged_entries += step->value() - before.value();
      stats_.steps++;
    } else {
      target_ = Index(0);  // nothing could move (raced a snapshot install)
    }
    cv_.wait_for(lock, pause_, [this] { return stopping_; });
  }
}

}  // namespace storage
