#include "tests/sim/cluster.h"

#include <cstdarg>
#include <cstdio>
#include <string>
#include <utility>

#include "common/assert.h"

namespace raftsim {

using raftlog::Index;
using raftlog::Membership;
using raftlog::Message;
using raftlog::MessageType;
using raftlog::Result;
using raftlog::Status;

namespace {
Status down(NodeId id) {
  return Status(raftlog::Code::kUnavailable, "n" + std::to_string(id.value()) + " is down");
}
}  // namespace

Cluster::Cluster(const ClusterOptions& o) : opts_(o), rng_(o.seed) {
  CA_ASSERT(o.voters >= 1);
  CA_ASSERT(o.tick_us > 0);
  CA_ASSERT(o.clock_rate_min > 0 && o.clock_rate_min <= o.clock_rate_max);
  CA_ASSERT(o.fsync_min_us <= o.fsync_max_us);
  net_.set_faults(o.faults);
  Membership initial;
  for (int i = 1; i <= o.voters; i++) {
    initial.members[NodeId(i)] = raftlog::Member{false, "n" + std::to_string(i)};
  }
  std::string empty_state = SimStateMachine().encode();
  for (int i = 1; i <= o.voters + o.spares; i++) {
    NodeId id(i);
    auto disk =
        i <= o.voters ? std::make_unique<SimLog>(initial, empty_state) : std::make_unique<SimLog>();
    double rate = rng_.real(o.clock_rate_min, o.clock_rate_max);
    nodes_[id] = std::make_unique<SimNode>(id, std::move(disk), rate);
  }
  for (int i = 1; i <= o.voters; i++) start(NodeId(i));
}

Cluster::~Cluster() = default;

void Cluster::push(uint64_t t_us, Event e) {
  CA_ASSERT(t_us >= now_us_);
  queue_.emplace(std::make_pair(t_us, seq_++), std::move(e));
}

void Cluster::at(uint64_t t_us, std::function<void()> action) {
  Event e;
  e.kind = Kind::kAction;
  e.action = std::move(action);
  push(std::max(t_us, now_us_), std::move(e));
}

void Cluster::run_for(uint64_t duration_us) {
  uint64_t end = now_us_ + duration_us;
  while (!queue_.empty() && !failed()) {
    auto it = queue_.begin();
    if (it->first.first > end) break;
    now_us_ = it->first.first;
    Event e = std::move(it->second);
    queue_.erase(it);
    events_++;
    dispatch(e);
  }
  if (!failed()) now_us_ = end;
}

bool Cluster::run_until(const std::function<bool()>& pred, uint64_t budget_us, uint64_t poll_us) {
  CA_ASSERT(poll_us > 0);
  uint64_t end = now_us_ + budget_us;
  while (now_us_ < end) {
    if (pred()) return true;
    run_for(std::min(poll_us, end - now_us_));
    if (failed()) return false;
  }
  return pred();
}

void Cluster::dispatch(Event& e) {
  if (e.kind == Kind::kAction) {
    e.action();
    return;
  }
  SimNode& n = *nodes_.at(e.node);
  if (!n.alive() || n.incarnation() != e.incarnation) return;  // addressed to a dead incarnation
  switch (e.kind) {
    case Kind::kTick:
      n.core().tick();
      schedule_tick(n);
      break;
    case Kind::kDeliver: {
      const SimNode& from = *nodes_.at(e.from);
      // A crash resets the sender's connections: what it had in flight is gone.
      if (!from.alive() || from.incarnation() != e.from_incarnation) return;
      if (verbose()) {
        const Message& m = e.msg;
        trace("n%lu <- n%lu %s t%lu i%lu lt%lu n=%zu c%lu%s%s", m.to.value(), m.from.value(),
              raftlog::message_type_name(m.type), m.term.value(), m.index.value(),
              m.log_term.value(), m.entries.size(), m.commit.value(), m.reject ? " REJECT" : "",
              m.type == MessageType::kSnapshot
                  ? (" snap@" + std::to_string(m.snapshot.meta.index.value())).c_str()
                  : "");
      }
      Status s = n.core().step(e.msg);
      if (!s.is_ok() && verbose()) trace("n%lu step: %s", n.id().value(), s.to_string().c_str());
      break;
    }
    case Kind::kPersisted:
      n.persisted(*this);
      break;
    case Kind::kSnapshotReport:
      n.core().report_snapshot(e.from, e.ok);
      break;
    case Kind::kAction:
      break;
  }
  if (failed() || !n.alive()) return;
  after_input(n);
  n.pump(*this);
}

void Cluster::after_input(SimNode& n) {
  checker_.after_input(n);
}

void Cluster::schedule_tick(SimNode& n) {
  auto period = static_cast<uint64_t>(static_cast<double>(opts_.tick_us) / n.clock_rate());
  Event e;
  e.kind = Kind::kTick;
  e.node = n.id();
  e.incarnation = n.incarnation();
  push(now_us_ + std::max<uint64_t>(period, 1), std::move(e));
}

void Cluster::schedule_persisted(SimNode& n, uint64_t delay_us) {
  Event e;
  e.kind = Kind::kPersisted;
  e.node = n.id();
  e.incarnation = n.incarnation();
  push(now_us_ + delay_us, std::move(e));
}

void Cluster::send(SimNode& from, Message m) {
  CA_ASSERT(m.from == from.id());
  auto target = nodes_.find(m.to);
  if (target == nodes_.end() || m.to == from.id()) {
    checker_.fail("n" + std::to_string(from.id().value()) + " sent " +
                  raftlog::message_type_name(m.type) + " to unknown node " +
                  std::to_string(m.to.value()));
    return;
  }
  SimNode& to = *target->second;
  bool snapshot = m.type == MessageType::kSnapshot;
  if (snapshot) {
    m.snapshot.data = from.disk().snapshot_data(m.snapshot.meta.index);
    if (!m.snapshot.data) {
      checker_.fail("n" + std::to_string(from.id().value()) + " sends snapshot at " +
                    std::to_string(m.snapshot.meta.index.value()) + " it does not hold");
      return;
    }
  }
  std::vector<uint64_t> delays;
  if (to.alive()) delays = net_.route(m.from, m.to, rng_);
  if (snapshot) {
    // The sending driver learns whether the transfer made it.
    Event r;
    r.kind = Kind::kSnapshotReport;
    r.node = from.id();
    r.incarnation = from.incarnation();
    r.from = m.to;
    r.ok = !delays.empty();
    push(now_us_ + (delays.empty() ? net_.faults().delay_max_us : delays[0]), std::move(r));
  }
  for (size_t i = 0; i < delays.size(); i++) {
    Event e;
    e.kind = Kind::kDeliver;
    e.node = m.to;
    e.incarnation = to.incarnation();
    e.from = m.from;
    e.from_incarnation = from.incarnation();
    e.msg = i + 1 == delays.size() ? std::move(m) : m;
    push(now_us_ + delays[i], std::move(e));
  }
}

std::vector<NodeId> Cluster::all_ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, n] : nodes_) out.push_back(id);
  return out;
}

std::vector<NodeId> Cluster::started_ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, s] : started_) out.push_back(id);
  return out;
}

SimNode& Cluster::node(NodeId id) {
  return *nodes_.at(id);
}

bool Cluster::alive(NodeId id) const {
  auto it = nodes_.find(id);
  return it != nodes_.end() && it->second->alive();
}

void Cluster::start(NodeId id) {
  SimNode& n = node(id);
  if (n.alive()) return;
  Status s = n.start(*this);
  if (!s.is_ok()) {
    checker_.fail("n" + std::to_string(id.value()) + " failed to boot: " + s.to_string());
    return;
  }
  started_[id] = true;
  trace("n%lu starts (incarnation %lu, term %lu, commit %lu, applied %lu)", id.value(),
        n.incarnation(), n.core().term().value(), n.core().commit().value(),
        n.sm().applied().value());
  // A random phase so nodes do not tick in lockstep.
  Event e;
  e.kind = Kind::kTick;
  e.node = id;
  e.incarnation = n.incarnation();
  push(now_us_ + rng_.between(1, opts_.tick_us), std::move(e));
  after_input(n);
  n.pump(*this);
}

void Cluster::crash(NodeId id) {
  SimNode& n = node(id);
  if (!n.alive()) return;
  trace("n%lu CRASH", id.value());
  n.crash();
}

void Cluster::crash_all() {
  for (auto& [id, n] : nodes_) crash(id);
}

NodeId Cluster::leader() const {
  NodeId best;
  raftlog::Term best_term;
  for (const auto& [id, n] : nodes_) {
    if (!n->alive() || n->core().role() != raftlog::Role::kLeader) continue;
    if (best == raftlog::kNoNode || n->core().term() > best_term) {
      best = id;
      best_term = n->core().term();
    }
  }
  return best;
}

Result<Index> Cluster::propose(NodeId at, const std::vector<uint64_t>& client_ids) {
  SimNode& n = node(at);
  if (!n.alive()) return down(at);
  std::vector<std::string> datas;
  for (uint64_t id : client_ids) datas.push_back(payload_for(id));
  auto r = n.core().propose(std::move(datas));
  if (r.is_ok()) checker_.on_proposed(at, n.incarnation(), *r, client_ids);
  after_input(n);
  n.pump(*this);
  return r;
}

Result<Index> Cluster::propose_kv(NodeId at, uint64_t client_id, const state::Command& cmd) {
  SimNode& n = node(at);
  if (!n.alive()) return down(at);
  auto r = n.core().propose({encode_kv(client_id, cmd)});
  if (r.is_ok()) checker_.on_proposed(at, n.incarnation(), *r, {client_id});
  after_input(n);
  n.pump(*this);
  return r;
}

void Cluster::applied(SimNode& n, const raftlog::Entry& e, const SimApplied& a) {
  checker_.on_applied(n, e, a);
  if (listener_ != nullptr && !failed()) listener_->on_applied(n.id(), n.incarnation(), e.index, a);
}

void Cluster::read_state(SimNode& n, const raftlog::ReadState& rs) {
  checker_.on_read_state(n.id(), rs);
  if (listener_ != nullptr && !failed()) listener_->on_read_state(n.id(), n.incarnation(), rs);
}

Result<Index> Cluster::propose_membership(NodeId at, const Membership& next) {
  SimNode& n = node(at);
  if (!n.alive()) return down(at);
  auto r = n.core().propose_membership(next);
  trace("n%lu propose_membership (%zu members, %zu voters): %s", at.value(), next.members.size(),
        next.voter_count(), r.is_ok() ? "ok" : r.status().to_string().c_str());
  after_input(n);
  n.pump(*this);
  return r;
}

Status Cluster::read_index(NodeId at, const std::string& ctx) {
  SimNode& n = node(at);
  if (!n.alive()) return down(at);
  // Linearizability floor: everything any live node knows committed now.
  Index floor = checker_.committed_max();
  for (const auto& [id, other] : nodes_) {
    if (other->alive()) floor = std::max(floor, other->core().commit());
  }
  checker_.on_read_issued(ctx, floor);
  Status s = n.core().read_index(ctx);
  after_input(n);
  n.pump(*this);
  return s;
}

Status Cluster::transfer_leadership(NodeId at, NodeId target) {
  SimNode& n = node(at);
  if (!n.alive()) return down(at);
  Status s = n.core().transfer_leadership(target);
  trace("n%lu transfer leadership to n%lu: %s", at.value(), target.value(), s.to_string().c_str());
  after_input(n);
  n.pump(*this);
  return s;
}

void Cluster::campaign(NodeId at) {
  SimNode& n = node(at);
  if (!n.alive()) return;
  n.core().campaign();
  after_input(n);
  n.pump(*this);
}

void Cluster::trace(const char* fmt, ...) {
  if (!opts_.verbose) return;
  std::printf("[%4lu.%06lu] ", now_us_ / 1'000'000, now_us_ % 1'000'000);
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::printf("\n");
}

void Cluster::trace_ready(const SimNode& n, const raftlog::Ready& rd) {
  std::string s = "n" + std::to_string(n.id().value()) + " ready:";
  if (rd.soft_state) {
    s += std::string(" ") + raftlog::role_name(rd.soft_state->role) + "(leader n" +
         std::to_string(rd.soft_state->leader.value()) + ")";
  }
  if (rd.hard_state) {
    s += " hs=t" + std::to_string(rd.hard_state->term.value()) + "/v" +
         std::to_string(rd.hard_state->vote.value()) + "/c" +
         std::to_string(rd.hard_state->commit.value());
  }
  if (rd.snapshot) s += " snapshot@" + std::to_string(rd.snapshot->meta.index.value());
  if (!rd.entries.empty()) {
    s += " append[" + std::to_string(rd.entries.front().index.value()) + ".." +
         std::to_string(rd.entries.back().index.value()) + "]t" +
         std::to_string(rd.entries.back().term.value());
  }
  if (!rd.committed_entries.empty()) {
    s += " apply[" + std::to_string(rd.committed_entries.front().index.value()) + ".." +
         std::to_string(rd.committed_entries.back().index.value()) + "]";
  }
  s += " msgs=" + std::to_string(rd.messages.size()) + "+" +
       std::to_string(rd.messages_after_persist.size());
  if (!rd.read_states.empty()) s += " reads=" + std::to_string(rd.read_states.size());
  if (rd.snapshot_request) s += " snapreq@" + std::to_string(rd.snapshot_request->value());
  if (rd.compact_before) s += " compact<" + std::to_string(rd.compact_before->value());
  for (const auto& no : rd.notices) {
    s += " notice(" + std::to_string(static_cast<int>(no.kind)) + ",n" +
         std::to_string(no.peer.value()) + ")";
  }
  if (rd.must_sync) s += " sync";
  trace("%s", s.c_str());
}

}  // namespace raftsim
