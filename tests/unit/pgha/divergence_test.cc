// divergence(): when a replica's history no longer leads into the
// primary's, and the timeline history file parser it is fed from.
#include <gtest/gtest.h>

#include "pgha/core/reconcile.h"
#include "tests/unit/pgha/reconcile_fixture.h"

namespace pgha {
namespace {

using test::primary;
using test::replica;

constexpr Lsn kSwitch1 = 0x3000148;  // where timeline 1 ended
constexpr Lsn kSwitch2 = 0x5000060;  // where timeline 2 ended

Observation with_history(Observation o, std::vector<TimelineSwitch> h) {
  o.timeline_history = std::move(h);
  return o;
}

TEST(Divergence, Table) {
  const Observation p1 = primary("a", 1, 0x6000000);
  const Observation p2 = with_history(primary("a", 2, 0x6000000), {{1, kSwitch1}});
  const Observation p3 = with_history(primary("a", 3, 0x6000000), {{1, kSwitch1}, {2, kSwitch2}});
  struct Case {
    const char* story;
    Observation replica;
    Observation primary;
    std::string want;  // a fragment of the reason; "" = not diverged
  };
  const std::vector<Case> cases = {
      {"same timeline 1, behind", replica("c", "a", 1, 0x5000000), p1, ""},
      {"same timeline 1, ahead: lag, not a fork (the primary's LSN is older)",
       replica("c", "a", 1, 0x7000000), p1, ""},
      {"promoted on its own: above the primary's timeline",
       with_history(replica("c", "", 2, 0x4000000), {{1, kSwitch1}}), p1, "above the primary's"},
      {"old timeline, replayed exactly to the switch point: follows",
       replica("c", "a", 1, kSwitch1), p2, ""},
      {"old timeline, before the switch point: follows", replica("c", "a", 1, kSwitch1 - 8), p2,
       ""},
      {"old timeline, replayed past the switch point: WAL the primary never had",
       replica("c", "", 1, kSwitch1 + 0x100), p2, "past 0/3000148"},
      {"two timelines behind, past where timeline 2 ended",
       with_history(replica("c", "", 2, kSwitch2 + 1), {{1, kSwitch1}}), p3, "past 0/5000060"},
      {"two timelines behind, within",
       with_history(replica("c", "a", 2, kSwitch2), {{1, kSwitch1}}), p3, ""},
      {"same timeline id from another promotion: ancestors differ",
       with_history(replica("c", "", 2, 0x4000000), {{1, kSwitch1 + 0x1000}}), p2, "(a fork)"},
      {"a timeline the primary never had",
       with_history(replica("c", "", 2, 0x4000000), {{1, kSwitch1}}),
       with_history(primary("a", 3, 0x6000000), {{1, kSwitch1}}), "not in the primary's history"},
      {"primary's history unknown past timeline 1: no verdict", replica("c", "", 1, 0x7000000),
       primary("a", 2, 0x6000000), ""},
      {"replica's history unknown on the same timeline: no verdict",
       replica("c", "a", 2, 0x5000000), p2, ""},
      {"unknown timelines: no verdict", replica("c", "a", 0, 0x5000000), p2, ""},
      {"the primary is not a primary (stale or demoted): no verdict",
       replica("c", "", 3, 0x4000000), replica("a", "", 2, 0x6000000), ""},
  };
  for (const auto& tc : cases) {
    std::string got = divergence(tc.replica, tc.primary);
    if (tc.want.empty()) {
      EXPECT_EQ(got, "") << tc.story;
    } else {
      EXPECT_NE(got.find(tc.want), std::string::npos) << tc.story << ": got '" << got << "'";
    }
  }
}

TEST(TimelineHistory, ParsesPostgresFiles) {
  auto h = parse_timeline_history(
      "1\t0/3000148\tno recovery target specified\n"
      "\n"
      "# a comment\n"
      "2\t0/5000060\tno recovery target specified\n");
  ASSERT_TRUE(h.is_ok()) << h.status().to_string();
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0], (TimelineSwitch{1, kSwitch1}));
  EXPECT_EQ((*h)[1], (TimelineSwitch{2, kSwitch2}));
  EXPECT_TRUE(parse_timeline_history("").is_ok());
  for (const char* bad : {"x\t0/1\tr\n", "1\n", "1\tnot-an-lsn\tr\n", "0\t0/1\tr\n"}) {
    auto r = parse_timeline_history(bad);
    EXPECT_FALSE(r.is_ok()) << bad;
    if (!r.is_ok()) {
      EXPECT_NE(r.status().message().find("line 1"), std::string::npos);
    }
  }
}

TEST(TimelineHistory, RoundTripsInTheObservation) {
  Observation o = with_history(replica("c", "a", 3, 0x7000000), {{1, kSwitch1}, {2, kSwitch2}});
  auto back = parse_observation(to_json(o));
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->timeline_history, o.timeline_history);
  EXPECT_NE(to_json(o).find("\"timelineHistory\":[\"1:0/3000148\",\"2:0/5000060\"]"),
            std::string::npos)
      << to_json(o);
  EXPECT_FALSE(parse_observation(R"({"member":"c","timelineHistory":["1-0/1"]})").is_ok());
}

}  // namespace
}  // namespace pgha
