#include "tests/sim/workload.h"

#include <string>
#include <vector>

#include "common/assert.h"

namespace raftsim {

using raftlog::Membership;

void Workload::start(uint64_t until_us) {
  until_us_ = until_us;
  again(o_.propose_gap_us_max, &Workload::client_step);
  again(o_.read_gap_us_max, &Workload::read_step);
  if (o_.membership_gap_us_max) again(o_.membership_gap_us_max, &Workload::membership_step);
  if (o_.transfer_gap_us_max) again(o_.transfer_gap_us_max, &Workload::transfer_step);
}

void Workload::again(uint64_t gap_us_max, void (Workload::*step)()) {
  CA_ASSERT(gap_us_max > 0);
  uint64_t t = c_.now_us() + c_.rng().between(1, gap_us_max);
  if (t > until_us_) return;
  c_.at(t, [this, gap_us_max, step] {
    (this->*step)();
    again(gap_us_max, step);
  });
}

NodeId Workload::any_alive() {
  std::vector<NodeId> ids;
  for (NodeId id : c_.started_ids()) {
    if (c_.alive(id)) ids.push_back(id);
  }
  return ids.empty() ? raftlog::kNoNode : c_.rng().pick(ids);
}

void Workload::client_step() {
  NodeId target = guess_ != raftlog::kNoNode && c_.alive(guess_) ? guess_ : any_alive();
  if (target == raftlog::kNoNode) return;
  std::vector<uint64_t> ids;
  uint64_t n = c_.rng().between(1, o_.propose_batch_max);
  for (uint64_t i = 0; i < n; i++) ids.push_back(c_.next_client_id());
  auto r = c_.propose(target, ids);
  if (r.is_ok()) {
    guess_ = target;
    return;
  }
  // NotLeader carries a hint (the core's known leader); anything else
  // (busy, down): try someone else next time.
  NodeId hint = c_.alive(target) ? c_.node(target).core().leader() : raftlog::kNoNode;
  guess_ = r.status().code() == raftlog::Code::kNotLeader && hint != target ? hint : any_alive();
}

void Workload::read_step() {
  NodeId target = any_alive();
  if (target == raftlog::kNoNode) return;
  (void)c_.read_index(target, "r" + std::to_string(++reads_));
}

void Workload::membership_step() {
  NodeId leader = c_.leader();
  if (leader == raftlog::kNoNode) return;
  const Membership current = c_.node(leader).core().membership();
  size_t voters = current.voter_count();
  std::vector<Membership> options;
  for (const auto& [id, m] : current.members) {
    if (m.learner && voters < o_.voters_max) {
      Membership next = current;
      next.members[id].learner = false;
      options.push_back(next);
    }
  }
  NodeId spare;
  for (NodeId id : c_.all_ids()) {
    if (id.value() > static_cast<uint64_t>(c_.options().voters) && !offered_.count(id) &&
        !current.contains(id)) {
      spare = id;
      break;
    }
  }
  if (spare != raftlog::kNoNode) {
    Membership next = current;
    next.members[spare] = raftlog::Member{true, "n" + std::to_string(spare.value())};
    options.push_back(next);
  }
  if (voters > o_.voters_min) {
    for (NodeId id : current.voters()) {
      Membership next = current;
      next.members.erase(id);
      options.push_back(next);
    }
  }
  if (options.empty()) return;
  const Membership& next = c_.rng().pick(options);
  auto r = c_.propose_membership(leader, next);
  if (!r.is_ok()) return;
  for (const auto& [id, m] : next.members) {
    if (!current.contains(id)) {
      offered_.insert(id);
      c_.start(id);  // the joining node boots with an empty disk and waits
    }
  }
}

void Workload::transfer_step() {
  NodeId leader = c_.leader();
  if (leader == raftlog::kNoNode) return;
  std::vector<NodeId> targets;
  for (NodeId id : c_.node(leader).core().membership().voters()) {
    if (id != leader) targets.push_back(id);
  }
  if (targets.empty()) return;
  (void)c_.transfer_leadership(leader, c_.rng().pick(targets));
}

}  // namespace raftsim
