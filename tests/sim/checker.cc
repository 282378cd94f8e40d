#include "tests/sim/checker.h"

#include <string>

#include "common/assert.h"
#include "tests/sim/node.h"

namespace raftsim {

using raftlog::Entry;
using raftlog::Index;
using raftlog::Role;
using raftlog::Term;

namespace {
std::string n_(NodeId id) {
  return "n" + std::to_string(id.value());
}
std::string s_(uint64_t v) {
  return std::to_string(v);
}
}  // namespace

void Checker::fail(std::string what) {
  if (!violation_) violation_ = std::move(what);
}

void Checker::after_input(SimNode& n) {
  if (failed()) return;
  const Core& core = n.core();
  NodeId id = n.id();
  if (auto s = raftlog::check_invariants(core, &n.prev); !s.is_ok()) {
    return fail(n_(id) + " check_invariants: " + s.to_string());
  }
  if (core.commit() > core.stable_index()) {
    return fail(n_(id) + " commit " + s_(core.commit().value()) + " > stable index " +
                s_(core.stable_index().value()));
  }
  if (core.stable_index() > n.disk().last_index()) {
    return fail(n_(id) + " stable index " + s_(core.stable_index().value()) +
                " beyond the durable log " + s_(n.disk().last_index().value()));
  }
  if (n.sm().applied() > core.commit()) {
    return fail(n_(id) + " applied " + s_(n.sm().applied().value()) + " > commit " +
                s_(core.commit().value()));
  }
  bool leader = core.role() == Role::kLeader;
  bool was_leader = n.prev.role == Role::kLeader;
  if (leader) {
    auto [it, inserted] = leaders_.emplace(core.term(), id);
    if (!inserted && it->second != id) {
      return fail("election safety: " + n_(it->second) + " and " + n_(id) +
                  " both leader in term " + s_(core.term().value()));
    }
    if (!was_leader || n.prev.term != core.term()) {
      check_leader_complete(n);
    } else if (core.last_index() < n.prev_last) {
      return fail("leader append-only: " + n_(id) + " log shrank from " + s_(n.prev_last.value()) +
                  " to " + s_(core.last_index().value()) + " in term " + s_(core.term().value()));
    }
  }
  n.prev = raftlog::invariant_snapshot(core);
  n.prev_last = core.last_index();
}

void Checker::check_leader_complete(SimNode& n) {
  const Core& core = n.core();
  // Walk down from the newest known-committed entry; stop at the snapshot.
  for (size_t i = committed_.size(); i >= 1; i--) {
    if (committed_[i - 1].data == "\x01?") continue;  // never applied anywhere yet
    auto t = core.term_at(Index(i));
    if (!t.is_ok() && t.status().code() == raftlog::Code::kCompacted) return;
    if (!t.is_ok() || *t != committed_[i - 1].term) {
      return fail("leader completeness: " + n_(n.id()) + " leads term " + s_(core.term().value()) +
                  " without committed entry " + s_(i) + " (term " +
                  s_(committed_[i - 1].term.value()) + ")");
    }
  }
}

void Checker::on_ready(SimNode& n, const raftlog::Ready& rd) {
  if (failed() || rd.entries.empty()) return;
  const Core& core = n.core();
  if (core.role() != Role::kLeader) return;
  if (n.lead_term != core.term()) {
    n.lead_term = core.term();
    n.lead_tail = Index();
  }
  Index first = rd.entries.front().index;
  if (n.lead_tail.value() != 0 && first <= n.lead_tail) {
    return fail("leader append-only: " + n_(n.id()) + " rewrites from " + s_(first.value()) +
                " its own entries up to " + s_(n.lead_tail.value()) + " in term " +
                s_(core.term().value()));
  }
  n.lead_tail = rd.entries.back().index;
}

void Checker::on_sent_after_persist(NodeId from, const Message& m) {
  // Pre-vote messages carry the term a candidate would campaign at, which
  // nobody persists; every other message speaks for the sender's term.
  if (m.type == raftlog::MessageType::kPreVote || m.type == raftlog::MessageType::kPreVoteResp) {
    return;
  }
  Promise& p = promised_[from];
  if (m.term > p.term) p = Promise{m.term, raftlog::kNoNode};
  if (m.type == raftlog::MessageType::kVoteResp && !m.reject && m.term == p.term) p.vote = m.to;
}

void Checker::on_boot(NodeId id, const raftlog::Boot& boot) {
  auto it = promised_.find(id);
  if (it == promised_.end()) return;
  const Promise& p = it->second;
  const raftlog::HardState& h = boot.hard_state;
  if (h.term < p.term) {
    return fail(n_(id) + " restarts at term " + s_(h.term.value()) + " after promising term " +
                s_(p.term.value()) + " (term went backwards across a restart)");
  }
  if (h.term == p.term && p.vote != raftlog::kNoNode && h.vote != p.vote) {
    return fail(n_(id) + " restarts in term " + s_(h.term.value()) + " with vote " + n_(h.vote) +
                " after granting its vote to " + n_(p.vote));
  }
}

void Checker::on_apply(SimNode& n, const Entry& e) {
  if (failed()) return;
  size_t i = e.index.value();
  CA_ASSERT(i >= 1);
  if (i > committed_.size() + 1) {
    // Gaps happen only when an index is first applied through a snapshot
    // install elsewhere; fill with unknowns to keep the vector dense.
    committed_.resize(i - 1, Committed{Term(), raftlog::EntryType::kNormal, "\x01?", 0, {}});
  }
  if (i == committed_.size() + 1) {
    committed_.push_back(Committed{e.term, e.type, e.data, 0, {}});
  } else {
    Committed& c = committed_[i - 1];
    if (c.data == "\x01?") {
      c = Committed{e.term, e.type, e.data, 0, {}};
    } else if (c.term != e.term || c.type != e.type || c.data != e.data) {
      return fail("state-machine safety: " + n_(n.id()) + " applies at " + s_(i) + " term " +
                  s_(e.term.value()) + " '" + e.data.substr(0, 16) + "' but it was term " +
                  s_(c.term.value()) + " '" + c.data.substr(0, 16) + "'");
    }
  }
  auto p = pending_.find({n.id(), e.index});
  if (p != pending_.end()) {
    if (p->second.incarnation == n.incarnation() && client_id_of(e) == p->second.client_id) {
      acked_.emplace_back(e.index, p->second.client_id);
      acked_ids_[p->second.client_id] = e.index;
    }
    pending_.erase(p);
  }
}

void Checker::on_applied(SimNode& n, const Entry& e, const SimApplied& a) {
  if (failed()) return;
  size_t i = e.index.value();
  if (a.malformed) return fail(n_(n.id()) + " applies undecodable client data at " + s_(i));
  CA_ASSERT(i >= 1 && i <= committed_.size());  // on_apply recorded it
  Committed& c = committed_[i - 1];
  uint64_t h = n.sm().hash();
  if (c.hashed_by == raftlog::kNoNode) {
    c.sm_hash = h;
    c.hashed_by = n.id();
  } else if (c.sm_hash != h) {
    return fail("state views diverged: " + n_(n.id()) + " after applying " + s_(i) +
                " differs from " + n_(c.hashed_by) + " (outcome or rows written)");
  }
  if (auto bad = kv_.on_applied(n_(n.id()), n.sm().view(), i, a)) return fail(*bad);
}

void Checker::on_snapshot_installed(NodeId id, const SimStateMachine& sm) {
  size_t at = sm.applied().value();
  if (at >= 1 && at <= committed_.size()) {
    const Committed& c = committed_[at - 1];
    if (c.hashed_by != raftlog::kNoNode && c.sm_hash != sm.hash()) {
      return fail(n_(id) + " installed a snapshot at " + s_(at) + " whose state differs from " +
                  n_(c.hashed_by) + "'s after applying " + s_(at));
    }
  }
  // Rare: compare the whole installed state with what is known committed.
  for (const auto& [index, cid] : acked_) {
    if (index <= sm.applied() && sm.id_at(index) != cid) {
      return fail(n_(id) + " installed a snapshot at " + s_(sm.applied().value()) +
                  " lacking acknowledged p" + s_(cid) + " at " + s_(index.value()));
    }
  }
}

void Checker::on_proposed(NodeId id, uint64_t incarnation, Index last,
                          const std::vector<uint64_t>& ids) {
  CA_ASSERT(!ids.empty());
  CA_ASSERT(last.value() >= ids.size());
  for (size_t k = 0; k < ids.size(); k++) {
    Index at = last - (ids.size() - 1 - k);
    pending_[{id, at}] = Pending{incarnation, ids[k]};
  }
}

void Checker::on_read_issued(const std::string& ctx, Index floor) {
  reads_[ctx] = floor;
}

void Checker::on_read_state(NodeId id, const raftlog::ReadState& rs) {
  auto it = reads_.find(rs.context);
  if (it == reads_.end()) return;  // duplicate answer to a read already checked
  if (rs.index < it->second) {
    fail("linearizable read: " + n_(id) + " read '" + rs.context + "' at " + s_(rs.index.value()) +
         " but " + s_(it->second.value()) + " was already committed when it was issued");
  }
  reads_.erase(it);
}

void Checker::final_check(const std::map<NodeId, const SimStateMachine*>& members) {
  if (failed()) return;
  for (const auto& [index, cid] : acked_) {
    for (const auto& [id, sm] : members) {
      if (sm->applied() < index || sm->id_at(index) != cid) {
        return fail("acknowledged write lost: p" + s_(cid) + " acked at " + s_(index.value()) +
                    " is not there in " + n_(id));
      }
    }
  }
  const SimStateMachine* first = nullptr;
  for (const auto& [id, sm] : members) {
    if (first && first->applied() == sm->applied() && first->hash() != sm->hash()) {
      return fail("state machines diverged at applied " + s_(sm->applied().value()));
    }
    first = sm;
  }
  std::map<std::string, const state::StateView*> views;
  for (const auto& [id, sm] : members) views[n_(id)] = &sm->view();
  if (auto bad = kv_.final_check(views)) return fail(*bad);
}

}  // namespace raftsim
