// reconcile_local and confirm_primary as tables: an agent's target, what it
// sees of its own PostgreSQL and of the store -> the actions, in order.
#include <functional>

#include "tests/unit/pgha/reconcile_fixture.h"

namespace pgha::test {
namespace {

using K = LocalActionKind;

// A status where a is primary on timeline 2, b and c follow it.
ClusterStatus status_a_primary() {
  ClusterStatus s;
  s.generation = 5;
  s.epoch = 2;
  s.primary = "a";
  s.timeline = 2;
  s.state = ClusterState::kHealthy;
  s.targets["a"] = {TargetRole::kPrimary, "", "127.0.0.1:54a"};
  s.targets["b"] = {TargetRole::kReplica, "a", "127.0.0.1:54b"};
  s.targets["c"] = {TargetRole::kReplica, "a", "127.0.0.1:54c"};
  return s;
}

struct LocalCase {
  const char* story;
  std::string self;
  std::function<void(LocalInput&)> setup;  // starts: status_a_primary, store reachable
  std::vector<K> actions;
  std::string reason;  // substring of the first action's reason
  std::string source;  // expected source of the first action that has one
};

LocalInput base(const std::string& self) {
  LocalInput in;
  in.self = self;
  in.desired = three_members();
  in.status = status_a_primary();
  in.local = self == "a" ? primary("a", 2, 100) : replica(self, "a", 2, 100);
  in.now = kStart;
  return in;
}

auto target(const std::string& m, TargetRole r, std::string follow = "a") {
  return [=](LocalInput& in) {
    auto& t = in.status->targets[m];
    t.role = r;
    t.follow = r == TargetRole::kPrimary ? "" : follow;
  };
}
auto local(Observation o) {
  return [o](LocalInput& in) { in.local = o; };
}
Observation stopped(const std::string& m) {
  Observation o = fresh(m);
  o.role = PgRole::kStopped;
  o.timeline = 1;
  return o;
}

TEST(ReconcileLocal, Table) {
  const LocalCase cases[] = {
      {"no status yet",
       "a",
       [](LocalInput& in) { in.status.reset(); },
       {K::kNone},
       "waiting for the coordinator",
       ""},
      {"paused: observe only, even a stopped primary",
       "a",
       [](LocalInput& in) {
         in.desired->paused = true;
         in.local = stopped("a");
       },
       {K::kNone},
       "paused",
       ""},
      {"not a member", "z", nullptr, {K::kNone}, "not a member", ""},
      {"not a member but running as a primary: refuse writes",
       "z",
       local(primary("z", 2, 1)),
       {K::kFence},
       "not a member",
       ""},
      // ---- primary ----
      {"bootstrap: initdb then start",
       "a",
       [](LocalInput& in) {
         in.status->timeline = 0;
         in.local = fresh("a");
       },
       {K::kInitdb, K::kStart},
       "bootstrap",
       ""},
      {"never initdb after bootstrap", "a", local(fresh("a")), {K::kNone}, "refusing initdb", ""},
      {"primary stopped: start it", "a", local(stopped("a")), {K::kStart}, "not running", ""},
      {"primary running but not answering: wait",
       "a",
       [](LocalInput& in) { in.local.health = PgHealth::kQueryFailed; },
       {K::kNone},
       "waiting for PostgreSQL",
       ""},
      {"healthy primary: nothing", "a", nullptr, {K::kNone}, "primary", ""},
      {"primary with old sync names: set them",
       "a",
       [](LocalInput& in) { in.status->synchronous_standby_names = "FIRST 1 (\"b\")"; },
       {K::kSetSyncNames},
       "FIRST 1 (\"b\")",
       ""},
      {"chosen replica: sync names first, then promote",
       "b",
       [](LocalInput& in) {
         target("a", TargetRole::kRewindNeeded, "b")(in);
         target("b", TargetRole::kPrimary)(in);
         in.status->primary = "b";
         in.status->synchronous_standby_names = "FIRST 1 (\"c\")";
       },
       {K::kSetSyncNames, K::kPromote},
       "synchronous_standby_names",
       ""},
      {"switchover aborted: unfence",
       "a",
       [](LocalInput& in) { in.local.fenced = true; },
       {K::kUnfence},
       "accept writes",
       ""},
      // ---- replica ----
      {"replica clone: basebackup, follow, start",
       "b",
       local(fresh("b")),
       {K::kBasebackup, K::kFollow, K::kStart},
       "clone from a",
       "a"},
      {"replica stopped: follow then start",
       "b",
       local(stopped("b")),
       {K::kFollow, K::kStart},
       "stream from a",
       "a"},
      {"replica on the wrong upstream: repoint",
       "b",
       local(replica("b", "c", 2, 100)),
       {K::kFollow},
       "repoint from c to a",
       "a"},
      {"replica streaming: nothing", "b", nullptr, {K::kNone}, "streaming from a", ""},
      {"replica configured, not yet streaming: wait",
       "b",
       [](LocalInput& in) { in.local.streaming = false; },
       {K::kNone},
       "waiting to stream",
       ""},
      {"target replica but running as primary: fence now, then demote",
       "b",
       local(primary("b", 2, 100)),
       {K::kFence, K::kDemote},
       "refuse writes now",
       "a"},
      {"upstream address unknown: wait",
       "b",
       [](LocalInput& in) { in.status->targets["a"].pg_address.clear(); },
       {K::kNone},
       "waiting to learn a's address",
       ""},
      // ---- fenced (old primary during a handover) ----
      {"fence the primary",
       "a",
       target("a", TargetRole::kFenced),
       {K::kFence},
       "refuse writes",
       ""},
      {"already fenced: wait",
       "a",
       [](LocalInput& in) {
         target("a", TargetRole::kFenced)(in);
         in.local.fenced = true;
       },
       {K::kNone},
       "waiting for the handover",
       ""},
      {"cannot be queried: stop it to be sure",
       "a",
       [](LocalInput& in) {
         target("a", TargetRole::kFenced)(in);
         in.local.health = PgHealth::kUnreachable;
       },
       {K::kStop},
       "cannot be queried",
       ""},
      // ---- old primary returns: rewind and rejoin ----
      {"old primary running: fence, stop",
       "a",
       target("a", TargetRole::kRewindNeeded, "b"),
       {K::kFence, K::kStop},
       "b is the primary",
       ""},
      {"old primary stopped: rewind, follow, start",
       "a",
       [](LocalInput& in) {
         target("a", TargetRole::kRewindNeeded, "b")(in);
         in.local = stopped("a");
       },
       {K::kRewind, K::kFollow, K::kStart},
       "rejoin b's timeline",
       "b"},
      {"rewind failed: wait for the clone order",
       "a",
       [](LocalInput& in) {
         target("a", TargetRole::kRewindNeeded, "b")(in);
         in.local = stopped("a");
         in.local.rewind_failed = true;
       },
       {K::kNone},
       "order a clone",
       ""},
      {"rewound and streaming: wait for the coordinator",
       "a",
       [](LocalInput& in) {
         target("a", TargetRole::kRewindNeeded, "b")(in);
         in.local = replica("a", "b", 3, 100);
       },
       {K::kNone},
       "will mark it a replica",
       ""},
      {"clone: stop first",
       "c",
       target("c", TargetRole::kCloneNeeded),
       {K::kStop},
       "before cloning",
       ""},
      {"clone: basebackup, follow, start",
       "c",
       [](LocalInput& in) {
         target("c", TargetRole::kCloneNeeded)(in);
         in.local = stopped("c");
       },
       {K::kBasebackup, K::kFollow, K::kStart},
       "clone afresh from a",
       "a"},
      // ---- store unreachable (failsafe) ----
      {"replica without the store: keep streaming",
       "b",
       [](LocalInput& in) { in.store_reachable = false; },
       {K::kNone},
       "keep running",
       ""},
      {"primary without the store, lease still valid: keep serving",
       "a",
       [](LocalInput& in) { in.store_reachable = false; },
       {K::kNone},
       "lease still valid",
       ""},
      {"primary without the store: 2 of 3 confirm (a majority): keep serving",
       "a",
       [](LocalInput& in) {
         in.store_reachable = false;
         in.lease_valid = false;
         in.peers = {{"b", true, kStart - 100}, {"c", false, kStart - 100}};
       },
       {K::kNone},
       "2 of 3 members",
       ""},
      {"primary without the store: nobody confirms: fence",
       "a",
       [](LocalInput& in) {
         in.store_reachable = false;
         in.lease_valid = false;
         in.peers = {{"b", false, kStart}, {"c", false, kStart}};
       },
       {K::kFence},
       "only 1 of 3 members",
       ""},
      {"primary without the store: a stale confirmation does not count",
       "a",
       [](LocalInput& in) {
         in.store_reachable = false;
         in.lease_valid = false;
         in.peers = {{"b", true, kStart - 1501}};
       },
       {K::kFence},
       "only 1 of 3",
       ""},
      {"primary without the store: a confirmation from itself does not count",
       "a",
       [](LocalInput& in) {
         in.store_reachable = false;
         in.lease_valid = false;
         in.peers = {{"a", true, kStart}};
       },
       {K::kFence},
       "only 1 of 3",
       ""},
      {"primary without the store: a stranger's confirmation does not count",
       "a",
       [](LocalInput& in) {
         in.store_reachable = false;
         in.lease_valid = false;
         in.peers = {{"x", true, kStart}};
       },
       {K::kFence},
       "only 1 of 3",
       ""},
      {"five members: 2 confirmations + itself = 3 of 5",
       "a",
       [](LocalInput& in) {
         in.desired = five_members(ReplicationMode::kAsync);
         in.store_reachable = false;
         in.lease_valid = false;
         in.peers = {{"b", true, kStart}, {"c", true, kStart}, {"d", false, kStart}};
       },
       {K::kNone},
       "3 of 5",
       ""},
      {"fenced by failsafe: stays fenced until the store is back",
       "a",
       [](LocalInput& in) {
         in.store_reachable = false;
         in.lease_valid = false;
         in.local.fenced = true;
         in.peers = {{"b", true, kStart}, {"c", true, kStart}};
       },
       {K::kNone},
       "stay fenced",
       ""},
  };
  for (const auto& c : cases) {
    LocalInput in = base(c.self);
    if (c.setup) c.setup(in);
    auto actions = reconcile_local(in);
    ASSERT_FALSE(actions.empty()) << c.story;
    std::vector<K> kinds;
    std::string all;
    for (const auto& a : actions) {
      kinds.push_back(a.kind);
      all += std::string(name_of(a.kind)) + "(" + a.source + "): " + a.reason + "; ";
      EXPECT_FALSE(a.reason.empty()) << c.story;
    }
    EXPECT_EQ(kinds, c.actions) << c.story << ": got " << all;
    EXPECT_NE(actions.front().reason.find(c.reason), std::string::npos) << c.story << ": " << all;
    if (!c.source.empty()) {
      auto with_source = std::find_if(actions.begin(), actions.end(),
                                      [](const LocalAction& a) { return !a.source.empty(); });
      ASSERT_NE(with_source, actions.end()) << c.story;
      EXPECT_EQ(with_source->source, c.source) << c.story;
      EXPECT_EQ(with_source->source_address, "127.0.0.1:54" + c.source) << c.story;
    }
  }
}

struct ConfirmCase {
  const char* story;
  std::string asker;
  uint64_t epoch;
  std::function<void(std::optional<ClusterStatus>&, Observation&)> setup;
  bool store_reachable;
  bool asker_key_present;
  bool confirms;
};

TEST(ConfirmPrimary, Table) {
  const ConfirmCase cases[] = {
      {"cut off like the asker, same view", "a", 2, nullptr, false, false, true},
      {"in the store and the asker's key is there", "a", 2, nullptr, true, true, true},
      {"in the store and the asker's lease is gone", "a", 2, nullptr, true, false, false},
      {"not the primary in my status", "b", 2, nullptr, false, false, false},
      {"an older epoch", "a", 1, nullptr, false, false, false},
      {"a failover away from the asker began", "a", 2,
       [](std::optional<ClusterStatus>& s, Observation&) {
         s->handover =
             Handover{HandoverKind::kFailover, HandoverPhase::kFencing, "a", "", "", 0, 0, 0};
       },
       false, false, false},
      {"I am a primary myself", "a", 2,
       [](std::optional<ClusterStatus>&, Observation& o) { o = primary("b", 3, 1); }, false, false,
       false},
      {"no status known", "a", 2, [](std::optional<ClusterStatus>& s, Observation&) { s.reset(); },
       false, false, false},
  };
  for (const auto& c : cases) {
    std::optional<ClusterStatus> s = status_a_primary();
    Observation me = replica("b", "a", 2, 100);
    if (c.setup) c.setup(s, me);
    EXPECT_EQ(confirm_primary(c.asker, c.epoch, s, c.store_reachable, c.asker_key_present, me),
              c.confirms)
        << c.story;
  }
}

TEST(SyncNamesText, Forms) {
  EXPECT_EQ(sync_names_text(ReplicationMode::kSync, 1, {"b"}), "FIRST 1 (\"b\")");
  EXPECT_EQ(sync_names_text(ReplicationMode::kQuorum, 2, {"b", "c", "d"}),
            "ANY 2 (\"b\",\"c\",\"d\")");
  EXPECT_EQ(sync_names_text(ReplicationMode::kAsync, 1, {"b"}), "");
  EXPECT_EQ(sync_names_text(ReplicationMode::kSync, 0, {}), "");
}

}  // namespace
}  // namespace pgha::test
