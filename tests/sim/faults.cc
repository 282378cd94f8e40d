#include "tests/sim/faults.h"

#include <algorithm>
#include <vector>

#include "common/assert.h"

namespace raftsim {

void Nemesis::start(uint64_t until_us) {
  until_us_ = until_us;
  uint64_t t = c_.now_us() + c_.rng().between(1, o_.gap_us_max);
  if (t <= until_us_) c_.at(t, [this] { step(); });
}

void Nemesis::schedule_restart(NodeId id) {
  c_.at(c_.now_us() + c_.rng().between(1, o_.down_us_max), [this, id] { c_.start(id); });
}

void Nemesis::schedule_heal() {
  c_.at(c_.now_us() + c_.rng().between(1, o_.partition_us_max), [this] {
    c_.trace("network heals");
    c_.network().heal();
  });
}

void Nemesis::step() {
  std::vector<NodeId> ids = c_.started_ids();
  CA_ASSERT(!ids.empty());
  uint32_t weights[] = {o_.crash_weight,   o_.crash_all_weight, o_.split_weight,
                        o_.isolate_weight, o_.one_way_weight,   o_.heal_weight};
  uint64_t total = 0;
  for (uint32_t w : weights) total += w;
  CA_ASSERT(total > 0);
  uint64_t r = c_.rng().between(0, total - 1);
  int action = 0;
  while (r >= weights[action]) r -= weights[action++];
  switch (action) {
    case 0: {
      NodeId id = c_.rng().pick(ids);
      if (c_.alive(id)) {
        c_.crash(id);
        schedule_restart(id);
      }
      break;
    }
    case 1:
      c_.trace("ALL NODES CRASH");
      for (NodeId id : ids) {
        c_.crash(id);
        schedule_restart(id);
      }
      break;
    case 2: {
      // A random split into two non-empty sides.
      std::vector<NodeId> a, b;
      for (NodeId id : ids) (c_.rng().chance(0.5) ? a : b).push_back(id);
      if (a.empty() || b.empty()) break;
      c_.trace("network splits %zu | %zu", a.size(), b.size());
      c_.network().split(a, b);
      schedule_heal();
      break;
    }
    case 3: {
      NodeId id = c_.rng().pick(ids);
      std::vector<NodeId> rest;
      for (NodeId o : ids) {
        if (o != id) rest.push_back(o);
      }
      c_.trace("n%lu isolated", id.value());
      c_.network().split({id}, rest);
      schedule_heal();
      break;
    }
    case 4: {
      NodeId from = c_.rng().pick(ids), to = c_.rng().pick(ids);
      if (from == to) break;
      c_.trace("link n%lu -> n%lu cut", from.value(), to.value());
      c_.network().block(from, to);
      schedule_heal();
      break;
    }
    default:
      c_.trace("network heals");
      c_.network().heal();
      break;
  }
  start(until_us_);
}

}  // namespace raftsim
