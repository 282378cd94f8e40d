// RocksDB handles and status conversion shared by store.cc and
// store_write.cc. Internal to storage/.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <rocksdb/db.h>

#include "common/status.h"
#include "raftlog/types.h"

namespace storage {

// Owns the database and its column family handles. Handles are destroyed
// before the database is closed, as RocksDB requires.
struct RocksHandles {
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyHandle* log = nullptr;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  rocksdb::ColumnFamilyHandle* state = nullptr;
  rocksdb::ColumnFamilyHandle* tags = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> all;  // every opened family, for cleanup

  RocksHandles() = default;
  RocksHandles(const RocksHandles&) = delete;
  RocksHandles& operator=(const RocksHandles&) = delete;
  ~RocksHandles() {
    if (!db) return;
    for (auto* h : all) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db->Close().PermitUncheckedError();
  }
};

// rocksdb::Status -> common::Status at the module edge, naming what we were
// doing and where: "storage: <op> in <dir>: <rocksdb's text>".
inline common::Status from_rocks(const rocksdb::Status& s, std::string_view op,
                                 const std::string& dir) {
  std::string msg = "storage: " + std::string(op) + " in " + dir + ": " + s.ToString();
  if (s.IsCorruption()) return common::Status(common::Code::kCorruption, std::move(msg));
  return common::Status(common::Code::kIoError, std::move(msg));
}

}  // namespace storage

namespace storage {

// Stored bytes that fail their own checks. Runbook-style: what, where, and
// what the operator does next.
inline common::Status damaged(std::string_view what, const std::string& dir, std::string_view why) {
  return common::Status(
      common::Code::kCorruption,
      "storage: " + std::string(what) + " in " + dir + " is damaged: " + std::string(why) +
          ". This store cannot be trusted and was not changed: stop the node, move " + dir +
          " aside (keep it for analysis) and rebuild the node from its peers.");
}

}  // namespace storage

namespace storage {

// The conf/ records of the meta family in index order, read at `at` (a
// RocksDB snapshot, or nullptr for the latest). Defined in store.cc.
common::Result<std::vector<std::pair<raftlog::Index, raftlog::Membership>>> read_confs(
    const RocksHandles& h, const rocksdb::Snapshot* at, const std::string& dir);

}  // namespace storage
