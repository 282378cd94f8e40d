#include "tests/sim/simulation.h"

#include <cstdio>
#include <string>

#include "common/assert.h"

namespace raftsim {

using raftlog::Index;

const char* bug_name(Bug b) {
  switch (b) {
    case Bug::kNone:
      return "none";
    case Bug::kVoteIgnoresLog:
      return "vote-ignores-log";
    case Bug::kAckBeforeSync:
      return "ack-before-sync";
    case Bug::kKvApplySkip:
      return "kv-apply-skip";
  }
  return "?";
}

namespace {
constexpr uint64_t kTickUs = 10'000;
constexpr uint32_t kElectionTicks = 10;
// Safety phase length at duration_scale 1, in virtual microseconds.
constexpr uint64_t kSafetyUs = 8'000'000;
// Liveness budget: 30 election timeouts at the slowest clock (0.8x).
constexpr uint64_t kLivenessBudgetUs = 30 * kElectionTicks * kTickUs * 5 / 4;
}  // namespace

Plan make_plan(const RunConfig& rc) {
  // A generator of its own, so the plan does not shift the run's stream.
  SimRng r(rc.seed ^ 0x5eed01a2ULL);
  Plan p;
  ClusterOptions& c = p.cluster;
  c.seed = rc.seed;
  c.voters = rc.nodes;
  c.spares = 3;
  c.tick_us = kTickUs;
  c.fsync_min_us = r.between(100, 1'000);
  c.fsync_max_us = c.fsync_min_us + r.between(0, 10'000);
  c.faults.drop_p = r.chance(0.7) ? r.real(0, 0.10) : 0;
  c.faults.dup_p = r.chance(0.5) ? r.real(0, 0.05) : 0;
  c.faults.delay_min_us = r.between(200, 2'000);
  c.faults.delay_max_us = c.faults.delay_min_us + r.between(500, 30'000);
  c.ack_before_sync = rc.bug == Bug::kAckBeforeSync;
  c.kv_apply_skip = rc.bug == Bug::kKvApplySkip;
  c.verbose = rc.verbose;
  raftlog::Config& k = c.core;
  k.election_timeout_ticks = kElectionTicks;
  k.heartbeat_ticks = static_cast<uint32_t>(r.between(1, 3));
  if (r.chance(0.3)) k.msg_bytes_max = r.between(64, 512);
  if (r.chance(0.3)) k.inflight_appends_max = static_cast<uint32_t>(r.between(1, 4));
  if (r.chance(0.2)) k.uncommitted_bytes_max = r.between(1'000, 4'000);
  // The bug driver cannot take snapshots at an exact index ahead of the disk.
  if (r.chance(0.5) && rc.bug != Bug::kAckBeforeSync) {
    k.snapshot_interval_entries = r.between(20, 100);
    k.snapshot_trailing_entries = r.between(0, 10);
  }
  k.testing.vote_ignores_log = rc.bug == Bug::kVoteIgnoresLog;

  WorkloadOptions& w = p.workload;
  w.propose_gap_us_max = r.between(5'000, 40'000);
  w.propose_batch_max = r.between(1, 3);
  w.read_gap_us_max = r.between(20'000, 200'000);
  w.membership_gap_us_max = r.chance(0.7) ? r.between(300'000, 2'000'000) : 0;
  w.transfer_gap_us_max = r.chance(0.6) ? r.between(500'000, 3'000'000) : 0;
  w.voters_min = rc.nodes <= 3 ? 2 : 3;
  w.voters_max = static_cast<size_t>(rc.nodes) + 1;

  FaultOptions& f = p.faults;
  f.gap_us_max = r.between(100'000, 1'000'000);
  f.crash_all_weight = r.chance(0.5) ? 1 : 0;
  if (rc.bug == Bug::kAckBeforeSync) {
    // Crashes are what turn an early ack into a lost write: make them common.
    f.gap_us_max = r.between(50'000, 300'000);
    f.crash_weight = 4;
    f.crash_all_weight = 4;
  }
  // Drawn last so the knobs above keep their values for old seeds.
  KvOptions& kv = p.kv;
  kv.counters = r.between(3, 5);
  kv.clients = r.between(1, 4);
  kv.think_us_max = r.between(5'000, 40'000);
  kv.read_index_p = r.real(0, 0.5);
  kv.misc_gap_us_max = r.chance(0.7) ? r.between(100'000, 400'000) : 0;
  p.safety_us = static_cast<uint64_t>(static_cast<double>(kSafetyUs) * rc.duration_scale);
  p.liveness_budget_us = kLivenessBudgetUs;
  return p;
}

std::string describe(const Plan& p) {
  const ClusterOptions& c = p.cluster;
  const raftlog::Config& k = c.core;
  char buf[1024];
  std::snprintf(
      buf, sizeof buf,
      "voters=%d spares=%d tick=%luus fsync=[%lu,%lu]us drop=%.3f dup=%.3f delay=[%lu,%lu]us "
      "heartbeat=%u election=%u msg_bytes_max=%lu inflight=%u uncommitted_max=%lu "
      "snapshot_every=%lu trailing=%lu propose_gap<=%luus batch<=%lu read_gap<=%luus "
      "membership_gap<=%luus transfer_gap<=%luus voters=[%zu,%zu] fault_gap<=%luus "
      "crash_all=%u safety=%luus liveness_budget=%luus counters=%lu kv_clients=%lu "
      "kv_think<=%luus read_index_p=%.2f kv_misc_gap<=%luus",
      c.voters, c.spares, c.tick_us, c.fsync_min_us, c.fsync_max_us, c.faults.drop_p,
      c.faults.dup_p, c.faults.delay_min_us, c.faults.delay_max_us, k.heartbeat_ticks,
      k.election_timeout_ticks, k.msg_bytes_max, k.inflight_appends_max, k.uncommitted_bytes_max,
      k.snapshot_interval_entries, k.snapshot_trailing_entries, p.workload.propose_gap_us_max,
      p.workload.propose_batch_max, p.workload.read_gap_us_max, p.workload.membership_gap_us_max,
      p.workload.transfer_gap_us_max, p.workload.voters_min, p.workload.voters_max,
      p.faults.gap_us_max, p.faults.crash_all_weight, p.safety_us, p.liveness_budget_us,
      p.kv.counters, p.kv.clients, p.kv.think_us_max, p.kv.read_index_p, p.kv.misc_gap_us_max);
  return buf;
}

bool converged(Cluster& c) {
  NodeId leader = c.leader();
  if (leader == raftlog::kNoNode) return false;
  const raftlog::Core& l = c.node(leader).core();
  Index last = l.last_index();
  if (l.commit() != last || c.node(leader).sm().applied() != last) return false;
  for (const auto& [id, m] : l.membership().members) {
    if (!c.alive(id)) return false;
    SimNode& n = c.node(id);
    if (n.core().commit() != last || n.sm().applied() != last) return false;
  }
  return true;
}

std::string describe_nodes(Cluster& c) {
  std::string out;
  NodeId leader = c.leader();
  for (NodeId id : c.started_ids()) {
    SimNode& n = c.node(id);
    char buf[256];
    if (!n.alive()) {
      std::snprintf(buf, sizeof buf, "\n  n%lu down", id.value());
    } else {
      const raftlog::Core& k = n.core();
      std::snprintf(buf, sizeof buf,
                    "\n  n%lu %s term=%lu leader=n%lu commit=%lu applied=%lu last=%lu stable=%lu "
                    "voter=%d",
                    id.value(), raftlog::role_name(k.role()), k.term().value(), k.leader().value(),
                    k.commit().value(), n.sm().applied().value(), k.last_index().value(),
                    k.stable_index().value(), k.membership().is_voter(id) ? 1 : 0);
    }
    out += buf;
    if (n.alive()) {
      out += " {";
      for (const auto& [mid, m] : n.core().membership().members) {
        out += " n" + std::to_string(mid.value()) + (m.learner ? "(learner)" : "");
      }
      out += " }@" + std::to_string(n.core().status().membership_index.value());
    }
  }
  if (leader != raftlog::kNoNode) out += "\n  leader: n" + std::to_string(leader.value());
  return out;
}

namespace {

// Phase 2. Returns an empty string when the cluster converged.
std::string liveness_phase(Cluster& c, const Plan& p, KvWorkload& kv) {
  c.trace("=== liveness phase: heal, restart, no faults ===");
  // Counter clients stop; increments still waiting count as unknown.
  kv.close();
  c.network().heal();
  NetworkFaults perfect;
  perfect.delay_min_us = 1'000;
  perfect.delay_max_us = 3'000;
  c.network().set_faults(perfect);
  for (NodeId id : c.started_ids()) c.start(id);
  if (c.failed()) return "";

  uint64_t fresh = 0;
  NodeId fresh_at;
  raftlog::Term fresh_term;
  auto done = [&] {
    NodeId leader = c.leader();
    if (leader == raftlog::kNoNode) return false;
    raftlog::Term term = c.node(leader).core().term();
    if (fresh == 0 ||
        (!c.checker().is_acked(fresh) && (fresh_at != leader || fresh_term != term))) {
      fresh = c.next_client_id();
      fresh_at = leader;
      fresh_term = term;
      if (!c.propose(leader, {fresh}).is_ok()) fresh = 0;
      return false;
    }
    return c.checker().is_acked(fresh) && converged(c);
  };
  if (!c.run_until(done, p.liveness_budget_us, 10'000)) {
    if (c.failed()) return "";
    return "no convergence within " + std::to_string(p.liveness_budget_us) + "us" +
           describe_nodes(c);
  }
  // A healed cluster keeps its leader: stale and removed nodes cannot
  // disrupt it.
  NodeId leader = c.leader();
  raftlog::Term term = c.node(leader).core().term();
  c.run_for(4 * p.cluster.core.election_timeout_ticks * p.cluster.tick_us);
  if (c.failed()) return "";
  if (c.leader() != leader || c.node(leader).core().term() != term) {
    return "leadership changed on a healed network (n" + std::to_string(leader.value()) + " term " +
           std::to_string(term.value()) + ")" + describe_nodes(c);
  }
  std::map<NodeId, const SimStateMachine*> members;
  for (const auto& [id, m] : c.node(leader).core().membership().members) {
    members[id] = &c.node(id).sm();
  }
  c.checker().final_check(members);
  return "";
}

}  // namespace

RunResult run_seed(const RunConfig& rc) {
  Plan p = make_plan(rc);
  if (rc.verbose) std::printf("plan: %s\n", describe(p).c_str());
  Cluster c(p.cluster);
  Workload w(c, p.workload);
  KvWorkload kv(c, p.kv);
  Nemesis n(c, p.faults);
  w.start(p.safety_us);
  kv.start(p.safety_us);
  n.start(p.safety_us);
  c.run_for(p.safety_us);
  RunResult res;
  std::string stuck;
  if (!c.failed()) stuck = liveness_phase(c, p, kv);
  res.virtual_us = c.now_us();
  res.events = c.events_processed();
  res.acked = c.checker().acked_count();
  res.increments_acked = c.checker().kv().acked_increments();
  res.increments = c.checker().kv().chain_links();
  res.snapshots_without_config = c.snapshots_without_config();
  if (c.failed()) {
    res.outcome = Outcome::kSafety;
    res.what = c.checker().violation();
  } else if (!stuck.empty()) {
    res.outcome = Outcome::kLiveness;
    res.what = stuck;
  }
  return res;
}

}  // namespace raftsim
