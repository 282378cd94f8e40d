// One chaos run: a cluster, a workload and a seeded fault schedule; then
// heal, converge, fetch every node's full log, check, summarize, draw.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace chaos {

struct RunOptions {
  uint64_t seed = 1;
  double duration_s = 20;  // the faulty phase
  std::string changeagent_bin;
  std::string out_dir;              // history.jsonl, final-<node>.jsonl, timeline.svg, logs
  std::vector<std::string> faults;  // empty = every fault this mode supports
  bool want_netns = true;
  bool eatmydata = false;
  bool power_loss = false;
  bool disk_faults = false;  // per-node ext4 loop data dirs: disk-full, disk-ro
  size_t nodes = 3;          // 3 or 5
  size_t appenders = 3;
  size_t counters = 2;
  // Set from a signal handler: end the faulty phase now, then clean up.
  const std::atomic<bool>* interrupted = nullptr;
};

// Exit codes, distinct as in the simulator: a violation is not a hang.
constexpr int kExitClean = 0;
constexpr int kExitViolations = 1;
constexpr int kExitHarness = 2;   // could not set up or start the cluster
constexpr int kExitLiveness = 3;  // healed cluster did not converge in time

// Every fault the harness knows, in schedule order of preference.
const std::vector<std::string>& all_faults();

int run_chaos(const RunOptions& opts);

}  // namespace chaos
