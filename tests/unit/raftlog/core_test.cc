// Behaviour of the Raft core, one property per test, on a synchronous
// in-memory cluster (tests/unit/raftlog/test_cluster.h).
#include <gtest/gtest.h>

#include "tests/unit/raftlog/test_cluster.h"

namespace raftlog::testing {
namespace {

void propose_ok(TestCluster& c, NodeId leader, const std::string& data) {
  auto r = c.core(leader).propose({data});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  c.stabilize();
}

TEST(ConfigTest, RejectsInvalidBounds) {
  Config c;
  EXPECT_FALSE(c.validate().is_ok());  // id 0
  c.id = NodeId(1);
  EXPECT_TRUE(c.validate().is_ok());
  c.election_timeout_ticks = c.heartbeat_ticks;
  EXPECT_EQ(c.validate().code(), Code::kInvalidArgument);
}

TEST(MembershipTest, EncodingRoundTripsAndRejectsGarbage) {
  Membership m;
  m.members[NodeId(1)] = Member{false, "http://a:1"};
  m.members[NodeId(300)] = Member{true, ""};
  auto back = decode_membership(encode_membership(m));
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(*back, m);
  EXPECT_EQ(decode_membership("").status().code(), Code::kCorruption);
  EXPECT_EQ(decode_membership("M1\x05").status().code(), Code::kCorruption);
  std::string trailing = encode_membership(m) + "x";
  EXPECT_EQ(decode_membership(trailing).status().code(), Code::kCorruption);
}

TEST(ElectionTest, SingleNodeElectsItselfAndCommits) {
  TestCluster c(1);
  NodeId l = c.elect();
  ASSERT_EQ(l, NodeId(1));
  propose_ok(c, l, "a");
  EXPECT_EQ(c.applied_data(l), std::vector<std::string>{"a"});
}

TEST(ElectionTest, ThreeNodesElectOneLeaderAndReplicate) {
  TestCluster c(3);
  NodeId l = c.elect();
  ASSERT_NE(l, kNoNode);
  propose_ok(c, l, "a");
  propose_ok(c, l, "b");
  c.tick_all(2);
  for (int i = 1; i <= 3; i++) {
    EXPECT_EQ(c.applied_data(NodeId(i)), (std::vector<std::string>{"a", "b"})) << "node " << i;
  }
}

TEST(ElectionTest, StaleLogCannotWin) {
  TestCluster c(3);
  NodeId l = c.elect();
  NodeId lagging = l == NodeId(3) ? NodeId(2) : NodeId(3);
  c.isolate(lagging);
  propose_ok(c, l, "x");
  // Kill the leader; the lagging node alone must never become leader when
  // it rejoins, because the third node has a longer log.
  c.crash(l);
  c.heal();
  NodeId next = c.elect();
  ASSERT_NE(next, kNoNode);
  EXPECT_NE(next, lagging);
  EXPECT_EQ(c.applied_data(next), std::vector<std::string>{"x"});
}

TEST(ElectionTest, TestingKnobVoteIgnoresLogLetsStaleNodeWin) {
  // The deliberate bug the simulator must catch: prove the knob does bite.
  bool stale_won = false;
  for (uint64_t seed = 1; seed <= 20 && !stale_won; seed++) {
    TestCluster c(3, [&](Config& cfg) {
      cfg.testing.vote_ignores_log = true;
      cfg.random_seed = cfg.id.value() * 1000 + seed;
      cfg.pre_vote = false;
      cfg.check_quorum = false;
    });
    NodeId l = c.elect();
    NodeId lagging = l == NodeId(3) ? NodeId(2) : NodeId(3);
    c.isolate(lagging);
    propose_ok(c, l, "x");
    c.crash(l);
    c.heal();
    // Make the lagging node time out first.
    for (int t = 0; t < 40 && c.leader() == kNoNode; t++) {
      c.tick(lagging);
      c.stabilize();
    }
    stale_won = c.leader() == lagging;
  }
  EXPECT_TRUE(stale_won);
}

TEST(ElectionTest, PreVoteKeepsPartitionedNodeFromBumpingTerm) {
  TestCluster c(3);
  NodeId l = c.elect();
  NodeId f = l == NodeId(1) ? NodeId(2) : NodeId(1);
  Term before = c.core(l).term();
  c.isolate(f);
  c.tick_all(100);  // f keeps timing out alone
  EXPECT_EQ(c.core(f).term(), before);
  c.heal();
  c.tick_all(5);
  EXPECT_EQ(c.leader(), l);
  EXPECT_EQ(c.core(l).term(), before);
}

TEST(ElectionTest, CheckQuorumMakesIsolatedLeaderStepDown) {
  TestCluster c(3);
  NodeId l = c.elect();
  c.isolate(l);
  c.tick_all(30);
  EXPECT_NE(c.core(l).role(), Role::kLeader);
  bool noticed = false;
  for (const auto& n : c.node(l).notices) noticed |= n.kind == Notice::Kind::kStepDownNoQuorum;
  EXPECT_TRUE(noticed);
}

TEST(ElectionTest, StaleLeaderRejoinsAsFollower) {
  TestCluster c(3, [](Config& cfg) { cfg.check_quorum = false; });
  NodeId old = c.elect();
  c.isolate(old);
  // The others elect a new leader.
  NodeId next = kNoNode;
  for (int t = 0; t < 200 && next == kNoNode; t++) {
    c.tick_all(1);
    for (int i = 1; i <= 3; i++) {
      if (NodeId(i) != old && c.core(NodeId(i)).role() == Role::kLeader) next = NodeId(i);
    }
  }
  ASSERT_NE(next, kNoNode);
  // The old leader still believes it leads; its proposal must never commit.
  auto r = c.core(old).propose({"lost"});
  ASSERT_TRUE(r.is_ok());
  propose_ok(c, next, "kept");
  c.heal();
  c.tick_all(5);
  EXPECT_EQ(c.core(old).role(), Role::kFollower);
  EXPECT_EQ(c.applied_data(old), std::vector<std::string>{"kept"});
}

// A follower that lost entries it had acknowledged (a failed disk) can
// never accept the leader's probe at match + 1; Raft assumes this cannot
// happen, so the leader cannot repair it, but it must say so (a Notice the
// server logs) instead of probing in silence (tests/chaos/FINDINGS.md #8).
TEST(ReplicationTest, LeaderNoticesAFollowerThatLostAcknowledgedEntries) {
  TestCluster c(3);
  NodeId l = c.elect();
  for (const char* d : {"a", "b", "c"}) propose_ok(c, l, d);
  NodeId f = l == NodeId(1) ? NodeId(2) : NodeId(1);
  auto lost = [&] {
    int n = 0;
    for (const auto& x : c.node(l).notices) {
      n += x.kind == Notice::Kind::kFollowerLostAcknowledged && x.peer == f;
    }
    return n;
  };
  // A plain restart keeps everything: no notice.
  c.crash(f);
  c.start(f, false);
  c.tick_all(10);
  c.stabilize();
  EXPECT_EQ(lost(), 0);
  Index acked = c.core(f).last_index();
  // Now the disk loses the last acknowledged entry.
  c.crash(f);
  c.node(f).log.lose_tail(1);
  std::erase_if(c.node(f).applied, [&](const Entry& e) { return e.index >= acked; });
  c.start(f, false);
  c.tick_all(10);
  c.stabilize();
  // New writes reach it: its refusals put it in probe at match + 1, which
  // it refuses again, and the leader notices (a refusal at or below match
  // in replicate state is indistinguishable from a stale one and ignored).
  propose_ok(c, l, "d");
  propose_ok(c, l, "e");
  c.tick_all(10);
  c.stabilize();
  EXPECT_GE(lost(), 1);
  for (const auto& x : c.node(l).notices) {
    if (x.kind == Notice::Kind::kFollowerLostAcknowledged) {
      EXPECT_EQ(x.value, acked.value());
    }
  }
  EXPECT_EQ(c.core(f).last_index(), acked - 1);  // and, as Raft says, it stays behind
}

TEST(ReplicationTest, FollowerFarBehindCatchesUpThroughConflicts) {
  TestCluster c(3, [](Config& cfg) { cfg.msg_bytes_max = 100; });
  NodeId l = c.elect();
  NodeId f = l == NodeId(1) ? NodeId(2) : NodeId(1);
  c.isolate(f);
  for (int i = 0; i < 50; i++) propose_ok(c, l, "v" + std::to_string(i));
  c.heal();
  c.tick_all(10);
  EXPECT_EQ(c.applied_data(f).size(), 50u);
  EXPECT_EQ(c.applied_data(f), c.applied_data(l));
}

TEST(ReplicationTest, ProposalOnFollowerSaysWhoLeads) {
  TestCluster c(3);
  NodeId l = c.elect();
  NodeId f = l == NodeId(1) ? NodeId(2) : NodeId(1);
  auto r = c.core(f).propose({"x"});
  EXPECT_EQ(r.status().code(), Code::kNotLeader);
}

TEST(ReplicationTest, LeaderCommitsOnlyAfterItsOwnPersist) {
  TestCluster c(3);
  NodeId l = c.elect();
  c.stabilize();
  Index before = c.core(l).commit();
  ASSERT_TRUE(c.core(l).propose({"a"}).is_ok());
  // Take the Ready but do not persist/advance it: nothing may commit even
  // if a follower acknowledges.
  Ready rd = c.core(l).ready();
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_TRUE(rd.must_sync);
  EXPECT_EQ(c.core(l).commit(), before);
  c.node(l).log.append(rd.entries);
  c.core(l).advance(rd);
  EXPECT_EQ(c.core(l).commit(), before);  // no follower ack yet
}

TEST(MembershipTest, AddLearnerPromoteAndRemoveLeader) {
  TestCluster c(3);
  NodeId l = c.elect();
  propose_ok(c, l, "before");
  // Node 4 joins empty (no bootstrap) as a learner.
  c.start(NodeId(4), /*bootstrap=*/false);
  Membership m = c.core(l).membership();
  m.members[NodeId(4)] = Member{true, "n4"};
  ASSERT_TRUE(c.core(l).propose_membership(m).is_ok());
  c.stabilize();
  c.tick_all(3);
  EXPECT_EQ(c.applied_data(NodeId(4)), std::vector<std::string>{"before"});
  EXPECT_FALSE(c.core(NodeId(4)).membership().is_voter(NodeId(4)));
  // A second change while none is pending is fine; two at once is refused.
  Membership two = c.core(l).membership();
  two.members[NodeId(4)].learner = false;
  two.members[NodeId(5)] = Member{true, "n5"};
  EXPECT_EQ(c.core(l).propose_membership(two).status().code(), Code::kInvalidArgument);
  Membership promote = c.core(l).membership();
  promote.members[NodeId(4)].learner = false;
  ASSERT_TRUE(c.core(l).propose_membership(promote).is_ok());
  EXPECT_EQ(c.core(l).propose_membership(promote).status().code(), Code::kConflict);
  c.stabilize();
  EXPECT_TRUE(c.core(NodeId(4)).membership().is_voter(NodeId(4)));
  // Remove the leader itself: it hands off and steps down.
  Membership without = c.core(l).membership();
  without.members.erase(l);
  ASSERT_TRUE(c.core(l).propose_membership(without).is_ok());
  c.stabilize();
  c.tick_all(30);
  NodeId next = c.leader();
  ASSERT_NE(next, kNoNode);
  EXPECT_NE(next, l);
  propose_ok(c, next, "after");
  c.tick_all(2);
  EXPECT_EQ(c.applied_data(NodeId(4)), (std::vector<std::string>{"before", "after"}));
}

TEST(TransferTest, LeadershipMovesToTarget) {
  TestCluster c(3);
  NodeId l = c.elect();
  NodeId target = l == NodeId(3) ? NodeId(1) : NodeId(3);
  propose_ok(c, l, "a");
  ASSERT_TRUE(c.core(l).transfer_leadership(target).is_ok());
  EXPECT_EQ(c.core(l).propose({"during"}).status().code(), Code::kBusy);
  c.stabilize();
  EXPECT_EQ(c.leader(), target);
  propose_ok(c, target, "b");
  c.tick_all(2);
  EXPECT_EQ(c.applied_data(l), (std::vector<std::string>{"a", "b"}));
}

TEST(ReadIndexTest, LeaderAndFollowerReadsConfirmLeadership) {
  TestCluster c(3);
  NodeId l = c.elect();
  propose_ok(c, l, "a");
  NodeId f = l == NodeId(1) ? NodeId(2) : NodeId(1);
  ASSERT_TRUE(c.core(l).read_index("r1").is_ok());
  ASSERT_TRUE(c.core(f).read_index("r2").is_ok());
  c.stabilize();
  ASSERT_EQ(c.node(l).reads.size(), 1u);
  ASSERT_EQ(c.node(f).reads.size(), 1u);
  EXPECT_EQ(c.node(l).reads[0].context, "r1");
  EXPECT_EQ(c.node(f).reads[0].context, "r2");
  EXPECT_EQ(c.node(f).reads[0].index, c.core(l).commit());
}

TEST(ReadIndexTest, IsolatedLeaderCannotConfirmReads) {
  TestCluster c(3);
  NodeId l = c.elect();
  c.isolate(l);
  ASSERT_TRUE(c.core(l).read_index("r").is_ok());
  c.stabilize();
  EXPECT_TRUE(c.node(l).reads.empty());
}

TEST(SnapshotTest, LaggingFollowerGetsSnapshot) {
  TestCluster c(3, [](Config& cfg) { cfg.snapshot_interval_entries = 10; });
  NodeId l = c.elect();
  NodeId f = l == NodeId(1) ? NodeId(2) : NodeId(1);
  c.isolate(f);
  for (int i = 0; i < 30; i++) propose_ok(c, l, "v" + std::to_string(i));
  EXPECT_GT(c.node(l).log.first_index(), Index(1));  // compacted
  c.heal();
  c.tick_all(10);
  EXPECT_GE(c.node(f).log.snapshot().index, Index(10));
  EXPECT_EQ(c.core(f).applied(), c.core(l).applied());
  propose_ok(c, l, "after");
  c.tick_all(2);
  EXPECT_EQ(c.core(f).applied(), c.core(l).applied());
}

// Catch-up by snapshot although the leader still holds every entry (no
// local snapshots, no compaction): with snapshot_lag_entries, a follower far
// enough behind is sent a snapshot (its progress goes to kSnapshot);
// without, it is repaired by appends only. Both end caught up.
TEST(SnapshotTest, FarBehindFollowerGetsSnapshotWithoutCompaction) {
  for (uint64_t lag : {uint64_t(20), uint64_t(0)}) {
    TestCluster c(3, [lag](Config& cfg) { cfg.snapshot_lag_entries = lag; });
    NodeId l = c.elect();
    NodeId f = l == NodeId(1) ? NodeId(2) : NodeId(1);
    c.isolate(f);
    for (int i = 0; i < 30; i++) propose_ok(c, l, "v" + std::to_string(i));
    EXPECT_EQ(c.node(l).log.first_index(), Index(1)) << lag;
    bool saw_snapshot = false;
    c.filter = [&](const Message& m) {
      saw_snapshot |= m.type == MessageType::kSnapshot && m.to == f;
      return true;
    };
    c.heal();
    c.tick_all(10);
    EXPECT_EQ(saw_snapshot, lag > 0) << lag;
    EXPECT_EQ(c.core(f).applied(), c.core(l).applied()) << lag;
  }
}

TEST(SafetyTest, ForeignClusterMessageIsDroppedAndReported) {
  TestCluster c(3);
  NodeId l = c.elect();
  Message m;
  m.type = MessageType::kAppend;
  m.cluster_id = ClusterId(7);
  m.from = NodeId(9);
  m.to = l;
  m.term = Term(1000);
  EXPECT_EQ(c.core(l).step(m).code(), Code::kFailedPrecondition);
  EXPECT_EQ(c.core(l).role(), Role::kLeader);
  c.stabilize();
  bool noticed = false;
  for (const auto& n : c.node(l).notices) noticed |= n.kind == Notice::Kind::kForeignCluster;
  EXPECT_TRUE(noticed);
}

TEST(SafetyTest, RestartKeepsTermVoteAndLog) {
  TestCluster c(3);
  NodeId l = c.elect();
  propose_ok(c, l, "a");
  Term t = c.core(l).term();
  for (int i = 1; i <= 3; i++) c.crash(NodeId(i));
  for (int i = 1; i <= 3; i++) c.start(NodeId(i), false);
  EXPECT_EQ(c.core(l).term(), t);
  EXPECT_EQ(c.core(l).hard_state().vote, l);
  NodeId next = c.elect();
  ASSERT_NE(next, kNoNode);
  EXPECT_GT(c.core(next).term(), t);
  propose_ok(c, next, "b");
  c.tick_all(2);
  EXPECT_EQ(c.applied_data(next), (std::vector<std::string>{"a", "b"}));
}

TEST(SafetyTest, InvariantsHoldThroughoutAnElection) {
  TestCluster c(5);
  std::map<NodeId, InvariantSnapshot> prev;
  for (int t = 0; t < 100; t++) {
    c.tick_all(1);
    for (auto& [id, n] : c.nodes()) {
      auto it = prev.find(id);
      Status s = check_invariants(*n->core, it == prev.end() ? nullptr : &it->second);
      ASSERT_TRUE(s.is_ok()) << s.to_string();
      prev[id] = invariant_snapshot(*n->core);
    }
    if (t % 10 == 0 && c.leader() != kNoNode) (void)c.core(c.leader()).propose({"x"});
  }
}

}  // namespace
}  // namespace raftlog::testing
