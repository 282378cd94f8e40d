#include "pgha/agent/store.h"

#include <spdlog/spdlog.h>

#include "common/logger.h"

namespace pgha::agent {

using common::Code;
using common::Result;
using common::Status;

namespace {

std::shared_ptr<spdlog::logger> log() {
  return common::component_logger("store");
}

// Keys listed per page; a cluster has a handful of keys.
constexpr uint32_t kListPageKeys = 200;

}  // namespace

Result<std::unique_ptr<Store>> Store::create(const std::vector<std::string>& endpoints,
                                             std::string cluster,
                                             std::chrono::milliseconds request_timeout) {
  api::ClientOptions o;
  o.endpoints = endpoints;
  o.connect_timeout = std::min(request_timeout, std::chrono::milliseconds(1000));
  o.request_timeout = request_timeout;
  auto c = api::Client::create(o);
  if (!c.is_ok()) return c.status();
  return std::unique_ptr<Store>(new Store(std::move(*c), endpoints, std::move(cluster)));
}

Result<ClusterSnapshot> Store::read() {
  ClusterSnapshot snap;
  const std::string prefix = cluster_prefix(cluster_);
  const std::string members = members_prefix(cluster_);
  std::string after;
  for (;;) {
    auto page = client_->list_keys(prefix, after, kListPageKeys);
    if (!page.is_ok()) return page.status();
    snap.revision = std::max(snap.revision, page->revision);
    for (const auto& kv : page->keys) {
      if (kv.key == desired_key(cluster_)) {
        auto d = parse_desired(kv.value_json);
        Status v = d.is_ok() ? validate_desired(*d) : d.status();
        if (v.is_ok()) {
          snap.desired = std::move(*d);
        } else {
          snap.desired_error = v.message();
        }
      } else if (kv.key == status_key(cluster_)) {
        auto s = parse_status(kv.value_json);
        if (s.is_ok()) snap.status = std::move(*s);
        // An unparsable status is overwritten by the coordinator (CAS on
        // its revision): keep the revision either way.
        snap.status_revision = kv.mod_revision;
        if (!s.is_ok()) log()->warn("status does not parse: {}", s.status().message());
      } else if (kv.key == leader_key(cluster_)) {
        auto l = parse_leader(kv.value_json);
        if (l.is_ok()) snap.leader = std::move(*l);
        snap.leader_revision = kv.mod_revision;
        snap.leader_lease = kv.lease;
      } else if (kv.key.rfind(members, 0) == 0) {
        auto o = parse_observation(kv.value_json);
        if (o.is_ok()) snap.members[o->member] = std::move(*o);
      }
    }
    if (!page->more || page->keys.empty()) break;
    after = page->keys.back().key;
  }
  return snap;
}

Result<api::LeaseInfo> Store::grant_lease(uint64_t ttl_seconds) {
  return client_->lease_grant(ttl_seconds);
}

Status Store::revoke_lease(uint64_t lease) {
  return client_->lease_revoke(lease);
}

Status Store::put_member(const Observation& o, uint64_t lease) {
  auto r = client_->put_key(member_key(cluster_, o.member), to_json(o), std::nullopt, lease);
  return r.status();
}

Result<bool> Store::acquire_leader(const ClusterSnapshot& snap, const LeaderRecord& me,
                                   uint64_t lease) {
  if (snap.leader_revision != 0) {
    return snap.leader && snap.leader->member == me.member && snap.leader_lease == lease;
  }
  auto r = client_->put_key(leader_key(cluster_), to_json(me), 0, lease);
  if (!r.is_ok()) return r.status();
  if (r->succeeded) log()->info("{} is the coordinator of cluster {}", me.member, cluster_);
  return r->succeeded;
}

Result<bool> Store::write_status(const ClusterSnapshot& snap, const ClusterStatus& status) {
  api::TxnRequest req;
  // Not tagged like an event: the history (tag pgha:<cluster>) holds Events only.
  req.change.data_json = "{\"generation\":" + std::to_string(status.generation) + "}";
  req.change.tags = {"pgha-status"};
  req.compares.push_back({status_key(cluster_), snap.status_revision});
  req.compares.push_back({leader_key(cluster_), snap.leader_revision});
  api::TxnOp op;
  op.key = status_key(cluster_);
  op.value_json = to_json(status);
  req.ops.push_back(std::move(op));
  auto r = client_->txn(req);
  if (!r.is_ok()) return r.status();
  return r->succeeded;
}

Result<bool> Store::put_desired_if_absent(const Desired& d) {
  if (auto v = validate_desired(d); !v.is_ok()) return v;
  auto r = client_->put_key(desired_key(cluster_), to_json(d), 0);
  if (!r.is_ok()) return r.status();
  return r->succeeded;
}

}  // namespace pgha::agent
