// Offline access to a node's data dir for changeagent-admin: refuse a dir a
// running changeagent holds, and open the store read-only or for writing.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "storage/store.h"

namespace admin {

// kFailedPrecondition when a process holds the store's RocksDB lock (a
// running changeagent); OK when the lock is free or there is no store.
common::Status check_not_in_use(const std::string& dir);

// check_not_in_use, then storage::Store::open on the existing store,
// adopting its identity. kNotFound when dir holds no store.
common::Result<std::unique_ptr<storage::Store>> open_offline(const std::string& dir,
                                                             bool read_only);

// True when `dir` exists and holds anything.
bool dir_has_files(const std::string& dir);

}  // namespace admin
