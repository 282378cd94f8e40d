// pgha failover and switchover timings against real PostgreSQL 15 and a
// real 3-node changeagent store on this machine, in sync mode with a writer
// inserting rows throughout:
//   failover    SIGKILL of the primary's agent and postgres -> another
//               member answers GET /primary 200; the writer's longest gap
//   switchover  operator request -> the target answers /primary; the gap
// Each is repeated --rounds times (default 5) and the median is printed
// with every sample. Then the same for Debian's Patroni + etcd on this
// machine in the same run (pgha_patroni.h; --no-patroni skips it), and the
// ratio Patroni / pgha. Run as root (agents become `postgres`) or as a user
// that may run PostgreSQL:
//   build/bench/pgha_failover --rounds=5
#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "bench/pgha_patroni.h"
#include "tests/integration/pgha_cluster.h"

using namespace integration::pgha;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t).count();
}

int64_t median(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? -1 : v[v.size() / 2];
}

std::string join(const std::vector<int64_t>& v) {
  std::string out;
  for (auto x : v) out += (out.empty() ? "" : " ") + std::to_string(x);
  return out;
}

[[noreturn]] void die(const std::string& why, PghaCluster* c) {
  std::fprintf(stderr, "pgha_failover: %s\n", why.c_str());
  if (c) {
    std::fprintf(stderr, "%s", c->log_tails().c_str());
    c->keep_files();
  }
  std::exit(1);
}

void row(const char* what, const std::vector<int64_t>& pgha, const std::vector<int64_t>* patroni) {
  if (!patroni) {
    std::printf("| %s | %lld | %s |\n", what, static_cast<long long>(median(pgha)),
                join(pgha).c_str());
    return;
  }
  int64_t a = median(pgha), b = median(*patroni);
  std::printf("| %s | %lld | %lld | %.1f | %s | %s |\n", what, static_cast<long long>(a),
              static_cast<long long>(b), a > 0 ? static_cast<double>(b) / a : 0.0,
              join(pgha).c_str(), join(*patroni).c_str());
}

void print_table(int rounds, const bench::HaFigures& f, const bench::HaFigures* p) {
  std::printf("\n%d rounds, sync mode. pgha: lease ttl 2 s, loop 200 ms. ", rounds);
  if (p) {
    std::printf("Patroni 3.0.2 + etcd 3.4: ttl %d s, loop_wait %d s, retry_timeout %d s.\n\n",
                bench::kPatroniTtlS, bench::kPatroniLoopWaitS, bench::kPatroniRetryTimeoutS);
    std::printf(
        "| measure | pgha median ms | Patroni median ms | Patroni / pgha | pgha samples | "
        "Patroni samples |\n| --- | --- | --- | --- | --- | --- |\n");
  } else {
    std::printf("\n\n| measure | median ms | samples ms |\n| --- | --- | --- |\n");
  }
  row("failover: primary killed -> new /primary 200", f.failover_ms, p ? &p->failover_ms : nullptr);
  row("failover: writer's longest gap", f.failover_gap_ms, p ? &p->failover_gap_ms : nullptr);
  row("old primary rejoins (pg_rewind) -> /replica 200", f.rejoin_ms, p ? &p->rejoin_ms : nullptr);
  row("switchover: request -> new /primary 200", f.switchover_ms, p ? &p->switchover_ms : nullptr);
  row("switchover: writer's longest gap", f.switchover_gap_ms, p ? &p->switchover_gap_ms : nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  bool patroni = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--rounds=", 9) == 0) {
      rounds = std::atoi(argv[i] + 9);
    } else if (std::strcmp(argv[i], "--no-patroni") == 0) {
      patroni = false;
    } else {
      std::fprintf(stderr, "pgha_failover: unknown flag '%s' (--rounds=N, --no-patroni)\n",
                   argv[i]);
      return 2;
    }
  }
  if (patroni &&
      (::access(bench::kPatroniBin, X_OK) != 0 || ::access(bench::kEtcdBin, X_OK) != 0)) {
    std::fprintf(stderr,
                 "pgha_failover: %s or %s is missing: install them (tools/install-deps.sh "
                 "--bench) or pass --no-patroni\n",
                 bench::kPatroniBin, bench::kEtcdBin);
    return 2;
  }
  if (rounds < 1 || rounds > 50) {
    std::fprintf(stderr, "pgha_failover: --rounds must be in [1, 50]\n");
    return 2;
  }
  // Gone (agents, PostgreSQL, store) before Patroni runs on the same cores.
  auto pgha_cluster = std::make_unique<PghaCluster>();
  PghaCluster& c = *pgha_cluster;
  BootstrapSpec spec;
  spec.mode = pgha::ReplicationMode::kSync;
  auto healthy = c.bootstrap(spec, milliseconds(120000));
  if (!healthy.is_ok()) die("bootstrap: " + healthy.status().to_string(), &c);
  if (!psql(c.agent(*healthy).pg_port, "CREATE TABLE seq (n bigint PRIMARY KEY)").is_ok()) {
    die("cannot create the table", &c);
  }
  SeqWriter writer(c.writable_conninfo());
  std::this_thread::sleep_for(milliseconds(1000));

  bench::HaFigures f;
  auto& failover_ms = f.failover_ms;
  auto& failover_gap_ms = f.failover_gap_ms;
  auto& rejoin_ms = f.rejoin_ms;
  for (int r = 0; r < rounds; ++r) {
    auto p = c.wait_healthy(milliseconds(60000));
    if (!p.is_ok()) die("before failover " + std::to_string(r) + ": not healthy", &c);
    // Until the sync guarantee moved to a standby no failover can be sure of
    // every acknowledged commit (it is refused): time only settled clusters.
    if (!c.wait_sync_settled(*p, milliseconds(30000)).is_ok()) die("sync never settled", &c);
    std::this_thread::sleep_for(milliseconds(1000));
    writer.reset_longest_gap();
    auto t = Clock::now();
    c.kill9_agent(*p);
    c.kill9_postgres(*p);
    auto q = c.wait_new_primary(*p, milliseconds(30000));
    if (!q.is_ok()) die("failover " + std::to_string(r) + ": no new primary", &c);
    failover_ms.push_back(ms_since(t));
    while (writer.last_ack_ms_ago() > 200 && ms_since(t) < 30000) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    failover_gap_ms.push_back(writer.longest_gap_ms());
    auto t2 = Clock::now();
    if (auto s = c.start_agent(*p); !s.is_ok()) die(s.to_string(), &c);
    if (!c.wait_replica(*p, milliseconds(60000))) die("old primary did not rejoin", &c);
    rejoin_ms.push_back(ms_since(t2));
    std::printf("failover %d: %s -> %s in %lld ms, write gap %lld ms, rejoin %lld ms\n", r,
                c.agent(*p).name.c_str(), c.agent(*q).name.c_str(),
                static_cast<long long>(failover_ms.back()),
                static_cast<long long>(failover_gap_ms.back()),
                static_cast<long long>(rejoin_ms.back()));
  }

  auto& switchover_ms = f.switchover_ms;
  auto& switchover_gap_ms = f.switchover_gap_ms;
  for (int r = 0; r < rounds; ++r) {
    auto p = c.wait_healthy(milliseconds(60000));
    if (!p.is_ok()) die("before switchover " + std::to_string(r) + ": not healthy", &c);
    std::this_thread::sleep_for(milliseconds(1000));
    size_t target = (*p + 1) % c.size();
    uint64_t rev = 0;
    // The store may be between leaders on this loaded machine (503): retry.
    auto desired = c.read_desired(&rev);
    for (int i = 0;
         i < 20 && !desired.is_ok() && desired.status().code() == common::Code::kUnavailable; ++i) {
      std::this_thread::sleep_for(milliseconds(250));
      desired = c.read_desired(&rev);
    }
    if (!desired.is_ok()) die(desired.status().to_string(), &c);
    desired->primary = "";
    desired->handover =
        pgha::HandoverRequest{"bench-switchover-" + std::to_string(r),
                              pgha::HandoverKind::kSwitchover, c.agent(target).name,
                              std::chrono::duration_cast<milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count()};
    desired->generation++;
    writer.reset_longest_gap();
    auto t = Clock::now();
    common::Status wrote = c.write_desired(*desired, rev);
    for (int i = 0; i < 20 && wrote.code() == common::Code::kUnavailable; ++i) {
      std::this_thread::sleep_for(milliseconds(250));
      wrote = c.write_desired(*desired, rev);
    }
    if (!wrote.is_ok()) die(wrote.to_string(), &c);
    auto q = c.wait_new_primary(*p, milliseconds(30000));
    if (!q.is_ok()) die("switchover " + std::to_string(r) + ": no new primary", &c);
    switchover_ms.push_back(ms_since(t));
    while (writer.last_ack_ms_ago() > 200 && ms_since(t) < 30000) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    switchover_gap_ms.push_back(writer.longest_gap_ms());
    std::printf("switchover %d: %s -> %s in %lld ms, write gap %lld ms\n", r,
                c.agent(*p).name.c_str(), c.agent(*q).name.c_str(),
                static_cast<long long>(switchover_ms.back()),
                static_cast<long long>(switchover_gap_ms.back()));
  }
  writer.stop();
  pgha_cluster.reset();

  bench::HaFigures pf;
  std::string why;
  if (patroni && !bench::run_patroni(rounds, pf, why)) {
    std::fprintf(stderr, "pgha_failover: patroni: %s\n", why.c_str());
    patroni = false;
  }
  print_table(rounds, f, patroni ? &pf : nullptr);
  return 0;
}
