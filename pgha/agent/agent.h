// The pgha agent: one beside each PostgreSQL. Each loop (every
// loop_interval, or at once when the store's /pgha/<cluster>/ prefix
// changes) it observes PostgreSQL, writes its member key on its lease,
// reads the cluster, coordinates if it holds (or wins) the coordinator key
// (reconcile_cluster, status written by CAS, events appended), then runs
// reconcile_local and executes the actions. When the store is unreachable
// and PostgreSQL is primary, it asks its peers directly (failsafe) and
// reconcile_local decides whether it may stay primary.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/client.h"
#include "pgha/agent/event_log.h"
#include "pgha/agent/http_endpoint.h"
#include "pgha/agent/store.h"
#include "pgha/core/reconcile.h"
#include "pgha/pg/executor.h"

namespace pgha::agent {

struct AgentConfig {
  std::string name;
  std::string cluster;
  std::vector<std::string> store_endpoints;
  std::string listen = "127.0.0.1:8008";  // the agent's HTTP endpoint
  std::string advertise_url;              // what peers dial; "" = http://<listen>
  pg::ExecutorConfig pg;
  uint64_t lease_ttl_s = 2;
  std::chrono::milliseconds loop_interval{500};
  std::chrono::milliseconds store_timeout{800};  // one store call
  std::chrono::milliseconds peer_timeout{500};   // one failsafe question
  // GET /replica answers 200 only within this many bytes of the primary.
  uint64_t replica_lag_bytes_max = 16 * 1024 * 1024;
  // When no desired state exists, write one with these members (the first
  // agent to get there wins by CAS). Empty: wait for an operator.
  std::vector<std::string> bootstrap_members;
};

class Agent {
 public:
  // Starts the HTTP endpoint; kIoError / kInvalidArgument when it cannot.
  static common::Result<std::unique_ptr<Agent>> create(AgentConfig cfg);
  ~Agent();

  // Runs loops until `stop` is set; then releases the lease (its keys go at
  // once) and returns. PostgreSQL is left running as it is.
  void run(const std::atomic<bool>& stop);
  uint16_t http_port() const { return http_->port(); }

 private:
  explicit Agent(AgentConfig cfg);
  void loop_once();
  bool ensure_lease();
  void coordinate(const ClusterSnapshot& snap, int64_t now_ms);
  void fence_lost_primary(const ClusterSnapshot& snap);
  void act(const LocalInput& in);
  common::Status execute(const LocalAction& a, const LocalInput& in);
  common::Status follow_offline(const pg::PgAddress& src);
  std::vector<PeerAnswer> ask_peers(int64_t now_ms);
  Observation to_model(const pg::Observation& o, int64_t now_ms) const;
  HttpAnswer handle(const HttpQuery& q);
  void watch_loop();
  void emit(std::string_view kind, const std::string& message);
  void wake();

  AgentConfig cfg_;
  pg::Executor executor_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<HttpEndpoint> http_;

  // ---- the lease (member key and coordinator key hang on it) ----
  uint64_t lease_ = 0;  // 0 = none held
  std::unique_ptr<api::LeaseKeeper> keeper_;
  std::atomic<bool> lease_lost_{false};
  std::atomic<int64_t> lease_renewed_at_ms_{0};  // steady clock

  // ---- what the loop last saw; read by the HTTP thread under mu_ ----
  mutable std::mutex mu_;
  std::optional<ClusterSnapshot> snap_;  // the last successful read
  Observation local_;
  pg::Observation pg_local_;
  bool store_reachable_ = false;
  bool coordinator_ = false;
  std::string last_error_;
  std::vector<std::string> last_reasons_;

  // The history: events (the coordinator's and this agent's) are appended
  // off the loop, each exactly once (event_log.h).
  std::unique_ptr<EventLog> events_;

  std::map<std::string, bool> failsafe_answers_;  // the last answer of each peer

  bool rewind_failed_ = false;
  int64_t fenced_handover_at_ms_ = 0;  // the failover whose old primary we fenced
  uint64_t applied_generation_ = 0;
  std::string last_actions_logged_;
  // The plan whose execution failed last, and when it may be tried again.
  std::string failed_plan_;
  std::chrono::steady_clock::time_point retry_at_{};
  static constexpr std::chrono::milliseconds kActionRetryPause{1000};

  // ---- wake-ups from the store watch ----
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool woken_ = false;
  std::atomic<bool> stopping_{false};
  std::thread watcher_;
};

}  // namespace pgha::agent
