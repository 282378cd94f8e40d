// SimLog: the in-memory twin of storage/. It is what a node's disk holds:
// everything in it survives a crash, nothing else does. The driver writes a
// whole Ready into it at once (persist()), which models one atomic fsync'd
// batch: a crash before that write loses the Ready's entries and hard state
// entirely, a crash after keeps all of it.
//
// It also keeps what a restart needs: the membership records for Boot
// (configs_) and the local state-machine snapshot (the application's state
// is only durable through snapshots, so a restarted node re-applies the
// committed entries above it).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>

#include "raftlog/raft.h"

namespace raftsim {

using raftlog::Boot;
using raftlog::Entry;
using raftlog::HardState;
using raftlog::Index;
using raftlog::Membership;
using raftlog::Ready;
using raftlog::Result;
using raftlog::SnapshotMeta;
using raftlog::Status;
using raftlog::Term;

class SimLog final : public raftlog::LogReader {
 public:
  // A joining node: empty disk, no configuration.
  SimLog();
  // A founding member: bootstrap snapshot at index 0, term 0 carrying the
  // initial membership and the empty state machine.
  SimLog(const Membership& initial, std::string empty_state);

  // LogReader.
  Index first_index() const override { return offset_ + 1; }
  Index last_index() const override { return offset_ + entries_.size(); }
  Result<Term> term(Index i) const override;
  Result<std::vector<Entry>> entries(Index lo, Index hi, uint64_t bytes_max) const override;
  SnapshotMeta snapshot() const override { return snap_; }

  // Step 1 of a Ready: install its snapshot, append its entries (truncating
  // the stored suffix), write its hard state. A non-OK status names a broken
  // contract (the core asked for something storage cannot honestly do).
  Status persist(const Ready& rd);
  // The driver took a snapshot of its own state machine.
  Status save_local_snapshot(const SnapshotMeta& meta, std::shared_ptr<const std::string> data);
  // Drop entries below `before` (compact_before).
  Status compact(Index before);

  const HardState& hard_state() const { return hard_; }
  bool has_config() const { return !configs_.empty(); }
  Boot boot() const;
  // The configuration in force at index i (latest record at or below it).
  Result<Membership> membership_at(Index i) const;
  // Data of a recent local or installed snapshot at exactly index i, or null.
  std::shared_ptr<const std::string> snapshot_data(Index i) const;

 private:
  void remember_snapshot(Index i, std::shared_ptr<const std::string> data);

  HardState hard_;
  SnapshotMeta snap_;
  // Entries offset_+1 ... ; term(offset_) is offset_term_ (the snapshot's,
  // or a compacted entry's when trailing entries are kept).
  Index offset_;
  Term offset_term_;
  std::deque<Entry> entries_;
  // Every membership record that may still matter: the snapshot's, then
  // each membership entry in the log. Sorted by index.
  std::map<Index, Membership> configs_;
  // The last few snapshots' data by index: a kSnapshot message built before
  // a newer local snapshot still finds its data. Bounded by kRecentSnapshotsMax.
  std::map<Index, std::shared_ptr<const std::string>> recent_snapshots_;
  static constexpr size_t kRecentSnapshotsMax = 4;
};

}  // namespace raftsim
