#include "admin/recover.h"

#include <cstdio>

#include "admin/data_dir.h"
#include "admin/force_config.h"
#include "admin/hex.h"
#include "api/node.h"
#include "api/node_impl.h"

namespace admin {

using common::Code;
using common::Result;
using common::Status;

Result<RecoverReport> recover_force_new_cluster(const RecoverOptions& o) {
  auto store = open_offline(o.data_dir, false);
  if (!store.is_ok()) return store.status();
  storage::Store& st = **store;
  RecoverReport r;
  r.cluster_id = st.cluster_id();
  r.node_id = st.node_id();
  if (r.node_id == raftlog::kNoNode) {
    return Status(Code::kFailedPrecondition,
                  o.data_dir + " has no node id: it never became a member of a cluster");
  }
  auto boot = st.load_boot();
  if (!boot.is_ok()) return boot.status();
  if (boot->configs.empty()) {
    return Status(Code::kFailedPrecondition,
                  o.data_dir +
                      " holds no membership: this node never joined a cluster, so "
                      "there is nothing to recover from it");
  }
  // The newest configuration that names this node says where it listens.
  const raftlog::Member* self = nullptr;
  for (auto it = boot->configs.rbegin(); it != boot->configs.rend() && !self; ++it) {
    auto m = it->second.members.find(r.node_id);
    if (m != it->second.members.end()) self = &m->second;
  }
  api::MemberAddress addr;
  if (self) addr = api::decode_member_address(self->address);
  if (!o.peer_address.empty()) addr.peer = o.peer_address;
  if (addr.peer.empty()) {
    return Status(Code::kFailedPrecondition,
                  "node " + hex16(r.node_id.value()) +
                      " is in none of its stored configurations, so its peer address is "
                      "unknown; give it with --advertise-peer host:port");
  }
  addr.auto_promote = false;
  for (const auto& [id, member] : boot->configs.back().second.members) {
    if (id == r.node_id) continue;
    auto a = api::decode_member_address(member.address);
    r.dropped.push_back((a.name.empty() ? "?" : a.name) + " (" + hex16(id.value()) + ", " + a.peer +
                        (member.learner ? ", learner" : "") + ")");
  }
  r.name = addr.name;
  r.peer_address = addr.peer;
  r.commit_before = boot->hard_state.commit.value();
  r.last_index = st.last_index().value();
  raftlog::Membership alone;
  alone.members.emplace(r.node_id, raftlog::Member{false, api::encode_member_address(addr)});
  auto at = force_membership(st, alone);
  if (!at.is_ok()) return at.status();
  r.config_index = at->value();
  return r;
}

}  // namespace admin
