#include "storage/writer.h"

#include <vector>

#include "common/assert.h"

namespace storage {

using common::Code;

Writer::Writer(Store* store, WriterOptions options)
    : store_(store), options_(options), thread_([this] { run(); }) {
  CA_ASSERT(store_ != nullptr);
  CA_ASSERT(options_.queue_batches_max > 0);
}

Writer::~Writer() {
  stop();
}

Status Writer::submit(PersistBatch batch, Done done) {
  CA_ASSERT(done != nullptr);
  std::lock_guard lock(mu_);
  if (stopping_) return Status(Code::kUnavailable, "storage: writer stopped");
  if (!failed_.is_ok()) return failed_;
  if (queue_.size() >= options_.queue_batches_max) {
    return Status(Code::kBusy, "storage: write queue full (" +
                                   std::to_string(options_.queue_batches_max) +
                                   " batches waiting for the disk)");
  }
  queue_.push_back(Item{std::move(batch), std::move(done)});
  if (queue_.size() == 1) cv_.notify_one();
  return Status::ok();
}

void Writer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

Writer::Counters Writer::counters() const {
  return Counters{batches_.load(), writes_.load(), fsyncs_.load(), entries_.load()};
}

void Writer::run() {
  for (;;) {
    std::deque<Item> group;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, and everything is written
      group.swap(queue_);          // everything that queued during the last write
    }
    write_group(group);
  }
}

void Writer::write_group(std::deque<Item>& group) {
  CA_ASSERT(!group.empty());
  Status s;
  {
    std::lock_guard lock(mu_);
    s = failed_;
  }
  if (s.is_ok()) {
    std::vector<PersistBatch> batches;
    batches.reserve(group.size());
    bool sync = false;
    uint64_t entries = 0;
    for (Item& item : group) {
      sync = sync || item.batch.sync;
      entries += item.batch.entries.size();
      batches.push_back(std::move(item.batch));
    }
    s = store_->write(batches, sync);
    if (s.is_ok()) {
      batches_ += batches.size();
      writes_ += 1;
      fsyncs_ += sync ? 1 : 0;
      entries_ += entries;
    } else {
      std::lock_guard lock(mu_);
      failed_ = Status(s.code(),
                       "storage: writer stopped after a failed write (restart the "
                       "node to re-read its store): " +
                           s.message());
    }
  }
  for (Item& item : group) item.done(s);
}

}  // namespace storage
