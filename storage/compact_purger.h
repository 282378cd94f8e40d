// The background purger: one thread that walks the log's first index up to
// the latest target it was given, compact_step() by compact_step(), pausing
// between steps so that the group-commit writer (which shares the store's
// write lock) is never held up by more than one small step.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "storage/compact.h"
#include "storage/store.h"

namespace storage {

class Purger {
 public:
  struct Stats {
    uint64_t purged_entries = 0;  // deleted by this purger since start; only grows
    uint64_t steps = 0;           // compact_step() calls that deleted something
    uint64_t failures = 0;        // steps that failed (retried at the next request)
    std::string last_error;       // of the latest failure; empty if none
  };

  // `store` must outlive the purger. Starts the thread.
  Purger(Store* store, uint64_t batch_entries, std::chrono::milliseconds pause);
  ~Purger();
  Purger(const Purger&) = delete;
  Purger& operator=(const Purger&) = delete;

  // Purge up to `target` (exclusive), recording a snapshot at `applied` (the
  // persisted applied index) when needed. A newer request replaces an older
  // one; a lower target than the one in progress is ignored.
  void request(Index target, Index applied);
  // Finishes the step in progress and joins the thread. Idempotent.
  void stop();
  Stats stats() const;

 private:
  void run();

  Store* store_;
  const uint64_t batch_entries_;
  const std::chrono::milliseconds pause_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  Index target_;        // guarded by mu_
  Index applied_;       // guarded by mu_
  Stats stats_;         // guarded by mu_
  std::thread thread_;  // last: started after everything above exists
};

}  // namespace storage
