// recover --force-new-cluster: the way out when a majority of a cluster is
// lost for good. From one surviving node's (stopped) data dir, rewrites the
// membership to that node alone, keeping every entry it holds, so that it
// starts as the leader of a one-node cluster that fresh nodes then join.
//
// Every entry in the survivor's log is kept and becomes committed, including
// a tail it never learnt was committed: any of those may have been
// acknowledged by the lost leader, and none of them conflicts with anything
// any surviving node holds. (etcd's --force-new-cluster discards that tail;
// we keep it because losing an acknowledged write is worse than committing
// an unacknowledged one, whose client saw no success.)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "raftlog/types.h"

namespace admin {

struct RecoverOptions {
  std::string data_dir;
  // Override the address the node advertises to peers (host:port); empty =
  // keep the one its membership records.
  std::string peer_address;
};

struct RecoverReport {
  raftlog::ClusterId cluster_id;
  raftlog::NodeId node_id;
  std::string name;
  std::string peer_address;
  std::vector<std::string> dropped;  // "name (id, peer)" of every other member
  uint64_t commit_before = 0;
  uint64_t last_index = 0;    // entries kept: up to here
  uint64_t config_index = 0;  // the new membership entry
};

common::Result<RecoverReport> recover_force_new_cluster(const RecoverOptions& options);

}  // namespace admin
