// Scripted scenarios on the simulator: the same cluster, checker and
// driver as raft_sim, but with the faults chosen by hand. Each test ends
// by requiring convergence and the final no-acknowledged-write-lost check.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/sim/cluster.h"
#include "tests/sim/kv_command.h"
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

struct Proposed {
  uint64_t client_id = 0;
  Index index;
};

// Reads `key` from the applied view of `at` and proposes its CAS increment.
std::optional<Proposed> propose_increment(Cluster& c, NodeId at, const std::string& key) {
  const state::KeyRecord* r = c.node(at).sm().view().get(key);
  uint64_t rev = r ? r->mod_revision : 0;
  uint64_t value = r ? parse_counter(r->value_json).value_or(0) : 0;
  uint64_t id = c.next_client_id();
  auto idx = c.propose_kv(at, id, counter_increment(key, rev, value));
  if (!idx.is_ok()) return std::nullopt;
  return Proposed{id, *idx};
}

// A client's read-modify-write loop on `key` against whoever leads: true
// once an increment is acknowledged (the proposer applied it and the view
// said kApplied; the checker is told). Every failed try is known to have
// changed nothing (failed compare, or another entry at its index), so
// the counter rises by exactly one per true.
bool increment(Cluster& c, const std::string& key) {
  for (int attempt = 0; attempt < 20; attempt++) {
    NodeId at = c.leader();
    if (at == raftlog::kNoNode) {
      c.run_for(50'000);
      continue;
    }
    uint64_t incarnation = c.node(at).incarnation();
    auto p = propose_increment(c, at, key);
    if (!p) {
      c.run_for(50'000);
      continue;
    }
    bool done = c.run_until([&] { return c.node(at).sm().applied() >= p->index; }, kSecondUs);
    EXPECT_TRUE(done) << "n" << at.value() << " did not apply " << p->index.value();
    EXPECT_TRUE(c.alive(at) && c.node(at).incarnation() == incarnation);
    if (c.checker().is_acked(p->client_id) && !c.node(at).sm().view().failed(p->index.value())) {
      c.checker().kv().on_increment_acked(key);
      return true;
    }
  }
  return false;
}

uint64_t counter_at(Cluster& c, NodeId id, const std::string& key) {
  const state::KeyRecord* r = c.node(id).sm().view().get(key);
  return r ? parse_counter(r->value_json).value_or(~0ULL) : 0;
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

TEST(Scenario, CasCountersAcrossLeaderCrash) {
  ClusterOptions o = quiet(3);
  // Snapshots every few entries: the restarted leader rebuilds its view
  // from a snapshot plus the log above it.
  o.core.snapshot_interval_entries = 4;
  o.core.snapshot_trailing_entries = 1;
  Cluster c(o);
  NodeId old = wait_leader(c);
  const std::string a = counter_key(0), b = counter_key(1);
  for (int i = 0; i < 5; i++) {
    ASSERT_TRUE(increment(c, a));
    if (i < 3) {
      ASSERT_TRUE(increment(c, b));
    }
  }
  ASSERT_EQ(c.leader(), old);
  EXPECT_EQ(counter_at(c, old, a), 5u);

  // An increment in flight when its leader crashes: the append never left
  // (a crash resets the node's connections), so it must never count.
  auto lost = propose_increment(c, old, a);
  ASSERT_TRUE(lost.has_value());
  c.crash(old);
  c.checker().kv().on_increment_unknown(a);
  ASSERT_TRUE(c.run_until(
      [&] {
        NodeId l = c.leader();
        return l != raftlog::kNoNode && l != old;
      },
      5 * kSecondUs));
  for (int i = 0; i < 5; i++) {
    ASSERT_TRUE(increment(c, a));
    if (i < 2) {
      ASSERT_TRUE(increment(c, b));
    }
  }
  c.start(old);
  expect_converged(c);
  EXPECT_FALSE(c.checker().is_acked(lost->client_id));
  for (NodeId id : c.started_ids()) {
    EXPECT_EQ(counter_at(c, id, a), 10u) << "n" << id.value();
    EXPECT_EQ(counter_at(c, id, b), 5u) << "n" << id.value();
  }
  EXPECT_GT(c.node(old).disk().snapshot().index, Index(0));
  EXPECT_EQ(c.checker().kv().chain_links(), 15u);
  EXPECT_EQ(c.checker().kv().acked_increments(), 15u);
}

// FINDINGS.md #5: StateView::apply grants and revokes leases before it
// checks the compares, so a guarded revoke whose compare fails still
// revokes the lease and deletes its keys. Disabled until state/ is fixed:
//   sim_scenarios_test --gtest_also_run_disabled_tests --gtest_filter='*GuardedLease*'
TEST(Scenario, GuardedLeaseRevokeWithFailedCompareChangesNothing) {
  Cluster c(quiet(3));
  NodeId l = wait_leader(c);
  state::Command grant;
  grant.lease_grant_ttl_seconds = 30;
  auto g = c.propose_kv(l, c.next_client_id(), grant);
  ASSERT_TRUE(g.is_ok());
  uint64_t lease = g->value();  // a lease's id is its grant's index
  state::Command put;
  put.ops.push_back(state::Op{lease_key(lease, 0), false, "1", lease});
  ASSERT_TRUE(c.propose_kv(l, c.next_client_id(), put).is_ok());
  state::Command guarded;
  guarded.compares.push_back(state::Compare{plain_key(0), 99});  // o/0 does not exist
  guarded.lease_revoke = lease;
  auto r = c.propose_kv(l, c.next_client_id(), guarded);
  ASSERT_TRUE(r.is_ok());
  // Stops early (false) when the checker reports the violation.
  bool applied = c.run_until([&] { return c.node(l).sm().applied() >= *r; }, kSecondUs);
  ASSERT_FALSE(c.failed()) << c.checker().violation();
  ASSERT_TRUE(applied);
  EXPECT_NE(c.node(l).sm().view().lease(lease), nullptr);
  EXPECT_NE(c.node(l).sm().view().get(lease_key(lease, 0)), nullptr);
}

}  // namespace
}  // namespace raftsim
