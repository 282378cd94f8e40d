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
#include <optional>
#include <string>
#include <vector>

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
};

// A committed change as it is read back.
struct Change {
  uint64_t id = 0;     // the Raft index: strictly increasing, with gaps for internal entries
  uint64_t ts_ns = 0;  // leader's commit-time clock, ns since the epoch; never decreases with id
  uint32_t type = 0;
  std::vector<std::string> tags;
  std::string data_json;
};

struct Appended {
  uint64_t id = 0;
  uint64_t ts_ns = 0;
};

struct FeedQuery {
  uint64_t since = 0;             // exclusive: changes with id > since
  uint32_t limit = 100;           // at most this many changes
  std::vector<std::string> tags;  // OR; empty = all
};

struct FeedPage {
  std::vector<Change> changes;
  uint64_t first_index = 0;  // first index this node retains (1 unless compacted)
  uint64_t last_index = 0;   // last index applied on this node
  bool at_start = false;     // the page starts at the beginning of the retained log
  bool at_end = false;       // nothing applied after the last change returned
};

struct MemberView {
  uint64_t id = 0;
  std::string name;
  std::string peer_url;
  std::string client_url;
  bool learner = false;
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

  virtual ClusterView cluster() = 0;
  virtual RaftDiagnostics diagnostics() = 0;
  virtual HealthView health() = 0;
  virtual void set_marked_down(bool down) = 0;
  // Prometheus text lines for the node's own metrics.
  virtual std::string metrics_text() = 0;
};

}  // namespace api
