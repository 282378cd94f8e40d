// sim_bench: throughput of the Raft core inside the simulator (no IO).
//   1. entries committed per CPU second, 3 voters, no faults, instant fsync,
//      for a few proposal batch sizes (checker on, as in every sim run);
//   2. seeds per CPU second of raft_sim's standard schedule (both phases).
// Usage: sim_bench [--entries=N] [--seeds=N]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "tests/sim/cluster.h"
#include "tests/sim/simulation.h"

namespace {

double cpu_seconds() {
  return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
}

struct Row {
  std::string what;
  double count;
  double cpu_s;
  const char* unit;
};

Row commit_throughput(uint64_t entries, uint64_t batch) {
  raftsim::ClusterOptions o;
  o.voters = 3;
  o.spares = 0;
  o.fsync_min_us = 0;
  o.fsync_max_us = 0;
  o.faults.delay_min_us = 100;
  o.faults.delay_max_us = 100;
  raftsim::Cluster c(o);
  c.run_until([&] { return c.leader() != raftlog::kNoNode; }, 10'000'000);
  raftlog::NodeId leader = c.leader();
  CA_ASSERT(leader != raftlog::kNoNode);
  raftlog::Index start = c.node(leader).core().commit();
  double t0 = cpu_seconds();
  constexpr uint64_t kWindowBatches = 64;  // proposals in flight before waiting
  uint64_t proposed = 0;
  while (proposed < entries && !c.failed()) {
    raftlog::Index last;
    for (uint64_t b = 0; b < kWindowBatches && proposed < entries; b++) {
      std::vector<uint64_t> ids;
      for (uint64_t i = 0; i < batch; i++) ids.push_back(c.next_client_id());
      auto r = c.propose(leader, ids);
      CA_ASSERT(r.is_ok());
      last = *r;
      proposed += batch;
    }
    c.run_until([&] { return c.node(leader).sm().applied() >= last; }, 10'000'000, 100);
  }
  double cpu = cpu_seconds() - t0;
  CA_ASSERT(!c.failed());
  double committed = static_cast<double>((c.node(leader).core().commit() - start.value()).value());
  return {"commit, batch " + std::to_string(batch), committed, cpu, "entries/s"};
}

Row seed_throughput(int nodes, uint64_t seeds) {
  double t0 = cpu_seconds();
  for (uint64_t s = 1; s <= seeds; s++) {
    raftsim::RunConfig rc;
    rc.nodes = nodes;
    rc.seed = s;
    raftsim::RunResult r = raftsim::run_seed(rc);
    if (r.outcome != raftsim::Outcome::kPass) {
      std::printf("  (seed %lu failed: %s)\n", s, r.what.substr(0, 80).c_str());
    }
  }
  return {"standard schedule, " + std::to_string(nodes) + " nodes", static_cast<double>(seeds),
          cpu_seconds() - t0, "seeds/s"};
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t entries = 200'000, seeds = 100;
  for (int i = 1; i < argc; i++) {
    if (std::strncmp(argv[i], "--entries=", 10) == 0) entries = std::strtoull(argv[i] + 10, 0, 10);
    if (std::strncmp(argv[i], "--seeds=", 8) == 0) seeds = std::strtoull(argv[i] + 8, 0, 10);
  }
  std::printf("sim_bench: entries=%lu seeds=%lu (CPU time, one thread)\n", entries, seeds);
  std::vector<Row> rows;
  for (uint64_t batch : {1, 10, 100}) rows.push_back(commit_throughput(entries, batch));
  rows.push_back(seed_throughput(3, seeds));
  rows.push_back(seed_throughput(5, seeds));
  std::printf("%-32s %12s %10s %14s\n", "benchmark", "count", "cpu s", "rate");
  for (const Row& r : rows) {
    std::printf("%-32s %12.0f %10.2f %12.0f %s\n", r.what.c_str(), r.count, r.cpu_s,
                r.cpu_s > 0 ? r.count / r.cpu_s : 0.0, r.unit);
  }
  return 0;
}
