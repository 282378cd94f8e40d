// Log replication: proposals, append messages with flow control (probe /
// pipelined replicate / snapshot), the follower's side of append, and the
// leader's commit rule.
#include <algorithm>

#include "raftlog/core_impl.h"

namespace raftlog {

Result<Index> Core::Impl::propose(std::vector<Entry> ents) {
  if (role != Role::kLeader) {
    return Status(Code::kNotLeader, "not the leader; leader is " + std::to_string(leader.value()));
  }
  if (transfer_target != kNoNode) {
    return Status(Code::kBusy, "leadership transfer in progress");
  }
  if (ents.empty()) return Status(Code::kInvalidArgument, "nothing to propose");
  uint64_t bytes = 0;
  for (const auto& e : ents) bytes += entry_size(e);
  // The budget keeps a leader that cannot commit (lost quorum) from growing
  // its memory without bound; an empty queue always admits one batch.
  if (uncommitted_bytes > 0 && uncommitted_bytes + bytes > cfg.uncommitted_bytes_max) {
    return Status(Code::kBusy, "too many uncommitted bytes; retry later");
  }
  Index idx = last_index();
  for (auto& e : ents) {
    e.term = hs.term;
    e.index = ++idx;
  }
  truncate_and_append(ents);
  uncommitted.emplace_back(idx, bytes);
  uncommitted_bytes += bytes;
  broadcast_pending = true;
  // A single-voter cluster commits as soon as its own log is durable; that
  // happens in advance(). Nothing else to do here.
  return idx;
}

bool Core::Impl::paused(const Progress& pr) const {
  switch (pr.state) {
    case Progress::State::kProbe:
      return pr.probe_sent;
    case Progress::State::kReplicate:
      return pr.inflight.size() >= cfg.inflight_appends_max;
    case Progress::State::kSnapshot:
      return true;
  }
  return true;
}

void Core::Impl::become_probe(Progress& pr) {
  // After a snapshot, resume from just past it; otherwise from just past
  // what the follower is known to hold.
  Index from =
      pr.state == Progress::State::kSnapshot ? std::max(pr.match, pr.pending_snapshot) : pr.match;
  pr.state = Progress::State::kProbe;
  pr.next = from + 1;
  pr.probe_sent = false;
  pr.pending_snapshot = Index(0);
  pr.inflight.clear();
}

void Core::Impl::become_replicate(Progress& pr) {
  pr.state = Progress::State::kReplicate;
  pr.next = pr.match + 1;
  pr.probe_sent = false;
  pr.pending_snapshot = Index(0);
  pr.inflight.clear();
}

void Core::Impl::send_snapshot(NodeId to, Progress& pr) {
  SnapshotMeta meta = log->snapshot();
  // Only a durable snapshot can be sent: the driver reads its data from storage.
  CA_ASSERT(meta.index > Index(0) || !meta.membership.members.empty());
  Message m;
  m.type = MessageType::kSnapshot;
  m.to = to;
  m.snapshot.meta = meta;
  pr.state = Progress::State::kSnapshot;
  pr.pending_snapshot = meta.index;
  pr.inflight.clear();
  snapshot_elapsed[to] = 0;
  send(std::move(m));
}

// Sends the entries `to` is missing, if flow control allows. Returns
// whether a message was sent.
bool Core::Impl::send_append(NodeId to, bool send_if_empty) {
  auto it = progress.find(to);
  if (it == progress.end() || to == cfg.id) return false;
  Progress& pr = it->second;
  if (paused(pr)) return false;
  if (wants_catchup_snapshot(pr)) {
    send_snapshot(to, pr);
    return true;
  }
  Index prev = pr.next - 1;
  auto prev_term = term(prev);
  auto ents = entries(pr.next, last_index() + 1, cfg.msg_bytes_max);
  if (!prev_term.is_ok() || !ents.is_ok()) {
    // The follower needs entries we compacted away.
    send_snapshot(to, pr);
    return true;
  }
  if (ents->empty() && !send_if_empty) return false;
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = commit;
  if (!ents->empty()) {
    Index last = ents->back().index;
    if (pr.state == Progress::State::kReplicate) {
      // Pipelining: assume delivery, keep sending; a reject sends us back to probe.
      pr.next = last + 1;
      pr.inflight.push_back(last);
    } else {
      pr.probe_sent = true;
      pr.probe_elapsed = 0;
    }
  } else if (pr.state == Progress::State::kProbe) {
    pr.probe_sent = true;
    pr.probe_elapsed = 0;
  }
  m.entries = std::move(*ents);
  send(std::move(m));
  return true;
}

void Core::Impl::send_empty_probe(NodeId to, const Progress& pr) {
  Index prev = pr.next - 1;
  auto prev_term = term(prev);
  if (!prev_term.is_ok()) return;  // compacted: the full probe sends a snapshot
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = commit;
  send(std::move(m));
}

void Core::Impl::broadcast_append() {
  broadcast_pending = false;
  for (auto& [id, pr] : progress) {
    if (id == cfg.id) continue;
    // Keep sending while the window allows: one call sends at most
    // msg_bytes_max, a large backlog needs several.
    for (int i = 0; i < 64 && send_append(id, false); i++) {
    }
  }
}

void Core::Impl::broadcast_heartbeat(const std::string& ctx) {
  for (const auto& [id, pr] : progress) {
    if (id == cfg.id) continue;
    Message m;
    m.type = MessageType::kHeartbeat;
    m.to = id;
    // Never tell a follower to commit beyond what it is known to hold:
    // its log past `match` may still differ from ours.
    m.commit = std::min(pr.match, commit);
    m.context = ctx;
    send(std::move(m));
  }
}

void Core::Impl::handle_append(const Message& m) {
  election_elapsed = 0;
  leader = m.from;
  Message resp;
  resp.type = MessageType::kAppendResp;
  resp.to = m.from;
  if (m.index < commit) {
    // Everything up to commit already matches; tell the leader where we are.
    resp.index = commit;
    send(std::move(resp));
    return;
  }
  if (match_term(m.index, m.log_term)) {
    Index last_new = m.index + m.entries.size();
    Index conflict = find_conflict(m.entries);
    if (conflict != Index(0)) {
      CA_ASSERT(conflict > commit);
      std::vector<Entry> tail(m.entries.begin() + (conflict.value() - m.index.value() - 1),
                              m.entries.end());
      truncate_and_append(tail);
    }
    commit_hint = std::max(commit_hint, std::min(m.commit, last_new));
    update_commit_from_hint();
    resp.index = last_new;
    send(std::move(resp));
    return;
  }
  // Reject with a hint: the largest index whose term is at most the
  // leader's term at m.index, so the leader can skip a whole term of
  // conflicting entries per round trip instead of one entry.
  Index hint = find_conflict_by_term(std::min(m.index, last_index()), m.log_term);
  auto hint_term = term(hint);
  resp.reject = true;
  resp.index = m.index;
  resp.reject_hint = hint;
  resp.log_term = hint_term.is_ok() ? *hint_term : Term(0);
  send(std::move(resp));
}

void Core::Impl::handle_heartbeat(const Message& m) {
  election_elapsed = 0;
  leader = m.from;
  commit_hint = std::max(commit_hint, std::min(m.commit, last_index()));
  update_commit_from_hint();
  Message resp;
  resp.type = MessageType::kHeartbeatResp;
  resp.to = m.from;
  resp.context = m.context;
  send(std::move(resp));
}

void Core::Impl::handle_append_response(const Message& m) {
  auto it = progress.find(m.from);
  if (it == progress.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (m.reject) {
    Index next_probe = m.reject_hint;
    if (m.log_term > Term(0)) next_probe = find_conflict_by_term(m.reject_hint, m.log_term);
    if (pr.state == Progress::State::kReplicate) {
      if (m.index <= pr.match) return;  // stale
      become_probe(pr);
    } else if (pr.state == Progress::State::kProbe) {
      if (pr.next - 1 != m.index) return;  // stale: answers an older probe
      // It answers the current probe, yet refuses an index it acknowledged
      // in this term (match is reset at election), where its log matched
      // ours: it lost acknowledged entries. Said once per probe round trip.
      if (m.index <= pr.match) {
        notices.push_back(
            Notice{Notice::Kind::kFollowerLostAcknowledged, m.from, pr.match.value()});
      }
    } else {
      return;  // a snapshot is on its way
    }
    pr.next = std::max(std::min(m.index, next_probe + 1), pr.match + 1);
    pr.probe_sent = false;
    send_append(m.from, true);
    return;
  }
  const Index old_match = pr.match;
  // Whether this answers the probe outstanding at pr.next - 1 (or a later
  // one). An answer that neither does so nor advances match tells nothing:
  // e.g. the bare response a node at a higher term gives to a stale append
  // (index 0), which a new leader of that term can receive. Taking it as a
  // match made the leader replicate the whole log from index 1 to a
  // follower that held it (tests/chaos/FINDINGS.md #4).
  const bool answers_probe = m.index + 1 >= pr.next;
  if (m.index > pr.match) pr.match = m.index;
  if (pr.next < m.index + 1) pr.next = m.index + 1;
  while (!pr.inflight.empty() && pr.inflight.front() <= m.index) pr.inflight.pop_front();
  switch (pr.state) {
    case Progress::State::kProbe:
      if (pr.match > old_match || answers_probe) become_replicate(pr);
      break;
    case Progress::State::kSnapshot:
      if (pr.match >= pr.pending_snapshot) {
        become_probe(pr);
        become_replicate(pr);
      }
      break;
    case Progress::State::kReplicate:
      break;
  }
  if (maybe_commit()) {
    on_commit_advanced();
  } else {
    while (send_append(m.from, false)) {
    }
  }
  if (transfer_target == m.from && pr.match == last_index()) {
    Message tn;
    tn.type = MessageType::kTimeoutNow;
    tn.to = m.from;
    send(std::move(tn));
  }
}

void Core::Impl::handle_heartbeat_response(const Message& m) {
  auto it = progress.find(m.from);
  if (it == progress.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  // A probe with entries still in flight is not repeated with entries: a
  // follower slower than the heartbeat rate got a msg_bytes_max append per
  // heartbeat, the backlog queued up ahead of every heartbeat and answer,
  // and it never caught up (tests/chaos/FINDINGS.md #4). An empty probe at
  // the same index finds the match point as well, at no cost; entries go
  // again once that probe is answered, dropped by the transport
  // (report_unreachable), or an election timeout old.
  if (pr.state == Progress::State::kProbe && pr.probe_sent &&
      pr.probe_elapsed < cfg.election_timeout_ticks) {
    if (pr.match < last_index()) send_empty_probe(m.from, pr);
    if (!m.context.empty()) ack_reads(m.from, m.context);
    return;
  }
  pr.probe_sent = false;
  // Appends may have been lost; free one slot so a full window cannot
  // stall the follower forever.
  if (pr.state == Progress::State::kReplicate && pr.inflight.size() >= cfg.inflight_appends_max) {
    pr.inflight.pop_front();
  }
  if (pr.match < last_index()) send_append(m.from, true);
  if (!m.context.empty()) ack_reads(m.from, m.context);
}

// Commit rule (Raft 5.3, 5.4.2): the highest index held durably by a
// majority of voters, but only if it is from the current term.
bool Core::Impl::maybe_commit() {
  std::vector<Index> matches;
  for (const auto& [id, pr] : progress) {
    if (!membership().is_voter(id)) continue;
    matches.push_back(id == cfg.id ? stable_index() : pr.match);
  }
  if (matches.empty()) return false;
  std::sort(matches.begin(), matches.end(), std::greater<Index>());
  size_t q = quorum();
  if (matches.size() < q) return false;
  // Followers alone may form the quorum, but the leader never commits past
  // its own durable log: commit <= stable index holds on every node, and
  // committed entries handed out for apply are always local and durable.
  Index candidate = std::min(matches[q - 1], stable_index());
  if (candidate <= commit) return false;
  auto t = term(candidate);
  if (!t.is_ok() || *t != hs.term) return false;
  set_commit(candidate);
  return true;
}

void Core::Impl::on_commit_advanced() {
  release_uncommitted();
  release_reads_before_commit();
  maybe_leave_after_removal();
  if (role != Role::kLeader) return;
  // Followers learn the new commit index with the next append.
  for (auto& [id, pr] : progress) {
    if (id != cfg.id) send_append(id, true);
  }
}

void Core::Impl::release_uncommitted() {
  while (!uncommitted.empty() && uncommitted.front().first <= commit) {
    uncommitted_bytes -= uncommitted.front().second;
    uncommitted.pop_front();
  }
}

}  // namespace raftlog
