#include "tests/chaos/run.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/chaos/checker.h"
#include "tests/chaos/cluster.h"
#include "tests/chaos/report.h"
#include "tests/chaos/workload.h"

namespace chaos {

using Millis = std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

constexpr Millis kConvergeTimeout{30000};
constexpr uint32_t kFeedPageLimit = 1000;
constexpr int kFetchAttemptsMax = 3;
// How long to look for a leader before a leader fault picks any node.
constexpr Millis kLeaderWait{3000};

class Schedule {
 public:
  Schedule(const RunOptions& opts, ChaosCluster& cluster, Workload& workload)
      : opts_(opts), cluster_(cluster), workload_(workload), rng_(opts.seed) {}

  std::vector<FaultRecord> run(std::vector<std::string> faults) {
    auto end = Clock::now() + Millis(static_cast<int64_t>(opts_.duration_s * 1000));
    std::vector<FaultRecord> done;
    while (Clock::now() < end && !interrupted()) {
      sleep(pick(800, 2000));  // quiet: the cluster serves normally
      if (Clock::now() >= end || interrupted()) break;
      const std::string& kind = faults[pick(0, faults.size() - 1)];
      FaultRecord f;
      f.kind = kind;
      f.start_ns = workload_.now_ns();
      problem_.clear();
      f.detail = inject(kind);
      f.problem = problem_;
      f.end_ns = workload_.now_ns();
      std::printf("  %7.2fs  %-15s %s%s\n", f.start_ns / 1e9, kind.c_str(), f.detail.c_str(),
                  f.problem.empty() ? "" : (" PROBLEM: " + f.problem).c_str());
      std::fflush(stdout);
      done.push_back(std::move(f));
    }
    return done;
  }

 private:
  bool interrupted() const { return opts_.interrupted && opts_.interrupted->load(); }

  size_t pick(size_t lo, size_t hi) { return std::uniform_int_distribution<size_t>(lo, hi)(rng_); }

  // Sleeps in short steps so that Ctrl-C ends a hold promptly.
  void sleep(size_t ms) {
    auto until = Clock::now() + Millis(ms);
    while (Clock::now() < until && !interrupted()) std::this_thread::sleep_for(Millis(20));
  }

  size_t leader_or_any() {
    auto deadline = Clock::now() + kLeaderWait;
    while (Clock::now() < deadline) {
      int l = cluster_.leader();
      if (l >= 0) return static_cast<size_t>(l);
      std::this_thread::sleep_for(Millis(20));
    }
    return pick(0, cluster_.size() - 1);
  }

  std::string name(size_t i) const { return cluster_.node(i).name; }

  static std::string failed(const common::Status& s) {
    return s.is_ok() ? "" : " [fault failed: " + s.message() + "]";
  }

  std::string restart(size_t i) {
    common::Status s = cluster_.start(i);
    return s.is_ok() ? "" : " [restart failed: " + s.message() + "]";
  }

  // Injects one fault, holds it, heals it; returns what was done.
  std::string inject(const std::string& kind) {
    size_t hold = pick(1000, 3000);
    size_t l = leader_or_any();
    if (kind == "kill-leader" || kind == "kill-follower") {
      size_t v = l;
      if (kind == "kill-follower") v = (l + 1 + pick(0, cluster_.size() - 2)) % cluster_.size();
      cluster_.kill9(v);
      sleep(hold);
      return name(v) + " down " + std::to_string(hold) + " ms" + restart(v);
    }
    if (kind == "kill-all") {
      cluster_.kill9_all();
      sleep(hold / 2);
      common::Status s = cluster_.start_all();
      return "all down " + std::to_string(hold / 2) + " ms" +
             (s.is_ok() ? "" : " [restart failed: " + s.message() + "]");
    }
    if (kind == "pause-leader") {
      cluster_.sigstop(l);
      sleep(hold);
      cluster_.sigcont(l);
      return name(l) + " SIGSTOP " + std::to_string(hold) + " ms";
    }
    if (kind == "isolate-leader" || kind == "split-2-1") {
      size_t v = kind == "isolate-leader" ? l : pick(0, cluster_.size() - 1);
      common::Status s = cluster_.partition({v});
      sleep(hold);
      (void)cluster_.heal_network();
      return name(v) + " cut off " + std::to_string(hold) + " ms" + failed(s);
    }
    if (kind == "split-3-2") {
      // Two nodes apart from three; the leader is in the minority half the
      // time, so both "old leader loses quorum" and "followers split" occur.
      std::set<size_t> two{l, (l + 1 + pick(0, cluster_.size() - 2)) % cluster_.size()};
      if (pick(0, 1) == 0) two = {(l + 1) % cluster_.size(), (l + 2) % cluster_.size()};
      common::Status s = cluster_.partition(two);
      sleep(hold);
      (void)cluster_.heal_network();
      std::string who;
      for (size_t v : two) who += (who.empty() ? "" : "+") + name(v);
      return who + " apart from the rest " + std::to_string(hold) + " ms" + failed(s);
    }
    if (kind == "one-way") {
      // The leader's packets to one follower are lost, or the reverse.
      size_t f = (l + 1 + pick(0, cluster_.size() - 2)) % cluster_.size();
      bool from_leader = pick(0, 1) == 0;
      size_t from = from_leader ? l : f, to = from_leader ? f : l;
      common::Status s = cluster_.drop_one_way(from, to);
      sleep(hold);
      (void)cluster_.heal_network();
      return name(from) + " -> " + name(to) + " lost " + std::to_string(hold) + " ms" + failed(s);
    }
    if (kind == "random-loss") {
      uint32_t percent = static_cast<uint32_t>(pick(10, 40));
      common::Status s = cluster_.random_loss(percent);
      sleep(hold);
      (void)cluster_.heal_network();
      return std::to_string(percent) + "% of peer packets lost " + std::to_string(hold) + " ms" +
             failed(s);
    }
    if (kind == "disk-full") {
      // Leader or follower alike. A running node rarely notices within a
      // hold (RocksDB writes into WAL space it preallocated), so the node
      // is also restarted while the disk is full: it must refuse to start
      // with a readable line, then start and catch up once space is back,
      // and nothing acknowledged may be lost either way.
      size_t v = pick(0, 1) == 0 ? l : (l + 1 + pick(0, cluster_.size() - 2)) % cluster_.size();
      common::Status s = cluster_.fill_disk(v);
      sleep(hold);
      cluster_.kill9(v);
      common::Status full_start = cluster_.start(v);
      std::string on_full =
          full_start.is_ok() ? "; started on the full disk" : "; refused to start on the full disk";
      cluster_.kill9(v);
      common::Status freed = cluster_.free_disk(v);
      return name(v) + " disk full " + std::to_string(hold) + " ms" + failed(s) + on_full +
             failed(freed) + restart(v);
    }
    if (kind == "slow-link") {
      // Latency, not loss: every link, the leader's links, or one
      // follower's, delayed each way by 10-40 ms (round trips stay under
      // these clusters' 100-200 ms election timeout: the cluster must keep
      // working, slowly) or by 50-300 ms (beyond it: heartbeats still come
      // every 20 ms, only later, but an election started by the redial gap
      // may not finish until the heal, and votes arrive terms late).
      uint32_t delay = static_cast<uint32_t>(pick(0, 1) == 0 ? pick(10, 40) : pick(50, 300));
      std::set<std::pair<size_t, size_t>> pairs;
      size_t scope = pick(0, 2);
      size_t v = scope == 1 ? l : (l + 1 + pick(0, cluster_.size() - 2)) % cluster_.size();
      for (size_t a = 0; a < cluster_.size(); a++) {
        for (size_t b = a + 1; b < cluster_.size(); b++) {
          if (scope == 0 || a == v || b == v) pairs.insert({a, b});
        }
      }
      common::Status s = cluster_.slow_links(pairs, Millis(delay), Millis(delay / 5), rng_());
      int64_t slowed_ns = workload_.now_ns();  // every peer connection now goes through a proxy
      sleep(hold);
      int64_t healed_ns = workload_.now_ns();
      ChaosCluster::LinkTraffic t = cluster_.slow_link_traffic();
      (void)cluster_.heal_network();
      // The DNAT rules must have steered the redialled peer connections
      // through the proxies; a hold with none means the fault did nothing.
      if (s.is_ok() && t.connections == 0) {
        problem_ = "no peer connection went through the delay proxies";
      }
      std::string who = scope == 0 ? "all links" : name(v) + "'s links";
      std::string d = who + " +" + std::to_string(delay) + " ms (jitter " +
                      std::to_string(delay / 5) + ") each way " + std::to_string(hold) + " ms; " +
                      std::to_string(t.connections) + " connections, " +
                      std::to_string(t.bytes / 1024) + " KiB through the proxies" + failed(s);
      if (s.is_ok() && scope == 0) d += acks_while_slow(slowed_ns, healed_ns, delay);
      return d;
    }
    if (kind == "disk-ro") return disk_readonly(l);
    if (kind == "power-loss") {
      sleep(pick(200, 600));  // let acknowledged writes pile up in the page cache
      common::Status s = cluster_.power_cycle();
      return "kill -9 all + XFS shutdown + remount" +
             (s.is_ok() ? "" : " [failed: " + s.message() + "]");
    }
    return "unknown fault kind";
  }

  // The node's disk turns read-only under it (an ext4 error). It must stop
  // acknowledging — the checker sees to that — and say so: /health
  // "storage failed", a log line, exit status 75 for its supervisor. Then
  // the operator's repair (fsck, mount) and a restart; it must catch up.
  std::string disk_readonly(size_t l) {
    size_t v = pick(0, 1) == 0 ? l : (l + 1 + pick(0, cluster_.size() - 2)) % cluster_.size();
    size_t hold = pick(2000, 4000);
    auto t0 = Clock::now();
    auto ms_since = [&] { return std::chrono::duration_cast<Millis>(Clock::now() - t0).count(); };
    common::Status s = cluster_.fail_disk_readonly(v);
    int64_t said_ms = -1, exit_ms = -1;
    int code = -1;
    while (s.is_ok() && ms_since() < static_cast<int64_t>(hold) && !interrupted()) {
      if (code < 0 && (code = cluster_.wait_exit(v, Millis(0))) >= 0) exit_ms = ms_since();
      if (code < 0 && said_ms < 0) {
        auto r = cluster_.client(v, Millis(300))->request("GET", "/health");
        if (r.is_ok() && r->status != 200 && r->body.find("storage failed") != std::string::npos) {
          said_ms = ms_since();
        }
      }
      std::this_thread::sleep_for(Millis(20));
    }
    bool logged = cluster_.log_tail(v, 200).find("storage write failed") != std::string::npos;
    std::string evidence;
    if (s.is_ok() && said_ms < 0 && code < 0) evidence = save_silent_node_evidence(v, l);
    cluster_.kill9(v);
    common::Status repaired = s.is_ok() ? cluster_.repair_disk(v) : common::Status::ok();
    std::string d = name(v) + " disk read-only " + std::to_string(hold) + " ms" + failed(s);
    if (s.is_ok()) {
      d += said_ms >= 0
               ? "; /health said \"storage failed\" after " + std::to_string(said_ms) + " ms"
               : "; /health never said \"storage failed\"";
      d += code >= 0
               ? "; exited " + std::to_string(code) + " after " + std::to_string(exit_ms) + " ms"
               : "; still running, killed";
      if (code != -1 && code != 75) {
        problem_ = "exited with status " + std::to_string(code) + ", not 75";
      } else if (said_ms < 0 && code != 75) {
        problem_ = "kept running on a read-only disk for " + std::to_string(hold) +
                   " ms without reporting it (evidence: " + evidence + ")";
      } else if (!logged) {
        problem_ = "no \"storage write failed\" line in its log";
      }
    }
    if (!repaired.is_ok()) return d + " [repair failed: " + repaired.message() + "]";
    return d + "; fsck + mount" + restart(v);
  }

  // With every link slowed by `delay` each way, no write begun after the
  // slowing can be committed sooner than a round trip through two proxies
  // (leader -> follower, and the follower's answer on its own connection):
  // what the clients saw proves the latency was really there. A write
  // acknowledged faster means some peer connection bypassed the proxies.
  std::string acks_while_slow(int64_t from_ns, int64_t to_ns, uint32_t delay_ms) {
    std::vector<int64_t> ms;
    for (const auto& op : workload_.history()) {
      if (!is_write(op.kind) || op.outcome != Outcome::kOk) continue;
      if (op.invoke_ns < from_ns || op.complete_ns > to_ns) continue;
      ms.push_back((op.complete_ns - op.invoke_ns) / 1'000'000);
    }
    if (ms.empty()) return "; no write acknowledged while slowed";
    std::sort(ms.begin(), ms.end());
    if (ms.front() < 2 * static_cast<int64_t>(delay_ms)) {
      problem_ = "a write was acknowledged " + std::to_string(ms.front()) +
                 " ms after it began although every link was " + std::to_string(delay_ms) +
                 " ms slower each way";
    }
    return "; " + std::to_string(ms.size()) + " writes acknowledged while slowed, min " +
           std::to_string(ms.front()) + " ms, median " + std::to_string(ms[ms.size() / 2]) + " ms";
  }

  // A node that neither failed nor said so on a read-only disk
  // (FINDINGS #8): where its threads wait in the kernel (a write blocked on
  // the aborted journal would show here) and what its and the leader's raft
  // think, into a file in the out dir; returns the file's path.
  std::string save_silent_node_evidence(size_t v, size_t leader) {
    std::string path = opts_.out_dir + "/disk-ro-" + name(v) + "-" +
                       std::to_string(workload_.now_ns() / 1'000'000) + "ms.txt";
    std::ofstream out(path);
    std::string stacks;
    run_command("for t in /proc/" + std::to_string(cluster_.node(v).pid) +
                    "/task/*; do echo \"== $t $(cat $t/comm) $(cat $t/wchan)\"; cat $t/stack; done",
                &stacks);
    out << "kernel stacks of " << name(v) << "'s threads:\n" << stacks << "\n";
    for (size_t i : {v, leader}) {
      auto r = cluster_.client(i, Millis(2000))->request("GET", "/diagnostics/raft");
      out << name(i) << " /diagnostics/raft: " << (r.is_ok() ? r->body : r.status().message())
          << "\n";
    }
    return path;
  }

  std::string problem_;  // what the current fault's own checks found wrong
  const RunOptions& opts_;
  ChaosCluster& cluster_;
  Workload& workload_;
  std::mt19937_64 rng_;
};

std::string payload_of(const std::string& data_json) {
  boost::system::error_code ec;
  auto v = boost::json::parse(data_json, ec);
  if (ec || !v.is_object()) return "";
  auto* p = v.as_object().if_contains("p");
  return p && p->is_string() ? std::string(p->as_string()) : "";
}

// Probes one index the feed skipped: internal entry, failed compare, or a
// hole (anything else).
std::string probe_gap(api::Client& c, uint64_t id) {
  auto r = c.request("GET", "/changes/" + std::to_string(id));
  if (!r.is_ok()) return "missing (" + r.status().message() + ")";
  if (r->status == 404 && r->body.find("internal entry") != std::string::npos) return "internal";
  if (r->status == 404 && r->body.find("compare failed") != std::string::npos) {
    return "failed_compare";
  }
  return "missing (" + std::to_string(r->status) + ")";
}

common::Result<NodeLog> fetch_log(ChaosCluster& cluster, size_t i, size_t counters) {
  auto c = cluster.client(i, Millis(5000));
  NodeLog log;
  log.node = cluster.node(i).name;
  api::FeedRequest req;
  req.limit = kFeedPageLimit;
  req.include_internal = true;
  bool first_page = true;
  for (;;) {
    auto page = c->get_feed(req);
    if (!page.is_ok()) return page.status();
    if (first_page) log.first_index = page->first_index;
    first_page = false;
    log.last_index = page->last_index;
    for (const auto& ch : page->changes) {
      LogEntry e;
      e.id = ch.id;
      e.internal = ch.internal;
      e.payload = payload_of(ch.data_json);
      if (!ch.ops.empty()) e.key = ch.ops.front().key;
      log.entries.push_back(std::move(e));
      req.since = ch.id;
    }
    if (page->at_end || page->changes.empty()) break;
  }
  std::set<uint64_t> present;
  for (const auto& e : log.entries) present.insert(e.id);
  for (uint64_t id = log.first_index; id <= log.last_index; id++) {
    if (!present.count(id)) log.gaps[id] = probe_gap(*c, id);
  }
  log.gaps_probed = true;
  for (size_t k = 0; k < counters; k++) {
    std::string key = "chaos/ctr" + std::to_string(k);
    auto kv = c->get_key(key);
    if (kv.is_ok()) log.keys[key] = std::stoll(kv->value_json);
  }
  return log;
}

std::vector<std::string> usable_faults(const RunOptions& opts, const ChaosCluster& cluster) {
  std::vector<std::string> out;
  for (const auto& f : opts.faults.empty() ? all_faults() : opts.faults) {
    bool net = f == "isolate-leader" || f == "split-2-1" || f == "split-3-2" || f == "one-way" ||
               f == "random-loss";
    net = net || f == "slow-link";
    if (net && !cluster.netns_mode()) continue;
    if (f == "split-3-2" && cluster.size() != 5) continue;
    if (f == "power-loss" && !opts.power_loss) continue;
    if ((f == "disk-full" || f == "disk-ro") && !opts.disk_faults) continue;
    out.push_back(f);
  }
  return out;
}

}  // namespace

const std::vector<std::string>& all_faults() {
  static const std::vector<std::string> kAll{
      "kill-leader", "kill-follower", "kill-all", "pause-leader", "isolate-leader",
      "split-2-1",   "split-3-2",     "one-way",  "random-loss",  "slow-link",
      "power-loss",  "disk-full",     "disk-ro"};
  return kAll;
}

int run_chaos(const RunOptions& opts) {
  std::filesystem::create_directories(opts.out_dir);
  ClusterConfig cc;
  cc.changeagent_bin = opts.changeagent_bin;
  cc.nodes = opts.nodes;
  cc.want_netns = opts.want_netns;
  cc.eatmydata = opts.eatmydata;
  cc.power_loss = opts.power_loss;
  cc.disk_faults = opts.disk_faults;
  cc.work_dir = opts.out_dir;
  auto cluster = ChaosCluster::create(cc);
  if (!cluster.is_ok()) {
    std::fprintf(stderr, "chaos: %s\n", cluster.status().message().c_str());
    return kExitHarness;
  }
  ChaosCluster& cl = **cluster;
  std::printf("chaos: seed %llu, %.0f s, mode: %s\n", static_cast<unsigned long long>(opts.seed),
              opts.duration_s, cl.mode_description().c_str());
  if (auto s = cl.start_all(); !s.is_ok()) {
    std::fprintf(stderr, "chaos: %s\n", s.message().c_str());
    return kExitHarness;
  }
  if (auto s = cl.wait_converged(kConvergeTimeout); !s.is_ok()) {
    std::fprintf(stderr, "chaos: fresh cluster: %s\n", s.message().c_str());
    return kExitHarness;
  }
  auto faults = usable_faults(opts, cl);
  if (faults.empty()) {
    std::fprintf(stderr, "chaos: none of the asked faults works in this mode\n");
    return kExitHarness;
  }
  WorkloadConfig wc;
  wc.endpoints = cl.endpoints();
  wc.seed = opts.seed;
  wc.appenders = opts.appenders;
  wc.counters = opts.counters;
  Workload workload(wc);
  workload.start();
  std::vector<FaultRecord> done = Schedule(opts, cl, workload).run(faults);
  // Heal everything while the workload still runs: recovery under load.
  (void)cl.heal_network();
  for (size_t i = 0; i < cl.size(); i++) cl.sigcont(i);
  common::Status restarted = cl.start_all();
  std::this_thread::sleep_for(Millis(1500));
  int64_t run_end_ns = workload.now_ns();
  workload.stop();
  common::Status converged = restarted.is_ok() ? cl.wait_converged(kConvergeTimeout) : restarted;

  // The nodes are read one after another, so an election in between (its
  // no-op) can make their last indexes differ without any fault: converge
  // and read again, a bounded number of times, before calling it I6.
  std::vector<NodeLog> logs;
  for (int attempt = 0; attempt < kFetchAttemptsMax && converged.is_ok(); attempt++) {
    logs.clear();
    for (size_t i = 0; converged.is_ok() && i < cl.size(); i++) {
      auto log = fetch_log(cl, i, opts.counters);
      if (!log.is_ok()) {
        converged = log.status();
        break;
      }
      logs.push_back(std::move(log.value()));
    }
    bool same = true;
    for (const auto& l : logs) same = same && l.last_index == logs.front().last_index;
    if (same) break;
    std::printf("chaos: last indexes moved while reading the nodes; reading again\n");
    converged = cl.wait_converged(kConvergeTimeout);
  }
  for (const auto& log : logs) {
    std::ofstream f(opts.out_dir + "/final-" + log.node + ".jsonl");
    write_node_log(f, log);
  }
  auto history = workload.history();
  {
    std::ofstream h(opts.out_dir + "/history.jsonl");
    for (const auto& op : history) h << render_op(op) << "\n";
  }
  Report report = check(history, logs);
  compute_stalls(history, done, run_end_ns);
  write_timeline_svg(opts.out_dir + "/timeline.svg", history, done, run_end_ns);
  std::fputs(render_summary(opts, cl.mode_description(), done, report).c_str(), stdout);
  if (!converged.is_ok()) {
    std::printf("LIVENESS: the healed cluster did not converge: %s\n", converged.message().c_str());
    // What each node's raft thinks (per-peer match/next/state on the
    // leader) is what tells a stuck replication from a slow one.
    for (size_t i = 0; i < cl.size(); i++) {
      auto c = cl.client(i, Millis(2000));
      auto r = c->request("GET", "/diagnostics/raft");
      std::printf("%s /diagnostics/raft: %s\n%s sockets:\n%s%s", cl.node(i).name.c_str(),
                  r.is_ok() ? r->body.c_str() : r.status().message().c_str(),
                  cl.node(i).name.c_str(), cl.sockets(i).c_str(), cl.log_tail(i, 10).c_str());
    }
    return kExitLiveness;
  }
  bool fault_problems = std::any_of(done.begin(), done.end(),
                                    [](const FaultRecord& f) { return !f.problem.empty(); });
  return report.clean() && !fault_problems ? kExitClean : kExitViolations;
}

}  // namespace chaos
