// pgha against real PostgreSQL 15 and a real 3-node changeagent store, in
// sync mode, with a writer inserting sequence numbers and a write probe on
// every node throughout:
//   1. the store loses a minority (its Raft leader is SIGKILLed for 5 s):
//      the primary stays primary (no demotion) and writes go on;
//   2. an operator switchover to another member: the write outage is
//      measured, the old primary rejoins as a replica;
//   3. the new primary's agent is SIGSTOPped: its lease runs out, a replica
//      takes over, the old primary is fenced (never two writable nodes);
//      after SIGCONT it rejoins as a replica.
// At the end: zero acknowledged rows lost, no probe round with two
// writable nodes, and the story in the history.
#include <gtest/gtest.h>

#include <iostream>
#include <set>

#include "tests/integration/pgha_test.h"

namespace integration::pgha {
namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class PghaSwitchoverTest : public PghaTest {};

TEST_F(PghaSwitchoverTest, StoreOutageSwitchoverAndPausedAgent) {
  size_t p = bootstrap(BootstrapSpec::with_primary(0, ::pgha::ReplicationMode::kSync), {},
                       milliseconds(120000));
  ASSERT_FALSE(HasFailure());
  PghaCluster& c = *c_;
  uint16_t pport = c.agent(p).pg_port;
  ASSERT_TRUE(ok(psql(pport, "CREATE TABLE seq (n bigint PRIMARY KEY)").status()));
  ASSERT_TRUE(
      ok(psql(pport, "CREATE TABLE probe (port int, at timestamptz DEFAULT now())").status()));
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < c.size(); ++i) ports.push_back(c.agent(i).pg_port);
  SeqWriter writer(c.writable_conninfo());
  WriteProbe probe(ports);
  std::this_thread::sleep_for(milliseconds(2000));
  ASSERT_GT(writer.acked().size(), 10u);

  // ---- 1. a minority of the store goes away: nothing moves ----
  {
    auto leader = c.store().wait_for_leader(milliseconds(5000));
    ASSERT_TRUE(ok(leader.status()));
    size_t before = writer.acked().size();
    c.store().kill9(*leader);
    std::this_thread::sleep_for(milliseconds(5000));
    EXPECT_EQ(c.primaries(), std::vector<size_t>{p})
        << "the primary stays during a store minority outage";
    EXPECT_GT(writer.acked().size(), before + 10) << "writes go on during a store minority outage";
    ASSERT_TRUE(ok(c.store().start(*leader)));
    std::cout << "store minority outage: primary unchanged, " << writer.acked().size() - before
              << " rows acknowledged during it\n";
  }

  // ---- 2. operator switchover to the next member ----
  size_t target = (p + 1) % c.size();
  {
    uint64_t rev = 0;
    auto desired = c.read_desired(&rev);
    ASSERT_TRUE(ok(desired.status()));
    desired->primary = "";  // let pgha keep whoever is primary after this
    desired->handover = ::pgha::HandoverRequest{"switchover-1", ::pgha::HandoverKind::kSwitchover,
                                                c.agent(target).name, wall_ms()};
    desired->generation++;
    auto gap_before = writer.longest_gap_ms();
    auto t_sw = Clock::now();
    ASSERT_TRUE(ok(c.write_desired(*desired, rev)));
    auto q = c.wait_new_primary(p, milliseconds(30000));
    ASSERT_TRUE(ok(q.status()));
    EXPECT_EQ(*q, target);
    std::cout << "switchover: " << c.agent(target).name << " answers /primary after "
              << ms_since(t_sw) << " ms\n";
    std::this_thread::sleep_for(milliseconds(1000));
    std::cout << "switchover: longest write gap " << writer.longest_gap_ms() << " ms (before it "
              << gap_before << " ms)\n";
    EXPECT_TRUE(c.wait_replica(p, milliseconds(60000))) << "old primary rejoins as a replica";
  }

  // ---- 3. the primary's agent is paused (SIGSTOP) ----
  {
    size_t old = target;
    ASSERT_TRUE(ok(c.wait_sync_settled(old, milliseconds(30000))));
    uint32_t tl = c.timeline_of(old);
    auto t_stop = Clock::now();
    c.sigstop_agent(old);
    // The stopped agent cannot answer /primary: look for another primary.
    auto q = c.wait_new_primary(old, milliseconds(30000));
    ASSERT_TRUE(ok(q.status()));
    std::cout << "paused agent: " << c.agent(*q).name << " answers /primary after "
              << ms_since(t_stop) << " ms\n";
    EXPECT_GT(c.timeline_of(*q), tl);
    std::this_thread::sleep_for(milliseconds(1000));
    c.sigcont_agent(old);
    EXPECT_TRUE(c.wait_replica(old, milliseconds(60000)))
        << "the paused primary rejoins as a replica";
    EXPECT_EQ(c.primaries(), std::vector<size_t>{*q});
  }

  writer.stop();
  probe.stop();
  std::cout << "writer: " << writer.acked().size() << " rows acknowledged; probe rounds "
            << probe.rounds() << "\n";
  auto primary = c.primaries();
  ASSERT_EQ(primary.size(), 1u);
  auto rows = psql(c.agent(primary[0]).pg_port, "SELECT n FROM seq");
  ASSERT_TRUE(ok(rows.status()));
  std::set<std::string> present(rows->begin(), rows->end());
  size_t lost = 0;
  for (int64_t n : writer.acked()) lost += present.count(std::to_string(n)) == 0;
  EXPECT_EQ(lost, 0u) << "acknowledged rows lost in sync mode";
  EXPECT_TRUE(probe.violations().empty()) << probe.violations().front();

  auto h = c.history();
  ASSERT_TRUE(ok(h.status()));
  std::set<std::string> kinds;
  for (const auto& e : *h) kinds.insert(e.kind);
  for (const char* want : {"bootstrap", "switchover-begin", "switchover-end", "failover-begin",
                           "failover-end", "fence"}) {
    EXPECT_TRUE(kinds.count(want)) << "no '" << want << "' event in the history";
  }
}

}  // namespace
}  // namespace integration::pgha

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
