// The simulated cluster: nodes, network, virtual time (one discrete event
// queue), and the checker watching every step. Deterministic: one seeded
// PRNG, no wall clock, no threads, events ordered by (time, sequence) and
// nodes kept in a std::map.
//
// Scripted scenarios drive it directly (crash, split, propose, run_until);
// the randomized runner adds a workload and a fault schedule on top.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "raftlog/raft.h"
#include "tests/sim/checker.h"
#include "tests/sim/network.h"
#include "tests/sim/node.h"
#include "tests/sim/rng.h"

namespace raftsim {

struct ClusterOptions {
  uint64_t seed = 1;
  int voters = 3;  // founding voters get ids 1..voters
  int spares = 3;  // ids voters+1 .. voters+spares may join later as learners
  uint64_t tick_us = 10'000;
  // Per-node clock rate skew: a node ticks every tick_us / rate.
  double clock_rate_min = 0.8;
  double clock_rate_max = 1.25;
  uint64_t fsync_min_us = 200;
  uint64_t fsync_max_us = 5'000;
  NetworkFaults faults;
  raftlog::Config core;  // template; id and random_seed are set per node
  // Deliberate driver bug: send messages_after_persist and apply before the
  // fsync completes, so a crash can lose what was promised.
  bool ack_before_sync = false;
  // Deliberate application bug: node 1 does not apply CAS commands (KV
  // entries with compares) at indexes divisible by 7, yet reports them
  // applied.
  bool kv_apply_skip = false;
  bool verbose = false;
};

// Told what nodes apply and which reads they answer; the KV workload's
// clients learn their outcomes this way. Calls come from inside a node's
// Ready handling, so a listener must not give the cluster input directly:
// it schedules its next request with Cluster::at().
class ClientListener {
 public:
  virtual ~ClientListener() = default;
  virtual void on_applied(NodeId node, uint64_t incarnation, raftlog::Index index,
                          const SimApplied& a) = 0;
  virtual void on_read_state(NodeId node, uint64_t incarnation, const raftlog::ReadState& rs) = 0;
};

class Cluster {
 public:
  explicit Cluster(const ClusterOptions& o);
  ~Cluster();

  const ClusterOptions& options() const { return opts_; }
  uint64_t now_us() const { return now_us_; }
  SimRng& rng() { return rng_; }
  Network& network() { return net_; }
  Checker& checker() { return checker_; }
  bool failed() const { return checker_.failed(); }

  // Time. Both stop early once the checker failed.
  void run_for(uint64_t duration_us);
  // Runs until pred() holds (polled every poll_us) or budget_us passed.
  bool run_until(const std::function<bool()>& pred, uint64_t budget_us, uint64_t poll_us = 5'000);
  void at(uint64_t t_us, std::function<void()> action);

  // Topology.
  std::vector<NodeId> all_ids() const;      // founding and spare, sorted
  std::vector<NodeId> started_ids() const;  // ever started
  SimNode& node(NodeId id);
  bool alive(NodeId id) const;
  void start(NodeId id);  // first start of a spare, or restart after crash
  void crash(NodeId id);
  void crash_all();
  // The live leader with the highest term, or kNoNode.
  NodeId leader() const;

  // Inputs from clients and operators (checked like any other input).
  raftlog::Result<raftlog::Index> propose(NodeId at, const std::vector<uint64_t>& client_ids);
  // One KV command as one entry (kv_command.h encoding).
  raftlog::Result<raftlog::Index> propose_kv(NodeId at, uint64_t client_id,
                                             const state::Command& cmd);
  raftlog::Result<raftlog::Index> propose_membership(NodeId at, const raftlog::Membership& next);
  raftlog::Status read_index(NodeId at, const std::string& ctx);
  raftlog::Status transfer_leadership(NodeId at, NodeId target);
  void campaign(NodeId at);
  uint64_t next_client_id() { return ++last_client_id_; }

  void set_listener(ClientListener* l) { listener_ = l; }

  // Driver side, used by SimNode.
  void applied(SimNode& n, const raftlog::Entry& e, const SimApplied& a);
  void read_state(SimNode& n, const raftlog::ReadState& rs);
  void send(SimNode& from, raftlog::Message m);
  void schedule_persisted(SimNode& n, uint64_t delay_us);
  // Checks after any input to n (also used by SimNode after ready/advance).
  void after_input(SimNode& n);
  void trace(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  void trace_ready(const SimNode& n, const raftlog::Ready& rd);
  bool verbose() const { return opts_.verbose; }

  uint64_t events_processed() const { return events_; }
  // Snapshots a node could not take for want of a configuration at their
  // index (FINDINGS.md #6).
  void note_snapshot_without_config() { snapshots_without_config_++; }
  uint64_t snapshots_without_config() const { return snapshots_without_config_; }

 private:
  enum class Kind : uint8_t { kTick, kDeliver, kPersisted, kSnapshotReport, kAction };
  struct Event {
    Kind kind;
    NodeId node;  // target
    uint64_t incarnation = 0;
    NodeId from;
    uint64_t from_incarnation = 0;
    bool ok = false;  // kSnapshotReport
    raftlog::Message msg;
    std::function<void()> action;
  };
  void push(uint64_t t_us, Event e);
  void dispatch(Event& e);
  void schedule_tick(SimNode& n);

  ClusterOptions opts_;
  SimRng rng_;
  Network net_;
  Checker checker_;
  uint64_t now_us_ = 0;
  uint64_t seq_ = 0;
  uint64_t events_ = 0;
  uint64_t last_client_id_ = 0;
  uint64_t snapshots_without_config_ = 0;
  std::map<std::pair<uint64_t, uint64_t>, Event> queue_;  // (time, seq)
  std::map<NodeId, std::unique_ptr<SimNode>> nodes_;
  std::map<NodeId, bool> started_;
  ClientListener* listener_ = nullptr;  // not owned; may be null
};

}  // namespace raftsim
