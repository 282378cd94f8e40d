// Construction, the step dispatcher with the term rules every message goes
// through, and the Ready/advance handshake with the driver.
#include <algorithm>

#include "raftlog/core_impl.h"

namespace raftlog {

Status Config::validate() const {
  auto bad = [](const char* why) { return Status(Code::kInvalidArgument, why); };
  if (id == kNoNode) return bad("raft config: id must be non-zero");
  if (heartbeat_ticks == 0) return bad("raft config: heartbeat_ticks must be > 0");
  if (election_timeout_ticks <= heartbeat_ticks) {
    return bad("raft config: election_timeout_ticks must be > heartbeat_ticks");
  }
  if (msg_bytes_max == 0) return bad("raft config: msg_bytes_max must be > 0");
  if (inflight_appends_max == 0) return bad("raft config: inflight_appends_max must be > 0");
  if (uncommitted_bytes_max == 0) return bad("raft config: uncommitted_bytes_max must be > 0");
  if (ready_apply_bytes_max == 0) return bad("raft config: ready_apply_bytes_max must be > 0");
  return Status::ok();
}

bool Ready::empty() const {
  return !soft_state && !hard_state && !snapshot && entries.empty() && messages.empty() &&
         messages_after_persist.empty() && committed_entries.empty() && read_states.empty() &&
         !snapshot_request && !compact_before && notices.empty();
}

Result<std::unique_ptr<Core>> Core::create(const Config& config, const LogReader* log,
                                           const Boot& boot) {
  if (auto s = config.validate(); !s.is_ok()) return s;
  CA_ASSERT(log != nullptr);
  auto impl = std::make_unique<Impl>();
  impl->cfg = config;
  impl->log = log;
  impl->rng.seed(config.random_seed);
  impl->hs = boot.hard_state;
  impl->emitted_hs = boot.hard_state;
  SnapshotMeta snap = log->snapshot();
  if (boot.hard_state.commit > log->last_index()) {
    return Status(Code::kCorruption,
                  "hard state commit " + std::to_string(boot.hard_state.commit.value()) +
                      " is beyond the last stored index " +
                      std::to_string(log->last_index().value()) +
                      ": the log lost acknowledged entries; restore this node from a peer");
  }
  impl->commit = std::max(boot.hard_state.commit, snap.index);
  impl->hs.commit = impl->commit;
  impl->commit_hint = impl->commit;
  impl->applied = std::max(boot.applied, snap.index);
  if (impl->applied > impl->commit) {
    return Status(Code::kCorruption, "applied index is beyond the commit index");
  }
  impl->applying = impl->applied;
  impl->snapshot_index = snap.index;
  impl->unstable_offset = log->last_index() + 1;
  for (const auto& [index, m] : boot.configs) impl->configs[index] = m;
  if (impl->configs.empty() && (snap.index > Index(0) || !snap.membership.members.empty())) {
    impl->configs[snap.index] = snap.membership;
  }
  impl->become_follower(impl->hs.term, kNoNode);
  impl->emitted_soft = SoftState{kNoNode, Role::kFollower};
  return std::unique_ptr<Core>(new Core(std::move(impl)));
}

Core::Core(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Core::~Core() = default;

// ---------------------------------------------------------------- helpers

void Core::Impl::send(Message m) {
  m.cluster_id = cfg.cluster_id;
  m.from = cfg.id;
  if (m.type != MessageType::kPreVote && m.type != MessageType::kPreVoteResp && m.term == Term(0)) {
    m.term = hs.term;
  }
  // A leader's own replication traffic depends on nothing it has not yet
  // persisted (its term and vote were durable before it could win), so it
  // goes out at once, in parallel with the leader's own fsync. Everything
  // else (votes, acks) promises durable state and waits for the persist.
  bool immediate = role == Role::kLeader &&
                   (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
                    m.type == MessageType::kSnapshot || m.type == MessageType::kTimeoutNow ||
                    m.type == MessageType::kReadIndexResp);
  (immediate ? msgs : msgs_after_persist).push_back(std::move(m));
}

void Core::Impl::reset_timers() {
  election_elapsed = 0;
  heartbeat_elapsed = 0;
  uint32_t base = cfg.election_timeout_ticks;
  randomized_timeout = base + static_cast<uint32_t>(rng() % base);
}

bool Core::Impl::promotable() const {
  return membership().is_voter(cfg.id) && !pending_snapshot;
}

size_t Core::Impl::quorum() const {
  return membership().voter_count() / 2 + 1;
}

void Core::Impl::set_commit(Index c) {
  CA_ASSERT(c >= commit);
  commit = c;
  hs.commit = c;
  prune_configs();
}

void Core::Impl::update_commit_from_hint() {
  Index c = std::min(commit_hint, stable_index());
  if (c > commit) set_commit(c);
}

// The term rules of Raft (with pre-vote and check-quorum leases) applied to
// every incoming message before its type-specific handler. Sets `drop` when
// the message must not be processed further.
Status Core::Impl::step_local_term(const Message& m, bool& drop) {
  drop = false;
  const bool is_vote = m.type == MessageType::kVote || m.type == MessageType::kPreVote;
  if (m.term > hs.term) {
    if (is_vote) {
      bool forced = m.context == "transfer";
      bool in_lease =
          cfg.check_quorum && leader != kNoNode && election_elapsed < cfg.election_timeout_ticks;
      // A node that heard from a live leader recently ignores campaigns:
      // this keeps a partitioned or removed node from deposing a healthy
      // leader (Raft thesis 4.2.3).
      if (in_lease && !forced) {
        drop = true;
        return Status::ok();
      }
    }
    if (m.type == MessageType::kPreVote) {
      // Never adopt a pre-vote's term: it is only a question.
    } else if (m.type == MessageType::kPreVoteResp && !m.reject) {
      // A granted pre-vote echoes the future term; adopted when we campaign.
    } else if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
               m.type == MessageType::kSnapshot) {
      become_follower(m.term, m.from);
    } else {
      become_follower(m.term, kNoNode);
    }
  } else if (m.term < hs.term) {
    if ((cfg.check_quorum || cfg.pre_vote) &&
        (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat)) {
      // A stale leader (e.g. back from a partition) learns our term from this
      // answer and steps down; without it, pre-vote could leave it stuck.
      Message resp;
      resp.type = MessageType::kAppendResp;
      resp.to = m.from;
      send(std::move(resp));
    } else if (m.type == MessageType::kPreVote) {
      Message resp;
      resp.type = MessageType::kPreVoteResp;
      resp.to = m.from;
      resp.term = hs.term;
      resp.reject = true;
      send(std::move(resp));
    }
    drop = true;
  }
  return Status::ok();
}

// ---------------------------------------------------------------- inputs

void Core::tick() {
  if (impl_->role == Role::kLeader) {
    impl_->tick_leader();
  } else {
    impl_->tick_follower();
  }
}

Status Core::step(const Message& m) {
  Impl& s = *impl_;
  if (m.cluster_id != s.cfg.cluster_id) {
    s.notices.push_back(Notice{Notice::Kind::kForeignCluster, m.from, m.cluster_id.value()});
    return Status(Code::kFailedPrecondition,
                  "message from cluster " + std::to_string(m.cluster_id.value()) +
                      ", this node is in cluster " + std::to_string(s.cfg.cluster_id.value()));
  }
  if (m.to != s.cfg.id) return Status(Code::kInvalidArgument, "message addressed to another node");
  bool drop = false;
  if (auto st = s.step_local_term(m, drop); !st.is_ok() || drop) return st;

  switch (m.type) {
    case MessageType::kPreVote:
    case MessageType::kVote:
      s.handle_vote_request(m);
      break;
    case MessageType::kPreVoteResp:
    case MessageType::kVoteResp:
      s.handle_vote_response(m);
      break;
    case MessageType::kAppend:
      if (s.role != Role::kFollower) s.become_follower(m.term, m.from);
      s.handle_append(m);
      break;
    case MessageType::kHeartbeat:
      if (s.role != Role::kFollower) s.become_follower(m.term, m.from);
      s.handle_heartbeat(m);
      break;
    case MessageType::kSnapshot:
      if (s.role != Role::kFollower) s.become_follower(m.term, m.from);
      s.handle_snapshot(m);
      break;
    case MessageType::kAppendResp:
      if (s.role == Role::kLeader) s.handle_append_response(m);
      break;
    case MessageType::kHeartbeatResp:
      if (s.role == Role::kLeader) s.handle_heartbeat_response(m);
      break;
    case MessageType::kTimeoutNow:
      s.handle_timeout_now(m);
      break;
    case MessageType::kReadIndex:
      s.handle_read_index(m);
      break;
    case MessageType::kReadIndexResp:
      s.handle_read_index_response(m);
      break;
  }
  return Status::ok();
}

Result<Index> Core::propose(std::vector<std::string> datas) {
  std::vector<Entry> ents;
  ents.reserve(datas.size());
  for (auto& d : datas) ents.push_back(Entry{Term(0), Index(0), EntryType::kNormal, std::move(d)});
  return impl_->propose(std::move(ents));
}

Result<Index> Core::propose_membership(const Membership& next) {
  Impl& s = *impl_;
  if (s.role != Role::kLeader) {
    return Status(Code::kNotLeader,
                  "not the leader; leader is " + std::to_string(s.leader.value()));
  }
  if (auto st = s.validate_change(next); !st.is_ok()) return st;
  std::vector<Entry> ents{
      Entry{Term(0), Index(0), EntryType::kMembership, encode_membership(next)}};
  return s.propose(std::move(ents));
}

Status Core::read_index(std::string ctx) {
  return impl_->read_index(std::move(ctx));
}
Status Core::transfer_leadership(NodeId target) {
  return impl_->transfer_leadership(target);
}

void Core::campaign() {
  if (impl_->role != Role::kLeader && impl_->promotable()) {
    impl_->start_campaign(impl_->cfg.pre_vote, false);
  }
}

void Core::snapshot_taken(const SnapshotMeta& meta) {
  impl_->snapshot_taken(meta);
}
void Core::report_snapshot_progress(NodeId peer) {
  auto it = impl_->snapshot_elapsed.find(peer);
  if (it != impl_->snapshot_elapsed.end()) it->second = 0;
}
void Core::report_snapshot(NodeId peer, bool ok) {
  impl_->report_snapshot(peer, ok);
}

void Core::report_unreachable(NodeId peer) {
  Impl& s = *impl_;
  if (s.role != Role::kLeader) return;
  auto it = s.progress.find(peer);
  // Appends in flight to an unreachable peer are lost: probe again.
  if (it != s.progress.end() && it->second.state == Progress::State::kReplicate) {
    s.become_probe(it->second);
  } else if (it != s.progress.end() && it->second.state == Progress::State::kProbe) {
    it->second.probe_sent = false;  // the probe itself may be what was lost
  }
}

// ---------------------------------------------------------------- output

bool Core::has_ready() const {
  const Impl& s = *impl_;
  if (s.ready_outstanding) return false;
  if (s.broadcast_pending) return true;
  if (SoftState{s.leader, s.role} != s.emitted_soft) return true;
  if (s.hs != s.emitted_hs) return true;
  if (s.pending_snapshot && !s.snapshot_in_ready) return true;
  if (!s.unstable.empty() || !s.msgs.empty() || !s.msgs_after_persist.empty()) return true;
  if (!s.read_states.empty() || s.snapshot_request || s.compact_before || !s.notices.empty()) {
    return true;
  }
  return !s.pending_snapshot && std::min(s.commit, s.stable_index()) > s.applied;
}

Ready Core::ready() {
  Impl& s = *impl_;
  CA_ASSERT(!s.ready_outstanding);
  if (s.broadcast_pending) s.broadcast_append();
  Ready rd;
  SoftState soft{s.leader, s.role};
  if (soft != s.emitted_soft) {
    rd.soft_state = soft;
    s.emitted_soft = soft;
  }
  if (s.hs != s.emitted_hs) {
    rd.hard_state = s.hs;
    rd.must_sync = s.hs.term != s.emitted_hs.term || s.hs.vote != s.emitted_hs.vote;
    s.emitted_hs = s.hs;
  }
  if (s.pending_snapshot) {
    rd.snapshot = *s.pending_snapshot;
    s.snapshot_in_ready = true;
    rd.must_sync = true;
  }
  if (!s.unstable.empty()) {
    rd.entries = s.unstable;
    rd.must_sync = true;
  }
  rd.messages = std::move(s.msgs);
  rd.messages_after_persist = std::move(s.msgs_after_persist);
  s.msgs.clear();
  s.msgs_after_persist.clear();
  if (!s.pending_snapshot) {
    Index hi = std::min(s.commit, s.stable_index());
    if (hi > s.applied) {
      auto ents = s.entries(s.applied + 1, hi + 1, s.cfg.ready_apply_bytes_max);
      CA_ASSERT(ents.is_ok());
      rd.committed_entries = std::move(*ents);
      s.applying = rd.committed_entries.back().index;
    }
  }
  rd.read_states = std::move(s.read_states);
  s.read_states.clear();
  rd.snapshot_request = s.snapshot_request;
  s.snapshot_request.reset();
  rd.compact_before = s.compact_before;
  s.compact_before.reset();
  rd.notices = std::move(s.notices);
  s.notices.clear();
  s.ready_outstanding = true;
  return rd;
}

void Core::advance(const Ready& rd) {
  Impl& s = *impl_;
  CA_ASSERT(s.ready_outstanding);
  s.ready_outstanding = false;
  if (rd.snapshot) {
    // The driver made this install durable, even if a newer snapshot arrived
    // meanwhile (that one stays pending for the next Ready).
    Index idx = rd.snapshot->meta.index;
    if (s.pending_snapshot && s.snapshot_in_ready &&
        s.pending_snapshot->meta == rd.snapshot->meta) {
      s.pending_snapshot.reset();
    }
    s.snapshot_index = std::max(s.snapshot_index, idx);
    if (idx > s.commit) s.set_commit(idx);
    s.commit_hint = std::max(s.commit_hint, idx);
    s.applied = std::max(s.applied, idx);
    s.applying = std::max(s.applying, s.applied);
  }
  s.snapshot_in_ready = false;
  if (!rd.entries.empty()) s.stable_to(rd.entries.back().index, rd.entries.back().term);
  if (!rd.committed_entries.empty()) {
    s.applied = std::max(s.applied, rd.committed_entries.back().index);
  }
  if (s.role == Role::kLeader) {
    auto it = s.progress.find(s.cfg.id);
    if (it != s.progress.end()) it->second.match = std::max(it->second.match, s.stable_index());
    if (s.maybe_commit()) s.on_commit_advanced();
  } else {
    s.update_commit_from_hint();
  }
  s.maybe_request_snapshot();
}

// ---------------------------------------------------------------- introspection

CoreStatus Core::status() const {
  const Impl& s = *impl_;
  CoreStatus st;
  st.id = s.cfg.id;
  st.role = s.role;
  st.leader = s.leader;
  st.hard_state = s.hs;
  st.applied = s.applied;
  st.first_index = s.first_index();
  st.last_index = s.last_index();
  st.stable_index = s.stable_index();
  st.membership = s.membership();
  st.membership_index = s.membership_index();
  st.transfer_target = s.transfer_target;
  if (s.role == Role::kLeader) st.progress = s.progress;
  return st;
}

NodeId Core::id() const {
  return impl_->cfg.id;
}
NodeId Core::leader() const {
  return impl_->leader;
}
Role Core::role() const {
  return impl_->role;
}
Term Core::term() const {
  return impl_->hs.term;
}
const HardState& Core::hard_state() const {
  return impl_->hs;
}
Index Core::commit() const {
  return impl_->commit;
}
Index Core::applied() const {
  return impl_->applied;
}
Index Core::last_index() const {
  return impl_->last_index();
}
Index Core::stable_index() const {
  return impl_->stable_index();
}
const Membership& Core::membership() const {
  return impl_->membership();
}
Result<Term> Core::term_at(Index i) const {
  return impl_->term(i);
}

}  // namespace raftlog
