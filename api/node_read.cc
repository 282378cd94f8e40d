// Reads: the feed from the local committed log, long-poll waiters,
// ReadIndex barriers, and the cluster/diagnostics/health/metrics views.
#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstdio>

#include "api/node_impl.h"

namespace api {

namespace asio = boost::asio;

namespace {

// Entries read from RocksDB per step of a feed scan: the first step is
// sized by the page limit (a limit=1 poll must not read megabytes), later
// steps grow when filters skip most entries.
constexpr uint64_t kScanBytesMax = 4 << 20;
constexpr uint64_t kScanBytesPerChange = 512;
constexpr uint64_t kScanBytesMin = 4 << 10;

bool matches_prefix(const changeagent::peer::Change& c, const std::string& prefix) {
  if (prefix.empty()) return true;
  for (const auto& op : c.txn().ops()) {
    if (op.key().compare(0, prefix.size(), prefix) == 0) return true;
  }
  return false;
}

bool matches_tags(const changeagent::peer::Change& c, const std::vector<std::string>& tags) {
  if (tags.empty()) return true;
  for (const auto& want : tags) {
    for (const auto& have : c.tags()) {
      if (have == want) return true;
    }
  }
  return false;
}

Change to_change(uint64_t id, const changeagent::peer::Change& c) {
  Change out;
  out.id = id;
  out.ts_ns = c.ts_ns();
  out.type = c.type();
  out.tags.assign(c.tags().begin(), c.tags().end());
  out.data_json = c.data_json();
  out.internal = c.internal();
  for (const auto& op : c.txn().ops()) {
    TxnOp o;
    o.key = op.key();
    o.del = op.delete_();
    o.lease = op.lease();
    out.ops.push_back(std::move(o));
  }
  return out;
}

// The stamp of the first stamped entry in [from, end) and its index, or
// nullopt if none is (no-ops and membership entries carry no stamp).
Result<std::optional<std::pair<Index, uint64_t>>> first_stamp(storage::Store& store, Index from,
                                                              Index end) {
  while (from < end) {
    auto ents = store.entries(from, end, kScanBytesMin);
    if (!ents.is_ok()) return ents.status();
    if (ents->empty()) break;
    for (const auto& e : *ents) {
      from = e.index + 1;
      if (e.type != raftlog::EntryType::kNormal || e.data.empty()) continue;
      auto c = decode_change(e.data);
      if (!c.is_ok()) return c.status();
      return std::optional<std::pair<Index, uint64_t>>(std::make_pair(e.index, c->ts_ns()));
    }
  }
  return std::optional<std::pair<Index, uint64_t>>();
}

}  // namespace

// The exclusive `since` at which every later stamped entry is at or after
// ts_ns: a binary search over [first, applied], O(log n) entry reads (each
// probe reads forward past unstamped entries, which are rare).
Result<uint64_t> since_for_time(storage::Store& store, Index first, Index applied, uint64_t ts_ns) {
  Index lo = first, hi = applied + 1;
  while (lo < hi) {
    Index mid = lo + (hi.value() - lo.value()) / 2;
    auto probe = first_stamp(store, mid, hi);
    if (!probe.is_ok()) return probe.status();
    if (!*probe || (*probe)->second >= ts_ns) {
      hi = mid;  // everything stamped in [mid, hi) is at or after ts_ns
    } else {
      lo = (*probe)->first + 1;
    }
  }
  return lo.value() - 1;
}

Result<FeedPage> Node::read_feed(const FeedQuery& query) {
  Impl& s = *impl_;
  FeedPage page;
  Index first = s.store->first_index();
  Index applied = s.applied;
  page.first_index = first.value();
  page.last_index = applied.value();
  FeedQuery q = query;
  if (q.since_time_ns) {
    auto since = since_for_time(*s.store, first, applied, *q.since_time_ns);
    if (!since.is_ok()) return since.status();
    q.since = *since;
  }
  page.since = q.since;
  if (q.since + 1 < first.value() && first > Index(1)) {
    return Status(Code::kCompacted, "since " + std::to_string(q.since) +
                                        " is below the first retained index " +
                                        std::to_string(first.value()));
  }
  page.at_start = q.since < first.value();
  Index lo = std::max(Index(q.since + 1), first);
  Index scanned = Index(q.since);
  uint64_t step_bytes =
      std::clamp<uint64_t>(uint64_t(q.limit) * kScanBytesPerChange, kScanBytesMin, kScanBytesMax);
  while (lo <= applied && page.changes.size() < q.limit) {
    auto ents = s.store->entries(lo, applied + 1, step_bytes);
    step_bytes = std::min(step_bytes * 4, kScanBytesMax);
    if (!ents.is_ok()) return ents.status();
    if (ents->empty()) break;
    for (const auto& e : *ents) {
      scanned = e.index;
      if (e.type != raftlog::EntryType::kNormal || e.data.empty()) continue;
      auto c = decode_change(e.data);
      if (!c.is_ok()) return c.status();
      // A change whose compare failed was never applied: not in the feed.
      if (s.view.failed(e.index.value())) continue;
      if (c->internal() && !q.include_internal) continue;
      if (!matches_tags(*c, q.tags) || !matches_prefix(*c, q.prefix)) continue;
      page.changes.push_back(to_change(e.index.value(), *c));
      if (page.changes.size() >= q.limit) break;
    }
    lo = scanned + 1;
  }
  page.at_end = scanned >= applied || lo > applied;
  page.scanned = std::max(scanned.value(), q.since);
  return page;
}

Result<Change> Node::read_change(uint64_t id) {
  Impl& s = *impl_;
  Index i(id);
  if (id == 0 || i > s.applied) return Status(Code::kNotFound, "no change " + std::to_string(id));
  if (i < s.store->first_index()) {
    return Status(Code::kCompacted, "change " + std::to_string(id) + " was compacted");
  }
  auto ents = s.store->entries(i, i + 1, kScanBytesMax);
  if (!ents.is_ok()) return ents.status();
  if (ents->empty()) return Status(Code::kNotFound, "no change " + std::to_string(id));
  const auto& e = ents->front();
  if (e.type != raftlog::EntryType::kNormal || e.data.empty()) {
    return Status(Code::kNotFound, "index " + std::to_string(id) + " is an internal entry");
  }
  auto c = decode_change(e.data);
  if (!c.is_ok()) return c.status();
  if (s.view.failed(id)) {
    return Status(Code::kNotFound,
                  "index " + std::to_string(id) + " holds a change whose compare failed");
  }
  return to_change(id, *c);
}

void Node::wait_applied(uint64_t after, std::chrono::steady_clock::time_point deadline,
                        std::function<void()> wake) {
  Impl& s = *impl_;
  if (s.applied > Index(after) || s.stopping || Clock::now() >= deadline) {
    asio::post(s.io, std::move(wake));
    return;
  }
  s.waiters.emplace(Index(after), Waiter{deadline, std::move(wake)});
}

void Node::Impl::wake_waiters() {
  while (!waiters.empty() && waiters.begin()->first < applied) {
    auto w = std::move(waiters.begin()->second.wake);
    waiters.erase(waiters.begin());
    w();
  }
}

void Node::read_barrier(std::function<void(Status)> done) {
  Impl& s = *impl_;
  std::string ctx = "r" + std::to_string(s.next_read_id++);
  Status st = s.core->read_index(ctx);
  if (!st.is_ok()) {
    done(Status(Code::kUnavailable, "no leader to confirm a consistent read; retry"));
    return;
  }
  s.reads.emplace(ctx,
                  PendingRead{std::move(done), Clock::now() + s.opts.leader_wait, Index(0), false});
  s.schedule_ready();
}

void Node::Impl::on_read_state(const raftlog::ReadState& rs) {
  auto it = reads.find(rs.context);
  if (it == reads.end()) return;
  it->second.index = rs.index;
  it->second.confirmed = true;
}

// A ReadIndex request in flight to a leader that is gone will never be
// confirmed: say so now (the client retries) instead of at the deadline.
void Node::Impl::abandon_unconfirmed_reads() {
  for (auto it = reads.begin(); it != reads.end();) {
    if (it->second.confirmed) {
      ++it;
      continue;
    }
    auto done = std::move(it->second.done);
    it = reads.erase(it);
    done(Status(Code::kUnavailable, "the leader changed before the read was confirmed; retry"));
  }
}

void Node::Impl::finish_reads() {
  for (auto it = reads.begin(); it != reads.end();) {
    if (it->second.confirmed && applied >= it->second.index) {
      auto done = std::move(it->second.done);
      it = reads.erase(it);
      done(Status::ok());
    } else {
      ++it;
    }
  }
}

ClusterView Node::cluster() {
  Impl& s = *impl_;
  ClusterView v;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(s.cluster_id.value()));
  v.cluster_id = buf;
  v.leader_id = s.core->leader().value();
  for (const auto& [id, m] : s.core->membership().members) {
    MemberAddress a = decode_member_address(m.address);
    if (id == s.self) {
      a.client = s.opts.client_url;
    } else if (auto it = s.peer_client_urls.find(id); it != s.peer_client_urls.end()) {
      a.client = it->second;
    }
    v.members.push_back(MemberView{id.value(), a.name, a.peer, a.client, m.learner});
  }
  return v;
}

RaftDiagnostics Node::diagnostics() {
  Impl& s = *impl_;
  auto st = s.core->status();
  RaftDiagnostics d;
  d.id = s.self.value();
  d.name = s.opts.name;
  d.state = raftlog::role_name(st.role);
  d.leader = st.leader.value();
  d.term = st.hard_state.term.value();
  d.first_index = st.first_index.value();
  d.last_index = st.last_index.value();
  d.applied_index = st.applied.value();
  d.committed_index = st.hard_state.commit.value();
  d.stable_index = st.stable_index.value();
  for (const auto& [id, pr] : st.progress) {
    if (id == s.self) continue;
    PeerDiagnostics p;
    p.id = id.value();
    p.match = pr.match.value();
    p.next = pr.next.value();
    p.state = pr.state == raftlog::Progress::State::kProbe       ? "probe"
              : pr.state == raftlog::Progress::State::kReplicate ? "replicate"
                                                                 : "snapshot";
    p.connected = s.transport->connected(id);
    d.peers.push_back(p);
  }
  s.snapshot_views(d.snapshot_transfers);
  for (const auto& c : s.transport->connections()) {
    ConnectionDiagnostics cd;
    cd.inbound = c.inbound;
    cd.peer = c.peer.value();
    cd.remote = c.remote;
    cd.stage = c.stage;
    cd.in_stage_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(c.in_stage).count());
    cd.frames = c.frames;
    cd.queued = c.queued;
    d.connections.push_back(std::move(cd));
  }
  return d;
}

HealthView Node::health() {
  Impl& s = *impl_;
  HealthView h;
  h.marked_down = s.marked_down;
  h.has_leader = s.core->leader() != raftlog::kNoNode && !s.failed;
  if (s.failed) {
    h.reason = "storage failed";
  } else if (s.marked_down) {
    h.reason = "marked down by an operator";
  } else if (!h.has_leader) {
    h.reason = "no leader";
  }
  return h;
}

void Node::set_marked_down(bool down) {
  impl_->marked_down = down;
}

std::string Node::metrics_text() {
  Impl& s = *impl_;
  std::string out;
  render_counter(out, "changeagent_proposals_total", "Changes proposed by this node as leader.",
                 s.proposals_total.value());
  render_counter(out, "changeagent_entries_applied_total", "Log entries applied on this node.",
                 s.entries_applied_total.value());
  render_counter(out, "changeagent_leader_changes_total", "Times the known leader changed.",
                 s.leader_changes_total.value());
  render_counter(out, "changeagent_forwards_total", "Appends forwarded to the leader.",
                 s.forwards_total.value());
  render_counter(out, "changeagent_appends_failed_total",
                 "Appends whose entry was overwritten by another leader.",
                 s.appends_failed_total.value());
  render_counter(out, "changeagent_fsyncs_total", "Synced log writes.", s.fsyncs_total.value());
  s.fsync_seconds.render(out, "changeagent_fsync_seconds", "Latency of synced Ready persists.");
  auto st = s.core->status();
  render_gauge(out, "changeagent_is_leader", "1 if this node is the leader.",
               st.role == raftlog::Role::kLeader ? 1 : 0);
  render_gauge(out, "changeagent_term", "Current Raft term.",
               static_cast<int64_t>(st.hard_state.term.value()));
  render_gauge(out, "changeagent_commit_index", "Commit index.",
               static_cast<int64_t>(st.hard_state.commit.value()));
  render_gauge(out, "changeagent_applied_index", "Applied index.",
               static_cast<int64_t>(st.applied.value()));
  render_gauge(out, "changeagent_longpoll_waiters", "Long-poll requests waiting for a change.",
               static_cast<int64_t>(s.waiters.size()));
  render_gauge(out, "changeagent_pending_appends", "Appends waiting to commit.",
               static_cast<int64_t>(s.pending.size() + s.forwarded.size()));
  s.render_retention_metrics(out);
  return out;
}

}  // namespace api
