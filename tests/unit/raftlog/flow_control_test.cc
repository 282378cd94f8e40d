// Flow control towards a lagging follower: found by the chaos harness
// (tests/chaos/FINDINGS.md #4), where after restarts a leader buried one
// follower under appends it already held and the cluster did not converge.
#include <gtest/gtest.h>

#include "tests/unit/raftlog/test_cluster.h"

namespace raftlog::testing {
namespace {

void propose_ok(TestCluster& c, NodeId leader, const std::string& data) {
  auto r = c.core(leader).propose({data});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  c.stabilize();
}

NodeId other_than(NodeId a, NodeId b) {
  for (int i = 1; i <= 3; i++) {
    if (NodeId(i) != a && NodeId(i) != b) return NodeId(i);
  }
  return kNoNode;
}

// A node at a higher term answers a stale append with a bare response
// (index 0, no reject) so that the stale leader steps down. The new leader
// of that term can receive it too. It must not take it as "the follower
// matches at 0" and start replicating the whole log from index 1.
TEST(FlowControlTest, BareAppendResponseDoesNotRestartReplicationFromIndexOne) {
  TestCluster c(3);
  NodeId old_leader = c.elect();
  ASSERT_NE(old_leader, kNoNode);
  NodeId lagging = other_than(old_leader, kNoNode);
  NodeId next_leader = other_than(old_leader, lagging);
  for (int i = 0; i < 20; i++) propose_ok(c, old_leader, "v" + std::to_string(i));

  // A new leader whose progress for `lagging` is fresh (nothing heard yet).
  c.isolate(lagging);
  ASSERT_TRUE(c.core(old_leader).transfer_leadership(next_leader).is_ok());
  c.stabilize();
  ASSERT_EQ(c.leader(), next_leader);
  const Index next_before = c.core(next_leader).status().progress.at(lagging).next;
  ASSERT_GT(next_before, Index(20));

  Message bare;
  bare.type = MessageType::kAppendResp;
  bare.cluster_id = kCluster;
  bare.from = lagging;
  bare.to = next_leader;
  bare.term = c.core(next_leader).term();
  ASSERT_TRUE(c.core(next_leader).step(bare).is_ok());

  const Progress pr = c.core(next_leader).status().progress.at(lagging);
  EXPECT_EQ(pr.state, Progress::State::kProbe);
  EXPECT_EQ(pr.match, Index(0));
  EXPECT_EQ(pr.next, next_before) << "the leader would resend everything from index "
                                  << pr.next.value();

  // It still catches up normally.
  c.heal();
  c.tick_all(30);
  EXPECT_EQ(c.applied_data(lagging), c.applied_data(next_leader));
}

// A follower in probe that answers heartbeats but whose append answers are
// slow (here: lost) gets one probe per election timeout, not one full
// append per heartbeat.
TEST(FlowControlTest, OutstandingProbeIsNotRepeatedOnEveryHeartbeatResponse) {
  TestCluster c(3, [](Config& cfg) { cfg.msg_bytes_max = 64; });
  NodeId l = c.elect();
  ASSERT_NE(l, kNoNode);
  NodeId f = other_than(l, kNoNode);
  c.isolate(f);
  for (int i = 0; i < 30; i++) propose_ok(c, l, "v" + std::to_string(i));
  c.core(l).report_unreachable(f);  // its appends were lost: probe
  c.stabilize();
  c.heal();

  int appends_to_f = 0;
  bool drop_append_answers = true;
  c.filter = [&](const Message& m) {
    if (m.to == f && m.type == MessageType::kAppend && !m.entries.empty()) appends_to_f++;
    return !(drop_append_answers && m.from == f && m.type == MessageType::kAppendResp);
  };
  const uint32_t election_ticks = c.config_for(l).election_timeout_ticks;
  c.tick_all(static_cast<int>(election_ticks) - 1);  // a heartbeat answered at every tick
  EXPECT_LE(appends_to_f, 1) << "probes repeated per heartbeat response";
  c.tick_all(static_cast<int>(election_ticks) + 1);
  EXPECT_GE(appends_to_f, 1) << "a lost probe must be sent again";
  EXPECT_LE(appends_to_f, 3);

  drop_append_answers = false;
  c.tick_all(2 * static_cast<int>(election_ticks) + 30);
  EXPECT_EQ(c.applied_data(f), c.applied_data(l));
}

}  // namespace
}  // namespace raftlog::testing
