// The seam between the HTTP layer (api/http_*.cc, Beast) and the node
// (api/node.cc: raft core + storage + transport). The HTTP layer parses and
// validates requests, calls a Service, and renders the answer; the node
// never sees HTTP and the HTTP code never sees Raft.
//
// Threading: the node and the HTTP server run on one asio::io_context
// (one thread) plus the storage thread. Every Service method is called on
// the io_context's thread, and every callback is invoked on it, exactly
// once. read_feed/read_change read RocksDB directly and may also be called
// from other threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/byte_stream.h"
#include "api/cluster_config.h"
#include "common/status.h"

namespace api {

using common::Code;
using common::Result;
using common::Status;

// A change as a client submits it, already validated by the HTTP layer.
struct ChangeInput {
  std::string data_json;          // the JSON value, serialized (compact)
  std::vector<std::string> tags;  // each non-empty
  uint32_t type = 0;              // user types are >= 0; internal entries are not ChangeInputs
  // Exactly-once appends (Idempotency-Key / requestId, 1..kRequestIdBytesMax
  // bytes): one id per append() call, set on every change of the call (a
  // batch is one request). A retry within the window (state::
  // kRequestIdWindowNsDefault of leader time) answers the original entries
  // with Appended::duplicate once they are applied here, appending nothing;
  // a retry whose changes differ is kConflict ("request_id_reused").
  std::string request_id{};
};

inline constexpr size_t kRequestIdBytesMax = 256;

// ---- keys (the state view built by applying the log) ----

// Key names: non-empty UTF-8, at most key_bytes_max, no NUL (checked by the
// HTTP layer; the node checks again).
inline constexpr size_t kKeyBytesMax = 1024;

struct KeyValue {
  std::string key;
  std::string value_json;
  uint64_t create_revision = 0;  // index of the write that created it
  uint64_t mod_revision = 0;     // index of the last write
  uint64_t version = 0;          // writes since creation (1 after create)
  uint64_t lease = 0;            // 0 = none
};

struct TxnCompare {
  std::string key;
  uint64_t mod_revision = 0;  // must equal the key's; 0 = the key must not exist
};

struct TxnOp {
  std::string key;
  bool del = false;
  std::string value_json;  // put
  uint64_t lease = 0;      // put: attach to this lease; 0 = none
};

// A change that also writes keys. All compares must hold, else nothing is
// appended (kConflict with the current revisions). POST /changes with
// "key"/"ifRevision"/"delete"/"lease" is a Txn of one compare and one op
// whose value is the change's data.
struct TxnRequest {
  ChangeInput change;  // recorded in the feed (data, tags, type)
  std::vector<TxnCompare> compares;
  std::vector<TxnOp> ops;
  // Hidden from the feed unless asked for (internal=true, or a prefix
  // watch), like lease entries: cursor moves (api/cursors.h) are
  // bookkeeping, not changes consumers want to read.
  bool internal = false;
};

struct TxnResult {
  bool succeeded = false;
  uint64_t id = 0;  // the change's id (succeeded only)
  uint64_t ts_ns = 0;
  // When !succeeded: every compared key with its current revision (0 = absent).
  std::vector<TxnCompare> current;
};

struct KeyPage {
  std::vector<KeyValue> keys;  // sorted by key
  bool more = false;           // more keys after the last one
  uint64_t revision = 0;       // applied index the page was read at
};

struct LeaseInfo {
  uint64_t id = 0;
  uint64_t ttl_seconds = 0;
  int64_t remaining_ms = 0;  // as the leader sees it; -1 when unknown here
  std::vector<std::string> keys;
};

inline constexpr uint64_t kLeaseTtlSecondsMin = 1;
inline constexpr uint64_t kLeaseTtlSecondsMax = 86400;

// A committed change as it is read back.
struct Change {
  uint64_t id = 0;     // the Raft index: strictly increasing, with gaps for internal entries
  uint64_t ts_ns = 0;  // leader's commit-time clock, ns since the epoch; never decreases with id
  uint32_t type = 0;
  std::vector<std::string> tags;
  std::string data_json;
  std::vector<TxnOp> ops;  // key writes of this change (value_json left empty)
  bool internal = false;   // lease grant/revoke: shown only when asked for
};

struct Appended {
  uint64_t id = 0;
  uint64_t ts_ns = 0;
  bool duplicate = false;  // a retried request id: these are the original's (HTTP 200)
};

struct FeedQuery {
  uint64_t since = 0;             // exclusive: changes with id > since
  uint32_t limit = 100;           // at most this many changes
  std::vector<std::string> tags;  // OR; empty = all
  std::string prefix;             // only changes that write a key with this prefix
  bool include_internal = false;  // also lease grants/revokes
  // Start at the first change stamped at or after this (ns since the epoch)
  // instead of `since`: found by a binary search over the log, which `_ts`
  // never decreasing with the index makes possible.
  std::optional<uint64_t> since_time_ns = std::nullopt;
};

struct FeedPage {
  std::vector<Change> changes;
  uint64_t first_index = 0;  // first index this node retains (1 unless compacted)
  uint64_t last_index = 0;   // last index applied on this node
  bool at_start = false;     // the page starts at the beginning of the retained log
  bool at_end = false;       // nothing applied after the last change returned
  uint64_t since = 0;        // the exclusive start the page was read from (sinceTime resolved)
  uint64_t scanned = 0;      // last index looked at: the next page starts after it
};

struct MemberView {
  uint64_t id = 0;
  std::string name;
  std::string peer_url;
  std::string client_url;
  bool learner = false;
};

struct MemberRequest {
  std::string name;          // unique in the cluster; the node id derives from it
  std::string peer_url;      // host:port the others dial
  std::string client_url;    // advertised HTTP URL (may be empty)
  bool auto_promote = true;  // false: stays a learner (a read-only replica)
};

struct ClusterView {
  std::string cluster_id;  // 16 hex digits
  uint64_t leader_id = 0;  // 0 = no leader known
  std::vector<MemberView> members;
};

struct PeerDiagnostics {
  uint64_t id = 0;
  uint64_t match = 0;
  uint64_t next = 0;
  std::string state;  // probe | replicate | snapshot
  bool connected = false;
};

// A catch-up snapshot transfer in progress on this node (diagnostics).
struct SnapshotTransferView {
  uint64_t peer = 0;
  std::string direction;  // send | receive
  uint64_t index = 0;     // the snapshot's index
  uint64_t bytes = 0;     // sent (acknowledged) or received so far
  uint64_t bytes_estimate = 0;
  uint64_t entries = 0;  // log entries sent or received so far
  double bytes_per_second = 0;
  double eta_seconds = -1;  // -1: unknown
};

// One peer connection's transport state (api::ConnectionState).
struct ConnectionDiagnostics {
  bool inbound = false;
  uint64_t peer = 0;
  std::string remote;
  std::string stage;
  uint64_t in_stage_ms = 0;
  uint64_t frames = 0;
  uint64_t queued = 0;
};

struct RaftDiagnostics {
  uint64_t id = 0;
  std::string name;
  std::string state;  // follower | pre-candidate | candidate | leader
  uint64_t leader = 0;
  uint64_t term = 0;
  uint64_t first_index = 0;
  uint64_t last_index = 0;
  uint64_t applied_index = 0;
  uint64_t committed_index = 0;
  uint64_t stable_index = 0;
  std::vector<PeerDiagnostics> peers;  // leader only
  std::vector<SnapshotTransferView> snapshot_transfers;
  std::vector<ConnectionDiagnostics> connections;
};

struct HealthView {
  bool has_leader = false;
  bool marked_down = false;  // PUT /health up=false
  std::string reason;        // why unhealthy, for the 503 body
};

class Service {
 public:
  virtual ~Service() = default;

  using AppendDone = std::function<void(Result<std::vector<Appended>>)>;
  // Appends the changes atomically as consecutive entries, forwarding to the
  // leader if this node is not it. wait=true: done after commit AND local
  // apply (the caller can read its write from this node at once).
  // wait=false: done once the leader accepted the proposal. Errors: kBusy,
  // kUnavailable (no leader after a bounded wait), kTimeout (outcome unknown),
  // kTooLarge.
  virtual void append(std::vector<ChangeInput> changes, bool wait, AppendDone done) = 0;

  // Committed, applied changes from the local log; internal entries skipped.
  virtual Result<FeedPage> read_feed(const FeedQuery& q) = 0;
  // kNotFound if absent or internal, kCompacted if below the first index.
  virtual Result<Change> read_change(uint64_t id) = 0;
  // Calls wake once the applied index is > after, or at the deadline, or at
  // shutdown — whichever is first.
  virtual void wait_applied(uint64_t after, std::chrono::steady_clock::time_point deadline,
                            std::function<void()> wake) = 0;
  // Linearizable read barrier (ReadIndex): done(OK) once this node has
  // applied everything committed before the call; kUnavailable without leader.
  virtual void read_barrier(std::function<void(Status)> done) = 0;

  // ---- keys, transactions, leases ----
  // A Service that does not keep a state view answers these with
  // kUnavailable; api::Node implements all of them.
  static Status unsupported() {
    return Status(Code::kUnavailable, "keys and leases are not served here");
  }
  using TxnDone = std::function<void(Result<TxnResult>)>;
  // Compare-and-set: see TxnRequest. Same outcome rules as append; a failed
  // compare is a value (succeeded=false), not an error.
  virtual void txn(TxnRequest req, bool wait, TxnDone done) { done(unsupported()); }
  // From the local state view (applied); kNotFound if absent.
  virtual Result<KeyValue> get_key(const std::string& key) { return unsupported(); }
  // Keys with `prefix` strictly after `after`, sorted, at most `limit`.
  virtual Result<KeyPage> list_keys(const std::string& prefix, const std::string& after,
                                    uint32_t limit) {
    return unsupported();
  }
  using LeaseDone = std::function<void(Result<LeaseInfo>)>;
  // ttl in [kLeaseTtlSecondsMin, kLeaseTtlSecondsMax]; the id is returned.
  virtual void lease_grant(uint64_t ttl_seconds, LeaseDone done) { done(unsupported()); }
  // Renews the lease to its full ttl (on the leader); kNotFound if unknown.
  virtual void lease_keepalive(uint64_t id, LeaseDone done) { done(unsupported()); }
  // Revokes it and deletes its keys, through the log; kNotFound if unknown.
  virtual void lease_revoke(uint64_t id, std::function<void(Status)> done) { done(unsupported()); }
  virtual void lease_get(uint64_t id, LeaseDone done) { done(unsupported()); }

  // ---- membership (leader only: elsewhere kNotLeader, which HTTP answers
  // with 503 so clients fail over to the leader) ----
  // Adds a member as a learner; with auto_promote it becomes a voter once
  // caught up. Done when the change is applied here.
  virtual void add_member(MemberRequest req, std::function<void(Result<MemberView>)> done) {
    done(unsupported());
  }
  // Refuses (kFailedPrecondition) a removal that would leave fewer live
  // voters than a quorum, unless forced. Removing the leader hands off first.
  virtual void remove_member(uint64_t id, bool force, std::function<void(Status)> done) {
    done(unsupported());
  }
  virtual void promote_member(uint64_t id, std::function<void(Status)> done) {
    done(unsupported());
  }
  virtual void update_member(uint64_t id, std::string peer_url, std::function<void(Status)> done) {
    done(unsupported());
  }
  // Moves leadership to `id`; done once it moved (kTimeout if it did not).
  virtual void transfer_leadership(uint64_t id, std::function<void(Status)> done) {
    done(unsupported());
  }

  // GET /admin/dump: this node's store as a changeagent-admin dump, read at
  // one instant (admin/dump_format.h). kBusy when too many dumps run.
  virtual Result<std::unique_ptr<ByteStream>> open_dump() { return unsupported(); }

  // GET /config (api/cluster_config.h): the replicated settings as this
  // node applied them, and what it runs with. Writes go through txn().
  virtual Result<ConfigView> config_view() { return unsupported(); }
  // The replicated request body limit (bodyBytesMax), if set: it replaces
  // the server's --body-bytes-max. Called per request: must be cheap.
  virtual std::optional<uint64_t> replicated_body_bytes_max() { return std::nullopt; }

  virtual ClusterView cluster() = 0;
  virtual RaftDiagnostics diagnostics() = 0;
  virtual HealthView health() = 0;
  virtual void set_marked_down(bool down) = 0;
  // Prometheus text lines for the node's own metrics.
  virtual std::string metrics_text() = 0;
};

}  // namespace api
