// What clients and operators do to the cluster during the safety phase:
// proposals with unique payloads (retrying at whoever they think leads),
// linearizable reads, membership changes and leadership transfers. All
// through Cluster's input methods, so every call is checked.
//
// Membership policy: spare ids join as learners, learners get promoted, and
// any voter (the leader too) may be removed, keeping the voter count within
// [voters_min, voters_max]. A spare id is offered once and a removed id is
// never re-added; a removed node keeps running with its stale configuration,
// which is how the run proves a removed node cannot disrupt the cluster.
// Defaults: 3-node runs keep 2..4 voters (two voters still make progress
// once the liveness phase restarts everyone), 5-node runs keep 3..6.
#pragma once

#include <cstdint>
#include <set>

#include "tests/sim/cluster.h"

namespace raftsim {

struct WorkloadOptions {
  uint64_t propose_gap_us_max = 20'000;  // each client request waits [1, max] us
  uint64_t propose_batch_max = 3;        // payloads per propose() call
  uint64_t read_gap_us_max = 100'000;
  uint64_t membership_gap_us_max = 0;  // 0 = no membership changes
  uint64_t transfer_gap_us_max = 0;    // 0 = no leadership transfers
  size_t voters_min = 2;
  size_t voters_max = 4;
};

class Workload {
 public:
  Workload(Cluster& c, const WorkloadOptions& o) : c_(c), o_(o) {}
  // Schedules the recurring requests; each stops by itself at until_us.
  void start(uint64_t until_us);

 private:
  void client_step();
  void read_step();
  void membership_step();
  void transfer_step();
  // Reschedules `step` after a random gap unless that passes until_us_.
  void again(uint64_t gap_us_max, void (Workload::*step)());
  NodeId any_alive();

  Cluster& c_;
  WorkloadOptions o_;
  uint64_t until_us_ = 0;
  NodeId guess_;              // where clients believe the leader is
  std::set<NodeId> offered_;  // spares already proposed as learners
  uint64_t reads_ = 0;
};

}  // namespace raftsim
