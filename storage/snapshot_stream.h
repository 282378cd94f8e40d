// Catch-up snapshots as a stream of chunks, both ends.
//
// Sending (SnapshotSource): the leader opens a RocksDB snapshot and reads,
// chunk by chunk, the whole `state` family and then its `log` family over
// (base, index], where index is the applied index recorded at that same
// RocksDB snapshot (the state rows agree with it) and base is the log base
// there. Each read is independent (seek after a (family, key) position), so
// a transfer can resume from the last chunk the follower acknowledged.
//
// Receiving (SnapshotSink): the follower writes each chunk to its own SST
// file in a staging directory, then records its progress (atomically, with
// fsync), so a follower killed mid-transfer resumes where it stopped. Once
// the last chunk is in, Store::install_streamed() swaps the files in.
//
// Staging directory layout (one transfer at a time):
//   progress            binary record: session, head, chunks done, resume key
//   chunk-<seq>-<f>.sst one per non-empty chunk; f = 0 state, 1 log
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "raftlog/types.h"
#include "storage/store.h"

namespace rocksdb {
class ManagedSnapshot;
}  // namespace rocksdb

namespace storage {

inline constexpr uint32_t kStreamFamilyState = 0;
inline constexpr uint32_t kStreamFamilyLog = 1;

// What a streamed snapshot holds, sent first.
struct StreamHead {
  raftlog::SnapshotMeta meta;  // index = applied at the RocksDB snapshot
  Index base_index;            // the log sent is (base_index, meta.index]
  Term base_term;
  uint64_t bytes_estimate = 0;  // of the state rows and the log range
  bool operator==(const StreamHead&) const = default;
};

// A position in the stream: after `key` of `family`; at_start = before
// everything.
struct StreamPos {
  uint32_t family = kStreamFamilyState;
  std::string key;
  bool at_start = true;
};

struct StreamChunk {
  uint32_t family = kStreamFamilyState;
  std::vector<std::pair<std::string, std::string>> rows;  // ascending keys
  bool last = false;                                      // nothing after this chunk
  StreamPos end;                                          // resume position after this chunk
  uint64_t bytes = 0;                                     // of keys and values
  uint64_t log_entries = 0;
};

class SnapshotSource {
 public:
  // Pins the store's current state (a RocksDB snapshot) until destroyed.
  static Result<std::unique_ptr<SnapshotSource>> open(const Store& store);
  ~SnapshotSource();
  SnapshotSource(const SnapshotSource&) = delete;
  SnapshotSource& operator=(const SnapshotSource&) = delete;

  const StreamHead& head() const { return head_; }
  // Rows after `from`, in one family, until bytes_max is passed (at least
  // one row when any is left). Thread-safe against the store's writers.
  Result<StreamChunk> read(const StreamPos& from, uint64_t bytes_max) const;

 private:
  SnapshotSource(const Store& store, std::unique_ptr<rocksdb::ManagedSnapshot> snap);
  const Store& store_;
  std::unique_ptr<rocksdb::ManagedSnapshot> snap_;
  StreamHead head_;
  std::string log_end_;  // exclusive upper bound of the log keys sent
};

// A completely received stream, ready for Store::install_streamed().
struct StreamedSnapshot {
  StreamHead head;
  std::vector<std::string> state_files;  // SST files, in key order
  std::vector<std::string> log_files;
};

class SnapshotSink {
 public:
  // Opens the staging dir for `session`. When it holds that session's
  // progress, the transfer resumes from it; otherwise it is emptied.
  static Result<std::unique_ptr<SnapshotSink>> open(const std::string& dir, uint64_t session,
                                                    const StreamHead& head);
  // Reads a staging dir left by an interrupted install (Store::open).
  static Result<StreamedSnapshot> load_complete(const std::string& dir);
  // Removes the staging dir and everything in it.
  static Status remove(const std::string& dir);

  uint64_t session() const { return session_; }
  uint64_t next_seq() const { return next_seq_; }
  const StreamPos& resume_pos() const { return pos_; }
  bool complete() const { return complete_; }
  const StreamHead& head() const { return head_; }
  const std::string& dir() const { return dir_; }

  // Chunk `seq` (== next_seq()): written to its SST file and fsynced, then
  // the progress record. kInvalidArgument for rows out of order.
  Status add(uint64_t seq, uint32_t family,
             const std::vector<std::pair<std::string, std::string>>& rows, bool last);
  StreamedSnapshot result() const;

 private:
  SnapshotSink(std::string dir, uint64_t session, StreamHead head)
      : dir_(std::move(dir)), session_(session), head_(std::move(head)) {}
  Status save_progress() const;
  static Result<std::unique_ptr<SnapshotSink>> load(const std::string& dir);

  std::string dir_;
  uint64_t session_ = 0;
  StreamHead head_;
  uint64_t next_seq_ = 0;
  StreamPos pos_;
  bool complete_ = false;
};

}  // namespace storage
