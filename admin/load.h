// Dump -> a new data dir that starts with `changeagent` as the first node of
// a new cluster (alone, or joined later by others with --join).
//
// The dump's log, snapshot and state view are written as they were; then
// one membership entry naming only the new node is appended after the
// dump's last entry and committed (admin/force_config.h), so the node
// elects itself at once. The old cluster's membership entries stay in the
// log as history: a node that later joins replays them on its way to the
// entries that add it, and a configuration that does not name it never lets
// it vote or campaign.
//
// The dir is built under a temporary name beside the target and renamed
// into place only when complete, so a failed or interrupted load leaves no
// half-made store where changeagent would start from it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"
#include "raftlog/types.h"

namespace admin {

struct LoadOptions {
  std::string dump_path;
  std::string data_dir;
  bool force = false;            // replace an existing, non-empty data_dir
  bool keep_cluster_id = false;  // else a new id from name, peer address and token
  std::string name;              // the new node's --name
  std::string peer_address;      // host:port the node's peers will dial
  std::string client_url;        // advertised in the membership
  std::string token;             // --initial-cluster-token; empty: keep_cluster_id only
  std::function<void(uint64_t done, uint64_t total, uint64_t bytes)> progress;
};

struct LoadReport {
  raftlog::ClusterId cluster_id;
  raftlog::NodeId node_id;
  uint64_t base_index = 0;
  uint64_t last_index = 0;  // the dump's; the membership entry is last_index + 1
  uint64_t entries = 0;
  uint64_t state_rows = 0;
  uint64_t bytes = 0;
};

common::Result<LoadReport> load_dump(const LoadOptions& options);

}  // namespace admin
