#include "tests/sim/network.h"

namespace raftsim {

void Network::set_faults(const NetworkFaults& f) {
  CA_ASSERT(f.delay_min_us <= f.delay_max_us);
  CA_ASSERT(f.drop_p >= 0 && f.drop_p < 1);
  CA_ASSERT(f.dup_p >= 0 && f.dup_p < 1);
  faults_ = f;
}

std::vector<uint64_t> Network::route(NodeId from, NodeId to, SimRng& rng) const {
  std::vector<uint64_t> out;
  if (blocked(from, to)) return out;
  if (faults_.drop_p > 0 && rng.chance(faults_.drop_p)) return out;
  out.push_back(rng.between(faults_.delay_min_us, faults_.delay_max_us));
  if (faults_.dup_p > 0 && rng.chance(faults_.dup_p)) {
    out.push_back(rng.between(faults_.delay_min_us, faults_.delay_max_us));
  }
  return out;
}

bool Network::blocked(NodeId from, NodeId to) const {
  return blocked_.count({from, to}) != 0;
}

void Network::block(NodeId from, NodeId to) {
  CA_ASSERT(from != to);
  blocked_.insert({from, to});
}

void Network::split(const std::vector<NodeId>& a, const std::vector<NodeId>& b) {
  for (NodeId x : a) {
    for (NodeId y : b) {
      if (x == y) continue;
      blocked_.insert({x, y});
      blocked_.insert({y, x});
    }
  }
}

void Network::heal() {
  blocked_.clear();
}

}  // namespace raftsim
