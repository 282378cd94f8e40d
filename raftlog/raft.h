// The pure Raft core. No sockets, threads, clocks, files or logging: every
// input is a call (step, tick, propose, ...) and every output leaves through
// one Ready batch, which the driver executes in this order:
//
//   1. persist: install `snapshot` (if any), append `entries` (truncating any
//      stored suffix from entries.front().index on), write `hard_state`;
//      fsync when `must_sync`;
//   2. send `messages_after_persist` (votes and acks promise durability);
//      `messages` may be sent at once, in parallel with step 1;
//   3. apply `committed_entries` in order (they are already durable here);
//   4. call advance(ready).
//
// Only one Ready is outstanding at a time: ready() must not be called again
// before advance(). step/tick/propose may be called in between; whatever
// they produce goes into the next Ready, which is how group commit happens:
// everything proposed while one fsync runs is persisted by the next.
//
// The core reads the durable log through LogReader, which it never writes;
// entries not yet persisted live in the core's unstable tail.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "raftlog/types.h"

namespace raftlog {

struct Config {
  NodeId id;
  ClusterId cluster_id;
  // Ticks between heartbeats a leader sends. Must be < election_timeout_ticks.
  uint32_t heartbeat_ticks = 1;
  // Base election timeout; each node waits a random [base, 2*base) ticks.
  uint32_t election_timeout_ticks = 10;
  // Seed of the core's only source of randomness (election jitter).
  uint64_t random_seed = 1;
  // Bytes of entries per append message (at least one entry is always sent).
  uint64_t msg_bytes_max = 1 << 20;
  // Append messages in flight to one follower before waiting for acks.
  uint32_t inflight_appends_max = 64;
  // Proposed-but-uncommitted bytes a leader holds before refusing proposals (kBusy).
  uint64_t uncommitted_bytes_max = 64 << 20;
  // Committed entries handed out in one Ready.
  uint64_t ready_apply_bytes_max = 16 << 20;
  // Ask the driver for a snapshot after this many entries applied since the
  // last one; 0 = never.
  uint64_t snapshot_interval_entries = 0;
  // Entries kept behind a snapshot so slightly-lagging followers need no snapshot.
  uint64_t snapshot_trailing_entries = 0;
  // Catch-up by snapshot: a probing follower that holds nothing (it needs
  // entry 1) or needs entries at least this far behind the leader's last
  // index gets a snapshot instead of appends, even though the leader still
  // has the entries: replaying a big log one append at a time is slow. Only
  // once the leader has applied something. 0 = snapshots only when the
  // entries a follower needs were compacted.
  uint64_t snapshot_lag_entries = 0;
  // Pre-vote (Raft thesis 9.6): a partitioned node rejoining cannot disrupt.
  bool pre_vote = true;
  // Leader steps down if it has not heard from a quorum within an election
  // timeout; followers that heard from a leader within that time ignore votes.
  bool check_quorum = true;

  // Deliberate bugs, for proving that the simulator's checker catches them.
  // Never set outside tests.
  struct TestingKnobs {
    bool vote_ignores_log = false;  // grant votes without the up-to-date check
  } testing;

  Status validate() const;
};

// Read-only view of the durable log. Use: the core calls it for entries it
// no longer holds in memory. Invariant: first_index() <= last_index() + 1, and
// term(first_index() - 1) is the snapshot's term.
class LogReader {
 public:
  virtual ~LogReader() = default;
  virtual Index first_index() const = 0;  // snapshot.index + 1 when compacted
  virtual Index last_index() const = 0;   // last durable entry (snapshot.index if none)
  // Term of entry i for i in [first_index()-1, last_index()]; kCompacted below,
  // kNotFound above.
  virtual Result<Term> term(Index i) const = 0;
  // Entries [lo, hi), at least one if lo < hi, stopping once bytes_max is passed.
  virtual Result<std::vector<Entry>> entries(Index lo, Index hi, uint64_t bytes_max) const = 0;
  virtual SnapshotMeta snapshot() const = 0;
};

// What the core needs at start: the durable hard state and every
// configuration that may still matter.
struct Boot {
  HardState hard_state;
  // The latest configuration at or below hard_state.commit (or the
  // snapshot's), followed by every membership entry above it in the durable
  // log, in index order. Empty only for a node that has never been part of
  // a cluster: it waits to be contacted (a joining node).
  // A new cluster is bootstrapped by persisting a snapshot at index 0, term 0
  // whose membership is the initial configuration (no data): then configs
  // is {{Index(0), initial}} and the log is empty.
  std::vector<std::pair<Index, Membership>> configs;
  // Index up to which the state machine has already applied (0 if unknown:
  // then the core re-delivers everything from the snapshot on).
  Index applied;
};

struct Ready {
  std::optional<SoftState> soft_state;          // set when leader or role changed
  std::optional<HardState> hard_state;          // set when it must be persisted
  std::optional<Snapshot> snapshot;             // install before entries
  std::vector<Entry> entries;                   // append (truncating the stored suffix)
  std::vector<Message> messages;                // send now
  std::vector<Message> messages_after_persist;  // send only after step 1 is durable
  std::vector<Entry> committed_entries;         // apply in order
  std::vector<ReadState> read_states;
  // Take a snapshot of the state machine exactly at this applied index and
  // report it with snapshot_taken().
  std::optional<Index> snapshot_request;
  // Storage may discard entries below this index (the snapshot covers them).
  std::optional<Index> compact_before;
  std::vector<Notice> notices;
  bool must_sync = false;  // entries, vote or term changed: fsync before acking

  bool empty() const;
};

// Per-follower replication progress as the leader sees it.
struct Progress {
  enum class State : uint8_t { kProbe, kReplicate, kSnapshot };
  Index match;  // highest index known replicated on the peer
  Index next;   // next index to send
  State state = State::kProbe;
  bool probe_sent = false;     // kProbe: one append outstanding, wait for its answer
  uint32_t probe_elapsed = 0;  // kProbe: ticks since that append was sent
  Index pending_snapshot;      // kSnapshot: index of the snapshot sent
  bool recent_active = false;  // heard from in the current check-quorum window
  std::deque<Index> inflight;  // last index of each append in flight (kReplicate)
};

// Status for /diagnostics/raft.
struct CoreStatus {
  NodeId id;
  Role role;
  NodeId leader;
  HardState hard_state;
  Index applied;
  Index first_index;
  Index last_index;
  Index stable_index;
  Membership membership;
  Index membership_index;
  NodeId transfer_target;
  std::map<NodeId, Progress> progress;  // leader only
};

class Core {
 public:
  // The reader must outlive the core. Fails on an invalid config.
  static Result<std::unique_ptr<Core>> create(const Config& config, const LogReader* log,
                                              const Boot& boot);
  ~Core();

  // Inputs.
  void tick();
  Status step(const Message& m);
  // Append entries as leader. Returns the index of the last one, or
  // kNotLeader (with the leader's id in the message), kBusy (transfer or
  // uncommitted budget), kConflict.
  Result<Index> propose(std::vector<std::string> datas);
  // Propose a whole new configuration; at most one voter added or removed
  // (a learner promotion counts as one) and no other change uncommitted.
  Result<Index> propose_membership(const Membership& next);
  // Ask for a linearizable read; answered by a ReadState carrying ctx.
  Status read_index(std::string ctx);
  // Hand leadership to `target` (leader only).
  Status transfer_leadership(NodeId target);
  // Start an election now (tests, forced campaigns).
  void campaign();
  // The driver reports a snapshot it took after a snapshot_request; the
  // core may then ask for the log prefix to be compacted.
  void snapshot_taken(const SnapshotMeta& meta);
  // The driver could not deliver a message to `peer` (connection down).
  void report_unreachable(NodeId peer);
  // The driver finished sending (or failed to send) a snapshot.
  void report_snapshot(NodeId peer, bool ok);
  // The driver's transfer of a snapshot to `peer` is alive (a chunk was
  // acknowledged, or it is resuming after a disconnect): restart the
  // timeout after which the core gives up on it and probes again.
  void report_snapshot_progress(NodeId peer);

  // Output.
  bool has_ready() const;
  Ready ready();
  void advance(const Ready& rd);

  // Introspection (tests, invariants, diagnostics).
  CoreStatus status() const;
  NodeId id() const;
  NodeId leader() const;
  Role role() const;
  Term term() const;
  const HardState& hard_state() const;
  Index commit() const;
  Index applied() const;
  Index last_index() const;    // including unstable
  Index stable_index() const;  // last durable (persisted and acknowledged by advance)
  const Membership& membership() const;
  Result<Term> term_at(Index i) const;

 private:
  struct Impl;
  explicit Core(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Checks one core's state and the step from `prev` (a copy taken before the
// last input): term never decreases, vote never changes within a term,
// commit never decreases, applied <= commit <= stable index, a leader's
// own log covers its commit... Returns the first violation, or OK.
struct InvariantSnapshot {
  Term term;
  NodeId vote;
  Index commit;
  Index applied;
  Role role;
};
InvariantSnapshot invariant_snapshot(const Core& core);
Status check_invariants(const Core& core, const InvariantSnapshot* prev);

}  // namespace raftlog
