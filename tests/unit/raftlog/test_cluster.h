// A tiny synchronous cluster for unit tests: cores plus MemLogs, a message
// queue, and a driver loop that follows raft.h's Ready contract exactly.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "common/assert.h"
#include "raftlog/raft.h"
#include "tests/unit/raftlog/mem_log.h"

namespace raftlog::testing {

inline constexpr ClusterId kCluster{42};

struct TestNode {
  MemLog log;
  std::unique_ptr<Core> core;
  std::vector<Entry> applied;  // the state machine: applied normal entries
  std::vector<ReadState> reads;
  std::vector<Notice> notices;
};

class TestCluster {
 public:
  // Voters 1..n, plus learners given by id.
  explicit TestCluster(int n, std::function<void(Config&)> tweak = {}) : tweak_(std::move(tweak)) {
    for (int i = 1; i <= n; i++)
      initial_.members[NodeId(i)] = Member{false, "n" + std::to_string(i)};
    for (int i = 1; i <= n; i++) start(NodeId(i), /*bootstrap=*/true);
  }

  Config config_for(NodeId id) const {
    Config c;
    c.id = id;
    c.cluster_id = kCluster;
    c.election_timeout_ticks = 10;
    c.heartbeat_ticks = 1;
    c.random_seed = id.value() * 7919;
    if (tweak_) tweak_(c);
    return c;
  }

  // Starts (or restarts from its durable log) node `id`. A bootstrapped node
  // gets the initial configuration as a snapshot at index 0.
  void start(NodeId id, bool bootstrap) {
    auto& n = nodes_[id];
    if (!n) {
      n = std::make_unique<TestNode>();
      if (bootstrap) n->log.install(Snapshot{SnapshotMeta{Index(0), Term(0), initial_}, nullptr});
    }
    Boot boot;
    boot.hard_state = n->log.hs;
    SnapshotMeta snap = n->log.snapshot();
    if (snap.index > Index(0) || !snap.membership.members.empty()) {
      boot.configs.emplace_back(snap.index, snap.membership);
    }
    auto ents = n->log.entries(n->log.first_index(), n->log.last_index() + 1, UINT64_MAX);
    for (const auto& e : *ents) {
      if (e.type == EntryType::kMembership)
        boot.configs.emplace_back(e.index, *decode_membership(e.data));
    }
    boot.applied = n->applied.empty() ? snap.index : std::max(snap.index, n->applied.back().index);
    auto core = Core::create(config_for(id), &n->log, boot);
    CA_ASSERT(core.is_ok());
    n->core = std::move(*core);
  }

  // Crash: the core and in-flight messages to/from it are lost; the log stays.
  void crash(NodeId id) {
    nodes_.at(id)->core.reset();
    std::erase_if(queue_, [&](const Message& m) { return m.to == id || m.from == id; });
  }

  TestNode& node(NodeId id) { return *nodes_.at(id); }
  Core& core(NodeId id) { return *nodes_.at(id)->core; }
  bool up(NodeId id) const { return nodes_.count(id) && nodes_.at(id)->core; }

  void isolate(NodeId id) { isolated_.insert(id); }
  void heal() {
    isolated_.clear();
    cut_.clear();
  }
  void cut(NodeId a, NodeId b) {
    cut_.insert({a, b});
    cut_.insert({b, a});
  }

  // Runs every node's Ready and delivers messages until nothing moves.
  void stabilize(int rounds_max = 1000) {
    for (int r = 0; r < rounds_max; r++) {
      bool moved = process_readies();
      if (queue_.empty() && !moved) return;
      deliver();
    }
  }

  void tick(NodeId id) {
    if (up(id)) core(id).tick();
  }
  void tick_all(int times) {
    for (int t = 0; t < times; t++) {
      for (auto& [id, n] : nodes_) tick(id);
      stabilize();
    }
  }

  // Ticks until some node is leader; returns it (or kNoNode).
  NodeId elect(int ticks_max = 200) {
    for (int t = 0; t < ticks_max; t++) {
      if (auto l = leader(); l != kNoNode) return l;
      tick_all(1);
    }
    return leader();
  }

  NodeId leader() const {
    NodeId found = kNoNode;
    Term best{0};
    for (const auto& [id, n] : nodes_) {
      if (n->core && n->core->role() == Role::kLeader && n->core->term() >= best) {
        best = n->core->term();
        found = id;
      }
    }
    return found;
  }

  std::vector<std::string> applied_data(NodeId id) {
    std::vector<std::string> out;
    for (const auto& e : node(id).applied) {
      if (e.type == EntryType::kNormal && !e.data.empty()) out.push_back(e.data);
    }
    return out;
  }

  std::map<NodeId, std::unique_ptr<TestNode>>& nodes() { return nodes_; }
  std::function<bool(const Message&)> filter;  // return false to drop

 private:
  bool process_readies() {
    bool moved = false;
    for (auto& [id, n] : nodes_) {
      if (!n->core || !n->core->has_ready()) continue;
      moved = true;
      Ready rd = n->core->ready();
      for (auto& m : rd.messages) queue_.push_back(attach(id, std::move(m)));
      if (rd.snapshot) {
        n->log.install(*rd.snapshot);
        n->applied.clear();
        // The state machine is the snapshot: unit tests keep applied entries as data.
      }
      n->log.append(rd.entries);
      if (rd.hard_state) n->log.hs = *rd.hard_state;
      for (auto& m : rd.messages_after_persist) queue_.push_back(attach(id, std::move(m)));
      for (const auto& e : rd.committed_entries) n->applied.push_back(e);
      for (const auto& r : rd.read_states) n->reads.push_back(r);
      for (const auto& x : rd.notices) n->notices.push_back(x);
      n->core->advance(rd);
      if (rd.snapshot_request) {
        SnapshotMeta meta{*rd.snapshot_request, *n->core->term_at(*rd.snapshot_request),
                          n->core->membership()};
        n->log.set_snapshot(meta, "snap@" + std::to_string(meta.index.value()));
        n->core->snapshot_taken(meta);
      }
    }
    return moved;
  }

  Message attach(NodeId from, Message m) {
    if (m.type == MessageType::kSnapshot) {
      m.snapshot.data = std::make_shared<const std::string>(nodes_.at(from)->log.snapshot_data());
    }
    return m;
  }

  void deliver() {
    std::deque<Message> batch;
    batch.swap(queue_);
    for (auto& m : batch) {
      if (isolated_.count(m.from) || isolated_.count(m.to) || cut_.count({m.from, m.to})) continue;
      if (filter && !filter(m)) continue;
      if (!up(m.to)) continue;
      (void)core(m.to).step(m);
    }
  }

  Membership initial_;
  std::function<void(Config&)> tweak_;
  std::map<NodeId, std::unique_ptr<TestNode>> nodes_;
  std::deque<Message> queue_;
  std::set<NodeId> isolated_;
  std::set<std::pair<NodeId, NodeId>> cut_;
};

}  // namespace raftlog::testing
