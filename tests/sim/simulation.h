// One seed, two phases (as in TigerBeetle's VOPR):
//  1. safety: workload plus faults for plan.safety_us of virtual time; the
//     checker runs after every step;
//  2. liveness: heal the network, restart every crashed node, stop faults;
//     within plan.liveness_budget_us there must be a leader, a fresh
//     proposal must be acknowledged, and every member must converge (same
//     commit, everything applied); then leadership must stay put while the
//     removed nodes keep running, and no acknowledged write may be missing.
// The seed picks everything: cluster knobs, network and disk faults,
// workload rates (plain payloads, KV counters, leases), fault schedule.
#pragma once

#include <cstdint>
#include <string>

#include "tests/sim/cluster.h"
#include "tests/sim/faults.h"
#include "tests/sim/kv_workload.h"
#include "tests/sim/workload.h"

namespace raftsim {

enum class Bug { kNone, kVoteIgnoresLog, kAckBeforeSync, kKvApplySkip };
const char* bug_name(Bug b);

struct RunConfig {
  int nodes = 3;
  uint64_t seed = 1;
  Bug bug = Bug::kNone;
  bool verbose = false;
  // Scales the safety phase; 1.0 is the standard schedule.
  double duration_scale = 1.0;
};

struct Plan {
  ClusterOptions cluster;
  WorkloadOptions workload;
  KvOptions kv;
  FaultOptions faults;
  uint64_t safety_us = 0;
  uint64_t liveness_budget_us = 0;
};

Plan make_plan(const RunConfig& rc);
std::string describe(const Plan& p);

enum class Outcome { kPass, kSafety, kLiveness };

struct RunResult {
  Outcome outcome = Outcome::kPass;
  std::string what;  // the violated invariant, or what did not converge
  uint64_t virtual_us = 0;
  uint64_t events = 0;
  size_t acked = 0;
  uint64_t increments_acked = 0;          // CAS increments clients saw applied
  uint64_t increments = 0;                // successful CAS writes in the log
  uint64_t snapshots_without_config = 0;  // FINDINGS.md #6
};

RunResult run_seed(const RunConfig& rc);

// Liveness helper shared with the scenarios: true when a leader exists, has
// committed everything it holds, and every member of its configuration is
// alive and has applied all of it.
bool converged(Cluster& c);
// A description of every node for a liveness failure report.
std::string describe_nodes(Cluster& c);

}  // namespace raftsim
