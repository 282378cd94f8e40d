// Group commit: one storage thread turns everything submitted while the
// previous write + fsync ran into ONE synced WriteBatch, then reports each
// submission's outcome in submission order.
//
// Why: an fsync costs about the same for one entry as for a thousand, so
// the log's throughput under load is set by how many submissions share an
// fsync, not by how fast one fsync is. The caller (the node driver) keeps
// producing Ready batches while the disk is busy; they queue here.
//
// Ordering: batches are applied in submission order, each as if written
// alone (a later batch's truncation removes an earlier batch's entries in
// the same WriteBatch, exactly as two separate writes would). Callbacks run
// on the storage thread, in submission order, after the write returned:
// keep them short (post to the caller's strand).
//
// Failure: if a merged write fails, every batch in it gets that Status and
// the writer stays failed (sticky): after a failed fsync the durable state
// is unknown, so nothing may be acknowledged again until the node restarts
// and re-reads its store. A batch that breaks Store::write's contract
// (e.g. leaves a gap) fails the whole merged write in the same way.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "storage/store.h"

namespace storage {

struct WriterOptions {
  // Batches waiting for the storage thread; submit() beyond it returns
  // kBusy (the caller backs off instead of queueing without bound).
  size_t queue_batches_max = 1024;
};

class Writer {
 public:
  using Done = std::function<void(Status)>;

  // `store` must outlive the writer. Starts the storage thread.
  explicit Writer(Store* store, WriterOptions options = {});
  ~Writer();  // stop()
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Queues `batch`; `done` is called exactly once with the write's outcome,
  // unless submit itself fails: kBusy (queue full), kUnavailable (stopped),
  // or the sticky failure of an earlier write. Thread-safe.
  Status submit(PersistBatch batch, Done done);

  // Writes everything still queued, then joins the thread. Idempotent; call
  // it from the owner only (not concurrently with itself).
  void stop();

  // Monotonic counters for metrics and the benchmark.
  struct Counters {
    uint64_t batches = 0;  // PersistBatches written (successfully)
    uint64_t writes = 0;   // RocksDB WriteBatches they were merged into
    uint64_t fsyncs = 0;   // of those, written with sync
    uint64_t entries = 0;  // log entries in them
  };
  Counters counters() const;

 private:
  struct Item {
    PersistBatch batch;
    Done done;
  };
  void run();
  void write_group(std::deque<Item>& group);

  Store* const store_;
  const WriterOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_; set once
  Status failed_;           // guarded by mu_; sticky once non-OK

  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> fsyncs_{0};
  std::atomic<uint64_t> entries_{0};

  std::thread thread_;  // last: started after everything above exists
};

}  // namespace storage
