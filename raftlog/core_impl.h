// Private state of raftlog::Core. Split across files by concern:
//   core.cc         construction, tick, step dispatch and term rules, Ready/advance
//   log_view.cc     the durable log (LogReader) plus the unstable tail as one log
//   election.cc     pre-vote, vote, becoming follower/candidate/leader, transfer
//   replication.cc  appends, acks, flow control, commit
//   membership.cc   configuration history, single-server changes
//   read_index.cc   linearizable reads
//   snapshot.cc     snapshot requests, compaction, install
// Everything here runs on the caller's thread; there is no locking because
// the driver owns the core from one strand.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/assert.h"
#include "raftlog/raft.h"

namespace raftlog {

struct PendingRead {
  Index index;  // commit index when the read was taken
  std::string context;
  NodeId requester;       // self, or the follower that forwarded it
  std::set<NodeId> acks;  // voters that answered a heartbeat carrying `context`
};

struct Core::Impl {
  Config cfg;
  const LogReader* log = nullptr;
  std::mt19937_64 rng;

  // ---- persistent state (hs is the live copy; emitted_hs the last one
  // handed to the driver in a Ready) ----
  HardState hs;
  HardState emitted_hs;

  // ---- the log: durable part read through `log`, unstable tail here ----
  // unstable[i] has index unstable_offset + i. Entries below unstable_offset
  // are durable and agree with the unstable tail; stored entries at or above
  // it may be stale (a conflicting suffix the next persist overwrites).
  std::vector<Entry> unstable;
  Index unstable_offset{1};
  // A snapshot received from the leader, not yet persisted. While set, the
  // log before it is gone and unstable entries follow it.
  std::optional<Snapshot> pending_snapshot;
  // Whether pending_snapshot was handed out in the Ready now outstanding.
  bool snapshot_in_ready = false;

  // ---- volatile state ----
  Role role = Role::kFollower;
  NodeId leader = kNoNode;
  SoftState emitted_soft;
  Index commit;       // mirrors hs.commit; never above stable_index()
  Index commit_hint;  // follower: highest index known committed and matching our log
  Index applied;      // last index handed to the driver and acknowledged by advance
  Index applying;     // last committed entry handed out in the outstanding Ready

  // Ticks since the last election timeout reset (follower/candidate: since we
  // heard from a leader or started campaigning; leader: check-quorum window).
  uint32_t election_elapsed = 0;
  uint32_t heartbeat_elapsed = 0;
  uint32_t randomized_timeout = 0;  // in [election_timeout, 2*election_timeout)

  // Candidate / pre-candidate: answers received this election.
  std::map<NodeId, bool> votes;

  // Leader only.
  std::map<NodeId, Progress> progress;
  Index term_start;  // index of this leader's first entry (its no-op)
  NodeId transfer_target = kNoNode;
  uint32_t transfer_elapsed = 0;
  std::deque<std::pair<Index, uint64_t>> uncommitted;  // (last index, bytes) per proposal
  uint64_t uncommitted_bytes = 0;
  bool broadcast_pending = false;               // new entries to send at the next ready()
  std::map<NodeId, uint32_t> snapshot_elapsed;  // ticks a peer has been in kSnapshot

  // Configuration history: the latest at or below commit, and every one
  // above it (uncommitted; reverted if truncated). Never empty once the node
  // belongs to a cluster.
  std::map<Index, Membership> configs;

  // Reads.
  std::deque<PendingRead> pending_reads;         // leader: waiting for heartbeat quorum
  std::vector<PendingRead> reads_before_commit;  // leader: waiting for a current-term commit
  std::vector<ReadState> read_states;

  // Snapshots.
  Index snapshot_index;  // index of the newest snapshot taken or installed
  bool snapshot_requested = false;
  std::optional<Index> compact_before;
  std::optional<Index> snapshot_request;

  // Outputs gathered for the next Ready.
  std::vector<Message> msgs;
  std::vector<Message> msgs_after_persist;
  std::vector<Notice> notices;
  bool ready_outstanding = false;

  // ===== log_view.cc =====
  Index first_index() const;
  Index last_index() const;
  Index stable_index() const;
  Result<Term> term(Index i) const;
  Term last_term() const;
  bool match_term(Index i, Term t) const;
  Result<std::vector<Entry>> entries(Index lo, Index hi, uint64_t bytes_max) const;
  // Appends, truncating any conflicting suffix from ents.front().index on.
  void truncate_and_append(const std::vector<Entry>& ents);
  // Index of the first entry in ents whose term differs from ours (0 if none).
  Index find_conflict(const std::vector<Entry>& ents) const;
  // Largest index <= i whose term is <= t (the conflict-term hint of a reject).
  Index find_conflict_by_term(Index i, Term t) const;
  bool is_up_to_date(Index last, Term t) const;
  void stable_to(Index i, Term t);

  // ===== core.cc =====
  void send(Message m);
  void reset_timers();
  bool promotable() const;
  size_t quorum() const;
  Status step_local_term(const Message& m, bool& drop);
  void update_commit_from_hint();
  void set_commit(Index c);

  // ===== election.cc =====
  void become_follower(Term t, NodeId lead);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void start_campaign(bool pre, bool transfer);
  void handle_vote_request(const Message& m);
  void handle_vote_response(const Message& m);
  void handle_timeout_now(const Message& m);
  Status transfer_leadership(NodeId target);
  void abort_transfer();
  void tick_leader();
  void tick_follower();

  // ===== replication.cc =====
  Result<Index> propose(std::vector<Entry> ents);
  bool send_append(NodeId to, bool send_if_empty);
  // kProbe: an append without entries at pr.next - 1 (see handle_heartbeat_response).
  void send_empty_probe(NodeId to, const Progress& pr);
  void send_snapshot(NodeId to, Progress& pr);
  void broadcast_append();
  void broadcast_heartbeat(const std::string& ctx);
  void handle_append(const Message& m);
  void handle_heartbeat(const Message& m);
  void handle_append_response(const Message& m);
  void handle_heartbeat_response(const Message& m);
  bool maybe_commit();
  void on_commit_advanced();
  void release_uncommitted();
  bool paused(const Progress& pr) const;
  void become_probe(Progress& pr);
  void become_replicate(Progress& pr);

  // ===== membership.cc =====
  const Membership& membership() const;
  Index membership_index() const;
  void apply_config_entries(const std::vector<Entry>& ents);
  void revert_configs_from(Index i);
  void prune_configs();
  void sync_progress_with_config();
  Status validate_change(const Membership& next) const;
  void maybe_leave_after_removal();

  // ===== read_index.cc =====
  Status read_index(std::string ctx);
  void handle_read_index(const Message& m);
  void handle_read_index_response(const Message& m);
  void ack_reads(NodeId from, const std::string& ctx);
  void release_reads_before_commit();
  void respond_read(const PendingRead& r);
  void drop_reads();

  // ===== snapshot.cc =====
  void handle_snapshot(const Message& m);
  void maybe_request_snapshot();
  void snapshot_taken(const SnapshotMeta& meta);
  void report_snapshot(NodeId peer, bool ok);
  void tick_snapshots();
  bool wants_catchup_snapshot(const Progress& pr) const;
};

}  // namespace raftlog
