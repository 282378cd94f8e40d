// Scripted scenarios on the simulator: the same cluster, checker and
// driver as raft_sim, but with the faults chosen by hand. Each test ends
// by requiring convergence and the final no-acknowledged-write-lost check.
#include <gtest/gtest.h>

#include <vector>

#include "tests/sim/cluster.h"
#include "tests/sim/simulation.h"

namespace raftsim {
namespace {

using raftlog::Index;
using raftlog::Membership;

constexpr uint64_t kSecondUs = 1'000'000;

ClusterOptions quiet(int voters, uint64_t seed = 7) {
  ClusterOptions o;
  o.seed = seed;
  o.voters = voters;
  o.spares = 2;
  o.faults.delay_min_us = 1'000;
  o.faults.delay_max_us = 3'000;
  return o;
}

NodeId wait_leader(Cluster& c) {
  EXPECT_TRUE(c.run_until([&] { return c.leader() != raftlog::kNoNode; }, 5 * kSecondUs));
  return c.leader();
}

// Proposes n payloads at `at`, one call each; returns their client ids.
std::vector<uint64_t> propose_n(Cluster& c, NodeId at, int n) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < n; i++) {
    uint64_t id = c.next_client_id();
    if (c.propose(at, {id}).is_ok()) ids.push_back(id);
  }
  return ids;
}

bool all_acked(Cluster& c, const std::vector<uint64_t>& ids) {
  for (uint64_t id : ids) {
    if (!c.checker().is_acked(id)) return false;
  }
  return true;
}

void expect_converged(Cluster& c) {
  ASSERT_TRUE(c.run_until([&] { return converged(c); }, 10 * kSecondUs))
      << describe_nodes(c) << (c.failed() ? "\n" + c.checker().violation() : "");
  std::map<NodeId, const SimStateMachine*> members;
  for (const auto& [id, m] : c.node(c.leader()).core().membership().members) {
    members[id] = &c.node(id).sm();
  }
  c.checker().final_check(members);
  EXPECT_FALSE(c.failed()) << c.checker().violation();
}

TEST(Scenario, PartitionedLeaderRejoinsStale) {
  Cluster c(quiet(3));
  NodeId old = wait_leader(c);
  auto before = propose_n(c, old, 5);
  ASSERT_TRUE(c.run_until([&] { return all_acked(c, before); }, kSecondUs));

  std::vector<NodeId> rest;
  for (NodeId id : c.all_ids()) {
    if (id != old && c.alive(id)) rest.push_back(id);
  }
  c.network().split({old}, rest);
  // The isolated leader still accepts proposals; they must never commit.
  auto stranded = propose_n(c, old, 3);
  ASSERT_TRUE(c.run_until(
      [&] {
        NodeId l = c.leader();
        return l != raftlog::kNoNode && l != old;
      },
      5 * kSecondUs));
  NodeId fresh = c.leader();
  auto after = propose_n(c, fresh, 5);
  ASSERT_TRUE(c.run_until([&] { return all_acked(c, after); }, 2 * kSecondUs));

  c.network().heal();
  expect_converged(c);
  for (uint64_t id : stranded) EXPECT_FALSE(c.checker().is_acked(id));
  EXPECT_NE(c.leader(), old);
}

TEST(Scenario, AllNodesCrashAtOnceThenRestart) {
  Cluster c(quiet(5));
  NodeId leader = wait_leader(c);
  auto ids = propose_n(c, leader, 20);
  ASSERT_TRUE(c.run_until([&] { return all_acked(c, ids); }, 2 * kSecondUs));
  c.crash_all();
  c.run_for(200'000);
  for (NodeId id : c.started_ids()) c.start(id);
  NodeId again = wait_leader(c);
  auto more = propose_n(c, again, 1);
  ASSERT_TRUE(c.run_until([&] { return all_acked(c, more); }, 2 * kSecondUs));
  expect_converged(c);
}

TEST(Scenario, RemovingTheLeader) {
  Cluster c(quiet(3));
  NodeId old = wait_leader(c);
  // A new leader changes membership only once its term has committed.
  auto first = propose_n(c, old, 1);
  ASSERT_TRUE(c.run_until([&] { return all_acked(c, first); }, kSecondUs));
  Membership next = c.node(old).core().membership();
  next.members.erase(old);
  auto r = c.propose_membership(old, next);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_TRUE(c.run_until(
      [&] {
        NodeId l = c.leader();
        return l != raftlog::kNoNode && l != old;
      },
      5 * kSecondUs))
      << describe_nodes(c);
  NodeId fresh = c.leader();
  EXPECT_FALSE(c.node(fresh).core().membership().contains(old));
  auto ids = propose_n(c, fresh, 3);
  ASSERT_TRUE(c.run_until([&] { return all_acked(c, ids); }, 2 * kSecondUs));
  // The removed node keeps running; it must not disturb the new leader.
  raftlog::Term term = c.node(fresh).core().term();
  c.run_for(2 * kSecondUs);
  EXPECT_EQ(c.leader(), fresh);
  EXPECT_EQ(c.node(fresh).core().term(), term);
  expect_converged(c);
}

TEST(Scenario, TransferToLaggingFollower) {
  Cluster c(quiet(3));
  NodeId leader = wait_leader(c);
  NodeId lagging;
  for (NodeId id : c.all_ids()) {
    if (id != leader && c.alive(id)) lagging = id;
  }
  c.network().block(leader, lagging);
  auto ids = propose_n(c, leader, 30);
  ASSERT_TRUE(c.run_until([&] { return all_acked(c, ids); }, 2 * kSecondUs));
  EXPECT_LT(c.node(lagging).core().last_index(), c.node(leader).core().last_index());
  c.network().heal();
  ASSERT_TRUE(c.transfer_leadership(leader, lagging).is_ok());
  ASSERT_TRUE(c.run_until([&] { return c.leader() == lagging; }, 3 * kSecondUs))
      << describe_nodes(c);
  expect_converged(c);
}

TEST(Scenario, FarBehindFollowerGetsInstallSnapshot) {
  ClusterOptions o = quiet(3);
  o.core.snapshot_interval_entries = 20;
  o.core.snapshot_trailing_entries = 2;
  Cluster c(o);
  NodeId leader = wait_leader(c);
  NodeId behind;
  for (NodeId id : c.all_ids()) {
    if (id != leader && c.alive(id)) behind = id;
  }
  c.crash(behind);
  std::vector<uint64_t> ids;
  for (int round = 0; round < 10; round++) {
    auto batch = propose_n(c, leader, 20);
    ids.insert(ids.end(), batch.begin(), batch.end());
    ASSERT_TRUE(c.run_until([&] { return all_acked(c, ids); }, 2 * kSecondUs));
  }
  EXPECT_GT(c.node(leader).disk().first_index(), Index(100));  // compacted
  c.start(behind);
  expect_converged(c);
  EXPECT_GT(c.node(behind).disk().snapshot().index, Index(100));  // got there by snapshot
}

}  // namespace
}  // namespace raftsim
