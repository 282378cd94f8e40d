// reconcile_cluster as tables (Stolon's TestUpdateCluster, with builders):
// each scenario is a story of steps; each step changes what the agents
// report and/or moves the mocked clock, then states what the coordinator
// must decide. The Coordinator fixture checks after every step that the
// status never names two primaries and that generation, epoch and timeline
// never go back.
#include <cstdio>
#include <cstdlib>
#include <functional>

#include "tests/unit/pgha/reconcile_fixture.h"

namespace pgha::test {
namespace {

// What a step expects; unset parts are not checked.
struct Want {
  std::optional<std::string> primary_;
  std::optional<ClusterState> state_;
  std::map<std::string, TargetRole> roles_;
  std::map<std::string, std::string> follows_;
  std::vector<std::string_view> events_;
  std::vector<std::string_view> no_events_;
  std::vector<std::string> says_;
  std::optional<bool> handover_;
  std::optional<HandoverPhase> phase_;
  std::optional<std::string> ssn_;
  std::optional<std::vector<std::string>> sync_;
  std::optional<uint32_t> timeline_;
  std::vector<std::string> absent_;

  Want& primary(std::string p) {
    primary_ = std::move(p);
    return *this;
  }
  Want& state(ClusterState s) {
    state_ = s;
    return *this;
  }
  Want& role(const std::string& m, TargetRole r, std::string follow = "") {
    roles_[m] = r;
    if (!follow.empty()) follows_[m] = std::move(follow);
    return *this;
  }
  Want& event(std::string_view kind) {
    events_.push_back(kind);
    return *this;
  }
  Want& no_event(std::string_view kind) {
    no_events_.push_back(kind);
    return *this;
  }
  Want& says(std::string text) {
    says_.push_back(std::move(text));
    return *this;
  }
  Want& in_handover(HandoverPhase p) {
    handover_ = true;
    phase_ = p;
    return *this;
  }
  Want& no_handover() {
    handover_ = false;
    return *this;
  }
  Want& ssn(std::string s) {
    ssn_ = std::move(s);
    return *this;
  }
  Want& sync(std::vector<std::string> s) {
    sync_ = std::move(s);
    return *this;
  }
  Want& absent(std::string m) {
    absent_.push_back(std::move(m));
    return *this;
  }
  Want& timeline(uint32_t t) {
    timeline_ = t;
    return *this;
  }
};
Want want() {
  return {};
}

struct Step {
  const char* what;
  std::function<void(Coordinator&)> act;
  int64_t dt_ms;
  Want want;
};

struct Scenario {
  const char* story;
  std::function<Desired()> desired;
  bool start_healthy;  // a primary, b and c streaming, settled
  std::vector<Step> steps;
};

void check(const Coordinator& c, const Want& w, const std::string& where) {
  const ClusterStatus& s = c.last.status;
  std::string ctx = where + "\n  decided: " + all_reasons(c.last);
  if (w.primary_) {
    EXPECT_EQ(s.primary, *w.primary_) << ctx;
  }
  if (w.state_) {
    EXPECT_EQ(name_of(s.state), name_of(*w.state_)) << ctx;
  }
  for (const auto& [m, r] : w.roles_) {
    ASSERT_TRUE(s.targets.count(m)) << ctx;
    EXPECT_EQ(name_of(s.targets.at(m).role), name_of(r)) << m << ": " << ctx;
  }
  for (const auto& [m, f] : w.follows_) EXPECT_EQ(s.targets.at(m).follow, f) << m << ": " << ctx;
  for (auto kind : w.events_) EXPECT_TRUE(has_event(c.last, kind)) << "no " << kind << ": " << ctx;
  for (auto kind : w.no_events_) EXPECT_FALSE(has_event(c.last, kind)) << kind << ": " << ctx;
  std::string text = all_reasons(c.last) + s.blocked;
  for (const auto& says : w.says_) {
    EXPECT_NE(text.find(says), std::string::npos) << "missing '" << says << "': " << ctx;
  }
  if (w.handover_) {
    EXPECT_EQ(s.handover.has_value(), *w.handover_) << ctx;
  }
  if (w.phase_ && s.handover) {
    EXPECT_EQ(name_of(s.handover->phase), name_of(*w.phase_)) << ctx;
  }
  if (w.ssn_) {
    EXPECT_EQ(s.synchronous_standby_names, *w.ssn_) << ctx;
  }
  if (w.sync_) {
    EXPECT_EQ(s.sync.names, *w.sync_) << ctx;
  }
  for (const auto& m : w.absent_) {
    EXPECT_FALSE(s.targets.count(m)) << m << " still has a target: " << ctx;
  }
  if (w.timeline_) {
    EXPECT_EQ(s.timeline, *w.timeline_) << ctx;
  }
}

void run(const std::vector<Scenario>& table) {
  for (const auto& sc : table) {
    Coordinator c(sc.desired());
    if (sc.start_healthy) c.run_healthy();
    int i = 0;
    for (const auto& st : sc.steps) {
      ++i;
      if (st.act) st.act(c);
      c.step(st.dt_ms);
      if (std::getenv("PGHA_TEST_VERBOSE")) {  // the story as the log would tell it
        std::printf("%s / %d: %s\n    %s\n", sc.story, i, st.what, all_reasons(c.last).c_str());
      }
      check(c, st.want, std::string(sc.story) + " / step " + std::to_string(i) + ": " + st.what);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

// ---- small story verbs ----
auto gone(const std::string& m) {
  return [m](Coordinator& c) { c.obs.erase(m); };
}
auto set(Observation o) {
  return [o](Coordinator& c) { c.obs[o.member] = o; };
}
auto request(HandoverKind kind, std::string to, std::string id = "r1") {
  return [=](Coordinator& c) { c.desired.handover = HandoverRequest{id, kind, to, c.now}; };
}
auto fenced(const std::string& m, Lsn flush) {
  return [=](Coordinator& c) {
    c.obs[m].fenced = true;
    c.obs[m].flush_lsn = flush;
  };
}
auto with_priority(const std::string& m, int32_t p) {
  return [=](Coordinator& c) {
    for (auto& dm : c.desired.members) {
      if (dm.name == m) dm.priority = p;
    }
  };
}
auto runs_names(const std::string& m) {  // the primary applied what it was told
  return [m](Coordinator& c) {
    c.obs[m].synchronous_standby_names = c.status->synchronous_standby_names;
  };
}
auto both(std::function<void(Coordinator&)> x, std::function<void(Coordinator&)> y) {
  return [=](Coordinator& c) {
    x(c);
    y(c);
  };
}
const Lsn kPos = 80 * kMiB;  // where run_healthy leaves everyone

TEST(ReconcileCluster, Bootstrap) {
  run({
      {"no intended primary: the first agents wait for a majority, then the best is chosen",
       [] { return three_members(); },
       false,
       {
           {"only a registered", set(fresh("a")), 100,
            want().primary("").state(ClusterState::kProvisioning).says("bootstrap: waiting")},
           {"b registered: a majority", set(fresh("b")), 100,
            want()
                .primary("a")
                .event(kEventBootstrap)
                .role("a", TargetRole::kPrimary)
                .role("b", TargetRole::kReplica, "a")
                .role("c", TargetRole::kReplica, "a")
                .state(ClusterState::kProvisioning)
                .timeline(0)},
           {"a ran initdb and serves", set(primary("a", 1, 0x3000000)), 100,
            want().event(kEventBootstrap).timeline(1).state(ClusterState::kDegraded)},
           {"b and c cloned and stream",
            both(set(replica("b", "a", 1, 0x3000000)), set(replica("c", "a", 1, 0x3000000))), 100,
            want().state(ClusterState::kHealthy).no_event(kEventHealthFailure)},
       }},
      {"intended primary: wait for it even when others are up",
       [] {
         Desired d = three_members();
         d.primary = "c";
         return d;
       },
       false,
       {
           {"a and b registered", both(set(fresh("a")), set(fresh("b"))), 100,
            want().primary("").says("waiting for the intended primary c")},
           {"c registered", set(fresh("c")), 100,
            want()
                .primary("c")
                .role("c", TargetRole::kPrimary)
                .role("a", TargetRole::kReplica, "c")},
       }},
      {"existing data is adopted, newest first, never re-initialized",
       [] { return three_members(); },
       false,
       {
           {"b has a stopped data directory on timeline 3, a and c are empty",
            [](Coordinator& c) {
              c.obs["a"] = fresh("a");
              Observation b = fresh("b");
              b.role = PgRole::kStopped;
              b.timeline = 3;
              c.obs["b"] = b;
              c.obs["c"] = fresh("c");
            },
            100, want().primary("b").says("adopting its existing data (timeline 3)")},
       }},
  });
}

TEST(ReconcileCluster, ReplicaClone) {
  run({
      {"a member added to the desired state is cloned from the primary",
       [] { return three_members(); },
       true,
       {
           {"d added; its agent reports no data",
            [](Coordinator& c) {
              c.desired.members.push_back({"d", 100, false});
              c.obs["d"] = fresh("d");
            },
            100,
            want()
                .role("d", TargetRole::kReplica, "a")
                .state(ClusterState::kDegraded)
                .says("d: PostgreSQL is uninitialized")},
           {"d streams", set(replica("d", "a", 1, kPos)), 100,
            want().state(ClusterState::kHealthy)},
       }},
  });
}

TEST(ReconcileCluster, Switchover) {
  run({
      {"switchover to b: fence a, b replays to a's last LSN, promote b, a rewinds and rejoins",
       [] { return three_members(); },
       true,
       {
           {"operator asks for b", request(HandoverKind::kSwitchover, "b"), 100,
            want()
                .event(kEventSwitchoverBegin)
                .in_handover(HandoverPhase::kFencing)
                .role("a", TargetRole::kFenced)
                .primary("a")
                .state(ClusterState::kFailingOver)
                .says("waiting for a to refuse writes")},
           {"a refuses writes at its last LSN", fenced("a", kPos + 100), 100,
            want().in_handover(HandoverPhase::kCatchingUp).says("waiting for b to replay up to")},
           {"b replayed all of it", set(replica("b", "a", 1, kPos + 100)), 100,
            want()
                .primary("b")
                .in_handover(HandoverPhase::kPromoting)
                .role("b", TargetRole::kPrimary)
                .role("a", TargetRole::kRewindNeeded, "b")
                .role("c", TargetRole::kReplica, "b")},
           {"b is writable on timeline 2", set(primary("b", 2, kPos + 200)), 100,
            want()
                .event(kEventSwitchoverEnd)
                .no_handover()
                .timeline(2)
                .state(ClusterState::kDegraded)},
           {"a rewound and streams from b; c repointed",
            both(set(replica("a", "b", 2, kPos + 200)), set(replica("c", "b", 2, kPos + 200))), 100,
            want().role("a", TargetRole::kReplica, "b").state(ClusterState::kHealthy)},
           {"the same request again is not run twice", nullptr, 100,
            want().no_event(kEventSwitchoverBegin).primary("b")},
       }},
      {"switchover refused when the target is unhealthy",
       [] { return three_members(); },
       true,
       {
           {"b's status query fails; operator asks for b",
            both(
                [](Coordinator& c) {
                  c.obs["b"].health = PgHealth::kQueryFailed;
                  c.obs["b"].last_error = "too many connections";
                },
                request(HandoverKind::kSwitchover, "b")),
            100,
            want()
                .event(kEventSwitchoverRefused)
                .no_handover()
                .primary("a")
                .says("b: PostgreSQL query failed: too many connections")},
           {"refused once, not every loop", nullptr, 100, want().no_event(kEventSwitchoverRefused)},
       }},
      {"switchover refused when the target lags",
       [] { return three_members(); },
       true,
       {
           {"b is 40 MiB behind",
            both(set(replica("b", "a", 1, kPos - 40 * kMiB)),
                 request(HandoverKind::kSwitchover, "b")),
            100,
            want()
                .event(kEventSwitchoverRefused)
                .no_handover()
                .says("b: lag 41943040 bytes > 16777216")},
       }},
      {"switchover aborted when the primary never fences, and a is unfenced",
       [] { return three_members(); },
       true,
       {
           {"operator asks for c", request(HandoverKind::kSwitchover, "c"), 100,
            want().in_handover(HandoverPhase::kFencing)},
           {"30 s later a still takes writes", nullptr, 30'001,
            want()
                .event(kEventSwitchoverAborted)
                .no_handover()
                .role("a", TargetRole::kPrimary)
                .primary("a")},
       }},
      {"intended primary: the coordinator switches over to it, after an abort only later",
       [] { return three_members(); },
       true,
       {
           {"desired.primary = c", [](Coordinator& c) { c.desired.primary = "c"; }, 100,
            want().event(kEventSwitchoverBegin).in_handover(HandoverPhase::kFencing)},
           {"a never fences", nullptr, 30'001, want().event(kEventSwitchoverAborted)},
           {"not retried at once", nullptr, 100,
            want().no_event(kEventSwitchoverBegin).says("retried after")},
           {"retried after the back-off", nullptr, 30'000, want().event(kEventSwitchoverBegin)},
       }},
  });
}

TEST(ReconcileCluster, AutomaticFailover) {
  run({
      {"primary lease lost: wait out the failsafe window, promote the most advanced replica",
       [] { return three_members(); },
       true,
       {
           {"c is a little behind b", set(replica("c", "a", 1, kPos - 1000)), 100,
            want().state(ClusterState::kHealthy)},
           {"a's agent lease expires", gone("a"), 100,
            want()
                .event(kEventFailoverBegin)
                .in_handover(HandoverPhase::kFencing)
                .primary("a")
                .says("failsafeConfirmMs")},
           {"1 s: still inside the failsafe window", nullptr, 1000,
            want().primary("a").no_event(kEventFailoverCandidate)},
           {"the window passed", nullptr, 500,
            want()
                .event(kEventFailoverCandidate)
                .primary("b")
                .role("b", TargetRole::kPrimary)
                .role("a", TargetRole::kRewindNeeded, "b")
                .role("c", TargetRole::kReplica, "b")
                .says("received 0/5000000")},
           {"b promoted: timeline 2", set(primary("b", 2, kPos + 10)), 100,
            want().event(kEventFailoverEnd).no_handover().timeline(2)},
           {"a comes back running as a primary on timeline 1", set(primary("a", 1, kPos + 5)), 100,
            want().primary("b").role("a", TargetRole::kRewindNeeded, "b")},
           {"a rewound and streams from b", set(replica("a", "b", 2, kPos + 10)), 100,
            want().role("a", TargetRole::kReplica, "b")},
       }},
      {"an operator request pending when the primary fails is superseded, not run afterwards",
       [] { return three_members(); },
       true,
       {
           {"failover request and a's lease gone at once",
            both(request(HandoverKind::kFailover, "", "r9"), gone("a")), 100,
            want()
                .event(kEventFailoverBegin)
                .event(kEventFailoverBlocked)
                .says("request r9 superseded")},
           {"window passed", nullptr, 2000, want().primary("b")},
           {"b writable", set(primary("b", 2, kPos)), 100, want().no_handover().primary("b")},
           {"the request is not run again", nullptr, 100,
            want().no_handover().primary("b").no_event(kEventFailoverBegin)},
       }},
      {"tie on received LSN: priority, then name",
       [] { return three_members(); },
       true,
       {
           {"c has priority 200; a lost", both(with_priority("c", 200), gone("a")), 100,
            want().primary("a")},
           {"window passed", nullptr, 2000, want().primary("c")},
       }},
      {"tie on received LSN and priority: the name decides",
       [] { return three_members(); },
       true,
       {
           {"a lost", gone("a"), 100, want().primary("a")},
           {"window passed", nullptr, 2000, want().primary("b")},
       }},
      {"primary's PostgreSQL down while its agent lives: grace, then failover",
       [] { return three_members(); },
       true,
       {
           {"a's PostgreSQL refuses connections",
            [](Coordinator& c) { c.obs["a"].health = PgHealth::kUnreachable; }, 100,
            want().event(kEventHealthFailure).no_handover().says("failover after 3000 ms")},
           {"2 s later", nullptr, 2000, want().no_handover().primary("a")},
           {"3 s later: failover; a's postmaster still runs, so a must stop first", nullptr, 1000,
            want()
                .event(kEventFailoverBegin)
                .role("a", TargetRole::kFenced)
                .says("waiting for a to stop accepting writes")},
           {"a's agent stopped it", [](Coordinator& c) { c.obs["a"].pg_running = false; }, 100,
            want().primary("b").event(kEventFailoverCandidate)},
       }},
      {"old primary's agent returns before anyone was promoted: failover called off",
       [] { return three_members(); },
       true,
       {
           {"a's agent paused: lease expires", gone("a"), 100, want().event(kEventFailoverBegin)},
           {"a's agent resumes 1 s later", set(primary("a", 1, kPos)), 1000,
            want()
                .event(kEventFailoverAborted)
                .no_handover()
                .primary("a")
                .role("a", TargetRole::kPrimary)},
       }},
      {"the chosen candidate never becomes writable: choose again",
       [] { return three_members(); },
       true,
       {
           {"a lost", gone("a"), 100, want().primary("a")},
           {"window passed", nullptr, 2000, want().primary("b")},
           {"b's agent dies too", gone("b"), 100, want().in_handover(HandoverPhase::kPromoting)},
           {"30 s later", nullptr, 30'001,
            want().event(kEventFailoverBegin).in_handover(HandoverPhase::kFencing)},
       }},
      {"promotion counts only on a timeline above the old one",
       [] { return three_members(); },
       true,
       {
           {"a lost", gone("a"), 100, want().primary("a")},
           {"window passed", nullptr, 2000, want().primary("b")},
           {"b says primary but still on timeline 1", set(primary("b", 1, kPos)), 100,
            want().in_handover(HandoverPhase::kPromoting).says("timeline above 1").timeline(1)},
           {"b on timeline 2", set(primary("b", 2, kPos)), 100,
            want().no_handover().timeline(2).event(kEventFailoverEnd)},
       }},
      {"operator failover to c while a is healthy: a is fenced first, no catch-up",
       [] { return three_members(); },
       true,
       {
           {"failover --to c", request(HandoverKind::kFailover, "c"), 100,
            want().event(kEventFailoverBegin).role("a", TargetRole::kFenced).primary("a")},
           {"a fenced", fenced("a", kPos), 100, want().primary("c").event(kEventFailoverCandidate)},
       }},
  });
}

TEST(ReconcileCluster, NoEligibleCandidate) {
  run({
      {"stay put and say why; promote once someone qualifies",
       [] {
         Desired d = three_members();
         d.members[1].nofailover = true;  // b
         return d;
       },
       true,
       {
           {"c is 20 MiB behind; a is lost",
            both(set(replica("c", "a", 1, kPos - 20 * kMiB)), gone("a")), 100,
            want().primary("a").says("failsafeConfirmMs")},
           {"the window passed", nullptr, 2000,
            want()
                .primary("a")
                .in_handover(HandoverPhase::kFencing)
                .event(kEventBlocked)
                .says("no eligible candidate: b: nofailover; c: lag 20971520 bytes > 16777216")
                .says("failover blocked: no eligible candidate: b: nofailover; c: lag above "
                      "maxLagBytes (16777216)")},
           {"said once", nullptr, 100, want().no_event(kEventBlocked)},
           {"c catches up on the WAL it had received", set(replica("c", "", 1, kPos)), 100,
            want().primary("c")},
       }},
      {"a majority of members must be in the store to fail over",
       [] { return three_members(); },
       true,
       {
           {"a and b lost together", both(gone("a"), gone("b")), 2000,
            want().primary("a").no_handover().says(
                "only 1 of 3 members are in the store (need 2)")},
       }},
  });
}

TEST(ReconcileCluster, SyncStandby) {
  auto sync_strict = [] { return five_members(ReplicationMode::kSync); };
  run({
      {"sync standby lost: another is named, and counts only once it has everything",
       sync_strict,
       true,
       {
           {"settled: b is the synchronous standby", nullptr, 100,
            want().ssn("FIRST 1 (\"b\")").sync({"b"}).state(ClusterState::kHealthy)},
           {"b lost", gone("b"), 100,
            want()
                .event(kEventSyncStandbyChange)
                .ssn("FIRST 1 (\"c\")")
                .sync({"b", "c"})
                .says("waiting for a to run synchronous_standby_names")},
           {"a lost before it ran the new names", gone("a"), 100, want().primary("a")},
           {"no promotion: b may hold acknowledged commits c lacks", nullptr, 2000,
            want().primary("a").says("only 1 of the synchronous standbys {b,c} answer")},
       }},
      {"sync standby replaced: c counts after a runs the names and c caught up",
       sync_strict,
       true,
       {
           {"b lost", gone("b"), 100, want().ssn("FIRST 1 (\"c\")").sync({"b", "c"})},
           {"a runs the new names at 0/5000100",
            both(runs_names("a"), [](Coordinator& c) { c.obs["a"].flush_lsn = kPos + 256; }), 100,
            want().sync({"b", "c"}).says("count as synchronous once 1 of them reached 0/5000100")},
           {"c reached it", set(replica("c", "a", 1, kPos + 256)), 100, want().sync({"c"})},
           {"a lost", gone("a"), 100, want().primary("a")},
           {"c is the only candidate: d and e are as advanced but not synchronous", nullptr, 2000,
            want().primary("c")},
       }},
      {"strict: no standby left, commits wait (never silently async)",
       [] { return three_members(ReplicationMode::kSync); },
       true,
       {
           {"b and c lost", both(gone("b"), gone("c")), 100,
            want().ssn("FIRST 1 (\"b\")").says("commits wait for b").no_event(kEventSyncDegraded)},
       }},
      {"degrade: no standby left, async with an event; restored when one returns",
       [] { return three_members(ReplicationMode::kSync, SyncFallback::kDegrade); },
       true,
       {
           {"b and c lost", both(gone("b"), gone("c")), 100,
            want().ssn("").event(kEventSyncDegraded).state(ClusterState::kDegraded)},
           {"a runs without names", runs_names("a"), 100, want().sync({})},
           {"c back", set(replica("c", "a", 1, kPos)), 100,
            want().ssn("FIRST 1 (\"c\")").event(kEventSyncRestored)},
       }},
      {"quorum: ANY 1 of b and c; a failover needs the most advanced of them",
       [] { return three_members(ReplicationMode::kQuorum); },
       true,
       {
           {"settled", nullptr, 100, want().ssn("ANY 1 (\"b\",\"c\")").sync({"b", "c"})},
           {"a lost, b ahead of c", both(gone("a"), set(replica("c", "a", 1, kPos - 5))), 100,
            want().primary("a")},
           {"window passed", nullptr, 2000, want().primary("b")},
       }},
      {"quorum ANY 2 of four: two standbys answering of four is not enough",
       [] {
         Desired d = five_members(ReplicationMode::kQuorum);
         d.quorum_n = 2;
         return d;
       },
       true,
       {
           {"settled", nullptr, 100,
            want().ssn("ANY 2 (\"b\",\"c\",\"d\",\"e\")").sync({"b", "c", "d", "e"})},
           {"a and b lost", both(gone("a"), gone("b")), 100, want().primary("a")},
           {"c, d, e answer: 3 of 4 with ANY 2 suffices", nullptr, 2000, want().primary("c")},
       }},
      {"quorum ANY 1 of four: a commit may be on one standby only, so all four must answer",
       [] { return five_members(ReplicationMode::kQuorum); },
       true,
       {
           {"a and b lost", both(gone("a"), gone("b")), 100, want().primary("a")},
           {"c, d, e answer: not enough", nullptr, 2000,
            want().primary("a").says(
                "only 3 of the synchronous standbys {b,c,d,e} answer; 4 are needed")},
       }},
  });
}

TEST(ReconcileCluster, MembershipEdges) {
  run({
      {"two members: the survivor alone may fail over (the old primary cannot hold a majority)",
       [] {
         Desired d = three_members();
         d.members.pop_back();
         return d;
       },
       true,
       {
           {"a lost", gone("a"), 100, want().primary("a")},
           {"window passed", nullptr, 2000, want().primary("b")},
       }},
      {"four members: two in the store suffice, one does not",
       [] {
         Desired d = five_members(ReplicationMode::kAsync);
         d.members.pop_back();
         return d;
       },
       true,
       {
           {"a, b and c lost", both(gone("a"), both(gone("b"), gone("c"))), 2000,
            want().primary("a").says("only 1 of 4 members are in the store (need 2)")},
           {"c back", set(replica("c", "", 1, kPos)), 2000, want().primary("c")},
       }},
      {"a desired state that drops the primary waits for a switchover",
       [] { return three_members(); },
       true,
       {
           {"a removed from the desired members",
            [](Coordinator& c) { c.desired.members.erase(c.desired.members.begin()); }, 100,
            want()
                .primary("a")
                .role("a", TargetRole::kPrimary)
                .no_handover()
                .says("the desired state drops a, the primary")},
           {"switchover to b", request(HandoverKind::kSwitchover, "b"), 100,
            want().event(kEventSwitchoverBegin).role("a", TargetRole::kFenced)},
           {"a fenced", fenced("a", kPos), 100, want().primary("b")},
           {"b writable", set(primary("b", 2, kPos)), 100,
            want().event(kEventSwitchoverEnd).absent("a").role("c", TargetRole::kReplica, "b")},
       }},
  });
}

TEST(ReconcileCluster, RewindAndClone) {
  run({
      {"a diverged replica is rewound; a failed rewind becomes a clone",
       [] { return three_members(); },
       true,
       {
           {"c reports a forked history",
            [](Coordinator& c) {
              c.obs["c"].diverged = true;
              c.obs["c"].streaming = false;
            },
            100, want().role("c", TargetRole::kRewindNeeded, "a").event(kEventRewind)},
           {"pg_rewind failed", [](Coordinator& c) { c.obs["c"].rewind_failed = true; }, 100,
            want().role("c", TargetRole::kCloneNeeded, "a").event(kEventClone)},
           {"cloned and streaming", set(replica("c", "a", 1, kPos)), 100,
            want().role("c", TargetRole::kReplica, "a").state(ClusterState::kHealthy)},
       }},
      {"a replica that replayed past the primary's switch point is rewound (judged by the "
       "coordinator from both histories, even if its agent did not say so)",
       [] { return three_members(); },
       false,
       {
           {"a is primary on timeline 2 (timeline 1 ended at 0/3000148); b follows; c stayed "
            "on timeline 1 and replayed to 0/3000200",
            [](Coordinator& c) {
              c.obs["a"] = primary("a", 2, 0x6000000);
              c.obs["a"].timeline_history = {{1, 0x3000148}};
              c.obs["b"] = replica("b", "a", 2, 0x6000000);
              c.obs["b"].timeline_history = {{1, 0x3000148}};
              c.obs["c"] = replica("c", "", 1, 0x3000200);
            },
            100,
            want()
                .primary("a")
                .role("b", TargetRole::kReplica, "a")
                .role("c", TargetRole::kRewindNeeded, "a")
                .event(kEventRewind)
                .says("past 0/3000148")},
           {"c rewound: on timeline 2, streaming from a", set(replica("c", "a", 2, 0x6000000)), 100,
            want().role("c", TargetRole::kReplica, "a")},
       }},
      {"a replica within the switch point follows the new timeline: no rewind",
       [] { return three_members(); },
       false,
       {
           {"c on timeline 1 replayed exactly to where it ended",
            [](Coordinator& c) {
              c.obs["a"] = primary("a", 2, 0x6000000);
              c.obs["a"].timeline_history = {{1, 0x3000148}};
              c.obs["b"] = replica("b", "a", 2, 0x6000000);
              c.obs["c"] = replica("c", "a", 1, 0x3000148);
            },
            100, want().primary("a").role("c", TargetRole::kReplica, "a").no_event(kEventRewind)},
           {"still no rewind", nullptr, 100,
            want().role("c", TargetRole::kReplica, "a").no_event(kEventRewind)},
       }},
      {"a member that starts as a second primary is fenced and rewound",
       [] { return three_members(); },
       true,
       {
           {"c runs as a primary", set(primary("c", 1, kPos)), 100,
            want().primary("a").role("c", TargetRole::kRewindNeeded, "a").event(kEventFence)},
       }},
  });
}

TEST(ReconcileCluster, Paused) {
  run({
      {"paused: observe only, no failover; resume acts",
       [] { return three_members(); },
       true,
       {
           {"pause", [](Coordinator& c) { c.desired.paused = true; }, 100,
            want().event(kEventPause).state(ClusterState::kPaused)},
           {"a lost while paused", gone("a"), 5000,
            want()
                .primary("a")
                .no_handover()
                .no_event(kEventFailoverBegin)
                .state(ClusterState::kPaused)},
           {"resume", [](Coordinator& c) { c.desired.paused = false; }, 100,
            want().event(kEventResume).event(kEventFailoverBegin)},
       }},
  });
}

TEST(ReconcileCluster, NothingChangesWhenNothingHappens) {
  Coordinator c(three_members(ReplicationMode::kSync));
  c.run_healthy();
  uint64_t gen = c.status->generation;
  for (int i = 0; i < 50; ++i) {
    c.step(100);
    ASSERT_FALSE(c.last.changed) << all_reasons(c.last);
  }
  EXPECT_EQ(c.status->generation, gen);
  // The primary's position alone is written only when it moved enough
  // (maxLagBytes / 4), and at most every 5 s.
  c.obs["a"].flush_lsn += kMiB;
  EXPECT_FALSE(c.step(5000).changed);
  c.obs["a"].flush_lsn += 4 * kMiB;
  EXPECT_TRUE(c.step().changed);
  EXPECT_EQ(c.status->primary_lsn, c.obs["a"].flush_lsn);
  c.obs["a"].flush_lsn += 100 * kMiB;
  EXPECT_FALSE(c.step(4000).changed);
  EXPECT_TRUE(c.step(1000).changed);
  EXPECT_EQ(c.status->primary_lsn, c.obs["a"].flush_lsn);
}

// What the status keeps while waiting must not move with figures that
// change every loop, or each loop would write the status and log an event.
TEST(ReconcileCluster, WaitingReasonsAreStable) {
  Coordinator c(three_members());
  c.run_healthy();
  c.desired.primary = "c";  // c lags, and its lag moves as it streams
  c.obs["c"] = replica("c", "a", 1, kPos - 40 * kMiB);
  c.obs["c"].health = PgHealth::kOk;
  c.step();
  ASSERT_NE(c.status->blocked.find("c: lag above maxLagBytes"), std::string::npos)
      << c.status->blocked;
  for (int i = 1; i <= 10; ++i) {
    c.obs["c"].receive_lsn += kMiB;
    c.obs["c"].replay_lsn += kMiB;
    c.obs["b"].health = PgHealth::kQueryFailed;  // with a new error text each loop
    c.obs["b"].last_error = "error number " + std::to_string(i);
    c.step();
    if (i > 1) {
      EXPECT_FALSE(c.last.changed) << all_reasons(c.last);
    }
  }
}

TEST(ReconcileCluster, EventsCarryTheClusterAndGeneration) {
  Coordinator c(three_members());
  c.run_healthy();
  c.obs.erase("a");
  const auto& d = c.step();
  ASSERT_FALSE(d.events.empty());
  for (const auto& e : d.events) {
    EXPECT_EQ(e.cluster, "main");
    EXPECT_EQ(e.generation, d.status.generation);
    EXPECT_EQ(e.at_ms, c.now);
  }
}

}  // namespace
}  // namespace pgha::test
