// The compare-and-set load of changeagent_bench (issue 4): N closed-loop
// clients each loop read -> CAS(old + 1), retrying on a revision mismatch,
// on one hot key or spread over many keys. Reported: successful increments
// per second, CAS attempts per second, p50/p99 of a successful CAS write and
// of a whole increment (first read to success, retries included).
//
//   changeagent  GET /keys/{key} (local read on the leader), then
//                PUT /keys/{key} {"value": n+1, "ifRevision": R}: 200 or
//                409 revision_mismatch.
//   etcd         POST /v3/kv/range {"key", "serializable": true}, then
//                POST /v3/kv/txn with a compare on mod_revision == R and a
//                put: 200 with "succeeded" true (absent when false: the
//                gateway omits default values).
//
// Every level uses fresh keys, so after it the counters must sum to the
// increments acknowledged in the whole level (warm-up included), plus at
// most the writes whose outcome was unknown: checked, and reported.
#include <boost/json.hpp>
#include <cstdarg>
#include <cstdio>
#include <random>
#include <thread>

#include "bench/changeagent_bench.h"

namespace cabench {

namespace json = boost::json;

namespace {

// Threads are created before the clock starts; this is their head start.
constexpr auto kSpawnLead = std::chrono::milliseconds(300);
// A single read or CAS write gives up after this (outcome unknown for a write).
constexpr auto kCasTimeout = std::chrono::milliseconds(10000);
// After an error answer: a short pause so a client does not spin.
constexpr auto kErrorPause = std::chrono::milliseconds(1);

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

Clock::duration seconds_to(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

uint32_t micros(Clock::duration d) {
  return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

Status unexpected(std::string_view what, const api::HttpResponse& r) {
  return Status(Code::kUnavailable, std::string(what) + " answered " + std::to_string(r.status) +
                                        ": " + r.body.substr(0, 200));
}

struct Counter {
  uint64_t value = 0;
  uint64_t revision = 0;  // 0 = the key does not exist
};

enum class CasOutcome { kWritten, kMismatch };

// The two systems' read and conditional write of one counter key.
class CasProtocol {
 public:
  virtual ~CasProtocol() = default;
  virtual Result<Counter> read(api::Client& c, const std::string& key) = 0;
  virtual Result<CasOutcome> write(api::Client& c, const std::string& key, uint64_t revision,
                                   uint64_t value) = 0;
};

class ChangeagentCas : public CasProtocol {
 public:
  Result<Counter> read(api::Client& c, const std::string& key) override {
    auto res = c.request("GET", "/keys/" + key);
    if (!res.is_ok()) return res.status();
    if (res->status == 404) return Counter{};
    if (res->status != 200) return unexpected("GET /keys", *res);
    auto o = parse_object(res->body);
    if (!o.is_ok()) return o.status();
    return Counter{get_u64(*o, "value"), get_u64(*o, "modRevision")};
  }
  Result<CasOutcome> write(api::Client& c, const std::string& key, uint64_t revision,
                           uint64_t value) override {
    auto res = c.request("PUT", "/keys/" + key,
                         "{\"value\":" + std::to_string(value) +
                             ",\"ifRevision\":" + std::to_string(revision) + "}");
    if (!res.is_ok()) return res.status();
    if (res->status == 200) return CasOutcome::kWritten;
    if (res->status == 409 && res->body.find("revision_mismatch") != std::string::npos) {
      return CasOutcome::kMismatch;
    }
    return unexpected("PUT /keys", *res);
  }
};

class EtcdCas : public CasProtocol {
 public:
  Result<Counter> read(api::Client& c, const std::string& key) override {
    auto res = c.request("POST", "/v3/kv/range",
                         "{\"key\":\"" + base64_encode(key) + "\",\"serializable\":true}");
    if (!res.is_ok()) return res.status();
    if (res->status != 200) return unexpected("POST /v3/kv/range", *res);
    auto o = parse_object(res->body);
    if (!o.is_ok()) return o.status();
    const json::value* kvs = o->if_contains("kvs");
    if (kvs == nullptr || !kvs->is_array() || kvs->as_array().empty()) return Counter{};
    const json::value& kv = kvs->as_array().front();
    if (!kv.is_object()) return Status(Code::kInternal, "range: kvs[0] is not an object");
    std::string value;
    if (const json::value* v = kv.as_object().if_contains("value"); v && v->is_string()) {
      value = base64_decode(std::string_view(v->as_string()));
    }
    return Counter{std::strtoull(value.c_str(), nullptr, 10),
                   get_u64(kv.as_object(), "mod_revision")};
  }
  Result<CasOutcome> write(api::Client& c, const std::string& key, uint64_t revision,
                           uint64_t value) override {
    std::string k = base64_encode(key);
    // mod_revision 0 matches an absent key, as ifRevision 0 does.
    std::string body = "{\"compare\":[{\"key\":\"" + k +
                       "\",\"target\":\"MOD\",\"result\":\"EQUAL\",\"mod_revision\":\"" +
                       std::to_string(revision) + "\"}],\"success\":[{\"request_put\":{\"key\":\"" +
                       k + "\",\"value\":\"" + base64_encode(std::to_string(value)) + "\"}}]}";
    auto res = c.request("POST", "/v3/kv/txn", std::move(body));
    if (!res.is_ok()) return res.status();
    if (res->status != 200) return unexpected("POST /v3/kv/txn", *res);
    auto o = parse_object(res->body);
    if (!o.is_ok()) return o.status();
    const json::value* s = o->if_contains("succeeded");
    bool ok = s != nullptr && s->is_bool() && s->as_bool();
    return ok ? CasOutcome::kWritten : CasOutcome::kMismatch;
  }
};

std::unique_ptr<CasProtocol> protocol_for(const System& sys) {
  if (sys.name() == "etcd") return std::make_unique<EtcdCas>();
  return std::make_unique<ChangeagentCas>();
}

// Fresh keys for every level of every system.
std::string key_name(uint64_t level, uint32_t k) {
  return fmt("cas/%llu/k%05u", static_cast<unsigned long long>(level), k);
}

std::atomic<uint64_t> g_level{0};

}  // namespace

Result<CasResult> run_cas(System& sys, const Options& o, uint32_t clients, uint32_t keys) {
  auto leader = sys.leader();
  if (!leader.is_ok()) return leader.status();
  auto proto = protocol_for(sys);
  uint64_t level = ++g_level;
  std::vector<std::unique_ptr<api::Client>> cs;
  for (uint32_t i = 0; i < clients; i++) {
    auto c = make_client(sys.endpoints_from(*leader), kCasTimeout);
    if (!c.is_ok()) return c.status();
    cs.push_back(std::move(*c));
  }
  struct PerClient {
    std::vector<uint32_t> cas_us;        // successful CAS writes in the window
    std::vector<uint32_t> increment_us;  // first read -> success, in the window
    uint64_t attempts = 0;               // CAS writes answered in the window
    uint64_t mismatches = 0;             // of those, lost to another writer
    uint64_t stale_rereads = 0;          // reads after a mismatch that gave the same revision again
    uint64_t acked_total = 0;            // successful increments, whole level
    uint64_t unknown_total = 0;          // writes without an answer, whole level
    uint64_t errors = 0;                 // whole level
    std::string last_error;
  };
  std::vector<PerClient> per(clients);
  auto start = Clock::now() + kSpawnLead;
  auto measure_from = start + seconds_to(o.warmup_seconds);
  auto end = measure_from + seconds_to(o.cas_seconds);
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < clients; i++) {
    threads.emplace_back([&, i] {
      PerClient& me = per[i];
      me.cas_us.reserve(static_cast<size_t>(o.cas_seconds * 2000));
      std::mt19937 rng(i * 7919u + 1);
      std::uniform_int_distribution<uint32_t> pick(0, keys - 1);
      api::Client& c = *cs[i];
      std::this_thread::sleep_until(start);
      while (!g_stop && Clock::now() < end) {
        std::string key = key_name(level, pick(rng));
        auto began = Clock::now();
        uint64_t lost_on = 0;  // the revision the last attempt lost on (0: none)
        // One increment: retried on mismatch until it lands or time is up.
        while (!g_stop) {
          auto cur = proto->read(c, key);
          if (!cur.is_ok()) {
            me.errors++;
            me.last_error = cur.status().to_string();
            std::this_thread::sleep_for(kErrorPause);
            if (Clock::now() >= end) break;
            continue;
          }
          if (lost_on != 0 && cur->revision == lost_on && Clock::now() >= measure_from) {
            me.stale_rereads++;
          }
          auto t0 = Clock::now();
          auto w = proto->write(c, key, cur->revision, cur->value + 1);
          auto t1 = Clock::now();
          bool in_window = t0 >= measure_from && t1 <= end;
          if (!w.is_ok()) {
            // A lost answer: the write may or may not have landed.
            if (w.status().code() == Code::kTimeout) me.unknown_total++;
            me.errors++;
            me.last_error = w.status().to_string();
            std::this_thread::sleep_for(kErrorPause);
            break;  // a new increment: this one's outcome is unknown
          }
          if (in_window) me.attempts++;
          if (*w == CasOutcome::kMismatch) {
            if (in_window) me.mismatches++;
            lost_on = cur->revision;
            if (t1 >= end) break;
            continue;
          }
          me.acked_total++;
          if (in_window) me.cas_us.push_back(micros(t1 - t0));
          if (in_window && began >= measure_from) me.increment_us.push_back(micros(t1 - began));
          break;
        }
      }
    });
  }
  std::this_thread::sleep_until(measure_from);
  double cpu0 = process_cpu_seconds();
  double leader_cpu0 = sys.member_cpu_seconds(*leader);
  std::this_thread::sleep_until(end);
  double cpu1 = process_cpu_seconds();
  double leader_cpu1 = sys.member_cpu_seconds(*leader);
  for (auto& t : threads) t.join();
  if (g_stop) return Status(Code::kUnavailable, "interrupted");

  CasResult r;
  r.clients = clients;
  r.keys = keys;
  r.seconds = o.cas_seconds;
  std::vector<uint32_t> cas_all, inc_all;
  uint64_t acked = 0;
  for (auto& p : per) {
    r.increments += p.cas_us.size();
    r.attempts += p.attempts;
    r.mismatches += p.mismatches;
    r.stale_rereads += p.stale_rereads;
    r.errors += p.errors;
    r.unknown += p.unknown_total;
    acked += p.acked_total;
    cas_all.insert(cas_all.end(), p.cas_us.begin(), p.cas_us.end());
    inc_all.insert(inc_all.end(), p.increment_us.begin(), p.increment_us.end());
    if (!p.last_error.empty()) r.last_error = p.last_error;
  }
  r.increments_per_second = static_cast<double>(r.increments) / o.cas_seconds;
  r.attempts_per_second = static_cast<double>(r.attempts) / o.cas_seconds;
  r.cas_latency = latency_of(cas_all);
  r.increment_latency = latency_of(inc_all);
  r.client_cpu = (cpu1 - cpu0) / o.cas_seconds;
  r.leader_cpu = (leader_cpu1 - leader_cpu0) / o.cas_seconds;

  // The counters hold every acknowledged increment, and at most the unknown
  // ones besides: a lost or doubled increment shows here.
  auto checker = make_client(sys.endpoints_from(*leader), kCasTimeout);
  if (!checker.is_ok()) return checker.status();
  uint64_t sum = 0;
  for (uint32_t k = 0; k < keys; k++) {
    auto cur = proto->read(**checker, key_name(level, k));
    if (!cur.is_ok()) return cur.status();
    sum += cur->value;
  }
  r.acked_total = acked;
  r.counter_sum = sum;
  r.verified = sum >= acked && sum <= acked + r.unknown;
  return r;
}

std::string cas_table(const Options& o, const SystemResults* ca, const SystemResults* et,
                      json::array& ratios) {
  bool any = (ca && !ca->cas.empty()) || (et && !et->cas.empty());
  if (!any) return "";
  std::string s =
      fmt("\ncompare-and-set: each client loops read -> CAS(old+1), retrying on a revision "
          "mismatch, keys picked at random; %g s per level after %g s warm-up, sent to the leader\n"
          "  changeagent: GET /keys/{k} + PUT /keys/{k} {value, ifRevision};  etcd: "
          "POST /v3/kv/range (serializable) + POST /v3/kv/txn (compare mod_revision, put)\n",
          o.cas_seconds, o.warmup_seconds);
  s += "              ----------------- changeagent -----------------  "
       "-------------------- etcd -------------------  changeagent/etcd\n";
  s += " keys clients   incr/s  att/s  cas p50  cas p99  inc p99 check   "
       "incr/s  att/s  cas p50  cas p99  inc p99 check   incr/s  cas p99\n";
  auto find_cas = [](const SystemResults* r, uint32_t keys, uint32_t n) -> const CasResult* {
    if (r == nullptr) return nullptr;
    for (const auto& c : r->cas) {
      if (c.keys == keys && c.clients == n) return &c;
    }
    return nullptr;
  };
  auto cols = [](const CasResult* c) {
    if (c == nullptr) return fmt("%8s %6s %8s %8s %8s %5s", "-", "-", "-", "-", "-", "-");
    return fmt("%8.0f %6.0f %8.2f %8.2f %8.2f %5s", c->increments_per_second,
               c->attempts_per_second, c->cas_latency.p50_ms, c->cas_latency.p99_ms,
               c->increment_latency.p99_ms, c->verified ? "ok" : "FAIL");
  };
  auto ratio = [](double a, double b) { return b > 0 ? fmt("%.2fx", a / b) : std::string("-"); };
  std::string notes;
  for (uint32_t keys : o.cas_keys) {
    for (uint32_t n : o.cas_clients) {
      const CasResult* a = find_cas(ca, keys, n);
      const CasResult* b = find_cas(et, keys, n);
      std::string ri = a && b ? ratio(a->increments_per_second, b->increments_per_second) : "-";
      std::string rp = a && b ? ratio(a->cas_latency.p99_ms, b->cas_latency.p99_ms) : "-";
      s += fmt("%5u %7u %s  %s %8s %8s\n", keys, n, cols(a).c_str(), cols(b).c_str(), ri.c_str(),
               rp.c_str());
      for (const CasResult* c : {a, b}) {
        if (c == nullptr || c->mismatches == 0) continue;
        notes +=
            fmt("  %s %u keys %u clients: %llu mismatches; %llu re-reads after one returned "
                "the revision just lost on (the winner's write not applied where read)\n",
                c == a ? "changeagent" : "etcd", keys, n,
                static_cast<unsigned long long>(c->mismatches),
                static_cast<unsigned long long>(c->stale_rereads));
      }
      for (const CasResult* c : {a, b}) {
        if (c == nullptr || (c->verified && c->errors == 0)) continue;
        notes += fmt(
            "  %s %u keys %u clients: %llu errors, %llu unknown outcomes, counters sum "
            "%llu for %llu acknowledged increments%s%s\n",
            c == a ? "changeagent" : "etcd", keys, n, static_cast<unsigned long long>(c->errors),
            static_cast<unsigned long long>(c->unknown),
            static_cast<unsigned long long>(c->counter_sum),
            static_cast<unsigned long long>(c->acked_total),
            c->last_error.empty() ? "" : "; last error: ", c->last_error.c_str());
      }
      json::object r{{"keys", keys}, {"clients", n}};
      if (a && b && b->increments_per_second > 0) {
        r["increments_per_second"] = a->increments_per_second / b->increments_per_second;
      }
      if (a && b && b->cas_latency.p99_ms > 0) {
        r["cas_p99"] = a->cas_latency.p99_ms / b->cas_latency.p99_ms;
      }
      ratios.push_back(std::move(r));
    }
  }
  s += "(latencies in ms; cas = the successful conditional write alone, inc = first read to "
       "success, retries included; check = counters sum to the acknowledged increments)\n";
  return s + notes;
}

json::array cas_json(const std::vector<CasResult>& rs) {
  json::array out;
  for (const auto& c : rs) {
    out.push_back(json::object{{"keys", c.keys},
                               {"clients", c.clients},
                               {"seconds", c.seconds},
                               {"increments", c.increments},
                               {"attempts", c.attempts},
                               {"mismatches", c.mismatches},
                               {"stale_rereads", c.stale_rereads},
                               {"errors", c.errors},
                               {"unknown_outcomes", c.unknown},
                               {"increments_per_second", c.increments_per_second},
                               {"attempts_per_second", c.attempts_per_second},
                               {"cas_p50_ms", c.cas_latency.p50_ms},
                               {"cas_p99_ms", c.cas_latency.p99_ms},
                               {"increment_p50_ms", c.increment_latency.p50_ms},
                               {"increment_p99_ms", c.increment_latency.p99_ms},
                               {"bench_cpu_cores", c.client_cpu},
                               {"leader_cpu_cores", c.leader_cpu},
                               {"acknowledged_increments_whole_level", c.acked_total},
                               {"counters_sum", c.counter_sum},
                               {"verified", c.verified}});
  }
  return out;
}

}  // namespace cabench
