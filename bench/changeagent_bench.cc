// changeagent_bench: changeagent against etcd on one machine (issue 11).
//
//   write     N closed-loop clients (default sweep 1, 16, 64, 256), each a
//             thread with its own keep-alive api::Client, post ~100 B JSON
//             values to the leader for --seconds; writes/s, p50/p99/p999.
//   cas       N closed-loop clients (default 1, 16, 64) each loop read ->
//             CAS(old+1) with retry on mismatch, on one hot key and on
//             1,000 keys; increments/s, attempts/s, p50/p99 (issue 4).
//   catchup   preload --catchup-changes with large batches, then read them
//             all from a follower: paged (limit 1000) and, for changeagent,
//             the SSE stream; changes/s.
//   failover  one writer; kill -9 the leader; the gap from the last write
//             the old leader acknowledged to the first acknowledged by
//             another member; --failover-trials times, the killed member
//             restarted and caught up between trials.
//
// etcd is driven through its v3 HTTP/JSON gateway with the same client code
// (api::Client::request), so both sides pay the same HTTP/JSON costs.
//
// Usage:
//   changeagent_bench --start-cluster [--systems=changeagent,etcd] [--json=FILE]
//   changeagent_bench --systems=changeagent --endpoints=h:p,h:p,h:p --loads=write,catchup
// See --help for every flag.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include "bench/changeagent_bench.h"

namespace cabench {
namespace {

void on_signal(int sig) {
  g_stop_signal = sig;
  g_stop = true;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size() && !s.empty()) {
    size_t comma = s.find(',', pos);
    std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

const char kHelp[] =
    "changeagent_bench: changeagent vs etcd (write, cas, catch-up, failover)\n"
    "  --start-cluster            start 3 changeagent and 3 etcd members on loopback\n"
    "  --endpoints=A,B,C          use an existing changeagent cluster instead\n"
    "  --etcd-endpoints=A,B,C     use an existing etcd cluster instead\n"
    "  --systems=changeagent,etcd which systems to run (default both)\n"
    "  --loads=write,cas,catchup,failover (default all; failover needs --start-cluster)\n"
    "  --server-bin=PATH          changeagent binary (default: ../tools/changeagent)\n"
    "  --etcd-bin=PATH            etcd binary (default /usr/bin/etcd)\n"
    "  --data-parent=DIR          data dirs go below (default /var/tmp; not tmpfs)\n"
    "  --keep-data                keep the data dirs and member logs\n"
    "  --pid-file=FILE            append every child's pid (for the caller's cleanup)\n"
    "  --json=FILE                write the figures as JSON\n"
    "  --seconds=S                measured seconds per write level (default 10)\n"
    "  --warmup-seconds=S         unmeasured lead-in per level (default 1)\n"
    "  --clients=1,16,64,256      write sweep\n"
    "  --cas-clients=1,16,64      compare-and-set sweep (clients per level)\n"
    "  --cas-keys=1,1000          compare-and-set: counter keys per level\n"
    "  --cas-seconds=S            measured seconds per CAS level (default 5)\n"
    "  --write-to-follower        send writes to a follower instead of the leader\n"
    "  --request-ids              changeagent writes carry a unique requestId (dedup table cost)\n"
    "  --payload-bytes=N          JSON value per write (default 100)\n"
    "  --catchup-changes=M        preloaded changes (default 1000000)\n"
    "  --preload-batch=N          changes per batch / puts per txn (default 1000)\n"
    "  --preload-threads=N        (default 4)\n"
    "  --page-limit=N             changes per read page (default 1000)\n"
    "  --failover-trials=N        (default 5)\n"
    "  --failover-timeout-ms=N    failover writer abandons a write after this (default 100)\n"
    "  --stream-seconds-max=S     the SSE read stops after S seconds (default 30)\n"
    "  --read-seconds-max=S       the paged read stops after S seconds (default 120)\n";

// --key=value or --key value; bare booleans.
Status parse_flags(int argc, char** argv, Options& o) {
  std::map<std::string, std::string> kv;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (!a.starts_with("--")) return Status(Code::kInvalidArgument, "unexpected argument " + a);
    a = a.substr(2);
    auto eq = a.find('=');
    if (eq != std::string::npos) {
      kv[a.substr(0, eq)] = a.substr(eq + 1);
    } else if (a == "start-cluster" || a == "keep-data" || a == "write-to-follower" ||
               a == "request-ids" || a == "help") {
      kv[a] = "true";
    } else if (i + 1 < argc) {
      kv[a] = argv[++i];
    } else {
      return Status(Code::kInvalidArgument, "--" + a + " needs a value");
    }
  }
  try {
    for (const auto& [k, v] : kv) {
      if (k == "help") {
        std::fputs(kHelp, stdout);
        std::exit(0);
      } else if (k == "start-cluster") {
        o.start_cluster = true;
      } else if (k == "keep-data") {
        o.keep_data = true;
      } else if (k == "write-to-follower") {
        o.write_to_follower = true;
      } else if (k == "request-ids") {
        o.request_ids = true;
      } else if (k == "endpoints") {
        o.endpoints = split(v);
      } else if (k == "etcd-endpoints") {
        o.etcd_endpoints = split(v);
      } else if (k == "systems") {
        o.systems = split(v);
      } else if (k == "loads") {
        o.loads = split(v);
      } else if (k == "server-bin") {
        o.server_bin = v;
      } else if (k == "etcd-bin") {
        o.etcd_bin = v;
      } else if (k == "data-parent") {
        o.data_parent = v;
      } else if (k == "pid-file") {
        o.pid_file = v;
      } else if (k == "json") {
        o.json_file = v;
      } else if (k == "seconds") {
        o.seconds = std::stod(v);
      } else if (k == "warmup-seconds") {
        o.warmup_seconds = std::stod(v);
      } else if (k == "clients") {
        o.clients.clear();
        for (const auto& c : split(v)) o.clients.push_back(static_cast<uint32_t>(std::stoul(c)));
      } else if (k == "cas-clients" || k == "cas-keys") {
        auto& list = k == "cas-clients" ? o.cas_clients : o.cas_keys;
        list.clear();
        for (const auto& c : split(v)) list.push_back(static_cast<uint32_t>(std::stoul(c)));
      } else if (k == "cas-seconds") {
        o.cas_seconds = std::stod(v);
      } else if (k == "payload-bytes") {
        o.payload_bytes = static_cast<uint32_t>(std::stoul(v));
      } else if (k == "catchup-changes") {
        o.catchup_changes = std::stoull(v);
      } else if (k == "preload-batch") {
        o.preload_batch = static_cast<uint32_t>(std::stoul(v));
      } else if (k == "preload-threads") {
        o.preload_threads = static_cast<uint32_t>(std::stoul(v));
      } else if (k == "page-limit") {
        o.page_limit = static_cast<uint32_t>(std::stoul(v));
      } else if (k == "read-seconds-max") {
        o.read_seconds_max = std::stod(v);
      } else if (k == "stream-seconds-max") {
        o.stream_seconds_max = std::stod(v);
      } else if (k == "failover-timeout-ms") {
        o.failover_timeout_ms = static_cast<uint32_t>(std::stoul(v));
      } else if (k == "failover-trials") {
        o.failover_trials = static_cast<uint32_t>(std::stoul(v));
      } else {
        return Status(Code::kInvalidArgument, "unknown flag --" + k + " (see --help)");
      }
    }
  } catch (const std::exception& e) {
    return Status(Code::kInvalidArgument, std::string("bad flag value: ") + e.what());
  }
  if (o.seconds <= 0 || o.clients.empty() || o.preload_batch == 0 || o.page_limit == 0 ||
      o.preload_threads == 0 || o.payload_bytes < 40) {
    return Status(Code::kInvalidArgument,
                  "--seconds, --clients, --preload-batch, --page-limit and --preload-threads "
                  "must be positive, --payload-bytes at least 40");
  }
  if (o.cas_seconds <= 0 || std::count(o.cas_clients.begin(), o.cas_clients.end(), 0u) > 0 ||
      std::count(o.cas_keys.begin(), o.cas_keys.end(), 0u) > 0) {
    return Status(Code::kInvalidArgument,
                  "--cas-seconds, --cas-clients and --cas-keys must be positive");
  }
  if (!o.start_cluster && o.endpoints.empty() && o.etcd_endpoints.empty()) {
    return Status(Code::kInvalidArgument, "pass --start-cluster or --endpoints/--etcd-endpoints");
  }
  return Status::ok();
}

bool wants(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Both clusters run side by side and the loads alternate between them
// (write level by level, then catch-up, then failover), so a busy spell on
// this shared machine hits both systems rather than one. The idle cluster
// only exchanges heartbeats meanwhile.
std::vector<SystemResults> run_all(const std::vector<std::string>& names, const Options& o) {
  std::vector<SystemResults> rs(names.size());
  std::vector<std::unique_ptr<System>> sys;
  for (size_t k = 0; k < names.size(); k++) {
    rs[k].name = names[k];
    sys.push_back(names[k] == "etcd" ? make_etcd() : make_changeagent());
    std::fprintf(stderr, "== %s: starting\n", names[k].c_str());
    Status s = sys[k]->start(o);
    rs[k].interface = sys[k]->interface();
    rs[k].settings = sys[k]->settings();
    if (!s.is_ok()) rs[k].error = "start: " + s.to_string();
  }
  auto live = [&](size_t k) { return !g_stop && rs[k].error.empty(); };
  auto fail = [&](size_t k, const std::string& what, const Status& s) {
    rs[k].error = what + ": " + s.to_string();
    std::fprintf(stderr, "  %s: %s\n", rs[k].name.c_str(), rs[k].error.c_str());
  };
  if (wants(o.loads, "write")) {
    for (uint32_t n : o.clients) {
      for (size_t k = 0; k < sys.size(); k++) {
        if (!live(k)) continue;
        auto w = run_write(*sys[k], o, n);
        if (!w.is_ok()) {
          fail(k, "write " + std::to_string(n), w.status());
          continue;
        }
        if (g_stop) break;  // cut short: not a figure
        std::fprintf(stderr, "  %s write %u clients: %.0f w/s, p99 %.2f ms\n", rs[k].name.c_str(),
                     n, w->writes_per_second, w->latency.p99_ms);
        rs[k].writes.push_back(*w);
      }
    }
  }
  if (wants(o.loads, "cas")) {
    for (uint32_t keys : o.cas_keys) {
      for (uint32_t n : o.cas_clients) {
        for (size_t k = 0; k < sys.size(); k++) {
          if (!live(k)) continue;
          auto c = run_cas(*sys[k], o, n, keys);
          if (g_stop) break;  // cut short: not a figure
          if (!c.is_ok()) {
            fail(k, "cas " + std::to_string(keys) + " keys " + std::to_string(n), c.status());
            continue;
          }
          std::fprintf(
              stderr, "  %s cas %u keys %u clients: %.0f incr/s, %.0f attempts/s, p99 %.2f ms%s\n",
              rs[k].name.c_str(), keys, n, c->increments_per_second, c->attempts_per_second,
              c->cas_latency.p99_ms, c->verified ? "" : ", COUNTERS DO NOT MATCH");
          rs[k].cas.push_back(*c);
        }
      }
    }
  }
  // Failover before catch-up: restarted members then catch up on a small
  // log, not on the preloaded million changes.
  if (wants(o.loads, "failover") && o.failover_trials > 0) {
    for (size_t k = 0; k < sys.size(); k++) {
      if (!live(k)) continue;
      auto f = run_failover(*sys[k], o);
      if (!f.is_ok()) {
        fail(k, "failover", f.status());
        continue;
      }
      rs[k].failover = *f;
    }
  }
  if (wants(o.loads, "catchup")) {
    for (size_t k = 0; k < sys.size(); k++) {
      if (!live(k)) continue;
      std::fprintf(stderr, "  %s catch-up: preloading %llu changes\n", rs[k].name.c_str(),
                   static_cast<unsigned long long>(o.catchup_changes));
      auto c = run_catchup(*sys[k], o);
      if (!c.is_ok()) {
        fail(k, "catchup", c.status());
        continue;
      }
      std::fprintf(stderr, "  %s catch-up: preload %.0f/s, paged %.0f/s, stream %.0f/s\n",
                   rs[k].name.c_str(), c->preload_per_second, c->paged_per_second,
                   c->stream_per_second);
      rs[k].catchup = *c;
    }
  }
  for (auto& x : sys) x->stop_all();
  return rs;
}

}  // namespace
}  // namespace cabench

int main(int argc, char** argv) {
  using namespace cabench;
  Options o;
  {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) o.server_bin = (self.parent_path().parent_path() / "tools" / "changeagent").string();
  }
  if (Status s = parse_flags(argc, argv, o); !s.is_ok()) {
    std::fprintf(stderr, "changeagent_bench: %s\n", s.message().c_str());
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // 256 clients hold a socket, an epoll and an eventfd each.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }

  std::vector<std::string> names;
  for (const auto& name : o.systems) {
    if (name != "changeagent" && name != "etcd") {
      std::fprintf(stderr, "changeagent_bench: unknown system %s\n", name.c_str());
      return 2;
    }
    if (!o.start_cluster && (name == "etcd" ? o.etcd_endpoints : o.endpoints).empty()) continue;
    names.push_back(name);
  }
  std::vector<SystemResults> results = run_all(names, o);
  std::string doc;
  std::string report = format_report(o, results, doc);
  std::fputs(report.c_str(), stdout);
  std::fflush(stdout);
  if (!o.json_file.empty()) {
    std::ofstream f(o.json_file);
    f << doc << "\n";
    if (!f) {
      std::fprintf(stderr, "changeagent_bench: cannot write %s\n", o.json_file.c_str());
      return 1;
    }
  }
  if (g_stop) return 130;
  for (const auto& r : results) {
    if (!r.error.empty()) return 1;
  }
  return 0;
}
