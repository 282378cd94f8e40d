// FakeService: an in-memory TEST DOUBLE of the node behind api::Service, for
// the HTTP layer's unit tests only. No Raft, no disk: append assigns
// consecutive ids at once, "applies" them, and wakes waiters. Keys live in a
// map whose revisions are those ids; leases expire lazily (checked on every
// key or lease call) against the steady clock, and a grant or revoke is an
// internal change, as in the node. Tests steer failures through the public
// fields. Must be used on the io_context's thread, like the real node (tests
// post to it with on_io()).
#pragma once

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "api/service.h"

namespace api::test {

class FakeService : public Service {
 public:
  explicit FakeService(boost::asio::io_context& io) : io_(io) {}

  // Steering knobs for tests (set them before the request they affect).
  std::optional<Status> append_error;   // next appends fail with this
  std::optional<Status> barrier_error;  // read_barrier fails with this
  uint64_t first_index = 1;             // below it reads are kCompacted
  bool has_leader = true;
  uint64_t barrier_calls = 0;
  std::optional<Status> txn_error;  // next txns fail with this
  uint64_t txn_calls = 0;           // txns that reached the Service (bad input must not)
  uint64_t keepalive_calls = 0;
  // Membership: the next membership calls fail with this (e.g. kNotLeader).
  std::optional<Status> member_error;
  // remove_member without force answers kFailedPrecondition (a lost quorum).
  bool refuse_removal_without_force = false;

  void append(std::vector<ChangeInput> changes, bool wait, AppendDone done) override {
    if (append_error) {
      boost::asio::post(io_, [done, s = *append_error] { done(s); });
      return;
    }
    std::vector<Appended> out;
    for (auto& in : changes) {
      Change c;
      c.id = ++last_index_;
      c.ts_ns = ++ts_ns_;
      c.type = in.type;
      c.tags = std::move(in.tags);
      c.data_json = std::move(in.data_json);
      log_.push_back(std::move(c));
      out.push_back({log_.back().id, log_.back().ts_ns});
    }
    boost::asio::post(io_, [done, out] { done(out); });
    wake_waiters();
  }

  Result<FeedPage> read_feed(const FeedQuery& q) override {
    if (q.since + 1 < first_index) return Status(Code::kCompacted, "since is below firstIndex");
    FeedPage page;
    page.first_index = first_index;
    page.last_index = last_index_;
    page.at_start = q.since < first_index;
    page.at_end = true;
    for (const auto& c : log_) {
      if (c.id <= q.since || !matches(c, q)) continue;
      if (page.changes.size() == q.limit) {
        page.at_end = false;
        break;
      }
      page.changes.push_back(c);
    }
    return page;
  }

  Result<Change> read_change(uint64_t id) override {
    if (id < first_index && id != 0) return Status(Code::kCompacted, "compacted");
    for (const auto& c : log_) {
      if (c.id == id && !c.internal) return c;
    }
    return Status(Code::kNotFound, "no change " + std::to_string(id));
  }

  // Wakes only on apply; the HTTP layer's own timer covers the deadline.
  void wait_applied(uint64_t after, std::chrono::steady_clock::time_point,
                    std::function<void()> wake) override {
    if (last_index_ > after) {
      boost::asio::post(io_, std::move(wake));
      return;
    }
    waiters_.emplace_back(after, std::move(wake));
  }

  void read_barrier(std::function<void(Status)> done) override {
    barrier_calls++;
    Status s = barrier_error ? *barrier_error : Status::ok();
    boost::asio::post(io_, [done, s] { done(s); });
  }

  void txn(TxnRequest req, bool wait, TxnDone done) override {
    if (txn_error) {
      boost::asio::post(io_, [done, s = *txn_error] { done(s); });
      return;
    }
    txn_calls++;
    expire_leases();
    Result<TxnResult> r = apply_txn(std::move(req));
    boost::asio::post(io_, [done, r] { done(r); });
    wake_waiters();
  }

  Result<KeyValue> get_key(const std::string& key) override {
    expire_leases();
    auto it = keys_.find(key);
    if (it == keys_.end()) return Status(Code::kNotFound, "key \"" + key + "\" not found");
    return it->second;
  }

  Result<KeyPage> list_keys(const std::string& prefix, const std::string& after,
                            uint32_t limit) override {
    expire_leases();
    KeyPage page;
    page.revision = last_index_;
    auto it = after.empty() ? keys_.lower_bound(prefix) : keys_.upper_bound(after);
    if (it != keys_.end() && it->first < prefix) it = keys_.lower_bound(prefix);
    for (; it != keys_.end() && it->first.starts_with(prefix); ++it) {
      if (page.keys.size() == limit) {
        page.more = true;
        break;
      }
      page.keys.push_back(it->second);
    }
    return page;
  }

  void lease_grant(uint64_t ttl_seconds, LeaseDone done) override {
    if (ttl_seconds < kLeaseTtlSecondsMin || ttl_seconds > kLeaseTtlSecondsMax) {
      return post(done, Status(Code::kInvalidArgument, "ttl out of range"));
    }
    uint64_t id = next_lease_id_++;
    leases_[id] = Lease{ttl_seconds, std::chrono::steady_clock::now(), {}};
    append_internal("{\"grant\":" + std::to_string(id) + "}", {});
    post(done, info(id));
  }

  void lease_keepalive(uint64_t id, LeaseDone done) override {
    keepalive_calls++;
    expire_leases();
    auto it = leases_.find(id);
    if (it == leases_.end()) return post(done, lease_not_found(id));
    it->second.renewed = std::chrono::steady_clock::now();
    post(done, info(id));
  }

  void lease_revoke(uint64_t id, std::function<void(Status)> done) override {
    expire_leases();
    Status s = leases_.count(id) ? Status::ok() : lease_not_found(id);
    if (s.is_ok()) revoke(id);
    boost::asio::post(io_, [done, s] { done(s); });
  }

  void lease_get(uint64_t id, LeaseDone done) override {
    expire_leases();
    if (!leases_.count(id)) return post(done, lease_not_found(id));
    post(done, info(id));
  }

  void add_member(MemberRequest req, std::function<void(Result<MemberView>)> done) override {
    if (member_error) return post_result(done, Result<MemberView>(*member_error));
    for (const auto& m : members_) {
      if (m.name == req.name || m.peer_url == req.peer_url) {
        return post_result(done, Result<MemberView>(Status(Code::kConflict, "in use")));
      }
    }
    members_.push_back({next_member_id_++, req.name, req.peer_url, req.client_url, true});
    post_result(done, Result<MemberView>(members_.back()));
  }

  void remove_member(uint64_t id, bool force, std::function<void(Status)> done) override {
    auto it = find_member(id);
    Status s = member_error           ? *member_error
               : it == members_.end() ? member_not_found(id)
               : refuse_removal_without_force && !force
                   ? Status(Code::kFailedPrecondition, "would lose the quorum")
                   : Status::ok();
    if (s.is_ok()) members_.erase(it);
    post_result(done, s);
  }

  void promote_member(uint64_t id, std::function<void(Status)> done) override {
    auto it = find_member(id);
    Status s = member_error           ? *member_error
               : it == members_.end() ? member_not_found(id)
                                      : Status::ok();
    if (s.is_ok()) it->learner = false;
    post_result(done, s);
  }

  void update_member(uint64_t id, std::string peer_url, std::function<void(Status)> done) override {
    auto it = find_member(id);
    Status s = member_error           ? *member_error
               : it == members_.end() ? member_not_found(id)
                                      : Status::ok();
    if (s.is_ok()) it->peer_url = peer_url;
    post_result(done, s);
  }

  void transfer_leadership(uint64_t id, std::function<void(Status)> done) override {
    auto it = find_member(id);
    Status s = member_error           ? *member_error
               : it == members_.end() ? member_not_found(id)
                                      : Status::ok();
    if (s.is_ok()) leader_id_ = id;
    post_result(done, s);
  }

  ClusterView cluster() override {
    return {"00000000000000aa", has_leader ? leader_id_ : 0u, members_};
  }

  RaftDiagnostics diagnostics() override {
    RaftDiagnostics d;
    d.id = 1;
    d.name = "n1";
    d.state = "leader";
    d.leader = 1;
    d.term = 3;
    d.first_index = first_index;
    d.last_index = d.applied_index = d.committed_index = d.stable_index = last_index_;
    d.peers = {{2, last_index_, last_index_ + 1, "replicate", true}};
    return d;
  }

  HealthView health() override {
    return {has_leader, marked_down_, has_leader ? "" : "no leader elected"};
  }
  void set_marked_down(bool down) override { marked_down_ = down; }
  std::string metrics_text() override { return "changeagent_fake_metric 1\n"; }

  // Runs f on the io_context's thread and waits for it.
  template <typename F>
  auto on_io(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto fut = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return fut.get();
  }

 private:
  struct Lease {
    uint64_t ttl_seconds = 0;
    std::chrono::steady_clock::time_point renewed;
    std::set<std::string> keys;
  };

  static bool matches(const Change& c, const FeedQuery& q) {
    if (c.internal && !q.include_internal) return false;
    if (!q.prefix.empty() && std::none_of(c.ops.begin(), c.ops.end(), [&](const TxnOp& op) {
          return op.key.starts_with(q.prefix);
        })) {
      return false;
    }
    if (q.tags.empty()) return true;
    for (const auto& t : q.tags) {
      if (std::find(c.tags.begin(), c.tags.end(), t) != c.tags.end()) return true;
    }
    return false;
  }

  Result<TxnResult> apply_txn(TxnRequest req) {
    TxnResult r;
    bool holds = true;
    for (const auto& cmp : req.compares) {
      auto it = keys_.find(cmp.key);
      uint64_t current = it == keys_.end() ? 0 : it->second.mod_revision;
      holds = holds && current == cmp.mod_revision;
      r.current.push_back({cmp.key, current});
    }
    if (!holds) return r;
    r.current.clear();
    for (const auto& op : req.ops) {
      if (op.key.empty() || op.key.size() > kKeyBytesMax) {
        return Status(Code::kInvalidArgument, "bad key");
      }
      if (!op.del && op.lease != 0 && !leases_.count(op.lease)) return lease_not_found(op.lease);
    }
    Change c;
    c.id = ++last_index_;
    c.ts_ns = ++ts_ns_;
    c.type = req.change.type;
    c.internal = req.internal;
    c.tags = std::move(req.change.tags);
    c.data_json = std::move(req.change.data_json);
    for (auto& op : req.ops) {
      apply_op(op, c.id);
      c.ops.push_back(TxnOp{std::move(op.key), op.del, {}, op.lease});
    }
    log_.push_back(std::move(c));
    r.succeeded = true;
    r.id = log_.back().id;
    r.ts_ns = log_.back().ts_ns;
    return r;
  }

  void apply_op(const TxnOp& op, uint64_t revision) {
    auto it = keys_.find(op.key);
    if (it != keys_.end() && it->second.lease != 0 && leases_.count(it->second.lease)) {
      leases_[it->second.lease].keys.erase(op.key);
    }
    if (op.del) {
      if (it != keys_.end()) keys_.erase(it);
      return;
    }
    KeyValue& kv = keys_[op.key];
    if (kv.create_revision == 0) {
      kv.key = op.key;
      kv.create_revision = revision;
    }
    kv.mod_revision = revision;
    kv.version++;
    kv.value_json = op.value_json;
    kv.lease = op.lease;
    if (op.lease != 0) leases_[op.lease].keys.insert(op.key);
  }

  void append_internal(std::string data, std::vector<TxnOp> ops) {
    Change c;
    c.id = ++last_index_;
    c.ts_ns = ++ts_ns_;
    c.data_json = std::move(data);
    c.ops = std::move(ops);
    c.internal = true;
    log_.push_back(std::move(c));
    wake_waiters();
  }

  // A revoke is one internal change that deletes the lease's keys.
  void revoke(uint64_t id) {
    std::vector<TxnOp> ops;
    for (const auto& k : leases_[id].keys) {
      ops.push_back(TxnOp{k, true, {}, 0});
      keys_.erase(k);
    }
    leases_.erase(id);
    append_internal("{\"revoke\":" + std::to_string(id) + "}", std::move(ops));
  }

  void expire_leases() {
    auto now = std::chrono::steady_clock::now();
    std::vector<uint64_t> expired;
    for (const auto& [id, l] : leases_) {
      if (now - l.renewed >= std::chrono::seconds(l.ttl_seconds)) expired.push_back(id);
    }
    for (uint64_t id : expired) revoke(id);
  }

  LeaseInfo info(uint64_t id) {
    const Lease& l = leases_.at(id);
    auto left =
        std::chrono::seconds(l.ttl_seconds) - (std::chrono::steady_clock::now() - l.renewed);
    return LeaseInfo{id,
                     l.ttl_seconds,
                     std::chrono::duration_cast<std::chrono::milliseconds>(left).count(),
                     {l.keys.begin(), l.keys.end()}};
  }

  static Status lease_not_found(uint64_t id) {
    return Status(Code::kNotFound,
                  "lease " + std::to_string(id) + " not found (expired or revoked)");
  }

  void post(const LeaseDone& done, Result<LeaseInfo> r) {
    boost::asio::post(io_, [done, r] { done(r); });
  }

  std::vector<MemberView>::iterator find_member(uint64_t id) {
    return std::find_if(members_.begin(), members_.end(),
                        [id](const MemberView& m) { return m.id == id; });
  }
  static Status member_not_found(uint64_t id) {
    return Status(Code::kNotFound, "no member " + std::to_string(id));
  }
  template <typename R>
  void post_result(const std::function<void(R)>& done, R r) {
    boost::asio::post(io_, [done, r] { done(r); });
  }

  void wake_waiters() {
    auto it = std::partition(waiters_.begin(), waiters_.end(),
                             [&](const auto& w) { return w.first >= last_index_; });
    for (auto w = it; w != waiters_.end(); ++w) boost::asio::post(io_, std::move(w->second));
    waiters_.erase(it, waiters_.end());
  }

  boost::asio::io_context& io_;
  std::vector<Change> log_;
  uint64_t last_index_ = 0;
  uint64_t ts_ns_ = 1700000000000000000ull;
  bool marked_down_ = false;
  std::vector<std::pair<uint64_t, std::function<void()>>> waiters_;
  std::map<std::string, KeyValue> keys_;
  std::map<uint64_t, Lease> leases_;
  uint64_t next_lease_id_ = 7001;  // far from revisions, so tests catch a mix-up
  std::vector<MemberView> members_ = {{1, "n1", "127.0.0.1:9001", "127.0.0.1:8001", false},
                                      {2, "n2", "127.0.0.1:9002", "127.0.0.1:8002", false}};
  uint64_t next_member_id_ = 101;
  uint64_t leader_id_ = 1;
};

}  // namespace api::test
