// Durable state of one node: the Raft log, hard state, membership history,
// snapshot, applied index. One RocksDB database per node directory.
//
// Layout (format version kFormatVersion; keys in storage/keys.h):
//
//   column family `log`:   8-byte big-endian index -> protobuf Entry.
//       Big-endian so that RocksDB's bytewise order is index order. The
//       stored Entry repeats its index; a read checks the two agree.
//       Invariant: the keys are exactly (log_base.index, last_index], no gaps.
//   column family `meta`:
//       format_version  8-byte BE. Written once at creation. A store with
//                       another version is refused, untouched.
//       cluster_id      8-byte BE. Written at creation or on the first open
//       node_id         that names it; never changed afterwards.
//       hard_state      protobuf HardState. Absent = all zero.
//       snapshot/meta   protobuf SnapshotMeta of the latest snapshot.
//       snapshot/data   its opaque bytes (same WriteBatch as the meta). The
//                       server writes it empty: its snapshot's data is the
//                       `state` family at `applied` (storage/compact.h).
//       applied         8-byte BE: state machine applied up to here.
//       log_base        16 bytes, BE index then BE term: the last entry
//                       discarded from the log (by snapshot install or
//                       compaction). Absent = (0, 0). first_index is
//                       log_base.index + 1.
//       snapshot/install_pending  the staging dir of a streamed snapshot
//                       whose install began and has not finished (see
//                       install_streamed); absent otherwise.
//       conf/<BE index> protobuf Membership of the kMembership entry at that
//                       index. Written in the same WriteBatch as the entry,
//                       deleted with it on suffix truncation; compaction
//                       keeps the latest one at or below the compaction point.
//   column families `state`, `tags`: empty for now; created so the state
//       view and the tag index need no format change.
//
// Crash behaviour: every write() is one RocksDB WriteBatch, so after a crash
// either all of a batch is there or none of it. A batch written with
// sync=true is on disk when write() returns (WAL fsynced); one written with
// sync=false survives a process crash but may be lost on power failure,
// together with every later batch (RocksDB's WAL is ordered). Crash
// leftovers are RocksDB's own (WAL replayed on open); there is nothing of
// ours to clean up.
//
// Threads: reads (the LogReader methods, load_boot, load_snapshot) may run
// on any thread concurrently with one writer; writes (write, compact,
// save_snapshot) are serialized internally. A read racing a truncation or
// compaction returns kNotFound / kCompacted, never a torn mix.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "raftlog/raft.h"
#include "raftlog/types.h"

namespace rocksdb {
class Snapshot;
class Status;
}  // namespace rocksdb

namespace storage {

struct RocksHandles;      // storage/rocks.h
struct StreamedSnapshot;  // storage/snapshot_stream.h

using common::Result;
using common::Status;
using raftlog::Index;
using raftlog::Term;

// The on-disk layout this binary reads and writes. Bump on any incompatible
// change, and teach open() to refuse (or migrate) the old one explicitly.
inline constexpr uint64_t kFormatVersion = 1;

struct OpenOptions {
  std::string dir;                 // one directory per node, owned by the store
  bool create_if_missing = false;  // false: a missing store is kNotFound
  // Identity to check against the store, or to initialise it with when the
  // store has none yet. 0 = adopt whatever is stored (possibly nothing).
  raftlog::ClusterId cluster_id;
  raftlog::NodeId node_id;
  // Open an existing store without writing anything (changeagent-admin's
  // offline dump and verify). Writes then fail; nothing is ever created.
  bool read_only = false;
};

// One persist step of a Ready, applied in this order in one WriteBatch:
// snapshot install, entry append (truncating the stored suffix from
// entries.front().index), hard state, applied index.
struct PersistBatch {
  // Received snapshot: stores meta + data, deletes the log up to its index,
  // or the whole log when the log does not contain (index, term). Must be
  // above the stored snapshot, except that a store without one accepts a
  // snapshot at index 0 carrying the initial membership: the bootstrap of a
  // new cluster (raftlog/raft.h, Boot).
  std::optional<raftlog::Snapshot> snapshot;
  std::vector<raftlog::Entry> entries;  // contiguous, ascending
  std::optional<raftlog::HardState> hard_state;
  std::optional<Index> applied;
  // Rows of the `state` column family (the node's state view), written in
  // the same WriteBatch as `applied` so that the two always agree after a
  // crash. nullopt value = delete the row.
  std::vector<std::pair<std::string, std::optional<std::string>>> state_rows;
  bool sync = false;  // fsync before write() returns
  // Set with `snapshot` when the snapshot arrived as a stream: its state
  // rows and log range are SST files in `streamed_dir`, swapped in by
  // install_streamed() instead of the usual install.
  std::shared_ptr<const StreamedSnapshot> streamed;
  std::string streamed_dir;
};

class StoreExport;  // storage/store_export.h

class Store final : public raftlog::LogReader {
 public:
  // Opens (or creates) the store in options.dir. Refuses, without writing
  // anything: another format version or a foreign database
  // (kFailedPrecondition), another cluster id or node id
  // (kFailedPrecondition), a damaged identity (kCorruption).
  static Result<std::unique_ptr<Store>> open(const OpenOptions& options);
  ~Store() override;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // LogReader. first/last come from memory; term() and entries() read disk
  // unless the index is the base or the last one.
  Index first_index() const override;
  Index last_index() const override;
  Result<Term> term(Index i) const override;
  Result<std::vector<raftlog::Entry>> entries(Index lo, Index hi,
                                              uint64_t bytes_max) const override;
  raftlog::SnapshotMeta snapshot() const override;

  // What the core needs to start (see raftlog::Boot).
  Result<raftlog::Boot> load_boot() const;
  // Calls fn(key, value) for every row of the `state` column family, in key
  // order; stops at the first non-OK status fn returns.
  Status scan_state(const std::function<Status(const std::string&, const std::string&)>& fn) const;
  // The stored snapshot with its data (data empty, meta.index 0 if none).
  Result<raftlog::Snapshot> load_snapshot() const;

  // One atomic WriteBatch; WriteOptions.sync = batch.sync.
  Status write(const PersistBatch& batch);
  // Several batches as ONE WriteBatch, each applied as if written alone in
  // order (group commit). sync applies to the whole.
  Status write(std::span<const PersistBatch> batches, bool sync);
  // Discards log entries below `before`. Only entries the snapshot covers
  // may go: before <= snapshot().index + 1, else kInvalidArgument.
  Status compact(Index before);
  // Stores a snapshot taken locally at an index this log holds, leaving the
  // log alone (compact() trims it later). kInvalidArgument unless the log
  // has (meta.index, meta.term) and meta.index is above the current one.
  Status save_snapshot(const raftlog::Snapshot& snapshot);
  // The membership in force at index i: the latest conf/ record at or below
  // it, else the stored snapshot's (storage/compact.cc).
  Result<raftlog::Membership> membership_at(Index i) const;
  // Replaces the log, the state rows and the conf records with a streamed
  // snapshot (storage/snapshot_install.cc): the log becomes (base, index]
  // as sent, the snapshot meta and `applied` its index. Crash-safe through
  // the meta key snapshot/install_pending, which names the staging dir: an
  // open() that finds it redoes the install from the staged files.
  Status install_streamed(const StreamedSnapshot& snap, const std::string& staging_dir);

  // A read of the whole store at one instant (storage/store_export.h).
  Result<std::unique_ptr<StoreExport>> export_view() const;
  // Restoring a dump (changeagent-admin load) whose log starts above 1: on
  // a store that holds no entry and no snapshot, sets the log base to
  // (index, term) and stores the conf/ records at or below it, synced.
  // kFailedPrecondition on any other store. (storage/store_export.cc)
  Status restore_base(Index index, Term term,
                      const std::vector<std::pair<Index, raftlog::Membership>>& confs);

  raftlog::ClusterId cluster_id() const { return cluster_id_; }
  raftlog::NodeId node_id() const { return node_id_; }
  const std::string& dir() const { return dir_; }

  // In-memory view of the log's bounds; see the layout above.
  struct Bounds {
    Index base_index;  // last discarded entry; first_index = base_index + 1
    Term base_term;
    Index last_index;  // == base_index when the log is empty
    Term last_term;
  };

 private:
  class Staging;
  Store(std::string dir, std::unique_ptr<RocksHandles> handles);

  Status load_bounds();
  Bounds bounds() const;
  // `at`: a RocksDB snapshot for reads that must agree with each other.
  Result<std::optional<std::string>> get_meta(std::string_view key,
                                              const rocksdb::Snapshot* at = nullptr) const;
  Result<raftlog::SnapshotMeta> read_snapshot_meta(const rocksdb::Snapshot* at) const;
  Result<std::optional<raftlog::Entry>> read_entry(Index i) const;
  // nullopt: the disk disagreed with the bounds and `settled` was false.
  std::optional<Result<Term>> term_once(Index i, bool settled) const;
  std::optional<Result<std::vector<raftlog::Entry>>> entries_once(Index lo, Index hi,
                                                                  uint64_t bytes_max,
                                                                  bool settled) const;
  Status commit(Staging& staging, bool sync, const char* op);
  // The gate every write passes (write_mu_ held): refused_after_failure()
  // before touching RocksDB, checked_write() on what RocksDB answered.
  Status refused_after_failure() const;
  Status checked_write(const rocksdb::Status& s, std::string_view op);
  Status install_streamed_locked(const StreamedSnapshot& snap, const std::string& staging_dir);
  // An install interrupted by a crash: finish it (open()).
  Status finish_pending_install();
  friend class SnapshotSource;

  const std::string dir_;
  std::unique_ptr<RocksHandles> handles_;
  raftlog::ClusterId cluster_id_;
  raftlog::NodeId node_id_;

  // One write/compact/save_snapshot at a time. A reader that finds the disk
  // and the cached bounds disagreeing (it raced a write) waits on it once,
  // after which they agree: a miss is then the truth, or damage.
  mutable std::mutex write_mu_;
  // The first write that failed on the disk (an IO error or damage), under
  // write_mu_. Every later write answers it without calling RocksDB: 7.8
  // aborts the process on an assertion when a WAL file whose append failed
  // is used again (DB::SyncWAL does, unlike DB::Write, which answers the
  // background error first), and a node that cannot write must say so and
  // exit with 75, not crash (tests/integration/FINDINGS.md F11). Only a
  // restart, which re-reads the disk, writes again.
  Status write_failed_;
  mutable std::mutex state_mu_;  // guards the two fields below (short holds)
  Bounds bounds_;
  raftlog::SnapshotMeta snapshot_;
};

}  // namespace storage
