// The chaos harness's cluster: real changeagent processes, each in its own
// network namespace joined to a bridge in the root namespace (netns mode),
// or all on 127.0.0.1 when namespaces are unavailable (loopback mode, which
// cannot partition). Faults act only on what this object created: its own
// processes, namespaces, bridge and loop mount.
//
// Why not tests/integration's Cluster: it binds 127.0.0.1 and picks ports
// there; a partition needs one address per node that a firewall inside the
// node's namespace can tell apart, which loopback cannot give us (every
// node's --initial-cluster must be identical, so no per-pair proxies).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/client.h"
#include "common/status.h"
#include "tests/chaos/delay_proxy.h"

namespace chaos {

struct ClusterConfig {
  std::string changeagent_bin;
  size_t nodes = 3;
  bool want_netns = true;
  bool eatmydata = false;   // run the servers with fsync disabled (the canary)
  bool power_loss = false;  // data dirs on an XFS loop mount that can "lose power"
  // Each data dir on its own small ext4 loop filesystem, which the
  // disk-full fault fills and the disk-ro fault turns read-only (excludes
  // power_loss, which needs one XFS).
  bool disk_faults = false;
  std::string work_dir;  // data, logs, the XFS image
  uint32_t tick_ms = 10;
  uint32_t election_ticks = 10;
  uint32_t request_timeout_ms = 2000;
};

struct NodeProc {
  std::string name;  // n1..
  std::string ip;
  uint16_t client_port = 0;
  uint16_t peer_port = 0;
  std::string netns;  // empty in loopback mode
  std::string data_dir;
  std::string disk_mount;  // disk_faults: the ext4 mount holding data_dir
  std::string disk_image;  // ... its image file
  std::string disk_loop;   // ... and its loop device
  std::string log_path;
  pid_t pid = -1;  // -1: not running
  bool stopped = false;
  std::string client_address() const { return ip + ":" + std::to_string(client_port); }
};

class ChaosCluster {
 public:
  // Sets up the network (netns if asked and possible) and the data dirs.
  static common::Result<std::unique_ptr<ChaosCluster>> create(ClusterConfig cfg);
  ~ChaosCluster();  // kills every node, removes namespaces, bridge, mount
  ChaosCluster(const ChaosCluster&) = delete;
  ChaosCluster& operator=(const ChaosCluster&) = delete;

  bool netns_mode() const { return netns_; }
  std::string mode_description() const;
  size_t size() const { return nodes_.size(); }
  const NodeProc& node(size_t i) const { return nodes_[i]; }
  std::vector<std::string> endpoints() const;

  common::Status start(size_t i);
  common::Status start_all();
  void kill9(size_t i);
  void kill9_all();
  void sigstop(size_t i);
  void sigcont(size_t i);
  bool running(size_t i) const { return nodes_[i].pid > 0; }
  // If node i exited on its own within `timeout`: its exit code (128+sig if
  // killed by a signal), and it counts as not running. -1: still running.
  int wait_exit(size_t i, std::chrono::milliseconds timeout);

  // Drop all peer traffic between the two groups (both directions).
  // Client traffic from the root namespace still flows. netns mode only.
  common::Status partition(const std::set<size_t>& side_a);
  // Packets from `from` never reach `to` (the other direction still flows).
  common::Status drop_one_way(size_t from, size_t to);
  // Every packet between two nodes is dropped with this probability.
  common::Status random_loss(uint32_t percent);
  // disk_faults: node i's filesystem fills up to the last byte; free_disk
  // removes the ballast.
  common::Status fill_disk(size_t i);
  common::Status free_disk(size_t i);
  // disk_faults: an ext4 error on node i's filesystem, which (mounted
  // errors=remount-ro) the kernel turns read-only as on a real disk error.
  common::Status fail_disk_readonly(size_t i);
  bool disk_readonly(size_t i) const;
  // Node i must not be running: unmount, fsck, mount read-write again.
  common::Status repair_disk(size_t i);
  // Every connection between the two nodes of each pair goes through a
  // proxy in this process that delays it by `delay` (+ up to `jitter`)
  // each way. Existing peer connections are reset so that the nodes redial
  // through the proxies. heal_network() removes it. netns mode only.
  struct LinkTraffic {
    uint64_t connections = 0;
    uint64_t bytes = 0;
  };
  common::Status slow_links(const std::set<std::pair<size_t, size_t>>& pairs,
                            std::chrono::milliseconds delay, std::chrono::milliseconds jitter,
                            uint64_t seed);
  // What went through the slow-link proxies since slow_links().
  LinkTraffic slow_link_traffic() const;
  common::Status heal_network();
  bool partitioned() const { return partitioned_; }

  // kill -9 every node, then shut the XFS filesystem down without flushing
  // its log (the page cache is lost as in a power cut), remount, restart.
  common::Status power_cycle();

  // The leader every running, unpaused node agrees on, or -1.
  int leader();
  // Waits until a leader exists and every running node has applied the
  // leader's commit index.
  common::Status wait_converged(std::chrono::milliseconds timeout);
  std::unique_ptr<api::Client> client(size_t i, std::chrono::milliseconds timeout);
  std::string log_tail(size_t i, size_t lines) const;
  // The TCP connections in node i's namespace (ss), for stuck-replication
  // reports; empty in loopback mode.
  std::string sockets(size_t i) const;

 private:
  explicit ChaosCluster(ClusterConfig cfg) : cfg_(std::move(cfg)) {}
  common::Status setup_netns();
  common::Status setup_loopback();
  common::Status mount_data();
  void teardown();
  std::vector<std::string> node_argv(size_t i) const;
  common::Result<api::RaftDiagnostics> diagnostics(size_t i);

  ClusterConfig cfg_;
  bool netns_ = false;
  std::string tag_;     // unique per run: our pid
  std::string bridge_;  // empty in loopback mode
  std::string subnet_;  // netns mode: "10.214.X.", the bridge is .1
  std::string mount_;   // XFS mount point when power_loss
  std::string image_;
  std::string loopdev_;
  bool partitioned_ = false;
  // Replaces the chaos table in each node's namespace with its rules
  // (node -> nft rule lines; a node without rules is left open).
  common::Status install_rules(const std::map<size_t, std::string>& rules);
  common::Status mount_small_disk(NodeProc& n);
  // Resets the peer connections each node of `nodes` dialled (ss -K in its
  // namespace); the other end sees the reset too.
  void reset_peer_connections(const std::set<size_t>& nodes);
  void stop_proxies();
  std::vector<std::unique_ptr<DelayProxy>> proxies_;
  std::vector<NodeProc> nodes_;
};

// Runs a short shell command (ip, nft, mount: each returns in well under a
// second); its exit code, -1 if it could not run. Output to `out` if given.
int run_command(const std::string& cmd, std::string* out = nullptr);

}  // namespace chaos
