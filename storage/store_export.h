// A read of a whole store at one instant, for changeagent-admin's dumps
// (offline, and the server's GET /admin/dump). Everything it returns comes
// from one RocksDB snapshot, so the log, the hard state, the applied index
// and the state view rows agree with each other even while the node keeps
// writing. Holding it pins that snapshot (RocksDB keeps the files it needs);
// drop it when done.
//
// Threads: one StoreExport is used by one thread at a time; it may be used
// on another thread than the node's, concurrently with the node's writes.
// It must not outlive its Store.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "raftlog/types.h"

namespace storage {

using common::Result;
using common::Status;

class StoreExport {
 public:
  struct Meta {
    uint64_t format_version = 0;
    raftlog::ClusterId cluster_id;
    raftlog::NodeId node_id;
    raftlog::HardState hard_state;
    raftlog::Index applied;  // the state rows are the state view at this index
    raftlog::SnapshotMeta snapshot;
    raftlog::Index base_index;  // first entry is base_index + 1
    raftlog::Term base_term;
    raftlog::Index last_index;  // == base_index when the log is empty
    raftlog::Term last_term;
    // conf/ records in index order (the latest at or below the base, and
    // one per membership entry above it).
    std::vector<std::pair<raftlog::Index, raftlog::Membership>> confs;
  };

  ~StoreExport();
  StoreExport(const StoreExport&) = delete;
  StoreExport& operator=(const StoreExport&) = delete;

  const Meta& meta() const { return meta_; }
  // The stored snapshot's opaque data (empty when none).
  Result<std::string> snapshot_data() const;
  // fn(index, stored bytes) for every entry in [lo, hi] in index order.
  // A missing entry in that range is kCorruption.
  Status scan_log(raftlog::Index lo, raftlog::Index hi,
                  const std::function<Status(raftlog::Index, std::string_view)>& fn) const;
  // fn(key, value) for every row of the `state` family, in key order.
  Status scan_state(const std::function<Status(std::string_view, std::string_view)>& fn) const;

  struct Impl;

 private:
  friend class Store;
  explicit StoreExport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  Meta meta_;
};

}  // namespace storage
