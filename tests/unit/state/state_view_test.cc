// Table-driven tests of the pure state view: each case is a story of
// commands applied at increasing indexes, then what must hold.
#include "state/state_view.h"

#include <gtest/gtest.h>

#include "api/cursors.h"  // header-only constants: the config key names

namespace state {
namespace {

Command put(std::string k, std::string v, uint64_t lease = 0) {
  Command c;
  c.ops.push_back(Op{std::move(k), false, std::move(v), lease});
  return c;
}
Command cas(std::string k, uint64_t rev, std::string v) {
  Command c = put(k, std::move(v));
  c.compares.push_back(Compare{std::move(k), rev});
  return c;
}
Command del(std::string k, std::optional<uint64_t> rev = std::nullopt) {
  Command c;
  c.ops.push_back(Op{k, true, "", 0});
  if (rev) c.compares.push_back(Compare{k, *rev});
  return c;
}
Command grant(uint64_t ttl) {
  Command c;
  c.lease_grant_ttl_seconds = ttl;
  return c;
}
Command revoke(uint64_t id) {
  Command c;
  c.lease_revoke = id;
  return c;
}

struct Step {
  uint64_t index;
  Command cmd;
  Outcome want;
};

struct Case {
  const char* story;
  std::vector<Step> steps;
  std::map<std::string, std::pair<std::string, uint64_t>> want_keys;  // key -> (value, mod rev)
};

TEST(StateViewTest, Table) {
  const std::vector<Case> cases = {
      {"1: put creates a key at its index",
       {{5, put("a", "1"), Outcome::kApplied}},
       {{"a", {"1", 5}}}},
      {"2: CAS on the current revision wins, on a stale one loses",
       {{1, put("a", "1"), Outcome::kApplied},
        {2, cas("a", 1, "2"), Outcome::kApplied},
        {3, cas("a", 1, "3"), Outcome::kCompareFailed}},
       {{"a", {"2", 2}}}},
      {"3: revision 0 means must-not-exist",
       {{1, cas("a", 0, "x"), Outcome::kApplied}, {2, cas("a", 0, "y"), Outcome::kCompareFailed}},
       {{"a", {"x", 1}}}},
      {"4: conditional delete",
       {{1, put("a", "1"), Outcome::kApplied},
        {2, del("a", 7), Outcome::kCompareFailed},
        {3, del("a", 1), Outcome::kApplied}},
       {}},
      {"5: put on an unknown lease changes nothing",
       {{1, put("a", "1", 99), Outcome::kUnknownLease}},
       {}},
      {"6: revoking a lease deletes its keys only",
       {{1, grant(10), Outcome::kApplied},
        {2, put("a", "1", 1), Outcome::kApplied},
        {3, put("b", "2"), Outcome::kApplied},
        {4, revoke(1), Outcome::kApplied},
        {5, revoke(1), Outcome::kUnknownLease}},
       {{"b", {"2", 3}}}},
      {"7: moving a key off a lease keeps it through the revoke",
       {{1, grant(10), Outcome::kApplied},
        {2, put("a", "1", 1), Outcome::kApplied},
        {3, put("a", "2"), Outcome::kApplied},
        {4, revoke(1), Outcome::kApplied}},
       {{"a", {"2", 3}}}},
      {"8: a revoke guarded by a failing compare changes nothing",
       {{1, grant(10), Outcome::kApplied},
        {2, put("a", "1", 1), Outcome::kApplied},
        {3,
         [] {
           Command c = revoke(1);
           c.compares.push_back(Compare{"a", 99});
           return c;
         }(),
         Outcome::kCompareFailed}},
       {{"a", {"1", 2}}}},
  };
  for (const auto& c : cases) {
    StateView v;
    std::vector<Row> rows;
    for (const auto& s : c.steps) {
      auto r = v.apply(s.index, s.cmd, &rows);
      EXPECT_EQ(r.outcome, s.want) << c.story << " at index " << s.index;
      EXPECT_EQ(v.failed(s.index), s.want != Outcome::kApplied) << c.story;
    }
    EXPECT_EQ(v.key_count(), c.want_keys.size()) << c.story;
    for (const auto& [k, want] : c.want_keys) {
      const KeyRecord* r = v.get(k);
      ASSERT_NE(r, nullptr) << c.story << ": " << k;
      EXPECT_EQ(r->value_json, want.first) << c.story;
      EXPECT_EQ(r->mod_revision, want.second) << c.story;
    }
    // Rows replayed into a fresh view rebuild the same state.
    StateView rebuilt;
    std::map<std::string, std::optional<std::string>> last;
    for (const auto& row : rows) last[row.key] = row.value;
    for (const auto& [k, val] : last) {
      if (val) {
        ASSERT_TRUE(rebuilt.load_row(k, *val).is_ok()) << c.story;
      }
    }
    EXPECT_TRUE(rebuilt == v) << c.story << ": rows do not rebuild the view";
  }
}

TEST(StateViewTest, VersionAndCreateRevision) {
  StateView v;
  std::vector<Row> rows;
  v.apply(3, put("k", "a"), &rows);
  v.apply(8, put("k", "b"), &rows);
  const KeyRecord* r = v.get("k");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->create_revision, 3u);
  EXPECT_EQ(r->mod_revision, 8u);
  EXPECT_EQ(r->version, 2u);
}

TEST(StateViewTest, FailedCompareReportsEveryComparedKey) {
  StateView v;
  std::vector<Row> rows;
  v.apply(1, put("a", "1"), &rows);
  Command c;
  c.compares = {{"a", 1}, {"b", 5}};
  c.ops = {Op{"a", false, "2", 0}};
  auto r = v.apply(2, c, &rows);
  ASSERT_EQ(r.outcome, Outcome::kCompareFailed);
  EXPECT_EQ(r.current, (std::vector<Compare>{{"a", 1}, {"b", 0}}));
  EXPECT_EQ(v.get("a")->value_json, "1");  // nothing half-applied
}

TEST(StateViewTest, RangeIsSortedPagedAndPrefixed) {
  StateView v;
  std::vector<Row> rows;
  uint64_t i = 1;
  for (const char* k : {"/a/3", "/a/1", "/b/1", "/a/2", "/a"}) v.apply(i++, put(k, "v"), &rows);
  bool more = false;
  auto page = v.range("/a/", "", 2, &more);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].first, "/a/1");
  EXPECT_EQ(page[1].first, "/a/2");
  EXPECT_TRUE(more);
  page = v.range("/a/", "/a/2", 10, &more);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].first, "/a/3");
  EXPECT_FALSE(more);
}

TEST(StateViewTest, CorruptRowsAreRefused) {
  StateView v;
  EXPECT_EQ(v.load_row("k/x", "garbage").code(), common::Code::kCorruption);
  EXPECT_EQ(v.load_row("l/short", "\x01").code(), common::Code::kCorruption);
  EXPECT_EQ(v.load_row("z/what", "").code(), common::Code::kCorruption);
}

// ---- request ids (exactly-once appends) ----

constexpr uint64_t kSec = 1000ull * 1000 * 1000;

Command tagged(std::string id, uint64_t hash, uint64_t ts, uint32_t seq = 0, uint32_t count = 1) {
  Command c;
  c.request = RequestTag{std::move(id), hash, seq, count};
  c.ts_ns = ts;
  return c;
}

TEST(StateViewTest, RequestIdRetryIsADuplicateOfTheFirst) {
  StateView v;
  std::vector<Row> rows;
  EXPECT_EQ(v.apply(3, tagged("r1", 7, 100 * kSec), &rows).outcome, Outcome::kApplied);
  auto dup = v.apply(4, tagged("r1", 7, 101 * kSec), &rows);
  EXPECT_EQ(dup.outcome, Outcome::kDuplicate);
  ASSERT_TRUE(dup.original);
  EXPECT_EQ(dup.original->first_index, 3u);
  EXPECT_EQ(dup.original->ts_ns, 100 * kSec);
  EXPECT_TRUE(v.failed(4));  // hidden from the feed
  EXPECT_FALSE(v.failed(3));
  auto reused = v.apply(5, tagged("r1", 8, 102 * kSec), &rows);
  EXPECT_EQ(reused.outcome, Outcome::kRequestIdReused);
  EXPECT_TRUE(v.failed(5));
  EXPECT_EQ(v.apply(6, tagged("r2", 8, 102 * kSec), &rows).outcome, Outcome::kApplied);
}

TEST(StateViewTest, DuplicateRunsNoWrites) {
  StateView v;
  std::vector<Row> rows;
  Command c = put("a", "1");
  c.request = RequestTag{"w", 1, 0, 1};
  c.ts_ns = kSec;
  EXPECT_EQ(v.apply(1, c, &rows).outcome, Outcome::kApplied);
  c.ops[0].value_json = "1";
  EXPECT_EQ(v.apply(2, c, &rows).outcome, Outcome::kDuplicate);
  EXPECT_EQ(v.get("a")->mod_revision, 1u);
  EXPECT_EQ(v.get("a")->version, 1u);
}

TEST(StateViewTest, BatchEntriesDecideAlike) {
  StateView v;
  std::vector<Row> rows;
  for (uint32_t i = 0; i < 3; i++) {
    EXPECT_EQ(v.apply(10 + i, tagged("b", 5, kSec, i, 3), &rows).outcome, Outcome::kApplied);
  }
  // The same batch again (slipped through a leader change): all duplicates.
  for (uint32_t i = 0; i < 3; i++) {
    auto r = v.apply(20 + i, tagged("b", 5, 2 * kSec, i, 3), &rows);
    EXPECT_EQ(r.outcome, Outcome::kDuplicate);
    ASSERT_TRUE(r.original);
    EXPECT_EQ(r.original->first_index, 10u);
    EXPECT_EQ(r.original->count, 3u);
  }
}

TEST(StateViewTest, RequestIdsExpireAfterTheWindow) {
  StateView v(60 * kSec);
  std::vector<Row> rows;
  v.apply(1, tagged("old", 1, 100 * kSec), &rows);
  v.apply(2, tagged("new", 1, 150 * kSec), &rows);
  EXPECT_NE(v.request("old", 160 * kSec), nullptr);
  EXPECT_EQ(v.request("old", 161 * kSec), nullptr);  // as a retry stamped then would see it
  // A plain entry stamped past the window prunes the table (rows deleted).
  rows.clear();
  Command plain;
  plain.ts_ns = 200 * kSec;
  v.apply(3, plain, &rows);
  EXPECT_EQ(v.request_count(), 1u);
  bool deleted = false;
  for (const auto& r : rows) deleted |= r.key == request_row("old") && !r.value;
  EXPECT_TRUE(deleted);
  // The expired id may be used again: a new append.
  EXPECT_EQ(v.apply(4, tagged("old", 2, 200 * kSec), &rows).outcome, Outcome::kApplied);
}

TEST(StateViewTest, RequestTableSurvivesReload) {
  StateView v;
  std::vector<Row> rows;
  v.apply(1, tagged("r", 9, kSec, 0, 2), &rows);
  v.apply(2, tagged("r", 9, kSec, 1, 2), &rows);
  StateView w;
  for (const auto& r : v.all_rows()) ASSERT_TRUE(w.load_row(r.key, *r.value).is_ok());
  w.set_last_index(2);
  EXPECT_EQ(v, w);
  EXPECT_EQ(w.apply(3, tagged("r", 9, 2 * kSec), &rows).outcome, Outcome::kDuplicate);
  EXPECT_EQ(w.load_row(request_row("x"), "R1").code(), common::Code::kCorruption);
}

// The window is replicated state: a write of kRequestIdWindowKey changes it
// from that entry on (so every node decides alike), a reload restores it,
// and a delete or a malformed value falls back to the default.
TEST(StateViewTest, RequestIdWindowFollowsTheConfigKey) {
  // The HTTP layer writes the key the state machine reads.
  EXPECT_EQ(std::string(kRequestIdWindowKey), api::kRequestIdWindowConfigKey);
  EXPECT_EQ(kRequestIdWindowSecondsMax, api::kRequestIdWindowConfigSecondsMax);
  StateView v(60 * kSec);
  std::vector<Row> rows;
  EXPECT_EQ(request_window_ns_of("30"), 30 * kSec);
  EXPECT_EQ(request_window_ns_of(" 30\n"), 30 * kSec);
  EXPECT_FALSE(request_window_ns_of("0"));
  EXPECT_FALSE(request_window_ns_of("-5"));
  EXPECT_FALSE(request_window_ns_of("1.5"));
  EXPECT_FALSE(request_window_ns_of("\"30\""));
  EXPECT_FALSE(request_window_ns_of(std::to_string(kRequestIdWindowSecondsMax + 1)));
  v.apply(1, tagged("a", 1, 100 * kSec), &rows);
  EXPECT_EQ(v.apply(2, put(kRequestIdWindowKey, "10"), &rows).outcome, Outcome::kApplied);
  EXPECT_EQ(v.request_window_ns(), 10 * kSec);
  EXPECT_EQ(v.request("a", 111 * kSec), nullptr);  // past the new, shorter window
  EXPECT_NE(v.request("a", 110 * kSec), nullptr);
  StateView w(60 * kSec);
  for (const auto& r : v.all_rows()) ASSERT_TRUE(w.load_row(r.key, *r.value).is_ok());
  EXPECT_EQ(w.request_window_ns(), 10 * kSec);
  v.apply(3, put(kRequestIdWindowKey, "\"ten\""), &rows);
  EXPECT_EQ(v.request_window_ns(), 60 * kSec);
  v.apply(4, put(kRequestIdWindowKey, "20"), &rows);
  Command del;
  del.ops.push_back(Op{kRequestIdWindowKey, true, {}, 0});
  v.apply(5, del, &rows);
  EXPECT_EQ(v.request_window_ns(), 60 * kSec);
}

}  // namespace
}  // namespace state
