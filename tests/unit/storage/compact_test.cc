// Retention: the pure purge target, duration parsing, and compaction steps
// on a real store (snapshot recorded at the applied index, state rows kept,
// conf records kept for boot, bounds surviving a reopen), and the purger.
#include <gtest/gtest.h>

#include <thread>

#include "storage/compact.h"
#include "storage/compact_purger.h"
#include "tests/unit/storage/test_util.h"

namespace storage::testing {
namespace {

using common::Code;
using std::chrono::hours;
using std::chrono::seconds;

RetentionInputs inputs(uint64_t first, uint64_t applied, uint64_t within_duration,
                       std::optional<uint64_t> cursor = std::nullopt) {
  return RetentionInputs{Index(first), Index(applied), Index(within_duration), cursor};
}

TEST(PurgeTarget, Table) {
  struct Case {
    const char* story;
    RetentionPolicy policy;
    RetentionInputs in;
    uint64_t want;
  };
  RetentionPolicy off;
  RetentionPolicy records;
  records.min_records = 100;
  RetentionPolicy age;
  age.min_duration = hours(1);
  RetentionPolicy both = records;
  both.min_duration = hours(1);
  RetentionPolicy ignoring = records;
  ignoring.ignore_cursors = true;
  const Case cases[] = {
      {"1 retention off keeps everything", off, inputs(1, 1000, 1001), 1},
      {"2 keep the newest 100 of 1000", records, inputs(1, 1000, 1001), 901},
      {"3 fewer than 100 entries: nothing goes", records, inputs(1, 50, 51), 1},
      {"4 already trimmed further: never move back", records, inputs(950, 1000, 1001), 950},
      {"5 age floor alone", age, inputs(1, 1000, 400), 400},
      {"6 both: the count floor keeps more", both, inputs(1, 1000, 990), 901},
      {"7 both: the age floor keeps more", both, inputs(1, 1000, 500), 500},
      {"8 a slow cursor holds the log", records, inputs(1, 1000, 1001, 300), 301},
      {"9 a cursor ahead of the floor changes nothing", records, inputs(1, 1000, 1001, 990), 901},
      {"10 ignore cursors", ignoring, inputs(1, 1000, 1001, 300), 901},
      {"11 a cursor below the first index holds nothing back", records, inputs(500, 1000, 1001, 10),
       500},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(purge_target(c.policy, c.in), Index(c.want)) << c.story;
  }
}

TEST(ParseDuration, GoodAndBad) {
  EXPECT_EQ(*parse_duration("90"), seconds(90));
  EXPECT_EQ(*parse_duration("90s"), seconds(90));
  EXPECT_EQ(*parse_duration("30m"), seconds(1800));
  EXPECT_EQ(*parse_duration("24h"), hours(24));
  EXPECT_EQ(*parse_duration("7d"), hours(24 * 7));
  for (const char* bad : {"", "h", "1.5h", "-1h", "10w", "99999999999999999999d"}) {
    auto r = parse_duration(bad);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
  }
}

// A store with entries 1..n (a membership change at 10), applied n, and a
// state row, as the node leaves it.
std::unique_ptr<Store> filled(const TempDir& dir, uint64_t n) {
  auto s = open_ok(open_options(dir));
  PersistBatch boot;
  boot.snapshot =
      raftlog::Snapshot{raftlog::SnapshotMeta{Index(0), Term(0), members({1, 2, 3})}, nullptr};
  boot.sync = true;
  EXPECT_TRUE(s->write(boot).is_ok());
  std::vector<Entry> es = run(1, n, 2);
  es[9] = conf_entry(10, 2, members({1, 2, 3, 4}));
  PersistBatch b = append_batch(es);
  b.applied = Index(n);
  b.state_rows.emplace_back("k/key", std::string("value"));
  EXPECT_TRUE(s->write(b).is_ok());
  return s;
}

TEST(CompactStep, RecordsSnapshotAtAppliedAndMovesInBatches) {
  TempDir dir;
  auto s = filled(dir, 100);
  auto first = compact_step(*s, Index(61), Index(100), 25);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_EQ(*first, Index(26));
  // The snapshot is at the applied index, with the membership in force there.
  EXPECT_EQ(s->snapshot().index, Index(100));
  EXPECT_EQ(s->snapshot().term, Term(2));
  EXPECT_EQ(s->snapshot().membership, members({1, 2, 3, 4}));
  EXPECT_EQ(*compact_step(*s, Index(61), Index(100), 25), Index(51));
  EXPECT_EQ(*compact_step(*s, Index(61), Index(100), 25), Index(61));
  EXPECT_EQ(*compact_step(*s, Index(61), Index(100), 25), Index(61));  // reached: no-op
  EXPECT_EQ(s->entries(Index(60), Index(61), UINT64_MAX).status().code(), Code::kCompacted);
  auto kept = s->entries(Index(61), Index(101), UINT64_MAX);
  ASSERT_TRUE(kept.is_ok());
  EXPECT_EQ(kept->size(), 40u);
  EXPECT_EQ(kept->front().index, Index(61));
}

TEST(CompactStep, StateAndBootSurviveReopen) {
  TempDir dir;
  {
    auto s = filled(dir, 100);
    ASSERT_TRUE(compact_step(*s, Index(91), Index(100), 1000).is_ok());
  }
  auto s = open_ok(open_options(dir));
  EXPECT_EQ(s->first_index(), Index(91));
  EXPECT_EQ(s->last_index(), Index(100));
  EXPECT_EQ(*s->term(Index(90)), Term(2));
  std::vector<std::pair<std::string, std::string>> rows;
  ASSERT_TRUE(s->scan_state([&](const std::string& k, const std::string& v) {
                 rows.emplace_back(k, v);
                 return Status::ok();
               }).is_ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].second, "value");
  auto boot = s->load_boot();
  ASSERT_TRUE(boot.is_ok());
  EXPECT_EQ(boot->applied, Index(100));
  ASSERT_FALSE(boot->configs.empty());
  EXPECT_EQ(boot->configs.back().second, members({1, 2, 3, 4}));
  auto m = s->membership_at(Index(95));
  ASSERT_TRUE(m.is_ok());
  EXPECT_EQ(*m, members({1, 2, 3, 4}));
}

TEST(CompactStep, MembershipBeforeTheFirstChangeIsTheBootstrap) {
  TempDir dir;
  auto s = filled(dir, 20);
  auto m = s->membership_at(Index(5));
  ASSERT_TRUE(m.is_ok());
  EXPECT_EQ(*m, members({1, 2, 3}));
}

TEST(Purger, ReachesTargetInStepsWhileWritesContinue) {
  TempDir dir;
  auto s = filled(dir, 1000);
  Purger p(s.get(), 100, std::chrono::milliseconds(1));
  p.request(Index(801), Index(1000));
  // Appends continue meanwhile; none of them may fail.
  for (uint64_t i = 1001; i <= 1100; i++) {
    PersistBatch b = append_batch(run(i, i, 2), false);
    b.applied = Index(i);
    ASSERT_TRUE(s->write(b).is_ok());
  }
  for (int i = 0; i < 500 && s->first_index() < Index(801); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(s->first_index(), Index(801));
  p.stop();
  auto st = p.stats();
  EXPECT_EQ(st.purged_entries, 800u);
  EXPECT_EQ(st.steps, 8u);
  EXPECT_EQ(st.failures, 0u);
  EXPECT_EQ(s->last_index(), Index(1100));
}

}  // namespace
}  // namespace storage::testing
