// Start-up, bootstrap, the Ready loop, apply, shutdown.
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "api/node_impl.h"
#include "common/assert.h"
#include "proto/codec.h"

namespace api {

namespace asio = boost::asio;
namespace json = boost::json;
using changeagent::peer::PeerFrame;

namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::shared_ptr<spdlog::logger> node_logger() {
  auto l = spdlog::get("node");
  return l ? l : spdlog::default_logger()->clone("node");
}

}  // namespace

NodeId node_id_for(const std::string& name) {
  uint64_t h = fnv1a("node:" + name);
  return NodeId(h == 0 ? 1 : h);
}

raftlog::ClusterId cluster_id_for(const std::vector<PeerSpec>& members, const std::string& token) {
  std::vector<std::string> parts;
  for (const auto& m : members) parts.push_back(m.name + "=" + m.peer_address);
  std::sort(parts.begin(), parts.end());
  std::string all = "cluster:" + token;
  for (const auto& p : parts) all += "," + p;
  uint64_t h = fnv1a(all);
  return raftlog::ClusterId(h == 0 ? 1 : h);
}

std::string encode_member_address(const MemberAddress& a) {
  json::object o;
  o["name"] = a.name;
  o["peer"] = a.peer;
  o["client"] = a.client;
  if (a.auto_promote) o["promote"] = true;
  return json::serialize(o);
}

MemberAddress decode_member_address(const std::string& s) {
  MemberAddress a;
  boost::system::error_code ec;
  auto v = json::parse(s, ec);
  if (ec || !v.is_object()) {
    a.peer = s;  // a bare host:port
    return a;
  }
  auto get = [&](const char* k) {
    auto* p = v.as_object().if_contains(k);
    return p && p->is_string() ? std::string(p->as_string()) : std::string();
  };
  a.name = get("name");
  a.peer = get("peer");
  a.client = get("client");
  auto* promote = v.as_object().if_contains("promote");
  a.auto_promote = promote && promote->is_bool() && promote->as_bool();
  return a;
}

// ------------------------------------------------------------------ start

Result<std::unique_ptr<Node>> Node::start(asio::io_context& io, NodeOptions options) {
  auto impl = std::make_unique<Impl>(io, std::move(options));
  impl->log = node_logger();
  if (impl->opts.name.empty()) return Status(Code::kInvalidArgument, "node name is empty");
  if (impl->opts.advertise_peer.empty()) impl->opts.advertise_peer = impl->opts.peer_listen;
  if (auto s = impl->open_store(); !s.is_ok()) return s;
  if (auto s = impl->start_transport(); !s.is_ok()) return s;
  if (auto s = impl->start_core(); !s.is_ok()) return s;
  impl->writer = std::make_unique<storage::Writer>(impl->store.get());
  impl->start_retention();
  impl->start_snapshot_streams();
  impl->ticker = std::make_unique<asio::steady_timer>(io);
  impl->schedule_tick();
  impl->log->info("node {} ({:016x}) of cluster {:016x} started: {} members, last index {}",
                  impl->opts.name, impl->self.value(), impl->cluster_id.value(),
                  impl->core->membership().members.size(), impl->core->last_index().value());
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

// Opens the store with the identity the flags describe, so that a data dir
// of another cluster, or of another node, is refused by the store's own
// identity check instead of being adopted.
Status Node::Impl::open_store() {
  const bool joining = opts.join_cluster_id != raftlog::ClusterId(0);
  self = joining ? opts.join_node_id : node_id_for(opts.name);
  raftlog::ClusterId expected = joining ? opts.join_cluster_id
                                : opts.initial_cluster.empty()
                                    ? raftlog::ClusterId(0)
                                    : cluster_id_for(opts.initial_cluster, opts.cluster_token);
  storage::OpenOptions so;
  so.dir = opts.data_dir;
  so.create_if_missing = true;
  so.cluster_id = expected;
  so.node_id = self;
  auto st = storage::Store::open(so);
  if (!st.is_ok()) {
    // The flags hint fits an identity mismatch only; a format-version
    // refusal already says how to migrate (changeagent-admin).
    const bool identity = st.status().message().find("format version") == std::string::npos;
    if (st.status().code() == Code::kFailedPrecondition && identity) {
      return Status(Code::kFailedPrecondition,
                    st.status().message() + " -- the flags (--name " + opts.name +
                        ", --initial-cluster, --initial-cluster-token) describe another node or "
                        "cluster than this data dir holds; use the flags it was created with, "
                        "or a fresh --data-dir");
    }
    return st.status();
  }
  store = std::move(*st);
  cluster_id = store->cluster_id();
  const bool empty =
      store->last_index() == Index(0) && store->snapshot().membership.members.empty();
  if (!empty || joining) return Status::ok();
  // A node that joined and has received nothing yet (say it was stopped in
  // the middle of its first snapshot): its store holds the identity it was
  // given; it waits to be contacted again.
  if (store->cluster_id() != raftlog::ClusterId(0) && opts.initial_cluster.empty()) {
    return Status::ok();
  }
  if (opts.initial_cluster.empty()) {
    return Status(Code::kInvalidArgument,
                  "data dir " + opts.data_dir +
                      " holds no cluster: give --initial-cluster to start a new one or --join "
                      "to join an existing one");
  }
  return bootstrap();
}

// A new cluster: the initial configuration as a snapshot at index 0.
Status Node::Impl::bootstrap() {
  raftlog::Membership m;
  bool found = false;
  for (const auto& p : opts.initial_cluster) {
    NodeId id = node_id_for(p.name);
    MemberAddress a{p.name, p.peer_address, p.name == opts.name ? opts.client_url : "", false};
    if (!m.members.emplace(id, raftlog::Member{false, encode_member_address(a)}).second) {
      return Status(Code::kInvalidArgument, "--initial-cluster names " + p.name + " twice");
    }
    found |= p.name == opts.name;
  }
  if (!found) {
    return Status(Code::kInvalidArgument,
                  "--initial-cluster does not list this node's name '" + opts.name + "'");
  }
  storage::PersistBatch b;
  b.snapshot = raftlog::Snapshot{raftlog::SnapshotMeta{Index(0), Term(0), m}, nullptr};
  b.sync = true;
  if (auto s = store->write(b); !s.is_ok()) return s;
  log->info("bootstrapped new cluster {:016x} with {} members", cluster_id.value(),
            m.members.size());
  return Status::ok();
}

Status Node::Impl::start_core() {
  auto boot = store->load_boot();
  if (!boot.is_ok()) return boot.status();
  raftlog::Config cfg;
  cfg.id = self;
  cfg.cluster_id = cluster_id;
  // The state view first: the replicated config in it may set the timeouts.
  if (auto s = load_state(); !s.is_ok()) return s;
  retention_flags = opts.retention;
  refresh_config(true);
  choose_timeouts(cfg, config_at_commit(boot->applied, boot->hard_state.commit));
  cfg.snapshot_lag_entries = opts.snapshot_lag_entries;
  cfg.random_seed = self.value() ^ static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  auto core_r = raftlog::Core::create(cfg, store.get(), *boot);
  if (!core_r.is_ok()) return core_r.status();
  core = std::move(*core_r);
  applied = core->applied();
  applied_persisted = applied;
  view.set_last_index(applied.value());
  sync_peers(core->membership());
  // The newest stamp in the log bounds every stamp we give as leader.
  for (Index i = core->last_index(); i >= store->first_index() && i > Index(0); i = i - 1) {
    auto ents = store->entries(i, i + 1, 1 << 20);
    if (!ents.is_ok() || ents->empty()) break;
    note_stamps(*ents);
    if (last_ts_ns != 0) break;
  }
  return Status::ok();
}

Status Node::Impl::start_transport() {
  auto colon = opts.peer_listen.rfind(':');
  if (colon == std::string::npos) {
    return Status(Code::kInvalidArgument,
                  "peer listen address '" + opts.peer_listen + "' must be host:port");
  }
  TransportOptions to;
  to.cluster_id = cluster_id;
  to.self = self;
  to.self_name = opts.name;
  to.self_client_url = opts.client_url;
  to.self_peer_address = opts.advertise_peer;
  to.tls = opts.peer_tls;
  to.listen_host = opts.peer_listen.substr(0, colon);
  try {
    to.listen_port = static_cast<uint16_t>(std::stoul(opts.peer_listen.substr(colon + 1)));
  } catch (const std::exception&) {
    return Status(Code::kInvalidArgument, "bad port in '" + opts.peer_listen + "'");
  }
  TransportHandlers h;
  h.on_frame = [this](NodeId from, PeerFrame f) { on_frame(from, std::move(f)); };
  h.on_hello = [this](NodeId peer, const std::string&, const std::string& url) {
    if (!url.empty()) peer_client_urls[peer] = url;
  };
  h.on_unreachable = [this](NodeId peer) {
    if (core) core->report_unreachable(peer);
  };
  auto t = Transport::start(io, to, h);
  if (!t.is_ok()) return t.status();
  transport = std::move(*t);
  return Status::ok();
}

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Node::Impl::~Impl() {
  // The stream threads read the store and post to the core: stop them
  // before either goes.
  stop_snapshot_streams();
}

Node::~Node() {
  impl_->stop_dumps();
  if (impl_->ticker) impl_->ticker->cancel();
  impl_->stop_snapshot_streams();
  if (impl_->transport) impl_->transport->stop();
  if (impl_->writer) impl_->writer->stop();
  if (impl_->purger) impl_->purger->stop();
}

raftlog::ClusterId Node::cluster_id() const {
  return impl_->cluster_id;
}
NodeId Node::id() const {
  return impl_->self;
}
uint16_t Node::peer_port() const {
  return impl_->transport->port();
}

// ------------------------------------------------------------------ loop

void Node::Impl::schedule_tick() {
  ticker->expires_after(std::chrono::milliseconds(opts.tick_ms));
  ticker->async_wait([this](boost::system::error_code ec) {
    if (ec || stopping) return;
    on_tick();
    schedule_tick();
  });
}

void Node::Impl::on_tick() {
  core->tick();
  auto now = Clock::now();
  expire_deadlines(now);
  tick_leases(now);
  tick_membership(now);
  tick_retention(now);
  if (snapshot_sender) snapshot_sender->tick();
  if (snapshot_receiver) snapshot_receiver->tick();
  schedule_ready();
}

void Node::Impl::on_frame(NodeId from, PeerFrame frame) {
  if (failed) return;
  switch (frame.kind_case()) {
    case PeerFrame::kRaft: {
      auto m = raftpb::decode_message(frame.raft());
      if (!m.is_ok()) {
        log->warn("dropping undecodable raft message from {:016x}: {}", from.value(),
                  m.status().to_string());
        return;
      }
      if (m->from != from) return;  // a peer speaks only for itself
      (void)core->step(*m);
      break;
    }
    case PeerFrame::kForwardRequest:
      on_forward_request(from, frame.forward_request());
      break;
    case PeerFrame::kForwardResponse:
      on_forward_response(frame.forward_response());
      break;
    case PeerFrame::kLeaseRequest:
      on_lease_request(from, frame.lease_request());
      break;
    case PeerFrame::kLeaseResponse:
      on_lease_response(frame.lease_response());
      break;
    case PeerFrame::kSnapshotBegin:
      if (snapshot_receiver) snapshot_receiver->on_begin(from, frame.snapshot_begin());
      break;
    case PeerFrame::kSnapshotChunk:
      if (snapshot_receiver) {
        snapshot_receiver->on_chunk(from, std::move(*frame.mutable_snapshot_chunk()));
      }
      break;
    case PeerFrame::kSnapshotAck:
      if (snapshot_sender) snapshot_sender->on_ack(from, frame.snapshot_ack());
      break;
    default:
      break;
  }
  schedule_ready();
}

void Node::Impl::schedule_ready() {
  if (ready_scheduled || persisting || failed) return;
  ready_scheduled = true;
  asio::post(io, [this] {
    ready_scheduled = false;
    process_ready();
  });
}

void Node::Impl::send_message(raftlog::Message m) {
  if (m.to == self) return;
  if (m.type == raftlog::MessageType::kSnapshot) {
    // The data travels as a chunked stream, not inside the message.
    if (snapshot_sender) snapshot_sender->start(m.to, m.term);
    return;
  }
  PeerFrame f;
  f.set_raft(raftpb::encode_message(m));
  transport->send(m.to, std::move(f));
}

void Node::Impl::process_ready() {
  if (persisting || failed || !core->has_ready()) return;
  auto rd = std::make_shared<raftlog::Ready>(core->ready());
  if (rd->soft_state) on_soft_state(*rd->soft_state);
  for (auto& m : rd->messages) send_message(std::move(m));
  rd->messages.clear();
  note_stamps(rd->entries);
  for (const auto& n : rd->notices) {
    using K = raftlog::Notice::Kind;
    if (n.kind == K::kForeignCluster) {
      log->warn("dropped a message from cluster {:016x}", n.value);
    } else if (n.kind == K::kStepDownNoQuorum) {
      log->warn("stepping down: lost contact with a quorum");
    } else if (n.kind == K::kFollowerLostAcknowledged) {
      uint64_t suppressed = 0;
      if (lost_ack_log.allow(Clock::now(), suppressed)) {
        log->error(
            "follower {:016x} refuses entries at or below index {}, which it acknowledged as "
            "durable: it lost them (failed or replaced disk?) and cannot catch up; remove it "
            "and add it back with an empty data dir{}",
            n.peer.value(), n.value,
            suppressed == 0 ? std::string()
                            : " (" + std::to_string(suppressed) + " more since the last line)");
      }
    }
  }
  storage::PersistBatch b;
  b.snapshot = rd->snapshot;
  b.entries = rd->entries;
  b.hard_state = rd->hard_state;
  if (applied > applied_persisted) b.applied = applied;
  for (auto& row : pending_rows)
    b.state_rows.emplace_back(std::move(row.key), std::move(row.value));
  pending_rows.clear();
  b.sync = rd->must_sync;
  const bool streamed = stage_streamed_install(*rd, b);
  if (!b.snapshot && b.entries.empty() && !b.hard_state && !b.applied && b.state_rows.empty()) {
    after_persist(rd, Status::ok(), Clock::now());
    return;
  }
  persisting = true;
  Index applied_now = applied;
  auto began = Clock::now();
  Status s = writer->submit(std::move(b), [this, rd, began, applied_now, streamed](Status st) {
    asio::post(io, [this, rd, st, began, applied_now, streamed] {
      if (st.is_ok() && streamed) after_streamed_install(rd->snapshot->meta);
      if (st.is_ok() && !streamed) applied_persisted = std::max(applied_persisted, applied_now);
      after_persist(rd, st, began);
    });
  });
  if (!s.is_ok()) after_persist(rd, s, began);
}

void Node::Impl::after_persist(std::shared_ptr<raftlog::Ready> rd, Status st,
                               Clock::time_point began) {
  persisting = false;
  if (!st.is_ok()) {
    fail(st);
    return;
  }
  if (rd->must_sync) {
    fsyncs_total.inc();
    fsync_seconds.observe(std::chrono::duration<double>(Clock::now() - began).count());
  }
  for (auto& m : rd->messages_after_persist) send_message(std::move(m));
  apply(rd->committed_entries);
  for (const auto& rs : rd->read_states) on_read_state(rs);
  core->advance(*rd);
  applied = core->applied();
  wake_waiters();
  finish_reads();
  if (stopping && shutdown_done) {
    finish_shutdown();
    return;
  }
  schedule_ready();
}

void Node::Impl::apply(const std::vector<raftlog::Entry>& ents) {
  for (const auto& e : ents) {
    if (e.type == raftlog::EntryType::kMembership) {
      auto m = raftlog::decode_membership(e.data);
      if (m.is_ok()) {
        log->info("membership at index {}: {} members", e.index.value(), m->members.size());
        sync_peers(*m);
        // Only members that are in no configuration still in play go.
        if (core->membership() == *m) drop_removed_peers(*m);
      }
    }
    entries_applied_total.inc();
    state::ApplyResult r = apply_to_view(e);
    complete_applied(e, r);
  }
  if (config_touched) {
    config_touched = false;
    refresh_config(false);
  }
  if (!ents.empty()) sync_peers(core->membership());
}

void Node::Impl::on_soft_state(const raftlog::SoftState& s) {
  bool was_leader = soft.role == raftlog::Role::kLeader;
  bool is_leader = s.role == raftlog::Role::kLeader;
  if (is_leader && !was_leader) on_became_leader();
  if (!is_leader && was_leader) on_lost_leadership();
  if (s.leader != soft.leader) {
    leader_changes_total.inc();
    abandon_forwards_to_old_leader(s.leader);
    abandon_unconfirmed_reads();
    if (s.leader == raftlog::kNoNode) {
      log->info("no leader (term {})", core->term().value());
    } else {
      log->info("leader is {:016x} (term {}){}", s.leader.value(), core->term().value(),
                s.leader == self ? ", this node" : "");
    }
  }
  soft = s;
  finish_transfers(Clock::now());
  if (s.leader != raftlog::kNoNode) retry_waiting_for_leader();
}

void Node::Impl::sync_peers(const raftlog::Membership& m) {
  for (const auto& [id, member] : m.members) {
    if (id == self) continue;
    transport->set_peer(id, decode_member_address(member.address).peer);
    dialled.insert(id);
  }
}

// A membership entry applied (committed): stop dialling members it removed.
void Node::Impl::drop_removed_peers(const raftlog::Membership& m) {
  for (auto it = dialled.begin(); it != dialled.end();) {
    if (m.contains(*it)) {
      ++it;
      continue;
    }
    transport->remove_peer(*it);
    it = dialled.erase(it);
  }
}

void Node::Impl::fail(const Status& st) {
  // After a failed write the durable state is unknown: acknowledging
  // anything could lie. Stop serving writes; the operator restarts the node,
  // which re-reads what is really on disk.
  failed = true;
  log->critical("storage write failed, node stops acknowledging writes: {}", st.to_string());
  for (auto& [idx, p] : pending) p.done(Status(Code::kTimeout, "storage failed; outcome unknown"));
  pending.clear();
  if (opts.on_storage_failure) opts.on_storage_failure(st);
}

// ------------------------------------------------------------------ shutdown

void Node::shutdown(std::function<void()> done) {
  Impl& s = *impl_;
  s.shutdown_done = std::move(done);
  if (s.core->role() == raftlog::Role::kLeader) {
    // Hand leadership to the most caught-up voter so that clients see at
    // most a heartbeat's gap instead of an election timeout.
    auto st = s.core->status();
    NodeId best = raftlog::kNoNode;
    Index best_match;
    for (const auto& [id, pr] : st.progress) {
      if (id == s.self || !st.membership.is_voter(id)) continue;
      if (best == raftlog::kNoNode || pr.match > best_match) {
        best = id;
        best_match = pr.match;
      }
    }
    if (best != raftlog::kNoNode && s.core->transfer_leadership(best).is_ok()) {
      s.log->info("shutting down: transferring leadership to {:016x}", best.value());
      s.schedule_ready();
      auto wait = std::make_shared<asio::steady_timer>(s.io);
      auto started = Clock::now();
      auto poll = std::make_shared<std::function<void()>>();
      *poll = [this, wait, started, poll] {
        Impl& s = *impl_;
        bool moved = s.core->role() != raftlog::Role::kLeader;
        bool too_long = Clock::now() - started >
                        std::chrono::milliseconds(s.opts.tick_ms * s.opts.election_ticks * 2);
        if (moved || too_long) {
          s.stopping = true;
          if (!s.persisting) s.finish_shutdown();
          return;
        }
        wait->expires_after(std::chrono::milliseconds(s.opts.tick_ms));
        wait->async_wait([poll](boost::system::error_code) { (*poll)(); });
      };
      (*poll)();
      return;
    }
  }
  s.stopping = true;
  if (!s.persisting) s.finish_shutdown();
}

void Node::Impl::finish_shutdown() {
  ticker->cancel();
  for (auto& [idx, p] : pending) {
    p.done(Status(Code::kTimeout, "node shutting down; outcome unknown"));
  }
  pending.clear();
  for (auto& [id, q] : forwarded) q.done(Status(Code::kTimeout, "node shutting down"));
  forwarded.clear();
  for (auto& q : waiting_for_leader) q.done(Status(Code::kUnavailable, "node shutting down"));
  waiting_for_leader.clear();
  for (auto& [k, w] : waiters) w.wake();
  waiters.clear();
  for (auto& [ctx, r] : reads) r.done(Status(Code::kUnavailable, "node shutting down"));
  reads.clear();
  for (auto& [id, w] : lease_requests) w.done(Status(Code::kUnavailable, "node shutting down"));
  lease_requests.clear();
  transport->stop();
  stop_snapshot_streams();
  writer->stop();
  if (purger) purger->stop();
  log->info("stopped");
  auto done = std::move(shutdown_done);
  shutdown_done = nullptr;
  if (done) done();
}

}  // namespace api
