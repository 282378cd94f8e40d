// The fault schedule of the safety phase (the "nemesis"): crashes of one
// node or of all nodes at once (each followed by a restart from disk),
// symmetric splits, isolated nodes and one-way link cuts, each healed after
// a random time. Faults stay within what Raft claims to survive: crashes
// lose only what was not persisted, the network loses/duplicates/reorders
// but never corrupts.
#pragma once

#include <cstdint>

#include "tests/sim/cluster.h"

namespace raftsim {

struct FaultOptions {
  uint64_t gap_us_max = 500'000;  // between fault actions: [1, max] us
  // Relative weights of the actions.
  uint32_t crash_weight = 3;
  uint32_t crash_all_weight = 1;
  uint32_t split_weight = 2;
  uint32_t isolate_weight = 2;
  uint32_t one_way_weight = 2;
  uint32_t heal_weight = 2;
  uint64_t down_us_max = 1'000'000;       // a crashed node restarts within this
  uint64_t partition_us_max = 1'500'000;  // a cut link heals within this
};

class Nemesis {
 public:
  Nemesis(Cluster& c, const FaultOptions& o) : c_(c), o_(o) {}
  void start(uint64_t until_us);

 private:
  void step();
  void schedule_restart(NodeId id);
  void schedule_heal();

  Cluster& c_;
  FaultOptions o_;
  uint64_t until_us_ = 0;
};

}  // namespace raftsim
