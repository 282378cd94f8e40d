#include "tests/sim/kv_workload.h"

#include "common/assert.h"

namespace raftsim {

using raftlog::Index;

namespace {
// How often a client waiting for a read_index answer to be applied looks.
constexpr uint64_t kReadPollUs = 2'000;
}  // namespace

KvWorkload::KvWorkload(Cluster& c, const KvOptions& o)
    : c_(c), o_(o), clients_(o.counters == 0 ? 0 : o.clients) {
  CA_ASSERT(o.think_us_max > 0);
  CA_ASSERT(o.outcome_timeout_us > 0);
  CA_ASSERT(o.plain_keys > 0);
  c_.set_listener(this);
}

KvWorkload::~KvWorkload() {
  c_.set_listener(nullptr);
}

void KvWorkload::start(uint64_t until_us) {
  until_us_ = until_us;
  for (size_t k = 0; k < clients_.size(); k++) begin(k);
  if (o_.counters > 0 && o_.misc_gap_us_max > 0) {
    uint64_t t = c_.now_us() + c_.rng().between(1, o_.misc_gap_us_max);
    if (t <= until_us_) c_.at(t, [this] { misc_step(); });
  }
}

void KvWorkload::close() {
  closed_ = true;
  for (Client& cl : clients_) {
    if (cl.phase == Phase::kProposed) c_.checker().kv().on_increment_unknown(cl.key);
    cl.phase = Phase::kIdle;
    cl.attempt++;
  }
}

void KvWorkload::begin(size_t k) {
  Client& cl = clients_[k];
  cl.phase = Phase::kIdle;
  uint64_t attempt = ++cl.attempt;
  uint64_t t = c_.now_us() + c_.rng().between(1, o_.think_us_max);
  if (closed_ || t > until_us_) return;
  c_.at(t, [this, k, attempt] { request(k, attempt); });
}

NodeId KvWorkload::target() {
  if (guess_ != raftlog::kNoNode && c_.alive(guess_)) return guess_;
  std::vector<NodeId> ids;
  for (NodeId id : c_.started_ids()) {
    if (c_.alive(id)) ids.push_back(id);
  }
  guess_ = ids.empty() ? raftlog::kNoNode : c_.rng().pick(ids);
  return guess_;
}

void KvWorkload::learn(NodeId tried, const raftlog::Status& s) {
  // NotLeader: follow the node's hint; anything else: pick anew next time.
  NodeId hint = c_.alive(tried) ? c_.node(tried).core().leader() : raftlog::kNoNode;
  guess_ = s.code() == raftlog::Code::kNotLeader && hint != tried ? hint : raftlog::kNoNode;
}

void KvWorkload::request(size_t k, uint64_t attempt) {
  Client& cl = clients_[k];
  if (cl.attempt != attempt || closed_) return;
  NodeId at = target();
  if (at == raftlog::kNoNode) return begin(k);
  cl.key = counter_key(c_.rng().between(0, o_.counters - 1));
  cl.node = at;
  cl.incarnation = c_.node(at).incarnation();
  if (!c_.rng().chance(o_.read_index_p)) return read_and_propose(k);
  cl.phase = Phase::kReading;
  cl.read_ctx = "kv" + std::to_string(++reads_);
  cl.read_at = Index();
  raftlog::Status s = c_.read_index(at, cl.read_ctx);
  if (!s.is_ok()) {
    learn(at, s);
    return begin(k);
  }
  c_.at(c_.now_us() + o_.outcome_timeout_us, [this, k, attempt] { timeout(k, attempt); });
}

void KvWorkload::read_and_propose(size_t k) {
  Client& cl = clients_[k];
  // A read whose node went away proposed nothing: just start over.
  if (!c_.alive(cl.node) || c_.node(cl.node).incarnation() != cl.incarnation ||
      c_.now_us() > until_us_) {
    return begin(k);
  }
  const state::KeyRecord* r = c_.node(cl.node).sm().view().get(cl.key);
  uint64_t rev = r ? r->mod_revision : 0;
  // An unparsable value proposes 1: the chain check reports the jump.
  uint64_t value = r ? parse_counter(r->value_json).value_or(0) : 0;
  uint64_t id = c_.next_client_id();
  auto res = c_.propose_kv(cl.node, id, counter_increment(cl.key, rev, value));
  if (!res.is_ok()) {
    learn(cl.node, res.status());
    return begin(k);
  }
  guess_ = cl.node;
  cl.phase = Phase::kProposed;
  cl.index = *res;
  cl.client_id = id;
  uint64_t attempt = ++cl.attempt;
  c_.at(c_.now_us() + o_.outcome_timeout_us, [this, k, attempt] { timeout(k, attempt); });
}

void KvWorkload::poll_read(size_t k, uint64_t attempt) {
  Client& cl = clients_[k];
  if (cl.attempt != attempt || cl.phase != Phase::kReading) return;
  if (!c_.alive(cl.node) || c_.node(cl.node).incarnation() != cl.incarnation) return begin(k);
  if (c_.node(cl.node).sm().applied() >= cl.read_at) return read_and_propose(k);
  c_.at(c_.now_us() + kReadPollUs, [this, k, attempt] { poll_read(k, attempt); });
}

void KvWorkload::timeout(size_t k, uint64_t attempt) {
  Client& cl = clients_[k];
  if (cl.attempt != attempt) return;
  if (cl.phase == Phase::kProposed) c_.checker().kv().on_increment_unknown(cl.key);
  begin(k);
}

void KvWorkload::on_read_state(NodeId node, uint64_t incarnation, const raftlog::ReadState& rs) {
  for (size_t k = 0; k < clients_.size(); k++) {
    Client& cl = clients_[k];
    if (cl.phase != Phase::kReading || cl.node != node || cl.incarnation != incarnation ||
        cl.read_ctx != rs.context || cl.read_at.value() != 0) {
      continue;
    }
    cl.read_at = rs.index;
    uint64_t attempt = cl.attempt;
    c_.at(c_.now_us(), [this, k, attempt] { poll_read(k, attempt); });
  }
}

void KvWorkload::on_applied(NodeId node, uint64_t incarnation, Index index, const SimApplied& a) {
  for (size_t k = 0; k < clients_.size(); k++) {
    Client& cl = clients_[k];
    // Another incarnation of the proposer: it crashed, the outcome stays
    // unknown (the timeout reports it).
    if (cl.phase != Phase::kProposed || cl.node != node || cl.index != index ||
        cl.incarnation != incarnation) {
      continue;
    }
    // Ours and applied: acknowledged. Ours with a failed compare, or another
    // entry at our index: certainly no increment; read again.
    if (a.payload.client_id == cl.client_id && a.result.outcome == state::Outcome::kApplied) {
      c_.checker().kv().on_increment_acked(cl.key);
    }
    begin(k);
  }
}

void KvWorkload::misc_step() {
  uint64_t t = c_.now_us() + c_.rng().between(1, o_.misc_gap_us_max);
  if (t <= until_us_) c_.at(t, [this] { misc_step(); });
  NodeId at = target();
  if (at == raftlog::kNoNode) return;
  // Leases are read from the target's own view (possibly stale: a put or
  // revoke naming a lease already gone fails as kUnknownLease everywhere).
  std::vector<uint64_t> leases;
  for (const auto& [id, l] : c_.node(at).sm().view().leases()) leases.push_back(id);
  uint64_t id = c_.next_client_id();
  state::Command cmd;
  uint64_t roll = c_.rng().between(0, 99);
  if (roll < 35) {
    cmd.ops.push_back(state::Op{plain_key(c_.rng().between(0, o_.plain_keys - 1)), false,
                                "\"v" + std::to_string(id) + "\"", 0});
  } else if (roll < 50) {
    cmd.ops.push_back(state::Op{plain_key(c_.rng().between(0, o_.plain_keys - 1)), true, "", 0});
  } else if (roll < 65 || leases.empty()) {
    cmd.lease_grant_ttl_seconds = c_.rng().between(1, 60);
  } else if (roll < 88) {
    uint64_t lease = c_.rng().pick(leases);
    cmd.ops.push_back(state::Op{lease_key(lease, c_.rng().between(0, 3)), false, "true", lease});
  } else {
    cmd.lease_revoke = c_.rng().pick(leases);
  }
  auto r = c_.propose_kv(at, id, cmd);
  if (!r.is_ok()) learn(at, r.status());
}

}  // namespace raftsim
