// The pgha model's codecs: round trips, and desired states that must be
// refused with a message naming exactly what is wrong.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "pgha/core/model.h"

namespace pgha {
namespace {

TEST(Lsn, ParsesAndFormatsPostgresText) {
  auto lsn = parse_lsn("16/B374D848");
  ASSERT_TRUE(lsn.is_ok());
  EXPECT_EQ(*lsn, (0x16ULL << 32) | 0xB374D848ULL);
  EXPECT_EQ(format_lsn(*lsn), "16/B374D848");
  EXPECT_EQ(format_lsn(0), "0/0");
  for (const char* bad : {"", "16", "/1", "1/", "x/1", "1/123456789", "1/2/3", "-1/0"}) {
    EXPECT_FALSE(parse_lsn(bad).is_ok()) << bad;
  }
}

TEST(Keys, LayoutUnderTheCluster) {
  EXPECT_EQ(desired_key("main"), "/pgha/main/desired");
  EXPECT_EQ(status_key("main"), "/pgha/main/status");
  EXPECT_EQ(leader_key("main"), "/pgha/main/leader");
  EXPECT_EQ(member_key("main", "pg1"), "/pgha/main/members/pg1");
  Event e;
  e.cluster = "main";
  e.kind = "failover-begin";
  EXPECT_EQ(event_tags(e), (std::vector<std::string>{"pgha", "pgha:main", "failover-begin"}));
}

TEST(Desired, ParsesWithDefaultsAndSortsMembers) {
  auto d = parse_desired(R"({"members":[{"name":"b"},{"name":"a","priority":5,"nofailover":true}],
                             "mode":"sync","pgSettings":{"max_connections":200,"fsync":true,
                             "work_mem":"8MB"}})");
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  ASSERT_EQ(d->members.size(), 2u);
  EXPECT_EQ(d->members[0].name, "a");
  EXPECT_EQ(d->members[0].priority, 5);
  EXPECT_TRUE(d->members[0].nofailover);
  EXPECT_EQ(d->members[1].priority, 100);
  EXPECT_EQ(d->mode, ReplicationMode::kSync);
  EXPECT_EQ(d->quorum_n, 1u);
  EXPECT_EQ(d->pg_settings.at("max_connections"), "200");
  EXPECT_EQ(d->pg_settings.at("fsync"), "on");
  EXPECT_EQ(d->pg_settings.at("work_mem"), "8MB");
  EXPECT_FALSE(d->paused);
}

TEST(Desired, RoundTrips) {
  Desired d;
  d.generation = 7;
  d.members = {{"a", 10, false}, {"b", 100, true}, {"c", 100, false}};
  d.primary = "a";
  d.mode = ReplicationMode::kQuorum;
  d.quorum_n = 2;
  d.sync_fallback = SyncFallback::kDegrade;
  d.pg_settings = {{"work_mem", "8MB"}};
  d.paused = true;
  d.handover = HandoverRequest{"r1", HandoverKind::kFailover, "c", 1234};
  d.max_lag_bytes = 99;
  d.member_stale_ms = 5000;
  auto back = parse_desired(to_json(d));
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(to_json(*back), to_json(d));
  EXPECT_EQ(back->handover->kind, HandoverKind::kFailover);
  EXPECT_EQ(back->quorum_n, 2u);
}

struct BadDesired {
  const char* story;
  const char* json;
  const char* error;  // a substring the message must contain
};

TEST(Desired, RefusesWithPreciseErrors) {
  const BadDesired cases[] = {
      {"not json", "{", "desired state is not valid JSON"},
      {"not an object", "[1]", "must be a JSON object"},
      {"no members", R"({})", "members is required"},
      {"empty members", R"({"members":[]})", "at least one member"},
      {"typo", R"({"members":[{"name":"a"}],"mdoe":"sync"})", "unknown field mdoe"},
      {"typo in a member", R"({"members":[{"name":"a","prio":1}]})",
       "unknown field members[0].prio"},
      {"member without name", R"({"members":[{"priority":1}]})", "members[0].name is required"},
      {"bad name", R"({"members":[{"name":"a b"}]})", "may only contain"},
      {"duplicate", R"({"members":[{"name":"a"},{"name":"a"}]})", "'a' is listed twice"},
      {"priority range", R"({"members":[{"name":"a","priority":1001}]})",
       "members[0].priority must be an integer in [0, 1000]"},
      {"bad mode", R"({"members":[{"name":"a"}],"mode":"semi"})",
       "mode must be 'async', 'sync' or 'quorum'"},
      {"quorum N too big", R"({"members":[{"name":"a"},{"name":"b"},{"name":"c"}],
                               "mode":"quorum","quorumN":3})",
       "quorumN 3 is out of range [1, 2] for 3 members"},
      {"quorum N zero", R"({"members":[{"name":"a"},{"name":"b"}],"mode":"quorum"})",
       "quorumN 0 is out of range [1, 1]"},
      {"sync alone", R"({"members":[{"name":"a"}],"mode":"sync"})", "at least 2 members"},
      {"async with N", R"({"members":[{"name":"a"}],"quorumN":1})", "must be 0"},
      {"unknown primary", R"({"members":[{"name":"a"}],"primary":"x"})",
       "primary 'x' is not a member"},
      {"nofailover primary", R"({"members":[{"name":"a","nofailover":true},{"name":"b"}],
                                 "primary":"a"})",
       "marked nofailover"},
      {"nobody promotable", R"({"members":[{"name":"a","nofailover":true}]})", "none could ever"},
      {"bad fallback", R"({"members":[{"name":"a"}],"syncFallback":"maybe"})",
       "syncFallback must be 'strict' or 'degrade'"},
      {"managed setting", R"({"members":[{"name":"a"}],"pgSettings":{"primary_conninfo":"x"}})",
       "managed by pgha"},
      {"setting name", R"({"members":[{"name":"a"}],"pgSettings":{"Work Mem":"x"}})",
       "not a PostgreSQL setting name"},
      {"setting value newline", R"({"members":[{"name":"a"}],"pgSettings":{"work_mem":"1\n2"}})",
       "must be one line"},
      {"setting object", R"({"members":[{"name":"a"}],"pgSettings":{"work_mem":{}}})",
       "pgSettings.work_mem must be a string, number or boolean"},
      {"switchover without target",
       R"({"members":[{"name":"a"}],"handover":{"id":"1","kind":"switchover"}})",
       "handover.to is required"},
      {"switchover to stranger", R"({"members":[{"name":"a"}],"handover":{"id":"1","to":"z"}})",
       "handover.to 'z' is not a member"},
      {"handover without id", R"({"members":[{"name":"a"}],"handover":{"to":"a"}})",
       "handover.id is required"},
      {"negative timing", R"({"members":[{"name":"a"}],"unhealthyFailoverMs":-1})",
       "unhealthyFailoverMs must be an integer in [0,"},
      {"zero lag", R"({"members":[{"name":"a"}],"maxLagBytes":0})", "maxLagBytes must be > 0"},
  };
  for (const auto& c : cases) {
    auto d = parse_desired(c.json);
    ASSERT_FALSE(d.is_ok()) << c.story;
    EXPECT_EQ(d.status().code(), common::Code::kInvalidArgument) << c.story;
    EXPECT_NE(d.status().message().find(c.error), std::string::npos)
        << c.story << ": got '" << d.status().message() << "'";
  }
}

TEST(Observation, RoundTripsAndNamesBadFields) {
  Observation o;
  o.member = "b";
  o.api_url = "http://127.0.0.1:9001";
  o.pg_address = "127.0.0.1:5433";
  o.role = PgRole::kReplica;
  o.health = PgHealth::kQueryFailed;
  o.pg_running = true;
  o.timeline = 3;
  o.receive_lsn = 0x3000060;
  o.replay_lsn = 0x3000000;
  o.upstream = "a";
  o.streaming = true;
  o.sync_standbys = {"x"};
  o.last_error = "permission denied";
  o.observed_at_ms = 42;
  auto back = parse_observation(to_json(o));
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(to_json(*back), to_json(o));
  EXPECT_EQ(position_of(*back), 0x3000060u);

  auto bad = parse_observation(R"({"member":"b","receiveLsn":"zz"})");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("receiveLsn"), std::string::npos);
  bad = parse_observation(R"({"member":"b","role":"leader"})");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("role must be"), std::string::npos);
}

TEST(Status, RoundTrips) {
  ClusterStatus s;
  s.generation = 9;
  s.epoch = 2;
  s.primary = "a";
  s.timeline = 2;
  s.primary_lsn = 0x5000000;
  s.state = ClusterState::kFailingOver;
  s.targets["a"] = {TargetRole::kPrimary, "", "h:1"};
  s.targets["b"] = {TargetRole::kRewindNeeded, "a", "h:2"};
  s.synchronous_standby_names = "FIRST 1 (\"b\")";
  s.sync = {{"b"}, 1};
  s.sync_degraded = true;
  s.handover =
      Handover{HandoverKind::kSwitchover, HandoverPhase::kCatchingUp, "b", "a", "r1", 10, 20, 0x77};
  s.unhealthy_since_ms["b"] = 5;
  s.primary_lost_at_ms = 3;
  auto back = parse_status(to_json(s));
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(to_json(*back), to_json(s));
}

TEST(Event, RoundTrips) {
  Event e{"main", "failover-end", "b", "b is primary on timeline 3", 77, 4};
  auto back = parse_event(to_json(e));
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(to_json(*back), to_json(e));
  EXPECT_FALSE(parse_event(R"({"cluster":"main"})").is_ok());
}

// The request id an event is appended with: a retry of the same event must
// carry the same id (so the store appends it once), and any two different
// events must not (or the second would be answered as a duplicate of the
// first and never recorded).
TEST(EventRequestId, SameEventSameIdEveryFieldChangesIt) {
  const Event e{"main", "failover-end", "b", "b is primary on timeline 3", 1700000000123, 4};
  const std::string id = event_request_id(e);
  EXPECT_EQ(id.rfind("pgha/main/g4/failover-end/b/1700000000123/", 0), 0u) << id;
  EXPECT_EQ(event_request_id(Event(e)), id);  // deterministic: a copy, a retry
  auto back = parse_event(to_json(e));        // and after a trip through JSON
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(event_request_id(*back), id);

  std::vector<Event> others(6, e);
  others[0].cluster = "other";
  others[1].kind = "failover-begin";
  others[2].member = "c";
  others[3].message = "b is primary on timeline 4";
  others[4].at_ms += 1;
  others[5].generation += 1;
  std::set<std::string> ids{id};
  for (const auto& o : others) {
    EXPECT_TRUE(ids.insert(event_request_id(o)).second) << to_json(o);
  }
}

TEST(EventRequestId, FitsTheServersLimitEvenForOversizedFields) {
  Event cluster_event{"main", "pause", "", "paused by operator", 5, 1};
  EXPECT_NE(event_request_id(cluster_event).find("/pause/-/"), std::string::npos);

  // Names are validated to 63 chars, but the id must stay within the limit
  // and distinct even if a caller passed longer ones.
  Event big{std::string(300, 'c'),
            std::string(300, 'k'),
            std::string(300, 'm'),
            std::string(100000, 'x'),
            9,
            9};
  Event big2 = big;
  big2.message.back() = 'y';
  const std::string a = event_request_id(big);
  const std::string b = event_request_id(big2);
  EXPECT_LE(a.size(), kEventRequestIdBytesMax);
  EXPECT_LE(b.size(), kEventRequestIdBytesMax);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace pgha
