// Streamed snapshots end to end on real stores: a source read chunk by
// chunk into a sink (with a resume in the middle, as after a disconnect or
// a follower restart), installed into another store that had a conflicting
// log; the result holds the leader's retained log and state rows, survives
// a reopen, and an install interrupted by a crash is finished by open().
#include <gtest/gtest.h>

#include <rocksdb/db.h>

#include "storage/compact.h"
#include "storage/keys.h"
#include "storage/snapshot_stream.h"
#include "tests/unit/storage/test_util.h"

namespace storage::testing {
namespace {

using common::Code;

// A leader-like store: bootstrap, entries 1..n (term 3), applied n, `rows`
// state rows, optionally compacted below `first`.
std::unique_ptr<Store> leader_store(const TempDir& dir, uint64_t n, int rows, uint64_t first = 1) {
  auto s = open_ok(open_options(dir, 7, 1));
  PersistBatch boot;
  boot.snapshot =
      raftlog::Snapshot{raftlog::SnapshotMeta{Index(0), Term(0), members({1, 2, 3})}, nullptr};
  boot.sync = true;
  EXPECT_TRUE(s->write(boot).is_ok());
  std::vector<Entry> es;
  for (uint64_t i = 1; i <= n; i++) es.push_back(entry(i, 3, std::string(200, 'a' + i % 26)));
  PersistBatch b = append_batch(es);
  b.applied = Index(n);
  for (int r = 0; r < rows; r++) {
    b.state_rows.emplace_back("k/key" + std::to_string(1000 + r), "value" + std::to_string(r));
  }
  EXPECT_TRUE(s->write(b).is_ok());
  if (first > 1) {
    EXPECT_TRUE(compact_step(*s, Index(first), Index(n), 1 << 30).is_ok());
  }
  return s;
}

// Streams src into a sink in staging dir `dir`, stopping after `stop_after`
// chunks (then reopening the sink, as a restarted follower would).
StreamedSnapshot transfer(SnapshotSource& src, const std::string& dir, uint64_t chunk_bytes,
                          uint64_t stop_after, uint64_t* chunks) {
  auto sink = SnapshotSink::open(dir, 42, src.head());
  EXPECT_TRUE(sink.is_ok()) << sink.status().to_string();
  StreamPos pos;
  uint64_t seq = 0;
  for (int guard = 0; guard < 100000; guard++) {
    if (seq == stop_after) {
      // Restart: the sink comes back with its progress; resume after it.
      auto again = SnapshotSink::open(dir, 42, src.head());
      EXPECT_TRUE(again.is_ok());
      *sink = std::move(*again);
      EXPECT_EQ((*sink)->next_seq(), seq);
      pos = (*sink)->resume_pos();
    }
    auto c = src.read(pos, chunk_bytes);
    EXPECT_TRUE(c.is_ok()) << c.status().to_string();
    EXPECT_TRUE((*sink)->add(seq++, c->family, c->rows, c->last).is_ok());
    pos = c->end;
    if (c->last) break;
  }
  *chunks = seq;
  EXPECT_TRUE((*sink)->complete());
  return (*sink)->result();
}

std::vector<std::pair<std::string, std::string>> state_of(const Store& s) {
  std::vector<std::pair<std::string, std::string>> out;
  EXPECT_TRUE(s.scan_state([&](const std::string& k, const std::string& v) {
                 out.emplace_back(k, v);
                 return Status::ok();
               }).is_ok());
  return out;
}

TEST(SnapshotStream, TransferResumeInstallAndReopen) {
  TempDir leader_dir, follower_dir, staging;
  auto leader = leader_store(leader_dir, 3000, 500, 1001);
  auto src = SnapshotSource::open(*leader);
  ASSERT_TRUE(src.is_ok()) << src.status().to_string();
  const StreamHead head = (*src)->head();
  EXPECT_EQ(head.meta.index, Index(3000));
  EXPECT_EQ(head.meta.term, Term(3));
  EXPECT_EQ(head.base_index, Index(1000));
  EXPECT_EQ(head.meta.membership, members({1, 2, 3}));
  EXPECT_GT(head.bytes_estimate, 0u);

  // Writes after the source opened are not part of it.
  PersistBatch later = append_batch({entry(3001, 3)});
  later.applied = Index(3001);
  later.state_rows.emplace_back("k/later", "x");
  ASSERT_TRUE(leader->write(later).is_ok());

  uint64_t chunks = 0;
  StreamedSnapshot got = transfer(**src, staging.path() + "/in", 64 << 10, 3, &chunks);
  EXPECT_GT(chunks, 5u);
  EXPECT_FALSE(got.state_files.empty());
  EXPECT_FALSE(got.log_files.empty());

  // The follower had a conflicting log of its own.
  auto follower = open_ok(open_options(follower_dir, 7, 2));
  ASSERT_TRUE(follower->write(append_batch(run(1, 50, 1))).is_ok());
  ASSERT_TRUE(follower->install_streamed(got, staging.path() + "/in").is_ok());
  auto check = [&](const Store& f) {
    EXPECT_EQ(f.first_index(), Index(1001));
    EXPECT_EQ(f.last_index(), Index(3000));
    EXPECT_EQ(f.snapshot().index, Index(3000));
    EXPECT_EQ(*f.term(Index(1000)), Term(3));
    auto a = f.entries(Index(1001), Index(3001), UINT64_MAX);
    auto b = leader->entries(Index(1001), Index(3001), UINT64_MAX);
    ASSERT_TRUE(a.is_ok());
    ASSERT_TRUE(b.is_ok());
    EXPECT_EQ(*a, *b);
    auto rows = state_of(f);
    EXPECT_EQ(rows.size(), 500u);  // not k/later
    auto boot = f.load_boot();
    ASSERT_TRUE(boot.is_ok());
    EXPECT_EQ(boot->applied, Index(3000));
    ASSERT_EQ(boot->configs.size(), 1u);
    EXPECT_EQ(boot->configs[0].second, members({1, 2, 3}));
  };
  check(*follower);
  follower.reset();
  auto reopened = open_ok(open_options(follower_dir, 7, 2));
  check(*reopened);
}

TEST(SnapshotStream, SinkForAnotherSessionStartsOver) {
  TempDir leader_dir, staging;
  auto leader = leader_store(leader_dir, 100, 10);
  auto src = SnapshotSource::open(*leader);
  ASSERT_TRUE(src.is_ok());
  std::string dir = staging.path() + "/in";
  auto sink = SnapshotSink::open(dir, 1, (*src)->head());
  ASSERT_TRUE(sink.is_ok());
  auto c = (*src)->read(StreamPos{}, 100);
  ASSERT_TRUE(c.is_ok());
  ASSERT_TRUE((*sink)->add(0, c->family, c->rows, c->last).is_ok());
  auto other = SnapshotSink::open(dir, 2, (*src)->head());
  ASSERT_TRUE(other.is_ok());
  EXPECT_EQ((*other)->next_seq(), 0u);
  auto same = SnapshotSink::open(dir, 2, (*src)->head());
  EXPECT_EQ((*same)->next_seq(), 0u);
  // Rows out of order are refused.
  EXPECT_EQ((*same)->add(0, kStreamFamilyState, {{"k/b", "1"}, {"k/a", "2"}}, false).code(),
            Code::kInvalidArgument);
}

TEST(SnapshotStream, InterruptedInstallIsFinishedByOpen) {
  TempDir leader_dir, follower_dir, staging;
  auto leader = leader_store(leader_dir, 500, 20);
  auto src = SnapshotSource::open(*leader);
  ASSERT_TRUE(src.is_ok());
  uint64_t chunks = 0;
  std::string dir = staging.path() + "/in";
  StreamedSnapshot got = transfer(**src, dir, 16 << 10, 1000, &chunks);
  {
    // A crash right after step (1): the mark is set, the log cleared.
    auto f = open_ok(open_options(follower_dir, 7, 2));
    ASSERT_TRUE(f->write(append_batch(run(1, 10, 1))).is_ok());
  }
  {
    rocksdb::DBOptions o;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(o, follower_dir.db(), &names).ok());
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> hs;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, follower_dir.db(), cfs, &hs, &db).ok());
    for (size_t i = 0; i < names.size(); i++) {
      if (names[i] == keys::kMetaFamily) {
        ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), hs[i], keys::kInstallPending, dir).ok());
      }
      if (names[i] == keys::kLogFamily) {
        ASSERT_TRUE(
            db->DeleteRange(rocksdb::WriteOptions(), hs[i], keys::log_key(0), keys::kLogEnd).ok());
      }
    }
    for (auto* h : hs) (void)db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  auto f = open_ok(open_options(follower_dir, 7, 2));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->last_index(), Index(500));
  EXPECT_EQ(f->snapshot().index, Index(500));
  EXPECT_EQ(state_of(*f).size(), 20u);
  (void)got;
}

}  // namespace
}  // namespace storage::testing
