// Cluster-wide safety checks, run from outside the replicas after every
// simulator step. Each hook does O(1) or O(what changed) work; only rare
// events (a new leader, a snapshot install, the final check) scan more.
//
// What it checks, beyond raftlog::check_invariants on each core:
//  - election safety: at most one leader per term over the whole run;
//  - leader append-only: a leader never truncates or shrinks its own log;
//  - state-machine safety / log matching: the first apply of an index fixes
//    (term, type, data) for it; every other apply must agree;
//  - leader completeness: a new leader's log holds every entry known
//    committed, except what its snapshot covers;
//  - durability promises: a message sent after persist promises its term
//    and vote are durable; a restart must boot with them;
//  - linearizable reads: a ReadState is at least the highest commit any
//    live node knew when the read was issued;
//  - no acknowledged write lost (final_check after convergence);
//  - state views agree: the first apply of an index fixes the state
//    machine's rolling hash after it (entry plus outcome plus rows
//    written); every other apply, and every snapshot installed there, must
//    match it;
//  - the KV checks of kv_checker.h (CAS chains, increments, leases).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "raftlog/raft.h"
#include "tests/sim/kv_checker.h"
#include "tests/sim/state_machine.h"

namespace raftsim {

using raftlog::Core;
using raftlog::Message;
using raftlog::NodeId;

class SimNode;

class Checker {
 public:
  bool failed() const { return violation_.has_value(); }
  const std::string& violation() const { return *violation_; }
  void fail(std::string what);  // keeps the first

  // After any input to node n (step, tick, propose, ...): per-core
  // invariants and the cluster invariants that depend on one core's state.
  void after_input(SimNode& n);
  void on_ready(SimNode& n, const raftlog::Ready& rd);
  void on_sent_after_persist(NodeId from, const Message& m);
  void on_boot(NodeId id, const raftlog::Boot& boot);
  void on_apply(SimNode& n, const raftlog::Entry& e);  // before the state machine applies e
  void on_applied(SimNode& n, const raftlog::Entry& e, const SimApplied& a);  // after
  void on_snapshot_installed(NodeId id, const SimStateMachine& sm);
  void on_proposed(NodeId id, uint64_t incarnation, Index last, const std::vector<uint64_t>& ids);
  void on_read_issued(const std::string& ctx, Index floor);
  void on_read_state(NodeId id, const raftlog::ReadState& rs);

  // Every acknowledged payload is at its index in each given state machine,
  // equal applied indexes have equal hashes, and the KV final check holds.
  void final_check(const std::map<NodeId, const SimStateMachine*>& members);

  KvChecker& kv() { return kv_; }

  size_t acked_count() const { return acked_.size(); }
  Index committed_max() const { return Index(committed_.size()); }
  bool is_acked(uint64_t client_id) const { return acked_ids_.count(client_id) != 0; }

 private:
  struct Committed {
    raftlog::Term term;
    raftlog::EntryType type;
    std::string data;
    uint64_t sm_hash = 0;  // state machine hash after applying it...
    NodeId hashed_by;      // ...first computed by this node (kNoNode: not yet)
  };
  struct Pending {
    uint64_t incarnation;
    uint64_t client_id;
  };
  struct Promise {
    raftlog::Term term;
    NodeId vote;  // granted vote in `term`, or kNoNode
  };
  void check_leader_complete(SimNode& n);

  std::optional<std::string> violation_;
  std::map<raftlog::Term, NodeId> leaders_;
  std::vector<Committed> committed_;  // [i - 1]: what index i holds, fixed by its first apply
  std::map<std::pair<NodeId, Index>, Pending> pending_;
  std::vector<std::pair<Index, uint64_t>> acked_;  // (index, client id)
  std::map<uint64_t, Index> acked_ids_;
  std::map<NodeId, Promise> promised_;
  std::map<std::string, Index> reads_;  // ctx -> floor
  KvChecker kv_;
};

}  // namespace raftsim
