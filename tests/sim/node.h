// One simulated server: a Raft core (volatile), its SimLog (the disk, which
// survives crashes), its state machine (volatile, rebuilt from the local
// snapshot), and the driver that executes each Ready in the documented
// order: send `messages` at once, persist (a random virtual fsync during
// which the node keeps stepping and ticking), then send
// `messages_after_persist`, apply, take snapshots, compact, advance.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "raftlog/raft.h"
#include "tests/sim/sim_log.h"
#include "tests/sim/state_machine.h"

namespace raftsim {

using raftlog::NodeId;

class Cluster;

class SimNode {
 public:
  SimNode(NodeId id, std::unique_ptr<SimLog> disk, double clock_rate);

  NodeId id() const { return id_; }
  double clock_rate() const { return clock_rate_; }
  bool alive() const { return core_ != nullptr; }
  // Bumped on every start: events addressed to an older incarnation are void.
  uint64_t incarnation() const { return incarnation_; }
  bool persisting() const { return in_flight_.has_value(); }

  raftlog::Core& core() { return *core_; }
  const raftlog::Core& core() const { return *core_; }
  const SimLog& disk() const { return *disk_; }
  const SimStateMachine& sm() const { return sm_; }

  // Driver. Each returns after handing the node's output to the cluster.
  raftlog::Status start(Cluster& c);  // boot a core from disk
  void crash();                       // lose everything not on disk
  void pump(Cluster& c);              // take the next Ready if none is outstanding
  void persisted(Cluster& c);         // the outstanding Ready's fsync finished

  // Checker bookkeeping: the state before the last input.
  raftlog::InvariantSnapshot prev;
  raftlog::Index prev_last;
  raftlog::Term lead_term;   // term in which lead_tail was recorded
  raftlog::Index lead_tail;  // last index this node appended as leader of lead_term

 private:
  // Step 2 and 3 of a Ready: messages_after_persist, snapshot request, apply,
  // read states.
  void deliver(Cluster& c, raftlog::Ready& rd);
  void apply(Cluster& c, const std::vector<raftlog::Entry>& entries);
  void maybe_snapshot(Cluster& c);
  void install(Cluster& c, const raftlog::Snapshot& s);

  NodeId id_;
  double clock_rate_;
  uint64_t incarnation_ = 0;
  std::unique_ptr<SimLog> disk_;
  std::unique_ptr<raftlog::Core> core_;
  SimStateMachine sm_;
  std::optional<raftlog::Ready> in_flight_;
  bool in_flight_early_ = false;  // ack_before_sync already delivered it
  std::optional<raftlog::Index> snapshot_wanted_;
};

}  // namespace raftsim
