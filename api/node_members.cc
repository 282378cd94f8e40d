// Membership over the wire: add (as a learner, promoted once caught up),
// remove (refusing to lose the quorum of live voters unless forced),
// promote, re-address, and leadership transfer. All are single-server
// changes proposed by the leader (raftlog enforces one at a time).
#include "api/node_impl.h"

namespace api {

namespace {

std::string name_of(const raftlog::Membership& m, NodeId id) {
  auto it = m.members.find(id);
  return it == m.members.end() ? std::to_string(id.value())
                               : decode_member_address(it->second.address).name;
}

}  // namespace

Status Node::Impl::check_leader() const {
  if (core->role() == raftlog::Role::kLeader) return Status::ok();
  NodeId l = core->leader();
  if (l == raftlog::kNoNode) return Status(Code::kUnavailable, "no leader; retry");
  MemberAddress a = decode_member_address(
      core->membership().contains(l) ? core->membership().members.at(l).address : "");
  if (auto it = peer_client_urls.find(l); it != peer_client_urls.end()) a.client = it->second;
  return Status(Code::kNotLeader, "membership changes go to the leader: " + a.name +
                                      (a.client.empty() ? "" : " at " + a.client));
}

// Proposes a whole new configuration and calls on_applied once its entry
// applies here in our term (or on_error).
Status Node::Impl::propose_config(raftlog::Membership next, OnApplied on_applied,
                                  std::function<void(Status)> on_error) {
  if (Status s = check_leader(); !s.is_ok()) return s;
  auto idx = core->propose_membership(next);
  if (!idx.is_ok()) return idx.status();
  PendingAppend p;
  p.first = *idx;
  p.term = core->term();
  p.ts_ns = {0};
  p.deadline = Clock::now() + opts.request_timeout;
  p.done = [on_error](Result<std::vector<Appended>> r) {
    if (!r.is_ok()) on_error(r.status());
  };
  p.on_applied = std::move(on_applied);
  pending.emplace(*idx, std::move(p));
  schedule_ready();
  return Status::ok();
}

void Node::add_member(MemberRequest req, std::function<void(Result<MemberView>)> done) {
  Impl& s = *impl_;
  if (Status st = s.check_leader(); !st.is_ok()) return done(st);
  if (req.name.empty() || req.peer_url.empty()) {
    return done(Status(Code::kInvalidArgument, "a new member needs a name and a peer URL"));
  }
  NodeId id = node_id_for(req.name);
  raftlog::Membership next = s.core->membership();
  for (const auto& [mid, m] : next.members) {
    MemberAddress a = decode_member_address(m.address);
    if (mid == id && a.peer == req.peer_url) {
      // Added beforehand (changectl cluster add), now joining: the same
      // request again is not a conflict.
      return done(MemberView{id.value(), a.name, a.peer, req.client_url, m.learner});
    }
    if (mid == id) return done(Status(Code::kConflict, "a member named " + req.name + " exists"));
    if (a.peer == req.peer_url) {
      return done(Status(Code::kConflict, "member " + a.name + " already uses " + req.peer_url));
    }
  }
  MemberAddress a{req.name, req.peer_url, req.client_url, req.auto_promote};
  next.members[id] = raftlog::Member{true, encode_member_address(a)};
  auto shared = std::make_shared<std::function<void(Result<MemberView>)>>(std::move(done));
  MemberView view{id.value(), req.name, req.peer_url, req.client_url, true};
  Status st = s.propose_config(
      next, [shared, view](const raftlog::Entry&, const state::ApplyResult&) { (*shared)(view); },
      [shared](Status e) { (*shared)(e); });
  if (!st.is_ok()) (*shared)(st);
}

void Node::remove_member(uint64_t raw_id, bool force, std::function<void(Status)> done) {
  Impl& s = *impl_;
  if (Status st = s.check_leader(); !st.is_ok()) return done(st);
  NodeId id(raw_id);
  raftlog::Membership next = s.core->membership();
  if (!next.contains(id))
    return done(Status(Code::kNotFound, "no member " + std::to_string(raw_id)));
  bool voter = next.is_voter(id);
  next.members.erase(id);
  if (voter && !force) {
    // Count the voters that would remain and that we can reach now.
    size_t live = 0, voters = 0;
    for (NodeId v : next.voters()) {
      voters++;
      if (v == s.self || s.transport->connected(v)) live++;
    }
    if (live < voters / 2 + 1) {
      return done(Status(Code::kFailedPrecondition,
                         "removing " + name_of(s.core->membership(), id) + " would leave " +
                             std::to_string(live) + " reachable voters of " +
                             std::to_string(voters) +
                             ", less than a quorum; bring members back first, or force=true "
                             "(only for a dead node: the cluster may stop accepting writes)"));
    }
  }
  auto shared = std::make_shared<std::function<void(Status)>>(std::move(done));
  Status st = s.propose_config(
      next, [shared](const raftlog::Entry&, const state::ApplyResult&) { (*shared)(Status::ok()); },
      [shared](Status e) { (*shared)(e); });
  // The connection to the removed member stays until the removal applies:
  // an overwritten removal must not cut the member off (FINDINGS F9).
  if (!st.is_ok()) (*shared)(st);
}

void Node::promote_member(uint64_t raw_id, std::function<void(Status)> done) {
  Impl& s = *impl_;
  raftlog::Membership next = s.core->membership();
  auto it = next.members.find(NodeId(raw_id));
  if (it == next.members.end()) {
    return done(Status(Code::kNotFound, "no member " + std::to_string(raw_id)));
  }
  if (!it->second.learner) return done(Status::ok());
  it->second.learner = false;
  auto shared = std::make_shared<std::function<void(Status)>>(std::move(done));
  Status st = s.propose_config(
      next, [shared](const raftlog::Entry&, const state::ApplyResult&) { (*shared)(Status::ok()); },
      [shared](Status e) { (*shared)(e); });
  if (!st.is_ok()) (*shared)(st);
}

void Node::update_member(uint64_t raw_id, std::string peer_url, std::function<void(Status)> done) {
  Impl& s = *impl_;
  raftlog::Membership next = s.core->membership();
  auto it = next.members.find(NodeId(raw_id));
  if (it == next.members.end()) {
    return done(Status(Code::kNotFound, "no member " + std::to_string(raw_id)));
  }
  if (peer_url.empty()) return done(Status(Code::kInvalidArgument, "peer URL is empty"));
  MemberAddress a = decode_member_address(it->second.address);
  a.peer = peer_url;
  it->second.address = encode_member_address(a);
  auto shared = std::make_shared<std::function<void(Status)>>(std::move(done));
  Status st = s.propose_config(
      next, [shared](const raftlog::Entry&, const state::ApplyResult&) { (*shared)(Status::ok()); },
      [shared](Status e) { (*shared)(e); });
  if (!st.is_ok()) (*shared)(st);
}

void Node::transfer_leadership(uint64_t raw_id, std::function<void(Status)> done) {
  Impl& s = *impl_;
  if (Status st = s.check_leader(); !st.is_ok()) return done(st);
  NodeId target(raw_id);
  if (target == s.self) return done(Status::ok());
  if (Status st = s.core->transfer_leadership(target); !st.is_ok()) return done(st);
  s.transfers.push_back(Impl::TransferWait{
      target, std::move(done),
      Clock::now() + std::chrono::milliseconds(4 * s.opts.tick_ms * s.opts.election_ticks)});
  s.schedule_ready();
}

void Node::Impl::finish_transfers(Clock::time_point now) {
  for (auto it = transfers.begin(); it != transfers.end();) {
    if (soft.leader == it->target) {
      auto done = std::move(it->done);
      it = transfers.erase(it);
      done(Status::ok());
    } else if (now >= it->deadline) {
      auto done = std::move(it->done);
      it = transfers.erase(it);
      done(Status(Code::kTimeout, "leadership did not move in time; the target may be lagging"));
    } else {
      ++it;
    }
  }
}

// Leader: promote one caught-up auto-promote learner at a time.
void Node::Impl::tick_membership(Clock::time_point now) {
  finish_transfers(now);
  if (core->role() != raftlog::Role::kLeader) return;
  auto st = core->status();
  if (st.membership_index > st.hard_state.commit) return;  // a change is in flight
  for (const auto& [id, m] : st.membership.members) {
    if (!m.learner || !decode_member_address(m.address).auto_promote) continue;
    auto pr = st.progress.find(id);
    if (pr == st.progress.end() || pr->second.match < st.hard_state.commit) continue;
    raftlog::Membership next = st.membership;
    next.members[id].learner = false;
    MemberAddress a = decode_member_address(m.address);
    a.auto_promote = false;
    next.members[id].address = encode_member_address(a);
    if (core->propose_membership(next).is_ok()) {
      log->info("promoting learner {} to voter: caught up at {}", a.name, pr->second.match.value());
      schedule_ready();
    }
    return;
  }
}

}  // namespace api
