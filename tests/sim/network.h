// The simulated network between nodes: per-message random delay (which also
// reorders), drop, duplicate, and directed link blocks that make symmetric
// and one-way partitions. It only decides a message's fate; the cluster's
// event queue carries it.
#pragma once

#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "raftlog/types.h"
#include "tests/sim/rng.h"

namespace raftsim {

using raftlog::NodeId;

struct NetworkFaults {
  double drop_p = 0;  // chance a message is lost
  double dup_p = 0;   // chance a message is delivered twice
  uint64_t delay_min_us = 1000;
  uint64_t delay_max_us = 5000;
};

class Network {
 public:
  void set_faults(const NetworkFaults& f);
  const NetworkFaults& faults() const { return faults_; }

  // Delivery delays for one message from -> to: empty when lost, two entries
  // when duplicated. Blocked links lose everything.
  std::vector<uint64_t> route(NodeId from, NodeId to, SimRng& rng) const;

  bool blocked(NodeId from, NodeId to) const;
  void block(NodeId from, NodeId to);  // one way
  // Cut every link between the two groups, both ways.
  void split(const std::vector<NodeId>& a, const std::vector<NodeId>& b);
  void heal();  // all links up; faults are left alone
  bool partitioned() const { return !blocked_.empty(); }

 private:
  NetworkFaults faults_;
  std::set<std::pair<NodeId, NodeId>> blocked_;  // (from, to), sorted: deterministic
};

}  // namespace raftsim
