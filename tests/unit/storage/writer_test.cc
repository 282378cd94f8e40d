// Group commit: merging, ordering, callbacks, back-pressure, shutdown and
// the sticky failure.
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "storage/writer.h"
#include "tests/unit/storage/test_util.h"

namespace storage::testing {
namespace {

using common::Code;

// Holds the storage thread inside a callback until released, so that the
// test can queue submissions behind it deterministically.
class Gate {
 public:
  Writer::Done blocker() {
    return [this](Status) {
      std::unique_lock lock(mu_);
      entered_ = true;
      cv_.notify_all();
      cv_.wait(lock, [this] { return open_; });
    };
  }
  void wait_entered() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return entered_; });
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool open_ = false;
};

TEST(Writer, MergesConcurrentSubmitsInOrder) {
  TempDir dir;
  auto store = open_ok(open_options(dir));
  Writer writer(store.get());
  constexpr int kThreads = 8;
  constexpr int kBatchesPerThread = 50;
  constexpr int kTotal = kThreads * kBatchesPerThread;

  std::mutex submit_mu;  // assigns indexes and submits in one order
  uint64_t next_index = 1;
  uint64_t next_seq = 0;
  std::vector<uint64_t> completed;  // seq numbers, in callback order (one thread)
  std::atomic<int> failures{0};
  std::promise<void> all_done;
  auto submit_one = [&] {
    std::lock_guard lock(submit_mu);
    uint64_t seq = next_seq++;
    PersistBatch b = append_batch(run(next_index, next_index + 1, 1));
    next_index += 2;
    Status s = writer.submit(std::move(b), [&, seq](Status st) {
      if (!st.is_ok()) failures++;
      completed.push_back(seq);
      if (completed.size() == kTotal) all_done.set_value();
    });
    ASSERT_TRUE(s.is_ok()) << s.to_string();
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&] {
      for (int i = 0; i < kBatchesPerThread; i++) submit_one();
    });
  }
  for (auto& t : threads) t.join();
  all_done.get_future().wait();

  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(completed.size(), static_cast<size_t>(kTotal));
  for (size_t i = 0; i < completed.size(); i++) EXPECT_EQ(completed[i], i);
  Writer::Counters c = writer.counters();
  EXPECT_EQ(c.batches, static_cast<uint64_t>(kTotal));
  EXPECT_EQ(c.entries, 2u * kTotal);
  EXPECT_LT(c.fsyncs, c.batches) << "no two submissions shared an fsync";
  EXPECT_EQ(c.fsyncs, c.writes);
  EXPECT_EQ(store->last_index(), Index(2 * kTotal));
  auto all = store->entries(Index(1), Index(2 * kTotal + 1), UINT64_MAX);
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(all->size(), 2u * kTotal);
}

TEST(Writer, MergedGroupKeepsTruncationSemantics) {
  TempDir dir;
  auto store = open_ok(open_options(dir));
  Writer writer(store.get());
  Gate gate;
  ASSERT_TRUE(writer.submit(append_batch(run(1, 1, 1)), gate.blocker()).is_ok());
  gate.wait_entered();
  // These three queue behind the gate and are written as one group.
  std::vector<Status> results;
  auto record = [&](Status s) { results.push_back(s); };
  ASSERT_TRUE(writer.submit(append_batch(run(2, 10, 1)), record).is_ok());
  ASSERT_TRUE(writer.submit(append_batch(run(6, 8, 2)), record).is_ok());
  PersistBatch hs;
  hs.hard_state = raftlog::HardState{Term(2), NodeId(1), Index(5)};
  ASSERT_TRUE(writer.submit(std::move(hs), record).is_ok());
  Writer::Counters before = writer.counters();
  gate.open();
  writer.stop();
  ASSERT_EQ(results.size(), 3u);
  for (const Status& s : results) EXPECT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(writer.counters().writes - before.writes, 1u);
  EXPECT_EQ(store->last_index(), Index(8));
  EXPECT_EQ(*store->term(Index(5)), Term(1));
  EXPECT_EQ(*store->term(Index(6)), Term(2));
  EXPECT_EQ(store->load_boot()->hard_state.commit, Index(5));
}

TEST(Writer, FullQueueIsBusy) {
  TempDir dir;
  auto store = open_ok(open_options(dir));
  WriterOptions options;
  options.queue_batches_max = 4;
  Writer writer(store.get(), options);
  Gate gate;
  ASSERT_TRUE(writer.submit(append_batch(run(1, 1, 1)), gate.blocker()).is_ok());
  gate.wait_entered();
  std::atomic<int> fired{0};
  auto count = [&](Status s) {
    EXPECT_TRUE(s.is_ok());
    fired++;
  };
  for (uint64_t i = 2; i <= 5; i++) {
    ASSERT_TRUE(writer.submit(append_batch(run(i, i, 1)), count).is_ok());
  }
  Status busy = writer.submit(append_batch(run(6, 6, 1)), count);
  EXPECT_EQ(busy.code(), Code::kBusy);
  EXPECT_NE(busy.message().find("4 batches"), std::string::npos) << busy.message();
  gate.open();
  writer.stop();
  EXPECT_EQ(fired.load(), 4);
  EXPECT_EQ(store->last_index(), Index(5));
}

TEST(Writer, StopDrainsThenRefuses) {
  TempDir dir;
  auto store = open_ok(open_options(dir));
  Writer writer(store.get());
  std::atomic<int> fired{0};
  for (uint64_t i = 1; i <= 100; i++) {
    ASSERT_TRUE(writer.submit(append_batch(run(i, i, 1)), [&](Status) { fired++; }).is_ok());
  }
  writer.stop();
  EXPECT_EQ(fired.load(), 100);
  EXPECT_EQ(store->last_index(), Index(100));
  EXPECT_EQ(writer.submit(append_batch(run(101, 101, 1)), [](Status) {}).code(),
            Code::kUnavailable);
  writer.stop();  // idempotent
}

TEST(Writer, FailedWriteIsSticky) {
  TempDir dir;
  auto store = open_ok(open_options(dir));
  Writer writer(store.get());
  std::promise<Status> failed;
  ASSERT_TRUE(
      writer.submit(append_batch(run(5, 5, 1)), [&](Status s) { failed.set_value(s); }).is_ok());
  Status s = failed.get_future().get();
  EXPECT_EQ(s.code(), Code::kInvalidArgument);  // a gap after an empty log
  Status again = writer.submit(append_batch(run(1, 1, 1)), [](Status) {});
  EXPECT_EQ(again.code(), Code::kInvalidArgument);
  EXPECT_NE(again.message().find("writer stopped after a failed write"), std::string::npos);
  EXPECT_EQ(store->last_index(), Index(0));
}

}  // namespace
}  // namespace storage::testing
