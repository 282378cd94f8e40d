// Leader election: timers, pre-vote, vote, role transitions, leadership
// transfer (TimeoutNow).
#include "raftlog/core_impl.h"

namespace raftlog {

namespace {
const char* const kTransferContext = "transfer";
}

void Core::Impl::become_follower(Term t, NodeId lead) {
  CA_ASSERT(t >= hs.term);
  if (role == Role::kLeader) drop_reads();
  if (t != hs.term) {
    hs.term = t;
    hs.vote = kNoNode;
  }
  role = Role::kFollower;
  leader = lead;
  votes.clear();
  progress.clear();
  abort_transfer();
  uncommitted.clear();
  uncommitted_bytes = 0;
  broadcast_pending = false;
  reset_timers();
}

void Core::Impl::become_pre_candidate() {
  CA_ASSERT(role != Role::kLeader);
  // Pre-vote changes neither term nor vote: a node that cannot win never
  // disturbs the cluster's term.
  role = Role::kPreCandidate;
  leader = kNoNode;
  votes.clear();
  reset_timers();
}

void Core::Impl::become_candidate() {
  CA_ASSERT(role != Role::kLeader);
  hs.term = hs.term + 1;
  hs.vote = cfg.id;
  role = Role::kCandidate;
  leader = kNoNode;
  votes.clear();
  reset_timers();
}

void Core::Impl::become_leader() {
  CA_ASSERT(role == Role::kCandidate);
  role = Role::kLeader;
  leader = cfg.id;
  votes.clear();
  reset_timers();
  progress.clear();
  sync_progress_with_config();
  // The no-op of the new term: entries of earlier terms commit only once an
  // entry of the current term does (Raft 5.4.2), and reads wait for it too.
  term_start = last_index() + 1;
  std::vector<Entry> noop{Entry{Term(0), Index(0), EntryType::kNormal, {}}};
  auto r = propose(std::move(noop));
  CA_ASSERT(r.is_ok());
}

void Core::Impl::start_campaign(bool pre, bool transfer) {
  if (pre) {
    become_pre_candidate();
  } else {
    become_candidate();
  }
  const Term campaign_term = pre ? hs.term + 1 : hs.term;
  votes[cfg.id] = true;
  if (votes.size() >= quorum()) {
    // Alone in the configuration: win at once.
    if (pre) {
      start_campaign(false, transfer);
    } else {
      become_leader();
    }
    return;
  }
  for (NodeId id : membership().voters()) {
    if (id == cfg.id) continue;
    Message m;
    m.type = pre ? MessageType::kPreVote : MessageType::kVote;
    m.to = id;
    m.term = campaign_term;
    m.index = last_index();
    m.log_term = last_term();
    if (transfer) m.context = kTransferContext;
    send(std::move(m));
  }
}

void Core::Impl::handle_vote_request(const Message& m) {
  const bool pre = m.type == MessageType::kPreVote;
  // We may vote if we already voted for this candidate (a retransmission),
  // or we have not voted and know no leader this term, or it is a pre-vote
  // for a later term (answering it changes nothing here).
  bool can_vote =
      hs.vote == m.from || (hs.vote == kNoNode && leader == kNoNode) || (pre && m.term > hs.term);
  bool log_ok = cfg.testing.vote_ignores_log || is_up_to_date(m.index, m.log_term);
  Message resp;
  resp.type = pre ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  resp.to = m.from;
  if (can_vote && log_ok) {
    // A granted pre-vote answers with the candidate's future term so the
    // candidate does not mistake it for a stale reply.
    resp.term = m.term;
    if (!pre) {
      election_elapsed = 0;
      hs.vote = m.from;  // persisted before the response leaves (after-persist queue)
    }
  } else {
    resp.term = hs.term;
    resp.reject = true;
  }
  send(std::move(resp));
}

void Core::Impl::handle_vote_response(const Message& m) {
  const bool pre = m.type == MessageType::kPreVoteResp;
  if ((pre && role != Role::kPreCandidate) || (!pre && role != Role::kCandidate)) return;
  if (!membership().is_voter(m.from)) return;
  votes.emplace(m.from, !m.reject);
  size_t granted = 0, rejected = 0;
  for (const auto& [id, ok] : votes) (ok ? granted : rejected)++;
  if (granted >= quorum()) {
    if (pre) {
      start_campaign(false, false);
    } else {
      become_leader();
    }
  } else if (rejected >= membership().voter_count() - quorum() + 1) {
    // Lost: wait for a leader or the next timeout.
    become_follower(hs.term, kNoNode);
  }
}

void Core::Impl::handle_timeout_now(const Message& m) {
  // The leader chose us to succeed it: campaign at once, without pre-vote,
  // and tell voters to ignore their leader lease.
  if (!promotable()) return;
  start_campaign(false, true);
}

Status Core::Impl::transfer_leadership(NodeId target) {
  if (role != Role::kLeader) {
    return Status(Code::kNotLeader, "only the leader can transfer leadership");
  }
  if (target == cfg.id) return Status::ok();
  if (!membership().is_voter(target)) {
    return Status(Code::kInvalidArgument,
                  "node " + std::to_string(target.value()) + " is not a voter");
  }
  if (transfer_target == target) return Status::ok();
  transfer_target = target;
  transfer_elapsed = 0;
  auto& pr = progress[target];
  if (pr.match == last_index()) {
    Message m;
    m.type = MessageType::kTimeoutNow;
    m.to = target;
    send(std::move(m));
  } else {
    send_append(target, false);
  }
  return Status::ok();
}

void Core::Impl::abort_transfer() {
  if (transfer_target != kNoNode) {
    notices.push_back(Notice{Notice::Kind::kTransferAborted, transfer_target, 0});
  }
  transfer_target = kNoNode;
  transfer_elapsed = 0;
}

void Core::Impl::tick_follower() {
  election_elapsed++;
  // A node that cannot campaign keeps counting: its leader lease must
  // expire, or it would keep rejecting campaigns for a dead leader forever.
  if (promotable() && election_elapsed >= randomized_timeout) {
    election_elapsed = 0;
    start_campaign(cfg.pre_vote, false);
  }
}

void Core::Impl::tick_leader() {
  heartbeat_elapsed++;
  election_elapsed++;
  for (auto& [id, pr] : progress) {
    if (pr.state == Progress::State::kProbe && pr.probe_sent) pr.probe_elapsed++;
  }
  tick_snapshots();
  if (transfer_target != kNoNode && ++transfer_elapsed >= cfg.election_timeout_ticks) {
    abort_transfer();
  }
  if (election_elapsed >= cfg.election_timeout_ticks) {
    election_elapsed = 0;
    if (cfg.check_quorum) {
      size_t active = 0;
      for (auto& [id, pr] : progress) {
        if (membership().is_voter(id) && (id == cfg.id || pr.recent_active)) active++;
        if (id != cfg.id) pr.recent_active = false;
      }
      if (active < quorum()) {
        // We cannot tell whether a majority still follows us; a leader that
        // might be deposed must not keep serving (reads, leases).
        notices.push_back(Notice{Notice::Kind::kStepDownNoQuorum, kNoNode, active});
        become_follower(hs.term, kNoNode);
        return;
      }
    }
  }
  if (heartbeat_elapsed >= cfg.heartbeat_ticks) {
    heartbeat_elapsed = 0;
    broadcast_heartbeat({});
  }
}

}  // namespace raftlog
