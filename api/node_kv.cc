// Keys, transactions and leases on the node: the state view applied from
// the log, the leader's compare-and-set pre-check, and lease expiry decided
// by the leader and committed through the log (so every node agrees).
#include <boost/asio/post.hpp>

#include "api/cursors.h"
#include "api/node_impl.h"

namespace api {

namespace asio = boost::asio;
using PbChange = changeagent::peer::Change;
using changeagent::peer::PeerFrame;

namespace {

Status check_key(const std::string& key) {
  if (key.empty()) return Status(Code::kInvalidArgument, "key is empty");
  if (key.size() > kKeyBytesMax) {
    return Status(Code::kInvalidArgument, "key is " + std::to_string(key.size()) +
                                              " bytes; the limit is " +
                                              std::to_string(kKeyBytesMax));
  }
  if (key.find('\0') != std::string::npos)
    return Status(Code::kInvalidArgument, "key contains NUL");
  return Status::ok();
}

KeyValue to_key_value(const std::string& key, const state::KeyRecord& r) {
  return KeyValue{key, r.value_json, r.create_revision, r.mod_revision, r.version, r.lease};
}

}  // namespace

state::Command command_of(const PbChange& c) {
  state::Command cmd;
  for (const auto& cmp : c.txn().compares())
    cmd.compares.push_back({cmp.key(), cmp.mod_revision()});
  for (const auto& op : c.txn().ops()) {
    cmd.ops.push_back(state::Op{op.key(), op.delete_(), op.value_json(), op.lease()});
  }
  if (c.has_lease_grant()) cmd.lease_grant_ttl_seconds = c.lease_grant().ttl_seconds();
  cmd.lease_revoke = c.lease_revoke();
  cmd.ts_ns = c.ts_ns();
  if (!c.request_id().empty()) {
    cmd.request = state::RequestTag{c.request_id(), c.request_hash(), c.request_seq(),
                                    std::max<uint32_t>(1, c.request_count())};
  }
  return cmd;
}

Status Node::Impl::load_state() {
  Status s = store->scan_state(
      [this](const std::string& k, const std::string& v) { return view.load_row(k, v); });
  if (!s.is_ok()) return s;
  view.set_last_index(applied.value());
  return Status::ok();
}

state::ApplyResult Node::Impl::apply_to_view(const raftlog::Entry& e) {
  state::ApplyResult none;
  if (e.type != raftlog::EntryType::kNormal || e.data.empty()) return none;
  auto c = decode_change(e.data);
  if (!c.is_ok()) return none;
  if (!c->has_txn() && !c->has_lease_grant() && c->lease_revoke() == 0 && c->request_id().empty()) {
    return none;
  }
  std::vector<state::Row> rows;
  state::ApplyResult r = view.apply(e.index.value(), command_of(*c), &rows);
  for (auto& row : rows) pending_rows.push_back(std::move(row));
  for (const auto& op : c->txn().ops()) {
    if (op.key().starts_with(kConfigKeyPrefix)) config_touched = true;
    auto it = spec.find(op.key());
    if (it != spec.end() && it->second.second <= e.index) spec.erase(it);
  }
  if (!c->request_id().empty()) {
    // Applied: the view's table answers for this id from now on.
    auto it = request_spec.find(c->request_id());
    if (it != request_spec.end() && it->second.first + (it->second.count - 1) <= e.index) {
      request_spec.erase(it);
    }
  }
  if (core->role() == raftlog::Role::kLeader) {
    if (c->has_lease_grant() && r.outcome == state::Outcome::kApplied) {
      lease_expiry[e.index.value()] =
          Clock::now() + std::chrono::seconds(c->lease_grant().ttl_seconds());
    }
    if (c->lease_revoke() != 0) {
      lease_expiry.erase(c->lease_revoke());
      revoking.erase(c->lease_revoke());
    }
  }
  return r;
}

// Revision a key will have once everything this leader proposed applies.
bool Node::Impl::precheck(const PbChange& c, std::vector<TxnCompare>* current) const {
  bool ok = true;
  std::vector<TxnCompare> now;
  for (const auto& cmp : c.txn().compares()) {
    uint64_t rev = 0;
    if (auto it = spec.find(cmp.key()); it != spec.end()) {
      rev = it->second.first;
    } else if (const state::KeyRecord* r = view.get(cmp.key())) {
      rev = r->mod_revision;
    }
    now.push_back(TxnCompare{cmp.key(), rev});
    if (rev != cmp.mod_revision()) ok = false;
  }
  if (!ok && current) *current = std::move(now);
  return ok;
}

void Node::Impl::record_spec(const PbChange& c, Index at) {
  for (const auto& op : c.txn().ops()) spec[op.key()] = {op.delete_() ? 0 : at.value(), at};
}

void Node::Impl::on_became_leader() {
  // A previous leader's entries we have not applied may change the config
  // (node_impl.h, config_fence); cheaper than decoding them to find out.
  config_fence = std::max(config_fence, core->last_index());
  // Rebuild the pre-check overlay from our log past what we applied: those
  // entries (ours or a previous leader's) will apply before anything new.
  spec.clear();
  request_spec.clear();
  for (Index i = applied + 1; i <= core->last_index(); ++i) {
    auto ents = store->entries(i, i + 1, 1 << 20);
    if (!ents.is_ok() || ents->empty()) break;  // not durable yet: no txn of ours there
    const auto& e = ents->front();
    if (e.type != raftlog::EntryType::kNormal || e.data.empty()) continue;
    auto c = decode_change(e.data);
    if (!c.is_ok()) continue;
    record_spec(*c, e.index);
    // A request id first seen in this unapplied tail is the original apply
    // will keep; one already known (table or earlier in the tail) is a
    // duplicate apply will hide, so it must not become the original here.
    if (!c->request_id().empty() && c->request_seq() == 0 &&
        view.request(c->request_id(), c->ts_ns()) == nullptr &&
        request_spec.count(c->request_id()) == 0) {
      record_request_spec(*c, e.index, e.term);
    }
  }
  auto now = Clock::now();
  lease_expiry.clear();
  revoking.clear();
  for (const auto& [id, l] : view.leases()) {
    lease_expiry[id] = now + std::chrono::seconds(l.ttl_seconds);
  }
}

void Node::Impl::on_lost_leadership() {
  spec.clear();
  request_spec.clear();
  lease_expiry.clear();
  revoking.clear();
}

void Node::Impl::tick_leases(Clock::time_point now) {
  if (core->role() != raftlog::Role::kLeader) return;
  for (const auto& [id, when] : lease_expiry) {
    if (when > now || revoking.count(id)) continue;
    std::vector<std::string> payloads{revoke_payload(id)};
    auto p = propose_here(payloads, nullptr);
    if (!p.is_ok()) return;  // busy or no longer leader: next tick
    revoking.insert(id);
    log->info("lease {} expired; revoking it and its {} keys", id,
              view.lease(id) ? view.lease(id)->keys.size() : 0);
  }
}

std::string Node::Impl::revoke_payload(uint64_t id) const {
  PbChange c;
  c.set_internal(true);
  c.set_lease_revoke(id);
  if (const state::LeaseRecord* l = view.lease(id)) {
    for (const auto& key : l->keys) {
      auto* op = c.mutable_txn()->add_ops();
      op->set_key(key);
      op->set_delete_(true);
    }
  }
  return c.SerializeAsString();
}

LeaseInfo Node::Impl::lease_info(uint64_t id, Clock::time_point now) const {
  LeaseInfo info;
  info.id = id;
  info.remaining_ms = -1;
  if (const state::LeaseRecord* l = view.lease(id)) {
    info.ttl_seconds = l->ttl_seconds;
    info.keys.assign(l->keys.begin(), l->keys.end());
  }
  if (auto it = lease_expiry.find(id); it != lease_expiry.end()) {
    info.remaining_ms = std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(it->second - now).count());
  }
  return info;
}

// Keepalive and remaining-time queries are answered by the leader, which
// alone tracks expiry; a follower forwards them over the peer connection.
void Node::Impl::lease_op(uint64_t id, bool keepalive, Service::LeaseDone done) {
  auto now = Clock::now();
  // Whatever this node has applied, its client has seen: a lease whose grant
  // index we applied but which is gone here was revoked (or never existed),
  // even if the leader has not applied the revoke yet.
  if (Index(id) <= applied && view.lease(id) == nullptr) {
    done(
        Status(Code::kNotFound, "lease " + std::to_string(id) + " not found (expired or revoked)"));
    return;
  }
  if (core->role() == raftlog::Role::kLeader) {
    const state::LeaseRecord* l = view.lease(id);
    if (l == nullptr || revoking.count(id)) {
      done(Status(Code::kNotFound,
                  "lease " + std::to_string(id) + " not found (expired or revoked)"));
      return;
    }
    if (keepalive) lease_expiry[id] = now + std::chrono::seconds(l->ttl_seconds);
    done(lease_info(id, now));
    return;
  }
  NodeId leader = core->leader();
  if (leader == raftlog::kNoNode) {
    done(Status(Code::kUnavailable, "no leader to renew the lease; retry"));
    return;
  }
  uint64_t rid = next_lease_request++;
  PeerFrame f;
  auto* req = f.mutable_lease_request();
  req->set_request_id(rid);
  req->set_lease_id(id);
  req->set_keepalive(keepalive);
  lease_requests.emplace(rid, LeaseWait{id, std::move(done), now + opts.leader_wait});
  transport->send(leader, std::move(f));
}

void Node::Impl::on_lease_request(NodeId from, const changeagent::peer::LeaseRequest& req) {
  uint64_t rid = req.request_id();
  auto reply = [this, from, rid](Result<LeaseInfo> r) {
    PeerFrame f;
    auto* resp = f.mutable_lease_response();
    resp->set_request_id(rid);
    if (r.is_ok()) {
      resp->set_ttl_seconds(r->ttl_seconds);
      resp->set_remaining_ms(r->remaining_ms);
    } else {
      resp->set_code(static_cast<uint32_t>(r.status().code()));
      resp->set_error(r.status().message());
    }
    transport->send(from, std::move(f));
  };
  if (core->role() != raftlog::Role::kLeader) {
    reply(Status(Code::kUnavailable, "not the leader; retry"));
    return;
  }
  lease_op(req.lease_id(), req.keepalive(), reply);
}

void Node::Impl::on_lease_response(const changeagent::peer::LeaseResponse& resp) {
  auto it = lease_requests.find(resp.request_id());
  if (it == lease_requests.end()) return;
  auto done = std::move(it->second.done);
  uint64_t it_id = it->second.lease_id;
  lease_requests.erase(it);
  if (resp.code() != 0) {
    done(Status(static_cast<Code>(resp.code()), resp.error()));
    return;
  }
  LeaseInfo info;
  info.id = it_id;
  info.ttl_seconds = resp.ttl_seconds();
  info.remaining_ms = resp.remaining_ms();
  done(std::move(info));
}

// ------------------------------------------------------------------ Service

void Node::txn(TxnRequest req, bool wait, TxnDone done) {
  if (req.ops.empty()) {
    done(Status(Code::kInvalidArgument, "a transaction needs at least one op"));
    return;
  }
  if (!req.change.request_id.empty()) {
    // Not yet: a key write's retry would need its TxnResult replayed too.
    done(Status(Code::kInvalidArgument, "request ids are not supported on key writes yet"));
    return;
  }
  PbChange c;
  c.set_type(req.change.type);
  c.set_internal(req.internal);
  for (const auto& t : req.change.tags) c.add_tags(t);
  c.set_data_json(req.change.data_json);
  std::set<std::string> seen;
  for (const auto& cmp : req.compares) {
    if (Status s = check_key(cmp.key); !s.is_ok()) return done(s);
    auto* pc = c.mutable_txn()->add_compares();
    pc->set_key(cmp.key);
    pc->set_mod_revision(cmp.mod_revision);
  }
  for (const auto& op : req.ops) {
    if (Status s = check_key(op.key); !s.is_ok()) return done(s);
    if (!seen.insert(op.key).second) {
      return done(Status(Code::kInvalidArgument, "key " + op.key + " is written twice"));
    }
    auto* po = c.mutable_txn()->add_ops();
    po->set_key(op.key);
    po->set_delete_(op.del);
    po->set_value_json(op.value_json);
    po->set_lease(op.lease);
  }
  auto shared = std::make_shared<TxnDone>(std::move(done));
  QueuedAppend q;
  q.payloads.push_back(c.SerializeAsString());
  q.wait = wait;
  q.done = [shared](Result<std::vector<Appended>> r) {
    if (!r.is_ok()) return (*shared)(r.status());
    TxnResult t;  // wait=false: accepted, outcome not known yet
    t.succeeded = true;
    t.id = r->front().id;
    t.ts_ns = r->front().ts_ns;
    (*shared)(t);
  };
  q.on_applied = [shared](const raftlog::Entry& e, const state::ApplyResult& r) {
    TxnResult t;
    if (r.outcome == state::Outcome::kUnknownLease) {
      return (*shared)(Status(Code::kNotFound, "a put names a lease that does not exist"));
    }
    t.succeeded = r.outcome == state::Outcome::kApplied;
    t.id = e.index.value();
    auto c = decode_change(e.data);
    t.ts_ns = c.is_ok() ? c->ts_ns() : 0;
    for (const auto& cur : r.current) t.current.push_back(TxnCompare{cur.key, cur.mod_revision});
    (*shared)(t);
  };
  q.on_conflict = [shared](std::vector<TxnCompare> current) {
    TxnResult t;
    t.current = std::move(current);
    (*shared)(t);
  };
  impl_->enqueue(std::move(q));
}

Result<KeyValue> Node::get_key(const std::string& key) {
  if (Status s = check_key(key); !s.is_ok()) return s;
  const state::KeyRecord* r = impl_->view.get(key);
  if (r == nullptr) return Status(Code::kNotFound, "no key " + key);
  return to_key_value(key, *r);
}

Result<KeyPage> Node::list_keys(const std::string& prefix, const std::string& after,
                                uint32_t limit) {
  KeyPage page;
  page.revision = impl_->applied.value();
  for (auto& [k, r] : impl_->view.range(prefix, after, limit, &page.more)) {
    page.keys.push_back(to_key_value(k, r));
  }
  return page;
}

void Node::lease_grant(uint64_t ttl_seconds, LeaseDone done) {
  if (ttl_seconds < kLeaseTtlSecondsMin || ttl_seconds > kLeaseTtlSecondsMax) {
    done(Status(Code::kInvalidArgument, "ttl must be within [" +
                                            std::to_string(kLeaseTtlSecondsMin) + ", " +
                                            std::to_string(kLeaseTtlSecondsMax) + "] seconds"));
    return;
  }
  PbChange c;
  c.set_internal(true);
  c.mutable_lease_grant()->set_ttl_seconds(ttl_seconds);
  auto shared = std::make_shared<LeaseDone>(std::move(done));
  QueuedAppend q;
  q.payloads.push_back(c.SerializeAsString());
  q.done = [shared](Result<std::vector<Appended>> r) {
    if (!r.is_ok()) (*shared)(r.status());
  };
  q.on_applied = [shared, ttl_seconds](const raftlog::Entry& e, const state::ApplyResult&) {
    LeaseInfo info;
    info.id = e.index.value();
    info.ttl_seconds = ttl_seconds;
    info.remaining_ms = static_cast<int64_t>(ttl_seconds) * 1000;
    (*shared)(info);
  };
  impl_->enqueue(std::move(q));
}

void Node::lease_revoke(uint64_t id, std::function<void(Status)> done) {
  if (impl_->view.lease(id) == nullptr) {
    done(Status(Code::kNotFound, "lease " + std::to_string(id) + " not found"));
    return;
  }
  auto shared = std::make_shared<std::function<void(Status)>>(std::move(done));
  QueuedAppend q;
  q.payloads.push_back(impl_->revoke_payload(id));
  q.done = [shared](Result<std::vector<Appended>> r) {
    if (!r.is_ok()) (*shared)(r.status());
  };
  q.on_applied = [shared, id](const raftlog::Entry&, const state::ApplyResult& r) {
    (*shared)(r.outcome == state::Outcome::kApplied
                  ? Status::ok()
                  : Status(Code::kNotFound, "lease " + std::to_string(id) + " not found"));
  };
  impl_->enqueue(std::move(q));
}

void Node::lease_keepalive(uint64_t id, LeaseDone done) {
  impl_->lease_op(id, true, std::move(done));
}

void Node::lease_get(uint64_t id, LeaseDone done) {
  Impl& s = *impl_;
  if (s.core->role() != raftlog::Role::kLeader && s.core->leader() == raftlog::kNoNode) {
    // No leader to ask for the remaining time: answer what we know locally.
    const state::LeaseRecord* l = s.view.lease(id);
    if (l == nullptr)
      return done(Status(Code::kNotFound, "lease " + std::to_string(id) + " not found"));
    return done(s.lease_info(id, Clock::now()));
  }
  auto local = s.lease_info(id, Clock::now());
  s.lease_op(id, false, [done = std::move(done), local](Result<LeaseInfo> r) {
    if (!r.is_ok()) return done(r.status());
    LeaseInfo info = local;  // keys from our view, time from the leader
    info.ttl_seconds = r->ttl_seconds;
    info.remaining_ms = r->remaining_ms;
    done(info);
  });
}

}  // namespace api
