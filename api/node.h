// The node driver: owns one raft core, its RocksDB store, the group-commit
// writer thread and the peer transport, and runs the Ready loop
//
//   ready() -> send `messages` now -> persist (storage thread, one fsync per
//   Ready) -> send `messages_after_persist` -> apply committed entries ->
//   advance()
//
// on the io_context's thread. Everything proposed while one fsync runs is
// carried by the next Ready: that is the group commit.
//
// It implements api::Service for the HTTP layer: appends (forwarded to the
// leader over the peer connection when this node is a follower), feed
// reads from the local committed log, long-poll waiters, ReadIndex reads.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/metrics.h"
#include "api/service.h"
#include "api/tls.h"
#include "api/transport.h"
#include "raftlog/raft.h"
#include "storage/compact.h"
#include "storage/store.h"
#include "storage/writer.h"

namespace api {

struct PeerSpec {
  std::string name;
  std::string peer_address;  // host:port
};

struct NodeOptions {
  std::string name;
  std::string data_dir;
  std::string peer_listen = "127.0.0.1:0";  // host:port; port 0 = ephemeral
  std::string advertise_peer;               // host:port peers dial (default: peer_listen)
  std::string client_url;                   // advertised in the membership
  // New cluster: every initial member (this node included, by name). Ignored
  // when the data dir already holds a cluster.
  std::vector<PeerSpec> initial_cluster;
  std::string cluster_token;  // distinguishes clusters with the same members
  // Joining an existing cluster: identity handed out by its leader.
  raftlog::ClusterId join_cluster_id;
  raftlog::NodeId join_node_id;

  uint32_t tick_ms = 25;
  uint32_t heartbeat_ticks = 2;                      // 50 ms
  uint32_t election_ticks = 10;                      // 250-500 ms randomized
  std::chrono::milliseconds request_timeout{10000};  // append: then 504 outcome unknown
  std::chrono::milliseconds leader_wait{3000};       // no leader: then 503
  uint32_t pending_appends_max = 100000;             // over it: kBusy (503)
  storage::RetentionPolicy retention;                // off unless a floor is set
  // Called once (on the io thread) when a storage write fails: from then on
  // the node acknowledges nothing, reports it in /health, and its durable
  // state is unknown until it is restarted. The server exits after a grace
  // period so that a supervisor restarts it once the disk works again.
  std::function<void(const Status&)> on_storage_failure;
  // Mutual TLS between peers (--peer-cert/--peer-key/--peer-ca); null = TCP.
  std::shared_ptr<TlsContext> peer_tls{};
  // The client context for https validator webhooks (--webhook-ca,
  // --webhook-cert/--webhook-key); null = the system's CAs, no certificate.
  std::shared_ptr<boost::asio::ssl::context> webhook_tls{};
  // A follower this many entries behind (or empty) catches up by a chunked
  // snapshot stream instead of appends (raftlog Config snapshot_lag_entries).
  uint64_t snapshot_lag_entries = 10000;
};

// Deterministic identities, so every node computes the same ones from the
// same --initial-cluster flag (as etcd does from its initial cluster).
raftlog::NodeId node_id_for(const std::string& name);
raftlog::ClusterId cluster_id_for(const std::vector<PeerSpec>& members, const std::string& token);

class Node final : public Service {
 public:
  // Opens the store (creating and bootstrapping a new cluster when empty),
  // starts the transport and the tick timer. One readable error on failure.
  static Result<std::unique_ptr<Node>> start(boost::asio::io_context& io, NodeOptions options);
  ~Node() override;

  // Graceful stop: a leader hands leadership to the most caught-up voter
  // first (bounded), in-flight persists finish, then everything closes.
  void shutdown(std::function<void()> done);

  raftlog::ClusterId cluster_id() const;
  raftlog::NodeId id() const;
  uint16_t peer_port() const;

  // Service.
  void append(std::vector<ChangeInput> changes, bool wait, AppendDone done) override;
  Result<FeedPage> read_feed(const FeedQuery& q) override;
  Result<Change> read_change(uint64_t id) override;
  void wait_applied(uint64_t after, std::chrono::steady_clock::time_point deadline,
                    std::function<void()> wake) override;
  void read_barrier(std::function<void(Status)> done) override;
  void txn(TxnRequest req, bool wait, TxnDone done) override;
  Result<KeyValue> get_key(const std::string& key) override;
  Result<KeyPage> list_keys(const std::string& prefix, const std::string& after,
                            uint32_t limit) override;
  void lease_grant(uint64_t ttl_seconds, LeaseDone done) override;
  void lease_keepalive(uint64_t id, LeaseDone done) override;
  void lease_revoke(uint64_t id, std::function<void(Status)> done) override;
  void lease_get(uint64_t id, LeaseDone done) override;
  void add_member(MemberRequest req, std::function<void(Result<MemberView>)> done) override;
  void remove_member(uint64_t id, bool force, std::function<void(Status)> done) override;
  void promote_member(uint64_t id, std::function<void(Status)> done) override;
  void update_member(uint64_t id, std::string peer_url, std::function<void(Status)> done) override;
  void transfer_leadership(uint64_t id, std::function<void(Status)> done) override;
  ClusterView cluster() override;
  RaftDiagnostics diagnostics() override;
  HealthView health() override;
  void set_marked_down(bool down) override;
  std::string metrics_text() override;
  Result<std::unique_ptr<ByteStream>> open_dump() override;  // node_dump.cc
  Result<ConfigView> config_view() override;                 // node_config.cc
  std::optional<uint64_t> replicated_body_bytes_max() override;

  struct Impl;

 private:
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace api
