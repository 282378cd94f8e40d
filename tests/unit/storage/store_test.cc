// Store: the LogReader view, appends with suffix truncation, snapshots,
// compaction, boot configurations, and that all of it survives a reopen.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/unit/storage/raw_db.h"
#include "tests/unit/storage/test_util.h"

namespace storage::testing {
namespace {

using common::Code;

raftlog::Snapshot make_snapshot(uint64_t index, uint64_t term, const Membership& m,
                                std::string data = "state") {
  raftlog::Snapshot s;
  s.meta = raftlog::SnapshotMeta{Index(index), Term(term), m};
  s.data = std::make_shared<const std::string>(std::move(data));
  return s;
}

PersistBatch install_batch(raftlog::Snapshot snap, std::vector<Entry> entries = {}) {
  PersistBatch b;
  b.snapshot = std::move(snap);
  b.entries = std::move(entries);
  b.sync = true;
  return b;
}

std::vector<Entry> read_all(const Store& s) {
  auto r = s.entries(s.first_index(), s.last_index() + 1, UINT64_MAX);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : std::vector<Entry>{};
}

TEST(Store, EmptyLog) {
  TempDir dir;
  auto s = open_ok(open_options(dir));
  EXPECT_EQ(s->first_index(), Index(1));
  EXPECT_EQ(s->last_index(), Index(0));
  EXPECT_EQ(*s->term(Index(0)), Term(0));
  EXPECT_EQ(s->term(Index(1)).status().code(), Code::kNotFound);
  EXPECT_TRUE(s->entries(Index(1), Index(1), 0)->empty());
  EXPECT_EQ(s->entries(Index(1), Index(2), 0).status().code(), Code::kNotFound);
  EXPECT_EQ(s->snapshot(), raftlog::SnapshotMeta{});
}

TEST(Store, AppendReadTerm) {
  TempDir dir;
  auto s = open_ok(open_options(dir));
  ASSERT_TRUE(s->write(append_batch(run(1, 5, 1))).is_ok());
  ASSERT_TRUE(s->write(append_batch(run(6, 10, 2))).is_ok());
  EXPECT_EQ(s->first_index(), Index(1));
  EXPECT_EQ(s->last_index(), Index(10));
  for (uint64_t i = 1; i <= 10; i++) EXPECT_EQ(*s->term(Index(i)), Term(i <= 5 ? 1 : 2)) << i;
  EXPECT_EQ(s->term(Index(11)).status().code(), Code::kNotFound);
  auto got = s->entries(Index(3), Index(8), UINT64_MAX);
  ASSERT_TRUE(got.is_ok());
  std::vector<Entry> want = run(3, 5, 1);
  for (auto& e : run(6, 7, 2)) want.push_back(e);
  EXPECT_EQ(*got, want);
  EXPECT_EQ(s->entries(Index(3), Index(12), UINT64_MAX).status().code(), Code::kNotFound);
  EXPECT_EQ(s->entries(Index(5), Index(3), UINT64_MAX).status().code(), Code::kInvalidArgument);
}

TEST(Store, EntriesHonourBytesMax) {
  TempDir dir;
  auto s = open_ok(open_options(dir));
  std::vector<Entry> es;
  for (uint64_t i = 1; i <= 10; i++) es.push_back(entry(i, 1, std::string(100, 'x')));
  ASSERT_TRUE(s->write(append_batch(es)).is_ok());
  const uint64_t one = raftlog::entry_size(es[0]);
  struct Case {
    uint64_t bytes_max;
    size_t want;
  };
  for (Case c : {Case{0, 1}, Case{one - 1, 1}, Case{one, 1}, Case{3 * one, 3}, Case{3 * one + 1, 3},
                 Case{100 * one, 10}}) {
    auto got = s->entries(Index(1), Index(11), c.bytes_max);
    ASSERT_TRUE(got.is_ok());
    EXPECT_EQ(got->size(), c.want) << "bytes_max " << c.bytes_max;
  }
}

TEST(Store, SuffixTruncationRemovesEntriesAndConfRecords) {
  TempDir dir;
  auto s = open_ok(open_options(dir));
  std::vector<Entry> es = run(1, 10, 1);
  es[4] = conf_entry(5, 1, members({1, 2}));
  es[7] = conf_entry(8, 1, members({1, 2, 3}));
  ASSERT_TRUE(s->write(append_batch(es)).is_ok());
  // A new leader overwrites from 7 on: entry 8 (a membership) goes.
  ASSERT_TRUE(s->write(append_batch({entry(7, 3), entry(8, 3)})).is_ok());
  EXPECT_EQ(s->last_index(), Index(8));
  EXPECT_EQ(*s->term(Index(6)), Term(1));
  EXPECT_EQ(*s->term(Index(8)), Term(3));
  auto boot = s->load_boot();
  ASSERT_TRUE(boot.is_ok()) << boot.status().to_string();
  ASSERT_EQ(boot->configs.size(), 1u);
  EXPECT_EQ(boot->configs[0].first, Index(5));
  s.reset();
  EXPECT_EQ(RawDb(dir.db()).conf_indexes(), std::vector<uint64_t>{5});
}

TEST(Store, MergedBatchesApplyInOrder) {
  TempDir dir;
  auto s = open_ok(open_options(dir));
  std::vector<PersistBatch> batches;
  batches.push_back(append_batch(run(1, 5, 1)));
  batches.push_back(append_batch({conf_entry(4, 2, members({1})), entry(5, 2)}));
  batches.push_back(append_batch(run(3, 3, 3)));  // truncates both 4s and 5s
  batches.back().hard_state = raftlog::HardState{Term(3), NodeId(1), Index(2)};
  ASSERT_TRUE(s->write(batches, true).is_ok());
  EXPECT_EQ(s->last_index(), Index(3));
  EXPECT_EQ(read_all(*s), (std::vector<Entry>{entry(1, 1), entry(2, 1), entry(3, 3)}));
  auto boot = s->load_boot();
  ASSERT_TRUE(boot.is_ok());
  EXPECT_TRUE(boot->configs.empty());
  EXPECT_EQ(boot->hard_state, (raftlog::HardState{Term(3), NodeId(1), Index(2)}));
}

TEST(Store, RejectsGapsAndWritesNothing) {
  TempDir dir;
  auto s = open_ok(open_options(dir));
  ASSERT_TRUE(s->write(append_batch(run(1, 3, 1))).is_ok());
  std::vector<PersistBatch> batches;
  batches.push_back(append_batch(run(4, 4, 1)));
  batches.push_back(append_batch(run(9, 9, 1)));
  Status st = s->write(batches, true);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("gap after last index 4"), std::string::npos) << st.message();
  EXPECT_EQ(s->last_index(), Index(3));  // the valid first batch was not written either
  EXPECT_EQ(s->term(Index(4)).status().code(), Code::kNotFound);
}

TEST(Store, SnapshotInstallKeepsAgreeingSuffix) {
  TempDir dir;
  auto s = open_ok(open_options(dir));
  ASSERT_TRUE(s->write(append_batch(run(1, 10, 1))).is_ok());
  ASSERT_TRUE(s->write(install_batch(make_snapshot(6, 1, members({1, 2}), "six"))).is_ok());
  EXPECT_EQ(s->first_index(), Index(7));
  EXPECT_EQ(s->last_index(), Index(10));
  EXPECT_EQ(*s->term(Index(6)), Term(1));
  EXPECT_EQ(s->term(Index(5)).status().code(), Code::kCompacted);
  EXPECT_EQ(s->entries(Index(6), Index(8), UINT64_MAX).status().code(), Code::kCompacted);
  EXPECT_EQ(read_all(*s), run(7, 10, 1));
  auto snap = s->load_snapshot();
  ASSERT_TRUE(snap.is_ok());
  EXPECT_EQ(snap->meta.index, Index(6));
  EXPECT_EQ(*snap->data, "six");
  // Not above the stored snapshot: refused.
  EXPECT_EQ(s->write(install_batch(make_snapshot(6, 1, members({1})))).code(),
            Code::kInvalidArgument);
}

TEST(Store, SnapshotInstallReplacesConflictingOrShortLog) {
  TempDir dir;
  auto s = open_ok(open_options(dir));
  std::vector<Entry> es = run(1, 10, 1);
  es[8] = conf_entry(9, 1, members({1, 2, 3}));
  ASSERT_TRUE(s->write(append_batch(es)).is_ok());
  // Term differs at the snapshot index: the whole log goes, conf/ records too.
  ASSERT_TRUE(s->write(install_batch(make_snapshot(8, 2, members({1, 2})))).is_ok());
  EXPECT_EQ(s->first_index(), Index(9));
  EXPECT_EQ(s->last_index(), Index(8));
  EXPECT_EQ(*s->term(Index(8)), Term(2));
  EXPECT_EQ(s->term(Index(9)).status().code(), Code::kNotFound);
  // Beyond the log, with entries in the same batch.
  ASSERT_TRUE(s->write(install_batch(make_snapshot(20, 3, members({1})), run(21, 22, 3))).is_ok());
  EXPECT_EQ(s->first_index(), Index(21));
  EXPECT_EQ(read_all(*s), run(21, 22, 3));
  auto boot = s->load_boot();
  ASSERT_TRUE(boot.is_ok());
  ASSERT_EQ(boot->configs.size(), 1u);
  EXPECT_EQ(boot->configs[0], std::make_pair(Index(20), members({1})));
  s.reset();
  EXPECT_TRUE(RawDb(dir.db()).conf_indexes().empty());
}

TEST(Store, CompactNeedsSnapshotAndPrunesConfRecords) {
  TempDir dir;
  auto s = open_ok(open_options(dir));
  std::vector<Entry> es = run(1, 20, 1);
  es[2] = conf_entry(3, 1, members({1}));
  es[4] = conf_entry(5, 1, members({1, 2}));
  es[11] = conf_entry(12, 1, members({1, 2, 3}));
  ASSERT_TRUE(s->write(append_batch(es)).is_ok());
  EXPECT_EQ(s->compact(Index(5)).code(), Code::kInvalidArgument);  // no snapshot yet
  EXPECT_EQ(s->save_snapshot(make_snapshot(15, 2, members({1}))).code(), Code::kInvalidArgument);
  ASSERT_TRUE(s->save_snapshot(make_snapshot(15, 1, members({1, 2, 3}))).is_ok());
  EXPECT_EQ(s->first_index(), Index(1));  // saving a snapshot leaves the log alone
  EXPECT_EQ(s->compact(Index(17)).code(), Code::kInvalidArgument);
  ASSERT_TRUE(s->compact(Index(11)).is_ok());
  EXPECT_EQ(s->first_index(), Index(11));
  EXPECT_EQ(*s->term(Index(10)), Term(1));
  EXPECT_EQ(s->term(Index(9)).status().code(), Code::kCompacted);
  EXPECT_EQ(read_all(*s).front(), entry(11, 1));
  EXPECT_TRUE(s->compact(Index(4)).is_ok());  // already gone: nothing to do
  ASSERT_TRUE(s->compact(Index(16)).is_ok());
  EXPECT_EQ(s->first_index(), Index(16));
  EXPECT_EQ(*s->term(Index(15)), Term(1));
  s.reset();
  EXPECT_EQ(RawDb(dir.db()).conf_indexes(), std::vector<uint64_t>{12});
}

TEST(Store, BootConfigs) {
  TempDir dir;
  auto s = open_ok(open_options(dir));
  auto fresh = s->load_boot();
  ASSERT_TRUE(fresh.is_ok());
  EXPECT_TRUE(fresh->configs.empty());
  EXPECT_EQ(fresh->hard_state, raftlog::HardState{});
  EXPECT_EQ(fresh->applied, Index(0));

  const Membership m1 = members({1}), m2 = members({1, 2}), m3 = members({1, 2, 3});
  std::vector<Entry> es = run(1, 10, 1);
  es[1] = conf_entry(2, 1, m1);
  es[4] = conf_entry(5, 1, m2);
  es[8] = conf_entry(9, 1, m3);
  ASSERT_TRUE(s->write(append_batch(es)).is_ok());
  using Configs = std::vector<std::pair<Index, Membership>>;
  struct Case {
    uint64_t commit;
    Configs want;
  };
  for (const Case& c : {Case{0, {{Index(2), m1}, {Index(5), m2}, {Index(9), m3}}},
                        Case{1, {{Index(2), m1}, {Index(5), m2}, {Index(9), m3}}},
                        Case{2, {{Index(2), m1}, {Index(5), m2}, {Index(9), m3}}},
                        Case{6, {{Index(5), m2}, {Index(9), m3}}}, Case{10, {{Index(9), m3}}}}) {
    PersistBatch b;
    b.hard_state = raftlog::HardState{Term(1), NodeId(1), Index(c.commit)};
    b.applied = Index(c.commit);
    ASSERT_TRUE(s->write(b).is_ok());
    auto boot = s->load_boot();
    ASSERT_TRUE(boot.is_ok());
    EXPECT_EQ(boot->configs, c.want) << "commit " << c.commit;
    EXPECT_EQ(boot->applied, Index(c.commit));
  }
  // A snapshot newer than the last committed record takes its place.
  const Membership ms = members({1, 2, 4});
  ASSERT_TRUE(s->write(install_batch(make_snapshot(7, 1, ms))).is_ok());
  PersistBatch b;
  b.hard_state = raftlog::HardState{Term(1), NodeId(1), Index(7)};
  ASSERT_TRUE(s->write(b).is_ok());
  auto boot = s->load_boot();
  ASSERT_TRUE(boot.is_ok());
  EXPECT_EQ(boot->configs, (Configs{{Index(7), ms}, {Index(9), m3}}));
}

// A new cluster starts from a snapshot at index 0 carrying the initial
// membership (raftlog/raft.h, Boot).
TEST(Store, BootstrapSnapshotAtIndexZero) {
  TempDir dir;
  const Membership initial = members({1, 2, 3});
  {
    auto s = open_ok(open_options(dir));
    ASSERT_TRUE(s->write(install_batch(make_snapshot(0, 0, initial, ""))).is_ok());
    EXPECT_EQ(s->first_index(), Index(1));
    EXPECT_EQ(s->last_index(), Index(0));
    EXPECT_EQ(*s->term(Index(0)), Term(0));
    // Only once: a second bootstrap is not above the stored snapshot.
    EXPECT_EQ(s->write(install_batch(make_snapshot(0, 0, members({1}), ""))).code(),
              Code::kInvalidArgument);
    ASSERT_TRUE(s->write(append_batch(run(1, 3, 1))).is_ok());
  }
  auto s = open_ok(open_options(dir));
  auto boot = s->load_boot();
  ASSERT_TRUE(boot.is_ok());
  using Configs = std::vector<std::pair<Index, Membership>>;
  EXPECT_EQ(boot->configs, (Configs{{Index(0), initial}}));
  EXPECT_EQ(s->snapshot().membership, initial);
  EXPECT_EQ(s->last_index(), Index(3));
}

TEST(Store, ReopenKeepsEverything) {
  TempDir dir;
  raftlog::HardState hs{Term(4), NodeId(2), Index(12)};
  {
    auto s = open_ok(open_options(dir));
    std::vector<Entry> es = run(1, 20, 2);
    es[9] = conf_entry(10, 2, members({1, 2}));
    es[14] = conf_entry(15, 2, members({1, 2, 3}));
    ASSERT_TRUE(s->write(append_batch(es)).is_ok());
    ASSERT_TRUE(s->save_snapshot(make_snapshot(8, 2, members({1}), "eight")).is_ok());
    ASSERT_TRUE(s->compact(Index(6)).is_ok());
    PersistBatch b = append_batch({entry(18, 4), entry(19, 4)});
    b.hard_state = hs;
    b.applied = Index(11);
    ASSERT_TRUE(s->write(b).is_ok());
  }
  auto s = open_ok(open_options(dir, 0, 0));  // adopt the stored identity
  EXPECT_EQ(s->cluster_id(), raftlog::ClusterId(7));
  EXPECT_EQ(s->node_id(), NodeId(1));
  EXPECT_EQ(s->first_index(), Index(6));
  EXPECT_EQ(s->last_index(), Index(19));
  EXPECT_EQ(*s->term(Index(5)), Term(2));
  EXPECT_EQ(*s->term(Index(19)), Term(4));
  EXPECT_EQ(read_all(*s).size(), 14u);
  auto snap = s->load_snapshot();
  ASSERT_TRUE(snap.is_ok());
  EXPECT_EQ(snap->meta, (raftlog::SnapshotMeta{Index(8), Term(2), members({1})}));
  EXPECT_EQ(*snap->data, "eight");
  auto boot = s->load_boot();
  ASSERT_TRUE(boot.is_ok());
  EXPECT_EQ(boot->hard_state, hs);
  EXPECT_EQ(boot->applied, Index(11));
  using Configs = std::vector<std::pair<Index, Membership>>;
  EXPECT_EQ(boot->configs,
            (Configs{{Index(10), members({1, 2})}, {Index(15), members({1, 2, 3})}}));
}

// Readers racing truncations and compactions see old or new state, an
// honest kCompacted/kNotFound, never kCorruption.
TEST(Store, ReadersRacingWritesNeverSeeDamage) {
  TempDir dir;
  auto s = open_ok(open_options(dir));
  ASSERT_TRUE(s->write(append_batch(run(1, 50, 1), false)).is_ok());
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    while (!done) {
      uint64_t first = s->first_index().value();
      for (uint64_t i = first - 1; i <= first + 60; i += 7) {
        auto t = s->term(Index(i));
        if (!t.is_ok() && t.status().code() != Code::kCompacted &&
            t.status().code() != Code::kNotFound) {
          bad++;
        }
        auto es = s->entries(Index(i), Index(i + 5), UINT64_MAX);
        if (!es.is_ok() && es.status().code() != Code::kCompacted &&
            es.status().code() != Code::kNotFound) {
          bad++;
        }
      }
    }
  });
  for (uint64_t round = 0; round < 200; round++) {
    uint64_t last = s->last_index().value();
    uint64_t term = round + 2;
    ASSERT_TRUE(s->write(append_batch(run(last - 3, last + 2, term), false)).is_ok());
    if (round % 20 == 19) {
      uint64_t at = s->last_index().value() - 10;
      uint64_t at_term = s->term(Index(at))->value();
      ASSERT_TRUE(s->save_snapshot(make_snapshot(at, at_term, members({1}))).is_ok());
      ASSERT_TRUE(s->compact(Index(at - 2)).is_ok());
    }
  }
  done = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace storage::testing

namespace storage::testing {
namespace {

// The node's state view rows travel in the same WriteBatch as `applied`
// and survive a reopen; deletes remove rows.
TEST(Store, StateRowsPersistWithAppliedAndScanInOrder) {
  TempDir dir;
  {
    auto s = open_ok(open_options(dir));
    PersistBatch b;
    b.applied = Index(0);
    b.state_rows = {
        {"k/b", std::string("2")}, {"k/a", std::string("1")}, {"k/c", std::string("3")}};
    ASSERT_TRUE(s->write(b).is_ok());
    PersistBatch d;
    d.state_rows = {{"k/c", std::nullopt}};
    ASSERT_TRUE(s->write(d).is_ok());
  }
  auto s = open_ok(open_options(dir));
  std::vector<std::pair<std::string, std::string>> rows;
  ASSERT_TRUE(s->scan_state([&](const std::string& k, const std::string& v) {
                 rows.emplace_back(k, v);
                 return Status::ok();
               }).is_ok());
  EXPECT_EQ(rows, (std::vector<std::pair<std::string, std::string>>{{"k/a", "1"}, {"k/b", "2"}}));
  // A callback error stops the scan and is returned.
  int seen = 0;
  Status st = s->scan_state([&](const std::string&, const std::string&) {
    seen++;
    return Status(Code::kCorruption, "bad row");
  });
  EXPECT_EQ(st.code(), Code::kCorruption);
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace storage::testing
