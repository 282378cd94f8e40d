// Private state of api::Node, split by concern:
//   node.cc         start-up, bootstrap, the Ready loop, apply, shutdown
//   node_append.cc  appends: local proposals, forwarding, pending completions
//   node_read.cc    feed reads, waiters, read barriers, views and metrics
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "api/log_limiter.h"
#include "api/node.h"
#include "api/peer.pb.h"
#include "api/snapshot_stream.h"
#include "api/webhook_client.h"
#include "state/state_view.h"
#include "storage/compact_purger.h"
#include "storage/snapshot_stream.h"

namespace api {

using Clock = std::chrono::steady_clock;
using raftlog::Index;
using raftlog::NodeId;
using raftlog::Term;

// An append whose entries are in some leader's log at [first, last] in
// `term`, waiting for this node to apply `last`.
// Called with the applied last entry and what the state view made of it;
// set for appends that need the apply outcome (txn, leases).
using OnApplied = std::function<void(const raftlog::Entry&, const state::ApplyResult&)>;
// Called when the leader refused a txn before proposing it (a compare failed).
using OnConflict = std::function<void(std::vector<TxnCompare> current)>;

struct PendingAppend {
  Index first;
  Term term;
  std::vector<uint64_t> ts_ns;
  bool wait = true;
  Service::AppendDone done;  // errors always; success unless on_applied is set
  OnApplied on_applied;
  Clock::time_point deadline;
  // A retried request id: [first, first + ts_ns.size()) are the original's
  // entries (in `term`); nothing new was proposed.
  bool duplicate = false;
};

// Leader only: a request id proposed but not yet applied (the overlay the
// pre-check consults together with the state view's table).
struct RequestSpec {
  Index first;
  uint32_t count = 1;
  uint64_t ts_ns = 0;
  uint64_t hash = 0;
  Term term;
};

// An append waiting for a leader to exist, or for the leader's answer.
struct QueuedAppend {
  std::vector<std::string> payloads;  // encoded Change, ts unset
  bool wait = true;
  Service::AppendDone done;
  OnApplied on_applied;
  OnConflict on_conflict;
  Clock::time_point deadline;     // request deadline (504 after)
  Clock::time_point leader_wait;  // no leader until then: 503
  NodeId forwarded_to;            // the leader it was sent to (forwarded only)
  bool validated = false;         // the leader's webhooks accepted it (node_config.cc)
  bool fenced = false;            // waited for config_fence once (node_config.cc)
};

struct Waiter {
  Clock::time_point deadline;
  std::function<void()> wake;
};

struct PendingRead {
  std::function<void(Status)> done;
  Clock::time_point deadline;
  Index index;  // set once the ReadState arrived
  bool confirmed = false;
};

// The member address string in the membership: JSON with name, peer, client.
struct MemberAddress {
  std::string name;
  std::string peer;
  std::string client;
  bool auto_promote = false;  // a learner the leader promotes once caught up
};
std::string encode_member_address(const MemberAddress& a);
MemberAddress decode_member_address(const std::string& s);

struct DumpProducer;  // node_dump.cc

struct Node::Impl {
  boost::asio::io_context& io;
  NodeOptions opts;
  std::shared_ptr<spdlog::logger> log;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<storage::Writer> writer;
  std::unique_ptr<raftlog::Core> core;
  std::unique_ptr<Transport> transport;
  std::unique_ptr<boost::asio::steady_timer> ticker;
  raftlog::ClusterId cluster_id;
  NodeId self;

  // Ready loop.
  bool ready_scheduled = false;
  bool persisting = false;
  bool stopping = false;
  bool failed = false;  // a storage write failed: nothing may be acknowledged again
  raftlog::SoftState soft;
  Index applied;  // last entry applied here (mirrors core->applied() after advance)
  Index applied_persisted;
  uint64_t last_ts_ns = 0;  // newest stamp in our log; a leader never stamps below it

  // Appends.
  std::map<Index, PendingAppend> pending;       // keyed by last index
  Term swept_term{0};                           // the newest term fail_overtaken_appends ran for
  std::deque<QueuedAppend> waiting_for_leader;  // no leader known yet
  std::map<uint64_t, QueuedAppend> forwarded;   // request id -> awaiting the leader's answer
  uint64_t next_request_id = 1;

  // State view (keys, leases) and the rows it produced that the next
  // persist writes together with the applied index.
  state::StateView view;
  std::vector<state::Row> pending_rows;
  // Leader only: revision each key will have once the proposed-but-not-yet-
  // applied entries apply (0 = deleted), and the index that sets it. Lets the
  // leader refuse a failing compare-and-set before appending anything.
  std::map<std::string, std::pair<uint64_t, Index>> spec;
  // Leader only: request ids proposed but not yet applied.
  std::map<std::string, RequestSpec> request_spec;
  // Retries of a request id waiting for the original's last entry to apply
  // here (keyed by that index; several retries may wait on one original).
  std::multimap<Index, PendingAppend> duplicates;
  // Leader only: when each lease expires unless kept alive. A new leader
  // gives every lease a full ttl before expiring any.
  std::map<uint64_t, Clock::time_point> lease_expiry;
  std::set<uint64_t> revoking;  // expiry revokes proposed, not yet applied
  struct LeaseWait {
    uint64_t lease_id = 0;
    Service::LeaseDone done;
    Clock::time_point deadline;
  };
  std::map<uint64_t, LeaseWait> lease_requests;  // forwarded to the leader
  uint64_t next_lease_request = 1;

  // Membership: a leadership transfer someone waits for.
  struct TransferWait {
    NodeId target;
    std::function<void(Status)> done;
    Clock::time_point deadline;
  };
  std::vector<TransferWait> transfers;
  // Client URLs peers told us in their handshakes (the membership records
  // only what each member said when it was added).
  std::map<NodeId, std::string> peer_client_urls;
  std::set<NodeId> dialled;  // peers the transport knows from the membership

  // Reads.
  std::multimap<Index, Waiter> waiters;  // wake when applied > key
  std::map<std::string, PendingRead> reads;
  uint64_t next_read_id = 1;
  bool marked_down = false;
  std::function<void()> shutdown_done;

  // GET /admin/dump producers still running (node_dump.cc); stopped and
  // joined before the store closes.
  std::vector<std::weak_ptr<DumpProducer>> dumps;
  void stop_dumps();

  // Metrics.
  Counter proposals_total, entries_applied_total, leader_changes_total, forwards_total;
  Counter appends_failed_total, fsyncs_total;
  Histogram fsync_seconds, append_seconds;

  Impl(boost::asio::io_context& io_, NodeOptions o) : io(io_), opts(std::move(o)) {}
  ~Impl();

  // node.cc
  Status open_store();
  Status bootstrap();
  Status start_core();
  Status start_transport();
  void schedule_tick();
  void on_tick();
  void on_frame(NodeId from, changeagent::peer::PeerFrame frame);
  void schedule_ready();
  void process_ready();
  void after_persist(std::shared_ptr<raftlog::Ready> rd, Status st, Clock::time_point began);
  void send_message(raftlog::Message m);
  void apply(const std::vector<raftlog::Entry>& ents);
  void on_soft_state(const raftlog::SoftState& s);
  void sync_peers(const raftlog::Membership& m);
  void drop_removed_peers(const raftlog::Membership& m);
  void fail(const Status& st);
  void finish_shutdown();

  // node_append.cc
  void enqueue(QueuedAppend q);
  void dispatch(QueuedAppend q);
  // Stamps and proposes on this node (the leader). kConflict, with the
  // compared keys' revisions in *current, when a txn's compare would fail.
  Result<PendingAppend> propose_here(std::vector<std::string>& payloads,
                                     std::vector<TxnCompare>* current);
  // validated: the webhooks already accepted these payloads.
  void on_forward_request(NodeId from, const changeagent::peer::ForwardRequest& req,
                          bool validated = false);
  void on_forward_response(const changeagent::peer::ForwardResponse& resp);
  void fail_overtaken_appends(const raftlog::Entry& e);
  void complete_applied(const raftlog::Entry& e, const state::ApplyResult& r);
  void retry_waiting_for_leader();
  void abandon_forwards_to_old_leader(NodeId new_leader);
  void abandon_unconfirmed_reads();
  void expire_deadlines(Clock::time_point now);
  void note_stamps(const std::vector<raftlog::Entry>& ents);
  void record_spec(const changeagent::peer::Change& c, Index at);
  bool precheck(const changeagent::peer::Change& c, std::vector<TxnCompare>* current) const;
  // The first payload's request id against the table and the overlay: a
  // duplicate (the original's entries), nullopt (new), or kConflict (the id
  // was used for another body).
  Result<std::optional<PendingAppend>> check_request(const changeagent::peer::Change& c,
                                                     uint64_t ts_ns) const;
  void record_request_spec(const changeagent::peer::Change& c, Index at, Term term);
  // Answers a duplicate now if its original is applied here, else parks it.
  void track_duplicate(PendingAppend p);

  // node_members.cc
  Status propose_config(raftlog::Membership next, OnApplied on_applied,
                        std::function<void(Status)> on_error);
  Status check_leader() const;
  void tick_membership(Clock::time_point now);
  void finish_transfers(Clock::time_point now);

  // node_kv.cc
  Status load_state();
  state::ApplyResult apply_to_view(const raftlog::Entry& e);
  void on_became_leader();
  void on_lost_leadership();
  void tick_leases(Clock::time_point now);
  LeaseInfo lease_info(uint64_t id, Clock::time_point now) const;
  // The revoke entry for a lease, listing its keys as delete ops so that
  // feeds and prefix watches see those deletes like any other.
  std::string revoke_payload(uint64_t id) const;
  void on_lease_request(NodeId from, const changeagent::peer::LeaseRequest& req);
  void on_lease_response(const changeagent::peer::LeaseResponse& resp);
  void lease_op(uint64_t id, bool keepalive, Service::LeaseDone done);

  // node_snapshot_retention.cc: trimming the log under opts.retention.
  std::unique_ptr<storage::Purger> purger;  // null when retention is off
  Clock::time_point next_retention_check;
  uint64_t cursor_lag_entries = 0;  // applied - oldest cursor (metric)
  bool held_by_cursor = false;      // the oldest cursor is the binding floor (metric)
  uint64_t purge_failures_logged = 0;
  void start_retention();
  void tick_retention(Clock::time_point now);
  std::optional<uint64_t> oldest_cursor() const;
  void render_retention_metrics(std::string& out) const;

  // node_snapshot.cc: catch-up by chunked snapshot streams.
  std::unique_ptr<SnapshotSender> snapshot_sender;
  std::unique_ptr<SnapshotReceiver> snapshot_receiver;
  void start_snapshot_streams();
  void stop_snapshot_streams();
  // A Ready installing a streamed snapshot: point the batch at the staged
  // files. Returns whether it was one.
  bool stage_streamed_install(const raftlog::Ready& rd, storage::PersistBatch& b);
  void after_streamed_install(const raftlog::SnapshotMeta& meta);
  void snapshot_views(std::vector<SnapshotTransferView>& out) const;
  // node_config.cc: the replicated /config (api/cluster_config.h) as
  // applied here, and the validator webhooks the leader runs with it.
  ClusterConfig cluster_config;
  uint64_t config_revision = 0;
  std::map<std::string, uint64_t> config_key_revisions;
  std::map<std::string, std::string> config_stored;  // setting key -> stored JSON
  storage::RetentionPolicy retention_flags;  // what the flags gave; replicated values override
  uint64_t heartbeat_ms_in_force = 0, election_ms_in_force = 0;
  bool config_touched = false;  // an entry applied in this batch wrote a `_config/` key
  // The newest index that may change the config and that this leader may
  // not have applied yet: its own proposals writing `_config/` keys, and on
  // election its whole log (a previous leader's entries). The webhooks are
  // chosen from the applied config, so a write waits until applied reaches
  // the fence: a config write acknowledged (by a follower that applied it)
  // before another write began is then always in force for it.
  Index config_fence;
  std::shared_ptr<WebhookFailureLog> webhook_log;
  LogLimiter lost_ack_log{std::chrono::seconds(30)};           // kFollowerLostAcknowledged lines
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);  // webhook calls check it
  void refresh_config(bool at_start);
  // Sets cfg's timeouts (the replicated ones if set, else the flags) and
  // records them as in force.
  void choose_timeouts(raftlog::Config& cfg, const ClusterConfig& config);
  // The config once the committed entries after `applied_at` apply.
  ClusterConfig config_at_commit(Index applied_at, Index commit);
  // Starts the webhooks that want these payloads; false if none does (the
  // caller proposes at once). `then` runs on the io thread, unless the
  // node is gone.
  bool start_webhooks(const std::vector<std::string>& payloads, std::function<void(Status)> then);
  bool validate_first(QueuedAppend& q);
  bool validate_forward_first(NodeId from, const changeagent::peer::ForwardRequest& req,
                              bool fenced = false);
  // Whether `then` was parked until applied reaches config_fence (it then
  // runs once, on the io thread, also at the deadline or shutdown).
  bool wait_for_config_fence(Clock::time_point deadline, std::function<void()> then);

  // node_read.cc
  void wake_waiters();
  void on_read_state(const raftlog::ReadState& rs);
  void finish_reads();
};

// Named consumer cursors are keys under this prefix with JSON {"index": N}.
inline constexpr const char* kCursorPrefix = "_cursors/";

// The exclusive `since` at which every later stamped entry is at or after
// ts_ns (binary search over [first, applied]; node_read.cc).
Result<uint64_t> since_for_time(storage::Store& store, Index first, Index applied, uint64_t ts_ns);

// Payload helpers shared by append and read.
std::string encode_change(const ChangeInput& in, uint64_t ts_ns);
Result<changeagent::peer::Change> decode_change(const std::string& data);

}  // namespace api

namespace api {
state::Command command_of(const changeagent::peer::Change& c);
}  // namespace api
