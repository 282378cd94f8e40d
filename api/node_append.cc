// Appends: proposals on the leader, forwarding from followers over the peer
// connection, and completing each append once this node applied it.
//
// Outcome rules (what a client may conclude):
//   201/200  the entries are committed and applied on the node that answered.
//   503      certainly not appended (no leader, or our entry was overwritten
//            at its index by another leader's entry): safe to retry.
//   504      outcome unknown (deadline passed while in flight).
#include <boost/asio/post.hpp>

#include "api/node_impl.h"

namespace api {

namespace asio = boost::asio;
using changeagent::peer::ForwardRequest;
using changeagent::peer::ForwardResponse;
using changeagent::peer::PeerFrame;

namespace {

uint64_t wall_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// FNV-1a over a request's changes, length-prefixed so that field
// boundaries count: the fingerprint a retry's body must match. Computed on
// the node the client called and carried in the entries, so every node
// compares the same number.
uint64_t request_hash(const std::vector<ChangeInput>& changes) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view bytes) {
    for (unsigned char ch : bytes) {
      h ^= ch;
      h *= 1099511628211ull;
    }
  };
  auto mix_u64 = [&mix](uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; i++) b[i] = static_cast<char>(v >> (8 * i));
    mix(std::string_view(b, 8));
  };
  mix_u64(changes.size());
  for (const auto& c : changes) {
    mix_u64(c.type);
    mix_u64(c.tags.size());
    for (const auto& t : c.tags) {
      mix_u64(t.size());
      mix(t);
    }
    mix_u64(c.data_json.size());
    mix(c.data_json);
  }
  return h;
}

// What a client gets for entries [p.first, p.first + n): ids and stamps.
std::vector<Appended> appended_of(const PendingAppend& p) {
  std::vector<Appended> out;
  for (size_t i = 0; i < p.ts_ns.size(); i++) {
    out.push_back({(p.first + i).value(), p.ts_ns[i], p.duplicate});
  }
  return out;
}

}  // namespace

std::string encode_change(const ChangeInput& in, uint64_t ts_ns) {
  changeagent::peer::Change c;
  c.set_ts_ns(ts_ns);
  c.set_type(in.type);
  for (const auto& t : in.tags) c.add_tags(t);
  c.set_data_json(in.data_json);
  if (!in.request_id.empty()) c.set_request_id(in.request_id);
  return c.SerializeAsString();
}

Result<changeagent::peer::Change> decode_change(const std::string& data) {
  changeagent::peer::Change c;
  if (!c.ParseFromString(data)) return Status(Code::kCorruption, "change payload does not parse");
  return c;
}

void Node::append(std::vector<ChangeInput> changes, bool wait, AppendDone done) {
  if (changes.empty()) {
    done(Status(Code::kInvalidArgument, "no changes to append"));
    return;
  }
  const std::string& rid = changes.front().request_id;
  if (rid.size() > kRequestIdBytesMax) {
    done(Status(Code::kInvalidArgument, "request id is " + std::to_string(rid.size()) +
                                            " bytes; the limit is " +
                                            std::to_string(kRequestIdBytesMax)));
    return;
  }
  for (const auto& c : changes) {
    if (c.request_id != rid) {
      done(Status(Code::kInvalidArgument, "one request id covers a whole append call"));
      return;
    }
  }
  uint64_t hash = rid.empty() ? 0 : request_hash(changes);
  QueuedAppend q;
  q.payloads.reserve(changes.size());
  for (size_t i = 0; i < changes.size(); i++) {
    if (rid.empty()) {
      q.payloads.push_back(encode_change(changes[i], 0));
      continue;
    }
    changeagent::peer::Change c;
    c.set_type(changes[i].type);
    for (const auto& t : changes[i].tags) c.add_tags(t);
    c.set_data_json(changes[i].data_json);
    c.set_request_id(rid);
    c.set_request_hash(hash);
    c.set_request_seq(static_cast<uint32_t>(i));
    c.set_request_count(static_cast<uint32_t>(changes.size()));
    q.payloads.push_back(c.SerializeAsString());
  }
  q.wait = wait;
  q.done = std::move(done);
  impl_->enqueue(std::move(q));
}

void Node::Impl::enqueue(QueuedAppend q) {
  if (failed) {
    q.done(Status(Code::kUnavailable, "node's storage failed; use another node"));
    return;
  }
  if (stopping) {
    q.done(Status(Code::kUnavailable, "node is shutting down"));
    return;
  }
  if (pending.size() + forwarded.size() + waiting_for_leader.size() + duplicates.size() >=
      opts.pending_appends_max) {
    q.done(Status(Code::kBusy, "too many appends in flight; retry later"));
    return;
  }
  auto now = Clock::now();
  q.deadline = now + opts.request_timeout;
  q.leader_wait = now + opts.leader_wait;
  dispatch(std::move(q));
}

void Node::Impl::note_stamps(const std::vector<raftlog::Entry>& ents) {
  for (const auto& e : ents) {
    if (e.type != raftlog::EntryType::kNormal || e.data.empty()) continue;
    auto c = decode_change(e.data);
    if (c.is_ok()) last_ts_ns = std::max(last_ts_ns, c->ts_ns());
  }
}

// Stamps and proposes payloads on this node, which must be the leader.
// Stamps never go below the newest in our log, so _ts never decreases with
// _id even if this leader's clock is behind the previous one's.
Result<PendingAppend> Node::Impl::propose_here(std::vector<std::string>& payloads,
                                               std::vector<TxnCompare>* current) {
  PendingAppend p;
  uint64_t ts = std::max(wall_ns(), last_ts_ns);
  std::vector<std::string> stamped;
  std::vector<changeagent::peer::Change> changes;
  stamped.reserve(payloads.size());
  for (const auto& raw : payloads) {
    auto c = decode_change(raw);
    if (!c.is_ok()) return Status(Code::kInvalidArgument, "forwarded change does not parse");
    if (changes.empty() && !c->request_id().empty()) {
      // A retry is answered with the original: nothing is proposed.
      auto dup = check_request(*c, ts);
      if (!dup.is_ok()) return dup.status();
      if (*dup) return std::move(**dup);
    }
    if (c->has_txn() && !precheck(*c, current)) {
      return Status(Code::kConflict, "revision mismatch");
    }
    c->set_ts_ns(ts);
    stamped.push_back(c->SerializeAsString());
    p.ts_ns.push_back(ts);
    changes.push_back(std::move(*c));
  }
  auto r = core->propose(std::move(stamped));
  if (!r.is_ok()) return r.status();
  last_ts_ns = ts;
  proposals_total.inc(payloads.size());
  p.first = *r - (payloads.size() - 1);
  p.term = core->term();
  for (size_t i = 0; i < changes.size(); i++) {
    record_spec(changes[i], p.first + i);
    for (const auto& op : changes[i].txn().ops()) {
      if (op.key().starts_with("_config/")) config_fence = std::max(config_fence, p.first + i);
    }
  }
  if (!changes.front().request_id().empty()) record_request_spec(changes.front(), p.first, p.term);
  schedule_ready();
  return p;
}

void Node::Impl::dispatch(QueuedAppend q) {
  if (core->role() == raftlog::Role::kLeader) {
    if (!q.validated && validate_first(q)) return;  // proposed once the webhooks accept
    std::vector<TxnCompare> current;
    auto p = propose_here(q.payloads, &current);
    if (!p.is_ok()) {
      if (p.status().code() == Code::kConflict && q.on_conflict) {
        q.on_conflict(std::move(current));
        return;
      }
      q.done(p.status().code() == Code::kNotLeader
                 ? Status(Code::kUnavailable, "leadership changed; retry")
                 : p.status());
      return;
    }
    Index last = p->first + (p->ts_ns.size() - 1);
    p->wait = q.wait;
    p->deadline = q.deadline;
    p->done = std::move(q.done);
    p->on_applied = std::move(q.on_applied);
    if (p->duplicate) {
      track_duplicate(std::move(*p));
      return;
    }
    if (!q.wait) {
      std::vector<Appended> out;
      for (size_t i = 0; i < p->ts_ns.size(); i++)
        out.push_back({(p->first + i).value(), p->ts_ns[i]});
      p->done(std::move(out));
      p->done = nullptr;
      p->on_applied = nullptr;
    }
    pending.emplace(last, std::move(*p));
    return;
  }
  NodeId leader = core->leader();
  if (leader == raftlog::kNoNode) {
    waiting_for_leader.push_back(std::move(q));
    return;
  }
  uint64_t rid = next_request_id++;
  PeerFrame f;
  auto* req = f.mutable_forward_request();
  req->set_request_id(rid);
  for (const auto& pl : q.payloads) req->add_payloads(pl);
  forwards_total.inc();
  q.forwarded_to = leader;
  forwarded.emplace(rid, std::move(q));
  transport->send(leader, std::move(f));
}

void Node::Impl::on_forward_request(NodeId from, const ForwardRequest& req, bool validated) {
  if (!validated && core->role() == raftlog::Role::kLeader && !failed && !stopping &&
      validate_forward_first(from, req)) {
    return;  // answered once the webhooks decided
  }
  PeerFrame f;
  auto* resp = f.mutable_forward_response();
  resp->set_request_id(req.request_id());
  resp->set_leader_id(core->leader().value());
  if (core->role() != raftlog::Role::kLeader || failed || stopping) {
    resp->set_code(static_cast<uint32_t>(Code::kNotLeader));
    resp->set_error("not the leader");
  } else {
    std::vector<std::string> payloads(req.payloads().begin(), req.payloads().end());
    std::vector<TxnCompare> current;
    auto p = propose_here(payloads, &current);
    if (!p.is_ok()) {
      resp->set_code(static_cast<uint32_t>(p.status().code()));
      resp->set_error(p.status().message());
      for (const auto& c : current) {
        auto* pc = resp->add_current();
        pc->set_key(c.key);
        pc->set_mod_revision(c.mod_revision);
      }
    } else {
      resp->set_first_index(p->first.value());
      resp->set_last_index((p->first + (p->ts_ns.size() - 1)).value());
      resp->set_term(p->term.value());
      for (auto ts : p->ts_ns) resp->add_ts_ns(ts);
      resp->set_duplicate(p->duplicate);
    }
  }
  transport->send(from, std::move(f));
}

void Node::Impl::on_forward_response(const ForwardResponse& resp) {
  auto it = forwarded.find(resp.request_id());
  if (it == forwarded.end()) return;  // already timed out
  QueuedAppend q = std::move(it->second);
  forwarded.erase(it);
  if (resp.code() != 0) {
    auto code = static_cast<Code>(resp.code());
    if (code == Code::kNotLeader) {
      // The leader moved on: try again (bounded by the leader wait).
      if (Clock::now() < q.leader_wait) {
        waiting_for_leader.push_back(std::move(q));
        return;
      }
      q.done(Status(Code::kUnavailable, "no leader accepted the change; retry"));
      return;
    }
    if (code == Code::kConflict && q.on_conflict) {
      std::vector<TxnCompare> current;
      for (const auto& c : resp.current()) current.push_back(TxnCompare{c.key(), c.mod_revision()});
      q.on_conflict(std::move(current));
      return;
    }
    q.done(Status(code, resp.error()));
    return;
  }
  PendingAppend p;
  p.first = Index(resp.first_index());
  p.term = Term(resp.term());
  p.ts_ns.assign(resp.ts_ns().begin(), resp.ts_ns().end());
  p.wait = q.wait;
  p.deadline = q.deadline;
  p.done = std::move(q.done);
  p.on_applied = std::move(q.on_applied);
  p.duplicate = resp.duplicate();
  Index last(resp.last_index());
  if (p.duplicate) {
    track_duplicate(std::move(p));
    return;
  }
  if (!q.wait) {
    std::vector<Appended> out;
    for (size_t i = 0; i < p.ts_ns.size(); i++) out.push_back({(p.first + i).value(), p.ts_ns[i]});
    p.done(std::move(out));
    p.done = nullptr;
    p.on_applied = nullptr;
  }
  if (last <= applied) {
    // Applied here before the leader's answer arrived: judge the entry from
    // the log and the state view now, as complete_applied would have.
    auto ents = store->entries(last, last + 1, 1 << 20);
    if (!ents.is_ok() || ents->empty()) {
      if (p.done)
        p.done(Status(Code::kTimeout, "outcome unknown: the entry is no longer readable"));
      return;
    }
    state::ApplyResult r;
    if (view.failed(last.value())) {
      auto c = decode_change(ents->front().data);
      bool revoke = c.is_ok() && c->lease_revoke() != 0;
      bool unknown_lease = false;
      if (c.is_ok()) {
        for (const auto& op : c->txn().ops()) {
          if (!op.delete_() && op.lease() != 0 && view.lease(op.lease()) == nullptr) {
            unknown_lease = true;
          }
        }
      }
      r.outcome =
          revoke || unknown_lease ? state::Outcome::kUnknownLease : state::Outcome::kCompareFailed;
      if (c.is_ok()) {
        for (const auto& cmp : c->txn().compares()) {
          const state::KeyRecord* rec = view.get(cmp.key());
          r.current.push_back(state::Compare{cmp.key(), rec ? rec->mod_revision : 0});
        }
      }
      // A request id hidden as a retry of an earlier entry (see
      // StateView::decide_request): answer with that entry.
      if (c.is_ok() && !c->request_id().empty()) {
        const state::RequestRecord* rec = view.request(c->request_id(), c->ts_ns());
        if (rec != nullptr && rec->first_index + c->request_seq() != last.value()) {
          r.outcome = rec->hash == c->request_hash() ? state::Outcome::kDuplicate
                                                     : state::Outcome::kRequestIdReused;
          r.original = *rec;
        }
      }
    }
    pending.emplace(last, std::move(p));
    complete_applied(ents->front(), r);
    return;
  }
  pending.emplace(last, std::move(p));
}

Result<std::optional<PendingAppend>> Node::Impl::check_request(const changeagent::peer::Change& c,
                                                               uint64_t ts_ns) const {
  std::optional<RequestSpec> found;
  if (auto it = request_spec.find(c.request_id()); it != request_spec.end()) {
    found = it->second;
  } else if (const state::RequestRecord* r = view.request(c.request_id(), ts_ns)) {
    Index last(r->first_index + r->count - 1);
    auto t = store->term(last);
    if (!t.is_ok()) {
      return Status(Code::kUnavailable,
                    "the original of this request id is not readable: " + t.status().to_string());
    }
    found = RequestSpec{Index(r->first_index), r->count, r->ts_ns, r->hash, *t};
  }
  if (!found) return std::optional<PendingAppend>();
  if (found->hash != c.request_hash()) {
    return Status(Code::kConflict, "request id " + c.request_id() +
                                       " was used for a different body at index " +
                                       std::to_string(found->first.value()));
  }
  PendingAppend p;
  p.first = found->first;
  p.term = found->term;
  p.ts_ns.assign(found->count, found->ts_ns);
  p.duplicate = true;
  return std::optional<PendingAppend>(std::move(p));
}

void Node::Impl::record_request_spec(const changeagent::peer::Change& c, Index at, Term term) {
  request_spec[c.request_id()] =
      RequestSpec{at, std::max<uint32_t>(1, c.request_count()), c.ts_ns(), c.request_hash(), term};
}

void Node::Impl::track_duplicate(PendingAppend p) {
  Index last = p.first + (p.ts_ns.size() - 1);
  if (!p.wait) {
    // Accepted before: that is all wait=false promises.
    p.done(appended_of(p));
    return;
  }
  if (last > applied) {
    duplicates.emplace(last, std::move(p));
    return;
  }
  auto t = store->term(last);
  if (t.is_ok() && *t == p.term) {
    p.done(appended_of(p));
  } else {
    p.done(Status(Code::kUnavailable, "the original was overwritten before commit; retry"));
  }
}

// Log terms never decrease along the log: once an entry of term T is applied
// at index i, every later index holds an entry of term >= T. An append this
// node proposed in an older term at a later index can therefore no longer
// commit. Answer it now ("not appended", safe to retry) instead of at its
// deadline: a deposed leader's clients otherwise waited out the whole
// request timeout whenever the new leader's log did not reach their index
// soon (integration FINDINGS F10).
void Node::Impl::fail_overtaken_appends(const raftlog::Entry& e) {
  for (auto it = pending.upper_bound(e.index); it != pending.end();) {
    if (!(it->second.term < e.term)) {
      ++it;
      continue;
    }
    PendingAppend p = std::move(it->second);
    it = pending.erase(it);
    appends_failed_total.inc();
    if (p.done)
      p.done(Status(Code::kUnavailable, "leadership changed before commit; not appended"));
  }
  for (auto it = duplicates.upper_bound(e.index); it != duplicates.end();) {
    if (!(it->second.term < e.term)) {
      ++it;
      continue;
    }
    PendingAppend p = std::move(it->second);
    it = duplicates.erase(it);
    if (p.done) {
      p.done(Status(Code::kUnavailable, "the original was overwritten before commit; retry"));
    }
  }
}

// Called for every applied entry, in index order.
void Node::Impl::complete_applied(const raftlog::Entry& e, const state::ApplyResult& r) {
  if (swept_term < e.term) {
    swept_term = e.term;
    fail_overtaken_appends(e);
  }
  // Retries answered with this original: it is applied here now, unless
  // another leader's entry took its index (then neither was appended).
  auto [lo, hi] = duplicates.equal_range(e.index);
  for (auto d = lo; d != hi; ++d) {
    if (!d->second.done) continue;
    if (e.term != d->second.term) {
      d->second.done(
          Status(Code::kUnavailable, "the original was overwritten before commit; retry"));
    } else {
      d->second.done(appended_of(d->second));
    }
  }
  duplicates.erase(lo, hi);
  auto it = pending.find(e.index);
  if (it == pending.end()) return;
  PendingAppend p = std::move(it->second);
  pending.erase(it);
  if (!p.done) return;  // wait=false: already answered
  if (e.term != p.term) {
    appends_failed_total.inc();
    p.done(Status(Code::kUnavailable, "leadership changed before commit; not appended"));
    return;
  }
  if (p.on_applied) {
    p.on_applied(e, r);
    return;
  }
  if (r.outcome == state::Outcome::kDuplicate && r.original) {
    // A retry that reached the log past the leader's pre-check (a leader
    // change): apply hid it; the client gets the original.
    PendingAppend orig;
    orig.first = Index(r.original->first_index);
    orig.ts_ns.assign(r.original->count, r.original->ts_ns);
    orig.duplicate = true;
    p.done(appended_of(orig));
    return;
  }
  if (r.outcome == state::Outcome::kRequestIdReused) {
    p.done(Status(Code::kConflict, "request id was used for a different body"));
    return;
  }
  p.done(appended_of(p));
}

// The leader we forwarded to is no longer the leader: it may or may not have
// appended the change before it lost leadership, so the honest answer is
// "outcome unknown", given now rather than at the request deadline.
void Node::Impl::abandon_forwards_to_old_leader(NodeId new_leader) {
  for (auto it = forwarded.begin(); it != forwarded.end();) {
    if (it->second.forwarded_to == new_leader) {
      ++it;
      continue;
    }
    auto done = std::move(it->second.done);
    it = forwarded.erase(it);
    done(Status(Code::kTimeout,
                "the leader changed while the change was in flight; it may or may not be "
                "appended"));
  }
}

void Node::Impl::retry_waiting_for_leader() {
  auto queued = std::move(waiting_for_leader);
  waiting_for_leader.clear();
  for (auto& q : queued) dispatch(std::move(q));
}

void Node::Impl::expire_deadlines(Clock::time_point now) {
  for (auto it = pending.begin(); it != pending.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    if (it->second.done) {
      it->second.done(Status(Code::kTimeout,
                             "not committed within the request timeout; the "
                             "change may or may not be appended"));
    }
    it = pending.erase(it);
  }
  for (auto it = duplicates.begin(); it != duplicates.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    if (it->second.done) {
      it->second.done(Status(Code::kTimeout,
                             "the original of this request id was not applied here within the "
                             "request timeout; retry with the same id"));
    }
    it = duplicates.erase(it);
  }
  for (auto it = forwarded.begin(); it != forwarded.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    it->second.done(Status(Code::kTimeout,
                           "the leader did not answer within the request "
                           "timeout; the change may or may not be appended"));
    it = forwarded.erase(it);
  }
  while (!waiting_for_leader.empty() && now >= waiting_for_leader.front().leader_wait) {
    waiting_for_leader.front().done(Status(Code::kUnavailable, "no leader; retry later"));
    waiting_for_leader.pop_front();
  }
  for (auto it = lease_requests.begin(); it != lease_requests.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    auto done = std::move(it->second.done);
    it = lease_requests.erase(it);
    done(Status(Code::kUnavailable, "the leader did not answer the lease request in time"));
  }
  for (auto it = reads.begin(); it != reads.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    it->second.done(Status(Code::kUnavailable, "read could not be confirmed by a quorum in time"));
    it = reads.erase(it);
  }
  if (!waiters.empty()) {
    for (auto it = waiters.begin(); it != waiters.end();) {
      if (now >= it->second.deadline) {
        auto w = std::move(it->second.wake);
        it = waiters.erase(it);
        w();
      } else {
        ++it;
      }
    }
  }
}

}  // namespace api
