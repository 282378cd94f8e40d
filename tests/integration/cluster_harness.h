// A cluster of real `changeagent` processes on 127.0.0.1 for integration
// tests. Each node gets free ports (picked by binding port 0 and releasing
// them), its own data dir under one fresh mkdtemp dir, and a log file that
// collects its stdout and stderr.
//
// No orphans: every child is killed with SIGKILL by the destructor, by an
// atexit handler (a test that calls exit()), and by the kernel when the test
// process dies (PR_SET_PDEATHSIG in the child). Fork only from the main
// thread: PDEATHSIG fires when the forking *thread* ends.
//
// Every wait here is bounded by an explicit deadline; polls sleep a few ms
// between tries.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/client.h"
#include "common/status.h"

namespace integration {

using common::Result;
using common::Status;
using Millis = std::chrono::milliseconds;

struct ClusterOptions {
  size_t nodes = 3;
  std::string token = "integration";  // --initial-cluster-token
  // Short Raft timings so that elections take ~100-200 ms.
  uint32_t tick_ms = 10;
  uint32_t heartbeat_ticks = 2;
  uint32_t election_ticks = 10;
  uint32_t request_timeout_ms = 3000;  // an append not committed by then: 504
  uint64_t body_bytes_max = 1 << 20;
  std::string log_level = "info";
  // Keep the temp dir (data and logs) after the cluster is destroyed.
  bool keep_dir = false;
  // HTTPS: nodes serve the API on --listen-client-https (the client port)
  // and the harness's clients use https:// with these files.
  bool https = false;
  std::string client_ca{}, client_cert{}, client_key{};
  // More flags for every node (--retention-min-records=..., TLS files); NodeSpec::extra_args adds
  // per node.
  std::vector<std::string> extra_args{};
  // "user:password" the harness's own clients (client(), client_all(),
  // leader polls) send as basic auth; empty for none.
  std::string client_user = {};
};

// How a node process ended (see Cluster::exit_status).
struct Exit {
  bool signaled = false;
  int code = 0;    // exit code when !signaled
  int signal = 0;  // the signal when signaled
};

struct NodeSpec {
  std::string name;  // n1, n2, ...
  uint16_t client_port = 0;
  uint16_t peer_port = 0;
  std::string data_dir;
  std::string log_path;
  std::string token;     // --initial-cluster-token; per node so a test can make one differ
  pid_t pid = -1;        // -1 when not running
  bool stopped = false;  // SIGSTOPped
  uint64_t id = 0;       // raft node id, learnt from /diagnostics/raft (0 = not yet)
  std::optional<Exit> last_exit;
  // Started with --join=<join_urls> instead of --initial-cluster (add_joining_node).
  bool joined = false;
  std::string join_urls;
  // Removed from the cluster (retire): never restarted, not counted for quorum.
  bool retired = false;
  // When not empty: these flags instead of --initial-cluster/--join (a
  // discovery test's --discovery-file=..., --initial-cluster-size=...).
  std::vector<std::string> bootstrap_args;
  // Flags for this node only, after ClusterOptions::extra_args (which must
  // not give the same flags: changeagent refuses a repeated flag).
  std::vector<std::string> extra_args{};

  std::string client_address() const { return "127.0.0.1:" + std::to_string(client_port); }
  std::string peer_address() const { return "127.0.0.1:" + std::to_string(peer_port); }
};

// The answer of a process run to completion (Cluster::run_once).
struct RunResult {
  Exit exit;
  std::string stderr_text;
  std::string stdout_text;
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions opts = {});
  ~Cluster();  // SIGKILLs every node still running; removes the dir unless kept
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Starts every node and waits until each answers HTTP. At the first
  // start, a node that exits at once because a port was taken makes the
  // whole (still empty) cluster repick its ports and start again, a bounded
  // number of times. Later calls restart the nodes that are not running on
  // their ports and data dirs.
  Status start_all(Millis timeout = Millis(10000));
  // (Re)starts one node with its data dir and ports; waits until it answers.
  Status start(size_t i, Millis timeout = Millis(10000));

  // A new node n<size+1> on fresh ports, started with --join naming the
  // client addresses of the running nodes: it asks the cluster to add it
  // (as an auto-promoting learner) and starts empty. Waits until it answers
  // HTTP; its index.
  Result<size_t> add_joining_node(Millis timeout = Millis(10000));
  // Node i was removed from the membership: SIGKILLed if still running,
  // never restarted by start_all, and no longer counted by leader().
  void retire(size_t i);
  // A free port on 127.0.0.1 (bound to port 0 and released).
  static Result<uint16_t> free_port();
  // For nodes that do not answer until something else happens (discovery
  // waits for its peers): pick every node's ports without starting any,
  // start one without waiting, and wait until it answers HTTP.
  Status assign_ports() { return pick_ports(); }
  Status launch(size_t i) { return spawn(i); }
  Status wait_answering(size_t i, Millis timeout) {
    bool taken = false;
    return wait_serving(i, timeout, taken);
  }
  // Moves a stopped node to another peer port for its next start (after
  // the cluster was told with PUT /cluster/members/{id}).
  void set_peer_port(size_t i, uint16_t port) { nodes_[i].peer_port = port; }

  // SIGKILL and reap.
  void kill9(size_t i);
  // SIGKILL to every running node first, then reap them all: a crash of
  // the whole cluster at one instant.
  void kill9_all();
  // SIGTERM and wait for the exit; kTimeout (and a SIGKILL) past the
  // deadline.
  Result<Exit> terminate(size_t i, Millis timeout);
  void sigstop(size_t i);
  void sigcont(size_t i);
  bool running(size_t i) const { return nodes_[i].pid > 0; }
  // Reaps a node that exited on its own; the exit if it did.
  std::optional<Exit> poll_exit(size_t i);

  // A node that a quorum of the (non-retired) nodes, among the running
  // non-stopped ones, names as leader in the same term, polled via
  // /diagnostics/raft.
  Result<size_t> wait_for_leader(Millis timeout);
  // Current opinion without waiting: the agreed leader, if any.
  std::optional<size_t> leader();
  std::vector<size_t> followers(size_t leader) const;  // running nodes other than leader

  // Waits until every running node has applied the same last index, at
  // least `min_index`, and the leader has committed it.
  Status wait_converged(Millis timeout, uint64_t min_index = 0);

  std::unique_ptr<api::Client> client(size_t i, Millis request_timeout = Millis(5000));
  // The TLS files of ClusterOptions (endpoints left empty), and node i's
  // API URL (http:// or https://).
  api::ClientOptions client_options() const;
  std::string client_url(size_t i) const;
  std::unique_ptr<api::Client> client_all(Millis request_timeout = Millis(5000));

  // A process of the same binary with these flags, run to completion (for
  // refusals at start-up). SIGKILLed at the deadline.
  Result<RunResult> run_once(const std::vector<std::string>& args, Millis timeout);
  // --initial-cluster value for this cluster as first started (it fixes the
  // cluster id, so it stays when a node moves its peer port or a node
  // joins), and a fresh dir under ours.
  std::string initial_cluster() const;
  std::string make_dir(const std::string& name);

  size_t size() const { return nodes_.size(); }
  NodeSpec& node(size_t i) { return nodes_[i]; }
  const NodeSpec& node(size_t i) const { return nodes_[i]; }
  const ClusterOptions& options() const { return opts_; }
  const std::string& dir() const { return dir_; }
  // Keep data and logs after the cluster is destroyed (a failed test).
  void keep_files() { opts_.keep_dir = true; }
  // One election timeout at most (the randomized upper end), in ms.
  Millis election_timeout_max() const { return Millis(2 * opts_.tick_ms * opts_.election_ticks); }

  // The last `lines` lines of every node's log, for a failure report.
  std::string log_tails(size_t lines = 40) const;
  std::string read_log(size_t i) const;

 private:
  Status pick_ports();
  std::vector<std::string> node_args(size_t i) const;
  Status spawn(size_t i);
  // Waits until node i accepts on its client port; kUnavailable if it
  // exited (with `port_taken` set when its log says a bind failed).
  Status wait_serving(size_t i, Millis timeout, bool& port_taken);
  Result<api::RaftDiagnostics> diagnostics(size_t i, Millis timeout);

  ClusterOptions opts_;
  std::string dir_;
  std::vector<NodeSpec> nodes_;
  std::string initial_cluster_;  // set when the ports are picked
};

}  // namespace integration
