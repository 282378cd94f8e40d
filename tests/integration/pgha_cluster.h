// A pgha cluster for integration tests: a 3-node changeagent store
// (cluster_harness.h) and N pgha agents as real processes, each with its
// own PostgreSQL 15 on a free loopback port, in one temp dir. Run as root,
// the agents run as the postgres user (see pg_os_user()).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pgha/core/model.h"
#include "tests/integration/cluster_harness.h"
#include "tests/integration/pgha_harness.h"

namespace integration::pgha {

struct PghaOptions {
  size_t members = 3;
  std::string cluster = "main";
  uint64_t lease_ttl_s = 2;
  uint32_t loop_ms = 200;
};

// How bootstrap() starts a cluster from nothing.
struct BootstrapSpec {
  // Write this desired state before the agents start; without one the
  // agents write their own from --bootstrap-members (async, pgha picks).
  bool write_desired = true;
  std::optional<size_t> primary;  // the intended primary's index
  ::pgha::ReplicationMode mode = ::pgha::ReplicationMode::kAsync;
  uint32_t quorum_n = 0;  // kSync: set to 1 for you

  // The shapes the tests use.
  static BootstrapSpec with_primary(size_t i, ::pgha::ReplicationMode mode) {
    BootstrapSpec s;
    s.primary = i;
    s.mode = mode;
    return s;
  }
  static BootstrapSpec agents_write_desired() {
    BootstrapSpec s;
    s.write_desired = false;
    return s;
  }
};

struct AgentSpec {
  std::string name;
  uint16_t pg_port = 0;
  uint16_t http_port = 0;
  std::string data_dir;
  std::string log_path;
  pid_t pid = -1;
};

class PghaCluster {
 public:
  explicit PghaCluster(PghaOptions o = {});
  ~PghaCluster();

  common::Status start_store();
  // The setup every test and the bench share: the store, the desired state
  // (per `spec`), every agent, then wait_healthy(timeout). The primary's index.
  common::Result<size_t> bootstrap(const BootstrapSpec& spec, std::chrono::milliseconds timeout);
  // Starts agent i (again); it keeps its ports and data dir.
  common::Status start_agent(size_t i, const std::vector<std::string>& extra_args = {});
  void kill9_agent(size_t i);
  void sigstop_agent(size_t i);
  void sigcont_agent(size_t i);
  // SIGKILL to agent i's postmaster (its children follow it down).
  void kill9_postgres(size_t i);

  size_t size() const { return agents_.size(); }
  const AgentSpec& agent(size_t i) const { return agents_[i]; }
  Cluster& store() { return *store_; }
  const std::string& cluster_name() const { return opts_.cluster; }
  std::string store_endpoints() const;

  // GET on agent i's HTTP endpoint: the status code, 0 if it did not answer.
  int agent_get(size_t i, const std::string& path, std::string* body = nullptr);
  // The agents whose GET /primary answers 200, right now.
  std::vector<size_t> primaries();
  // Waits until exactly one agent answers /primary 200 and every other
  // running agent answers /replica 200 (or only the primary when
  // replicas_too is false). The primary's index, or kTimeout.
  common::Result<size_t> wait_healthy(std::chrono::milliseconds timeout, bool replicas_too = true);
  // Waits until agent i answers /replica 200 (a streaming replica).
  bool wait_replica(size_t i, std::chrono::milliseconds timeout);
  // Waits until an agent other than `not_this` answers /primary 200.
  common::Result<size_t> wait_new_primary(size_t not_this, std::chrono::milliseconds timeout);

  // The desired state as stored, and a CAS write of a changed one.
  common::Result<::pgha::Desired> read_desired(uint64_t* revision);
  common::Status write_desired(const ::pgha::Desired& d, uint64_t revision);
  // Every event in the cluster's history (tag pgha:<cluster>), in order.
  common::Result<std::vector<::pgha::Event>> history();
  // Waits until the status (as agent i sees it) guarantees acknowledged
  // commits on a standby, not on the primary alone: after a handover the
  // guarantee moves to the new standbys only once they caught up, and
  // until then no failover can be sure of every acknowledged commit.
  common::Status wait_sync_settled(size_t i, std::chrono::milliseconds timeout);
  // The timeline agent i's PostgreSQL reports (via its /status), 0 if unknown.
  uint32_t timeline_of(size_t i);

  // libpq connection string that reaches whichever node accepts writes.
  std::string writable_conninfo() const;
  std::string log_tails(size_t lines = 60) const;
  void keep_files() {
    dir_.keep();
    store_->keep_files();
  }

 private:
  PghaOptions opts_;
  TempDir dir_;
  std::string pgha_bin_;  // a copy of the agent binary in dir_
  std::unique_ptr<Cluster> store_;
  std::vector<AgentSpec> agents_;
};

// Inserts 1, 2, 3, ... into seq(n) through writable_conninfo(), recording
// every acknowledged commit, and the longest gap between two acknowledged
// commits (the write outage a client saw).
class SeqWriter {
 public:
  explicit SeqWriter(std::string conninfo);
  ~SeqWriter();
  void stop();
  std::vector<int64_t> acked() const;
  int64_t longest_gap_ms() const;
  void reset_longest_gap();  // measure from now on
  int64_t last_ack_ms_ago() const;

 private:
  void run();
  std::string conninfo_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<int64_t> acked_;
  int64_t longest_gap_ms_ = 0;
  std::chrono::steady_clock::time_point last_ack_;
  std::thread thread_;
};

// Every ~100 ms, tries one committed write on every node; a round in which
// two nodes accepted a write is recorded as a violation ("two writable
// primaries at once").
class WriteProbe {
 public:
  explicit WriteProbe(std::vector<uint16_t> ports);
  ~WriteProbe();
  void stop();
  std::vector<std::string> violations() const;
  uint64_t rounds() const { return rounds_; }

 private:
  void run();
  std::vector<uint16_t> ports_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> rounds_{0};
  mutable std::mutex mu_;
  std::vector<std::string> violations_;
  std::thread thread_;
};

}  // namespace integration::pgha
