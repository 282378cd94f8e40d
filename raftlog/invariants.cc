// Invariants of one core, checked by unit tests and by the simulator after
// every step (LogCabin's RaftConsensusInvariants, TigerBeetle's habit of
// asserting what must hold). Cluster-wide properties (one leader per term,
// matching committed prefixes) are the simulator checker's job.
#include "raftlog/core_impl.h"

namespace raftlog {

InvariantSnapshot invariant_snapshot(const Core& core) {
  return InvariantSnapshot{core.term(), core.hard_state().vote, core.commit(), core.applied(),
                           core.role()};
}

Status check_invariants(const Core& core, const InvariantSnapshot* prev) {
  auto fail = [&](const std::string& what) {
    return Status(Code::kInternal,
                  "node " + std::to_string(core.id().value()) + " invariant broken: " + what);
  };
  auto n = [](auto v) { return std::to_string(v.value()); };
  const HardState& hs = core.hard_state();
  if (hs.commit != core.commit()) return fail("hard state commit differs from commit");
  if (core.applied() > core.commit()) {
    return fail("applied " + n(core.applied()) + " > commit " + n(core.commit()));
  }
  if (core.commit() > core.stable_index()) {
    return fail("commit " + n(core.commit()) + " > stable index " + n(core.stable_index()));
  }
  if (core.stable_index() > core.last_index()) return fail("stable index beyond last index");
  if (core.role() == Role::kLeader) {
    if (core.leader() != core.id()) return fail("leader does not know itself as leader");
    if (hs.vote != core.id()) return fail("leader did not vote for itself in its term");
  }
  if (core.role() == Role::kCandidate && hs.vote != core.id()) {
    return fail("candidate did not vote for itself");
  }
  if (prev == nullptr) return Status::ok();
  if (hs.term < prev->term)
    return fail("term went back from " + n(prev->term) + " to " + n(hs.term));
  if (hs.term == prev->term && prev->vote != kNoNode && hs.vote != prev->vote) {
    return fail("vote changed within term " + n(hs.term));
  }
  if (core.commit() < prev->commit) return fail("commit went back");
  if (core.applied() < prev->applied) return fail("applied went back");
  if (prev->role == Role::kLeader && core.role() == Role::kLeader && hs.term != prev->term) {
    return fail("leader changed term without stepping down");
  }
  return Status::ok();
}

}  // namespace raftlog
