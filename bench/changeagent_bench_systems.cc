// The systems under test: a changeagent cluster (its own HTTP/JSON API)
// and an etcd cluster (its v3 HTTP/JSON gateway, grpc-gateway, which etcd
// serves on the client port). Both are driven through api::Client::request,
// so both sides pay the same client HTTP and JSON costs.
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "bench/changeagent_bench.h"

namespace cabench {

namespace json = boost::json;

namespace {

// Between polls while waiting for a cluster to elect or a member to catch up.
constexpr auto kPollInterval = std::chrono::milliseconds(50);
// Per request while probing members: a dead member answers at once
// (connection refused); a live one within this.
constexpr auto kProbeTimeout = std::chrono::milliseconds(2000);

// One request to exactly one member; non-2xx becomes a Status.
Result<std::string> ask(const std::string& endpoint, std::string_view method,
                        std::string_view target, std::string body = {}) {
  auto c = make_client({endpoint}, kProbeTimeout);
  if (!c.is_ok()) return c.status();
  auto res = (*c)->request(method, target, std::move(body));
  if (!res.is_ok()) return res.status();
  if (res->status < 200 || res->status >= 300) {
    return Status(Code::kUnavailable, endpoint + " " + std::string(target) + " answered " +
                                          std::to_string(res->status) + ": " +
                                          res->body.substr(0, 200));
  }
  return std::move(res->body);
}

std::string strip_scheme(std::string s) {
  if (auto p = s.find("://"); p != std::string::npos) s = s.substr(p + 3);
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

Result<double> System::fsyncs(int i) {
  auto body = ask(members_.at(static_cast<size_t>(i)).client, "GET", "/metrics");
  if (!body.is_ok()) return body.status();
  const std::string name = fsync_metric() + " ";
  for (size_t pos = 0; pos < body->size();) {
    size_t eol = body->find('\n', pos);
    if (eol == std::string::npos) eol = body->size();
    if (body->compare(pos, name.size(), name) == 0) {
      return std::strtod(body->c_str() + pos + name.size(), nullptr);
    }
    pos = eol + 1;
  }
  return Status(Code::kNotFound, "no " + fsync_metric() + " in /metrics");
}

namespace {

// ---------------------------------------------------------------- changeagent

class Changeagent : public System {
 public:
  std::string name() const override { return "changeagent"; }
  std::string fsync_metric() const override { return "changeagent_fsyncs_total"; }
  std::string interface() const override {
    return "HTTP/1.1 JSON: POST /changes, POST /changes/batch, GET /changes?since=&limit=, "
           "GET /changes/stream (SSE)";
  }
  std::string settings() const override {
    return std::string(
               "server defaults: tick 25 ms, heartbeat 2 ticks, election 10-20 ticks "
               "(250-500 ms); --body-bytes-max 8 MiB") +
           (request_ids ? "; every write carries a unique requestId" : "");
  }

  Status start(const Options& o) override {
    keep_data_ = o.keep_data;
    payload_bytes = o.payload_bytes;
    request_ids = o.request_ids;
    if (!o.start_cluster) {
      for (size_t i = 0; i < o.endpoints.size(); i++) {
        members_.push_back(
            Member{"m" + std::to_string(i + 1), strip_scheme(o.endpoints[i]), {}, {}});
      }
      if (members_.empty()) return Status(Code::kInvalidArgument, "no changeagent endpoints");
      return wait_ready(Clock::now() + std::chrono::seconds(10));
    }
    if (::access(o.server_bin.c_str(), X_OK) != 0) {
      return Status(Code::kInvalidArgument, "no executable changeagent at " + o.server_bin +
                                                "; build it or pass --server-bin");
    }
    auto dir = make_data_dir(o.data_parent, "changeagent-bench");
    if (!dir.is_ok()) return dir.status();
    data_dir_ = *dir;
    auto ports = free_loopback_ports(6);
    if (!ports.is_ok()) return ports.status();
    std::string initial;
    for (int i = 0; i < 3; i++) {
      Member m;
      m.name = "n" + std::to_string(i + 1);
      m.client = "127.0.0.1:" + std::to_string((*ports)[i]);
      m.peer = "127.0.0.1:" + std::to_string((*ports)[3 + i]);
      initial += (i ? "," : "") + m.name + "=" + m.peer;
      members_.push_back(std::move(m));
    }
    for (auto& m : members_) {
      std::vector<std::string> argv{o.server_bin,
                                    "--name=" + m.name,
                                    "--data-dir=" + data_dir_ + "/" + m.name,
                                    "--listen-client=" + m.client,
                                    "--listen-peer=" + m.peer,
                                    "--initial-cluster=" + initial,
                                    "--initial-cluster-token=bench-" + std::to_string(::getpid()),
                                    "--body-bytes-max=8388608",
                                    "--log-level=warn"};
      m.proc =
          std::make_unique<Child>(std::move(argv), data_dir_ + "/" + m.name + ".log", o.pid_file);
      if (Status s = m.proc->start(); !s.is_ok()) return s;
    }
    return wait_ready(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(o.ready_max_seconds)));
  }

  Status wait_ready(Clock::time_point deadline) override {
    Status last = Status(Code::kUnavailable, "not asked yet");
    while (!g_stop && Clock::now() < deadline) {
      bool all = true;
      for (auto& m : members_) {
        if (m.proc && !m.proc->running()) continue;
        auto h = ask(m.client, "GET", "/health");
        if (!h.is_ok()) {
          last = h.status();
          all = false;
          break;
        }
      }
      if (all) {
        auto l = leader();
        if (l.is_ok()) return Status::ok();
        last = l.status();
      }
      std::this_thread::sleep_for(kPollInterval);
    }
    return Status(Code::kUnavailable, "changeagent cluster not ready: " + last.to_string());
  }

  // The member that says it is the leader (the highest term wins if an old
  // leader has not noticed yet). GET /cluster cannot say: it only knows the
  // answering member's own client URL.
  Result<int> leader() override {
    int best = -1;
    uint64_t best_term = 0;
    for (size_t j = 0; j < members_.size(); j++) {
      if (members_[j].proc && !members_[j].proc->running()) continue;
      auto body = ask(members_[j].client, "GET", "/diagnostics/raft");
      if (!body.is_ok()) continue;
      auto o = parse_object(*body);
      if (!o.is_ok()) return o.status();
      const json::value* state = o->if_contains("state");
      if (state == nullptr || !state->is_string() || state->as_string() != "leader") continue;
      if (uint64_t term = get_u64(*o, "term"); best < 0 || term > best_term) {
        best = static_cast<int>(j);
        best_term = term;
      }
    }
    if (best < 0) return Status(Code::kUnavailable, "no member says it is the leader");
    return best;
  }

  void write_request(uint32_t client, uint64_t seq, std::string& target,
                     std::string& body) const override {
    target = "/changes";
    body = payload_json(client, seq, payload_bytes);
    if (request_ids) {
      // Unique per write in this process and across runs (the start time):
      // every id is a new entry in the table, none is a retry.
      body = "{\"data\":" + body + ",\"requestId\":\"" + std::to_string(run_nonce) + "-" +
             std::to_string(next_request_id++) + "\"}";
    }
  }

  void batch_request(uint64_t first_seq, uint32_t n, std::string& target,
                     std::string& body) const override {
    target = "/changes/batch";
    body = "[";
    for (uint32_t i = 0; i < n; i++) {
      if (i) body += ',';
      body += payload_json(0, first_seq + i, payload_bytes);
    }
    body += ']';
  }

  Result<uint64_t> feed_position(api::Client& c) override {
    auto res = c.request("GET", "/changes?since=0&limit=1");
    if (!res.is_ok()) return res.status();
    auto o = parse_object(res->body);
    if (!o.is_ok()) return o.status();
    return get_u64(*o, "lastIndex");
  }

  Result<Page> read_page(api::Client& c, uint64_t since_id, const std::string&,
                         uint32_t limit) override {
    auto res = c.request(
        "GET", "/changes?since=" + std::to_string(since_id) + "&limit=" + std::to_string(limit));
    if (!res.is_ok()) return res.status();
    if (res->status != 200) {
      return Status(Code::kUnavailable, "GET /changes: " + std::to_string(res->status));
    }
    auto o = parse_object(res->body);
    if (!o.is_ok()) return o.status();
    Page p;
    const json::value* changes = o->if_contains("changes");
    if (changes != nullptr && changes->is_array() && !changes->as_array().empty()) {
      p.count = changes->as_array().size();
      const json::value& last = changes->as_array().back();
      if (last.is_object()) p.last_id = get_u64(last.as_object(), "_id");
    }
    const json::value* at_end = o->if_contains("atEnd");
    p.more = !(at_end != nullptr && at_end->is_bool() && at_end->as_bool());
    return p;
  }

  Status wait_caught_up(int i, Clock::time_point deadline) override {
    uint64_t target = 0;
    while (!g_stop && Clock::now() < deadline && target == 0) {
      auto l = leader();
      if (l.is_ok()) {
        auto d = ask(members_[static_cast<size_t>(*l)].client, "GET", "/diagnostics/raft");
        if (d.is_ok()) {
          auto o = parse_object(*d);
          if (o.is_ok()) target = get_u64(*o, "committedIndex");
        }
      }
      if (target == 0) std::this_thread::sleep_for(kPollInterval);
    }
    while (!g_stop && Clock::now() < deadline) {
      auto d = ask(members_[static_cast<size_t>(i)].client, "GET", "/diagnostics/raft");
      if (d.is_ok()) {
        auto o = parse_object(*d);
        if (o.is_ok() && target > 0 && get_u64(*o, "appliedIndex") >= target) return Status::ok();
      }
      std::this_thread::sleep_for(kPollInterval);
    }
    return Status(Code::kTimeout, members_[static_cast<size_t>(i)].name +
                                      " did not catch up to index " + std::to_string(target));
  }

  uint32_t payload_bytes = 100;
  bool request_ids = false;
  uint64_t run_nonce = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  mutable std::atomic<uint64_t> next_request_id{0};
};

// ---------------------------------------------------------------- etcd

class Etcd : public System {
 public:
  std::string name() const override { return "etcd"; }
  std::string fsync_metric() const override { return "etcd_disk_wal_fsync_duration_seconds_count"; }
  std::string interface() const override {
    return "etcd v3 HTTP/JSON gateway (grpc-gateway on the client port): POST /v3/kv/put, "
           "POST /v3/kv/txn (preload), POST /v3/kv/range (serializable, paged by key)";
  }
  std::string settings() const override {
    return "--heartbeat-interval=50 --election-timeout=250 (same 250-500 ms randomized "
           "election as changeagent), --max-txn-ops=" +
           std::to_string(txn_ops) + ", --quota-backend-bytes=8 GiB, other flags default";
  }

  Status start(const Options& o) override {
    keep_data_ = o.keep_data;
    payload_bytes = o.payload_bytes;
    txn_ops = o.preload_batch;
    if (!o.start_cluster) {
      for (size_t i = 0; i < o.etcd_endpoints.size(); i++) {
        members_.push_back(
            Member{"m" + std::to_string(i + 1), strip_scheme(o.etcd_endpoints[i]), {}, {}});
      }
      if (members_.empty()) return Status(Code::kInvalidArgument, "no etcd endpoints");
      return wait_ready(Clock::now() + std::chrono::seconds(10));
    }
    if (::access(o.etcd_bin.c_str(), X_OK) != 0) {
      return Status(Code::kInvalidArgument,
                    "no executable etcd at " + o.etcd_bin +
                        "; apt-get install etcd-server (tools/bench-compare.sh does) or pass "
                        "--etcd-bin");
    }
    auto dir = make_data_dir(o.data_parent, "etcd-bench");
    if (!dir.is_ok()) return dir.status();
    data_dir_ = *dir;
    auto ports = free_loopback_ports(6);
    if (!ports.is_ok()) return ports.status();
    std::string initial;
    for (int i = 0; i < 3; i++) {
      Member m;
      m.name = "e" + std::to_string(i + 1);
      m.client = "127.0.0.1:" + std::to_string((*ports)[i]);
      m.peer = "127.0.0.1:" + std::to_string((*ports)[3 + i]);
      initial += (i ? "," : "") + m.name + "=http://" + m.peer;
      members_.push_back(std::move(m));
    }
    for (auto& m : members_) {
      std::vector<std::string> argv{
          o.etcd_bin,
          "--name=" + m.name,
          "--data-dir=" + data_dir_ + "/" + m.name,
          "--listen-client-urls=http://" + m.client,
          "--advertise-client-urls=http://" + m.client,
          "--listen-peer-urls=http://" + m.peer,
          "--initial-advertise-peer-urls=http://" + m.peer,
          "--initial-cluster=" + initial,
          "--initial-cluster-token=bench-etcd-" + std::to_string(::getpid()),
          "--initial-cluster-state=new",
          "--heartbeat-interval=50",
          "--election-timeout=250",
          "--max-txn-ops=" + std::to_string(txn_ops),
          "--quota-backend-bytes=8589934592",
          "--logger=zap",
          "--log-level=warn"};
      m.proc =
          std::make_unique<Child>(std::move(argv), data_dir_ + "/" + m.name + ".log", o.pid_file);
      if (Status s = m.proc->start(); !s.is_ok()) return s;
    }
    return wait_ready(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(o.ready_max_seconds)));
  }

  Status wait_ready(Clock::time_point deadline) override {
    Status last = Status(Code::kUnavailable, "not asked yet");
    while (!g_stop && Clock::now() < deadline) {
      bool all = true;
      for (auto& m : members_) {
        if (m.proc && !m.proc->running()) continue;
        auto h = ask(m.client, "GET", "/health");
        if (!h.is_ok() || h->find("\"true\"") == std::string::npos) {
          last = h.is_ok() ? Status(Code::kUnavailable, m.client + " /health: " + *h) : h.status();
          all = false;
          break;
        }
      }
      if (all) {
        auto l = leader();
        if (l.is_ok()) return Status::ok();
        last = l.status();
      }
      std::this_thread::sleep_for(kPollInterval);
    }
    return Status(Code::kUnavailable, "etcd cluster not ready: " + last.to_string());
  }

  Result<int> leader() override {
    uint64_t leader_id = 0;
    std::vector<uint64_t> ids(members_.size(), 0);
    for (size_t j = 0; j < members_.size(); j++) {
      if (members_[j].proc && !members_[j].proc->running()) continue;
      auto st = status(j);
      if (!st.is_ok()) continue;
      const json::value* h = st->if_contains("header");
      if (h != nullptr && h->is_object()) ids[j] = get_u64(h->as_object(), "member_id");
      if (uint64_t l = get_u64(*st, "leader"); l != 0) leader_id = l;
    }
    for (size_t j = 0; j < members_.size(); j++) {
      if (leader_id != 0 && ids[j] == leader_id) return static_cast<int>(j);
    }
    return Status(Code::kUnavailable, "no live member is the etcd leader");
  }

  void write_request(uint32_t client, uint64_t seq, std::string& target,
                     std::string& body) const override {
    char key[48];
    std::snprintf(key, sizeof key, "w/%05u/%012llu", client, static_cast<unsigned long long>(seq));
    target = "/v3/kv/put";
    body = "{\"key\":\"" + base64_encode(key) + "\",\"value\":\"" +
           base64_encode(payload_json(client, seq, payload_bytes)) + "\"}";
  }

  void batch_request(uint64_t first_seq, uint32_t n, std::string& target,
                     std::string& body) const override {
    target = "/v3/kv/txn";
    body = "{\"success\":[";
    for (uint32_t i = 0; i < n; i++) {
      if (i) body += ',';
      body += "{\"request_put\":{\"key\":\"" + base64_encode(catchup_key(first_seq + i)) +
              "\",\"value\":\"" + base64_encode(payload_json(0, first_seq + i, payload_bytes)) +
              "\"}}";
    }
    body += "]}";
  }

  Result<uint64_t> feed_position(api::Client&) override { return uint64_t{0}; }

  Result<Page> read_page(api::Client& c, uint64_t, const std::string& after_key,
                         uint32_t limit) override {
    // Keys sort as they were written; the next page starts just after the
    // last key seen (the key with a zero byte appended).
    std::string from = after_key.empty() ? std::string("c/") : after_key + std::string(1, '\0');
    std::string body = "{\"key\":\"" + base64_encode(from) + "\",\"range_end\":\"" +
                       base64_encode("c0") + "\",\"limit\":" + std::to_string(limit) +
                       ",\"serializable\":true}";
    auto res = c.request("POST", "/v3/kv/range", std::move(body));
    if (!res.is_ok()) return res.status();
    if (res->status != 200) {
      return Status(Code::kUnavailable, "POST /v3/kv/range: " + std::to_string(res->status) + " " +
                                            res->body.substr(0, 200));
    }
    auto o = parse_object(res->body);
    if (!o.is_ok()) return o.status();
    Page p;
    const json::value* kvs = o->if_contains("kvs");
    if (kvs != nullptr && kvs->is_array() && !kvs->as_array().empty()) {
      p.count = kvs->as_array().size();
      const json::value& last = kvs->as_array().back();
      if (last.is_object()) {
        if (const json::value* k = last.as_object().if_contains("key"); k && k->is_string()) {
          p.last_key = base64_decode(std::string_view(k->as_string()));
        }
      }
    }
    const json::value* more = o->if_contains("more");
    p.more = more != nullptr && more->is_bool() && more->as_bool();
    return p;
  }

  Status wait_caught_up(int i, Clock::time_point deadline) override {
    uint64_t target = 0;
    while (!g_stop && Clock::now() < deadline && target == 0) {
      auto l = leader();
      if (l.is_ok()) {
        auto st = status(static_cast<size_t>(*l));
        if (st.is_ok()) target = get_u64(*st, "raftIndex");
      }
      if (target == 0) std::this_thread::sleep_for(kPollInterval);
    }
    while (!g_stop && Clock::now() < deadline) {
      auto st = status(static_cast<size_t>(i));
      if (st.is_ok() && target > 0) {
        // raftAppliedIndex is in 3.4's status; fall back to raftIndex.
        uint64_t applied = st->if_contains("raftAppliedIndex") ? get_u64(*st, "raftAppliedIndex")
                                                               : get_u64(*st, "raftIndex");
        if (applied >= target) return Status::ok();
      }
      std::this_thread::sleep_for(kPollInterval);
    }
    return Status(Code::kTimeout, members_[static_cast<size_t>(i)].name +
                                      " did not catch up to raft index " + std::to_string(target));
  }

  static std::string catchup_key(uint64_t seq) {
    char key[32];
    std::snprintf(key, sizeof key, "c/%012llu", static_cast<unsigned long long>(seq));
    return key;
  }

  uint32_t payload_bytes = 100;
  uint32_t txn_ops = 1000;

 private:
  Result<json::object> status(size_t j) {
    auto body = ask(members_[j].client, "POST", "/v3/maintenance/status", "{}");
    if (!body.is_ok()) return body.status();
    return parse_object(*body);
  }
};

}  // namespace

std::unique_ptr<System> make_changeagent() {
  return std::make_unique<Changeagent>();
}

std::unique_ptr<System> make_etcd() {
  return std::make_unique<Etcd>();
}

}  // namespace cabench
