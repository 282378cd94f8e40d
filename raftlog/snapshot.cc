// Snapshots: asking the driver to take one, compacting the log behind it,
// and installing one received from the leader.
#include "raftlog/core_impl.h"

namespace raftlog {

void Core::Impl::maybe_request_snapshot() {
  // No local snapshot while an install is pending: the install moves the
  // state machine past any index we could ask for.
  if (cfg.snapshot_interval_entries == 0 || snapshot_requested || pending_snapshot) return;
  if (applied.value() - snapshot_index.value() < cfg.snapshot_interval_entries) return;
  snapshot_requested = true;
  snapshot_request = applied;
}

void Core::Impl::snapshot_taken(const SnapshotMeta& meta) {
  snapshot_requested = false;
  if (meta.index <= snapshot_index) return;
  CA_ASSERT(meta.index <= applied);
  snapshot_index = meta.index;
  // Keep a few entries behind the snapshot so that a follower that lags a
  // little is repaired by appends rather than a whole snapshot.
  if (meta.index.value() > cfg.snapshot_trailing_entries) {
    Index before = meta.index + 1 - cfg.snapshot_trailing_entries;
    if (before > log->first_index()) compact_before = before;
  }
}

void Core::Impl::handle_snapshot(const Message& m) {
  election_elapsed = 0;
  leader = m.from;
  const SnapshotMeta& meta = m.snapshot.meta;
  Message resp;
  resp.type = MessageType::kAppendResp;
  resp.to = m.from;
  if (meta.index <= commit) {
    resp.index = commit;
    send(std::move(resp));
    return;
  }
  if (match_term(meta.index, meta.term)) {
    // We already hold the snapshot's last entry, so everything before it
    // matches: fast-forward the commit instead of replacing the log.
    commit_hint = std::max(commit_hint, meta.index);
    update_commit_from_hint();
    resp.index = meta.index;
    send(std::move(resp));
    return;
  }
  if (!m.snapshot.data && meta.index > Index(0)) {
    // The driver must attach the data; a snapshot without it cannot be
    // installed. Report failure so the leader retries.
    notices.push_back(Notice{Notice::Kind::kSnapshotFailed, m.from, meta.index.value()});
    return;
  }
  pending_snapshot = m.snapshot;
  snapshot_in_ready = false;
  snapshot_request.reset();  // not handed out yet: the install supersedes it
  snapshot_requested = false;
  unstable.clear();
  unstable_offset = meta.index + 1;
  configs.clear();
  configs[meta.index] = meta.membership;
  resp.index = meta.index;
  send(std::move(resp));
}

void Core::Impl::report_snapshot(NodeId peer, bool ok) {
  auto it = progress.find(peer);
  if (role != Role::kLeader || it == progress.end()) return;
  Progress& pr = it->second;
  if (pr.state != Progress::State::kSnapshot) return;
  if (!ok) pr.pending_snapshot = Index(0);
  become_probe(pr);
  // Wait for the follower's answer (or a heartbeat) before probing.
  pr.probe_sent = true;
  snapshot_elapsed.erase(peer);
}

bool Core::Impl::wants_catchup_snapshot(const Progress& pr) const {
  if (cfg.snapshot_lag_entries == 0 || pr.state != Progress::State::kProbe) return false;
  // Nothing applied yet: no snapshot could cover what the follower needs.
  if (applied == Index(0) || pr.next > applied) return false;
  if (pr.next == Index(1)) return true;  // an empty follower (a new node)
  return last_index().value() - pr.next.value() + 1 >= cfg.snapshot_lag_entries;
}

// A snapshot that got lost leaves its peer stuck in kSnapshot: give up
// after two election timeouts and probe again.
void Core::Impl::tick_snapshots() {
  for (auto it = snapshot_elapsed.begin(); it != snapshot_elapsed.end();) {
    auto pr = progress.find(it->first);
    if (pr == progress.end() || pr->second.state != Progress::State::kSnapshot) {
      it = snapshot_elapsed.erase(it);
      continue;
    }
    if (++it->second >= 2 * cfg.election_timeout_ticks) {
      pr->second.pending_snapshot = Index(0);
      become_probe(pr->second);
      it = snapshot_elapsed.erase(it);
      continue;
    }
    ++it;
  }
}

}  // namespace raftlog
