// The report of changeagent_bench: a table per load with changeagent / etcd
// ratios, the issue-11 targets with met / not met, and the same figures as
// JSON for scripts.
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <thread>

#include "bench/changeagent_bench.h"

namespace cabench {

namespace json = boost::json;

namespace {

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

const SystemResults* find(const std::vector<SystemResults>& rs, const std::string& name) {
  for (const auto& r : rs) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

const WriteResult* at_clients(const SystemResults* r, uint32_t clients) {
  if (r == nullptr) return nullptr;
  for (const auto& w : r->writes) {
    if (w.clients == clients) return &w;
  }
  return nullptr;
}

// "1.23x", or "-" when either side is missing.
std::string ratio(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || *b <= 0) return "-";
  return fmt("%.2fx", *a / *b);
}

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  return buf;
}

std::string hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

json::object write_json(const WriteResult& w) {
  return json::object{{"clients", w.clients},
                      {"writes", w.writes},
                      {"errors", w.errors},
                      {"seconds", w.seconds},
                      {"writes_per_second", w.writes_per_second},
                      {"p50_ms", w.latency.p50_ms},
                      {"p99_ms", w.latency.p99_ms},
                      {"p999_ms", w.latency.p999_ms},
                      {"max_ms", w.latency.max_ms},
                      {"bench_cpu_cores", w.client_cpu},
                      {"leader_fsyncs_per_second", w.leader_fsyncs_per_second},
                      {"leader_cpu_cores", w.leader_cpu},
                      {"servers_cpu_cores", w.total_server_cpu}};
}

json::object system_json(const SystemResults& r) {
  json::object o{{"interface", r.interface}, {"settings", r.settings}, {"error", r.error}};
  json::array ws;
  for (const auto& w : r.writes) ws.push_back(write_json(w));
  o["write"] = std::move(ws);
  o["cas"] = cas_json(r.cas);
  if (r.catchup) {
    const auto& c = *r.catchup;
    o["catchup"] = json::object{{"changes", c.changes},
                                {"preload_seconds", c.preload_seconds},
                                {"preload_per_second", c.preload_per_second},
                                {"paged_seconds", c.paged_seconds},
                                {"paged_per_second", c.paged_per_second},
                                {"paged_bench_cpu_cores", c.paged_client_cpu},
                                {"paged_server_cpu_cores", c.paged_server_cpu},
                                {"stream_changes", c.stream_changes},
                                {"stream_seconds", c.stream_seconds},
                                {"stream_per_second", c.stream_per_second}};
  }
  if (r.failover) {
    json::array gaps;
    for (double g : r.failover->gaps_ms) gaps.push_back(g);
    json::array notes;
    for (const auto& n : r.failover->notes) notes.push_back(json::string(n));
    o["failover"] = json::object{{"gaps_ms", std::move(gaps)},
                                 {"median_ms", r.failover->median_ms},
                                 {"failed_trials", r.failover->failed_trials},
                                 {"notes", std::move(notes)}};
  }
  return o;
}

std::string write_table(const Options& o, const SystemResults* ca, const SystemResults* et,
                        json::array& ratios) {
  std::string s = fmt(
      "\nwrite: closed loop, one keep-alive connection per client, %u B JSON values, "
      "%g s per level after %g s warm-up, sent to the %s\n",
      o.payload_bytes, o.seconds, o.warmup_seconds, o.write_to_follower ? "follower" : "leader");
  s += "         ------------ changeagent ------------  --------------- etcd ---------------"
       "  changeagent/etcd\n";
  s += "                                                                                      "
       "  (w/s: higher is better, p99: lower is better)\n";
  s += "clients       w/s  p50 ms  p99 ms  p999 ms  err       w/s  p50 ms  p99 ms  p999 ms  err"
       "       w/s      p99\n";
  auto cols = [](const WriteResult* w) {
    if (w == nullptr) return std::string("         -       -       -        -    -");
    return fmt("%10.0f %7.2f %7.2f %8.2f %4llu", w->writes_per_second, w->latency.p50_ms,
               w->latency.p99_ms, w->latency.p999_ms, static_cast<unsigned long long>(w->errors));
  };
  std::string cpu =
      "\nCPU busy in the measured window, in cores (2 cores shared by bench, servers and "
      "anything else on the machine), and the leader's fsyncs/s (writes per fsync)\n"
      "clients   ca: bench  leader  3 servers  fsyncs/s (w/f)   etcd: bench  leader  3 servers"
      "  fsyncs/s (w/f)\n";
  for (uint32_t n : o.clients) {
    const WriteResult* a = at_clients(ca, n);
    const WriteResult* b = at_clients(et, n);
    auto wa = a ? std::optional<double>(a->writes_per_second) : std::nullopt;
    auto wb = b ? std::optional<double>(b->writes_per_second) : std::nullopt;
    auto pa = a ? std::optional<double>(a->latency.p99_ms) : std::nullopt;
    auto pb = b ? std::optional<double>(b->latency.p99_ms) : std::nullopt;
    s += fmt("%7u %s %s %8s %8s\n", n, cols(a).c_str(), cols(b).c_str(), ratio(wa, wb).c_str(),
             ratio(pa, pb).c_str());
    auto cpus = [](const WriteResult* w) {
      if (w == nullptr) return std::string("       -       -          -               -");
      double per =
          w->leader_fsyncs_per_second > 0 ? w->writes_per_second / w->leader_fsyncs_per_second : 0;
      return fmt("%8.2f %7.2f %10.2f %9.0f (%4.1f)", w->client_cpu, w->leader_cpu,
                 w->total_server_cpu, w->leader_fsyncs_per_second, per);
    };
    cpu += fmt("%7u   %s       %s\n", n, cpus(a).c_str(), cpus(b).c_str());
    json::object r{{"clients", n}};
    if (wa && wb && *wb > 0) r["writes_per_second"] = *wa / *wb;
    if (pa && pb && *pb > 0) r["p99"] = *pa / *pb;
    ratios.push_back(std::move(r));
  }
  return s + cpu;
}

std::string catchup_table(const Options& o, const SystemResults* ca, const SystemResults* et,
                          json::object& ratios) {
  const CatchupResult* a = ca && ca->catchup ? &*ca->catchup : nullptr;
  const CatchupResult* b = et && et->catchup ? &*et->catchup : nullptr;
  if (a == nullptr && b == nullptr) return "";
  std::string s =
      fmt("\ncatch-up: %llu changes (%u B values) preloaded in batches of %u by %u clients, then "
          "read from a follower (caught up first)\n",
          static_cast<unsigned long long>(o.catchup_changes), o.payload_bytes, o.preload_batch,
          o.preload_threads);
  s += "                                     changeagent          etcd  changeagent/etcd\n";
  auto row = [&](const char* label, std::optional<double> x, std::optional<double> y) {
    auto cell = [](std::optional<double> v) { return v ? fmt("%14.0f", *v) : fmt("%14s", "-"); };
    s += fmt("%-34s %s %s %12s\n", label, cell(x).c_str(), cell(y).c_str(), ratio(x, y).c_str());
  };
  auto get = [](const CatchupResult* c, double CatchupResult::*f) {
    return c ? std::optional<double>(c->*f) : std::nullopt;
  };
  row("preload (changes/s)", get(a, &CatchupResult::preload_per_second),
      get(b, &CatchupResult::preload_per_second));
  row(fmt("paged read, limit %u (changes/s)", o.page_limit).c_str(),
      get(a, &CatchupResult::paged_per_second), get(b, &CatchupResult::paged_per_second));
  row(fmt("  changes read (stops at %g s)", o.read_seconds_max).c_str(),
      a ? std::optional<double>(a->changes) : std::nullopt,
      b ? std::optional<double>(b->changes) : std::nullopt);
  s += fmt("%-34s %14s %14s\n", "  CPU cores bench / read member",
           a ? fmt("%.2f / %.2f", a->paged_client_cpu, a->paged_server_cpu).c_str() : "-",
           b ? fmt("%.2f / %.2f", b->paged_client_cpu, b->paged_server_cpu).c_str() : "-");
  s += fmt("%-34s %14s %14s\n", fmt("SSE stream (changes/s, %g s)", o.stream_seconds_max).c_str(),
           a && a->stream_seconds > 0 ? fmt("%.0f", a->stream_per_second).c_str() : "-", "n/a");
  if (a && b && b->paged_per_second > 0) {
    ratios["catchup_paged_per_second"] = a->paged_per_second / b->paged_per_second;
    ratios["preload_per_second"] = a->preload_per_second / b->preload_per_second;
  }
  return s;
}

std::string failover_table(const Options& o, const SystemResults* ca, const SystemResults* et,
                           json::object& ratios) {
  const FailoverResult* a = ca && ca->failover ? &*ca->failover : nullptr;
  const FailoverResult* b = et && et->failover ? &*et->failover : nullptr;
  if (a == nullptr && b == nullptr) return "";
  std::string s =
      fmt("\nfailover: 1 writer (abandons a write after %u ms and retries, on the next member if "
          "the connection is gone), kill -9 of the leader after %g s of writes, %u trials;\n"
          "gap = last write acknowledged by the old leader -> first acknowledged by another "
          "member\n",
          o.failover_timeout_ms, o.failover_steady_seconds, o.failover_trials);
  auto line = [](const char* who, const FailoverResult* f) {
    if (f == nullptr) return fmt("%-12s -\n", who);
    std::string all;
    for (double g : f->gaps_ms) all += fmt("%s%.0f", all.empty() ? "" : ", ", g);
    return fmt(
        "%-12s median %6.0f ms   all: %s%s\n", who, f->median_ms, all.c_str(),
        f->failed_trials ? fmt("   (%u trials without recovery)", f->failed_trials).c_str() : "");
  };
  s += line("changeagent", a) + line("etcd", b);
  if (a && b && b->median_ms > 0) {
    s += fmt("changeagent/etcd median: %.2fx\n", a->median_ms / b->median_ms);
    ratios["failover_median"] = a->median_ms / b->median_ms;
  }
  return s;
}

std::string targets(const SystemResults* ca, const SystemResults* et, json::array& out) {
  std::string s = "\ntargets (issue 11; goals, not tests):\n";
  auto add = [&](const std::string& what, const std::string& value, std::optional<bool> met) {
    const char* verdict = !met ? "NOT MEASURED" : *met ? "met" : "NOT MET";
    s += fmt("  %-44s %-36s %s\n", what.c_str(), value.c_str(), verdict);
    json::object t{{"target", what}, {"value", value}};
    if (met) t["met"] = *met;
    out.push_back(std::move(t));
  };
  auto w_ratio = [&](uint32_t n) -> std::optional<double> {
    const WriteResult* a = at_clients(ca, n);
    const WriteResult* b = at_clients(et, n);
    if (!a || !b || b->writes_per_second <= 0) return std::nullopt;
    return a->writes_per_second / b->writes_per_second;
  };
  auto r1 = w_ratio(1);
  add("writes/s at 1 client >= etcd", r1 ? fmt("%.2fx etcd", *r1) : "-",
      r1 ? std::optional<bool>(*r1 >= 1.0) : std::nullopt);
  auto r256 = w_ratio(256);
  add("writes/s at 256 clients >= 2x etcd", r256 ? fmt("%.2fx etcd", *r256) : "-",
      r256 ? std::optional<bool>(*r256 >= 2.0) : std::nullopt);
  const WriteResult* a = at_clients(ca, 256);
  const WriteResult* b = at_clients(et, 256);
  add("p99 at 256 clients no worse than etcd",
      a && b ? fmt("%.2f ms vs %.2f ms", a->latency.p99_ms, b->latency.p99_ms) : "-",
      a && b ? std::optional<bool>(a->latency.p99_ms <= b->latency.p99_ms) : std::nullopt);
  const FailoverResult* f =
      ca && ca->failover && !ca->failover->gaps_ms.empty() ? &*ca->failover : nullptr;
  add("failover median < 500 ms", f ? fmt("%.0f ms", f->median_ms) : "-",
      f ? std::optional<bool>(f->median_ms < 500 && f->failed_trials == 0) : std::nullopt);
  const CatchupResult* c = ca && ca->catchup ? &*ca->catchup : nullptr;
  add("catch-up >= 500k changes/s (paged)", c ? fmt("%.0f/s", c->paged_per_second) : "-",
      c ? std::optional<bool>(c->paged_per_second >= 500000) : std::nullopt);
  add("catch-up >= 500k changes/s (SSE)",
      c && c->stream_seconds > 0 ? fmt("%.0f/s", c->stream_per_second) : "-",
      c && c->stream_seconds > 0 ? std::optional<bool>(c->stream_per_second >= 500000)
                                 : std::nullopt);
  return s;
}

}  // namespace

std::string format_report(const Options& o, const std::vector<SystemResults>& rs,
                          std::string& json_text) {
  const SystemResults* ca = find(rs, "changeagent");
  const SystemResults* et = find(rs, "etcd");
  unsigned cores = std::thread::hardware_concurrency();
  std::string s =
      fmt("changeagent_bench  %s  host %s, %u cores; 3 members per system on "
          "loopback, data under %s\n",
          now_utc().c_str(), hostname().c_str(), cores, o.data_parent.c_str());
  if (g_stop) {
    s +=
        fmt("INTERRUPTED by signal %d: the figures below are partial, and errors after the "
            "signal are its consequence\n",
            g_stop_signal.load());
  }
  for (const auto& r : rs) {
    s += fmt("%-12s %s\n", r.name.c_str(), r.interface.c_str());
    s += fmt("%-12s %s\n", "", r.settings.c_str());
    if (!r.error.empty()) s += fmt("%-12s ERROR: %s\n", "", r.error.c_str());
  }
  json::object doc{{"date", now_utc()}, {"host", hostname()}, {"cores", cores}};
  doc["options"] = json::object{{"seconds", o.seconds},
                                {"warmup_seconds", o.warmup_seconds},
                                {"payload_bytes", o.payload_bytes},
                                {"write_to_follower", o.write_to_follower},
                                {"cas_seconds", o.cas_seconds},
                                {"catchup_changes", o.catchup_changes},
                                {"preload_batch", o.preload_batch},
                                {"preload_threads", o.preload_threads},
                                {"page_limit", o.page_limit},
                                {"failover_trials", o.failover_trials},
                                {"failover_timeout_ms", o.failover_timeout_ms},
                                {"read_seconds_max", o.read_seconds_max},
                                {"stream_seconds_max", o.stream_seconds_max},
                                {"data_parent", o.data_parent}};
  json::object systems;
  for (const auto& r : rs) systems[r.name] = system_json(r);
  doc["systems"] = std::move(systems);
  json::array write_ratios;
  json::object ratios;
  if ((ca && !ca->writes.empty()) || (et && !et->writes.empty())) {
    s += write_table(o, ca, et, write_ratios);
  }
  json::array cas_ratios;
  s += cas_table(o, ca, et, cas_ratios);
  ratios["cas"] = std::move(cas_ratios);
  s += catchup_table(o, ca, et, ratios);
  s += failover_table(o, ca, et, ratios);
  ratios["write"] = std::move(write_ratios);
  json::array ts;
  s += targets(ca, et, ts);
  doc["ratios_changeagent_over_etcd"] = std::move(ratios);
  doc["targets"] = std::move(ts);
  json_text = json::serialize(doc);
  return s;
}

}  // namespace cabench
