// raft_sim: runs the deterministic Raft simulator over many seeds, or one.
//
//   raft_sim --nodes=3|5 --seeds=N [--first-seed=S]   N seeds from S (default 1)
//   raft_sim --nodes=3 --seed=S [--verbose]          one seed, with a trace
//   raft_sim --regressions=FILE                      each "nodes seed  # why" line
//   --bug=vote-ignores-log|ack-before-sync|kv-apply-skip         run with a deliberate bug
//   --expect-violation                               pass only if a safety violation is found
//   --scale=X                                        safety phase length multiplier
//
// Exit codes (distinct, as in TigerBeetle's VOPR): 0 pass, 10 safety
// violation, 11 liveness failure, 12 crash (an assertion or signal while
// running a seed), 64 usage. With --expect-violation: 0 when a safety
// violation was found, 1 when none was.
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/sim/simulation.h"

namespace {

constexpr int kExitPass = 0;
constexpr int kExitSafety = 10;
constexpr int kExitLiveness = 11;
constexpr int kExitCrash = 12;
constexpr int kExitUsage = 64;

struct Args {
  int nodes = 3;
  uint64_t first_seed = 1;
  uint64_t seeds = 1;
  bool single = false;
  bool verbose = false;
  bool expect_violation = false;
  double scale = 1.0;
  raftsim::Bug bug = raftsim::Bug::kNone;
  std::string regressions;
};

// The replay line for the seed being run, ready for the signal handler
// (which may only call async-signal-safe functions).
char g_crash_line[512];

void on_fatal_signal(int sig) {
  (void)!write(2, g_crash_line, std::strlen(g_crash_line));
  _exit(kExitCrash);
  (void)sig;
}

std::string replay_command(const Args& a, int nodes, uint64_t seed) {
  std::string cmd = "build/tests/sim/raft_sim --nodes=" + std::to_string(nodes) +
                    " --seed=" + std::to_string(seed);
  if (a.bug != raftsim::Bug::kNone) cmd += std::string(" --bug=") + raftsim::bug_name(a.bug);
  if (a.scale != 1.0) cmd += " --scale=" + std::to_string(a.scale);
  return cmd + " --verbose";
}

bool parse(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; i++) {
    std::string s = argv[i];
    auto val = [&s](const char* key) -> const char* {
      size_t n = std::strlen(key);
      return s.compare(0, n, key) == 0 ? s.c_str() + n : nullptr;
    };
    if (const char* v = val("--nodes=")) {
      a.nodes = std::atoi(v);
    } else if (const char* v = val("--seeds=")) {
      a.seeds = std::strtoull(v, nullptr, 10);
    } else if (const char* v = val("--first-seed=")) {
      a.first_seed = std::strtoull(v, nullptr, 10);
    } else if (const char* v = val("--seed=")) {
      a.first_seed = std::strtoull(v, nullptr, 10);
      a.seeds = 1;
      a.single = true;
    } else if (const char* v = val("--scale=")) {
      a.scale = std::atof(v);
    } else if (const char* v = val("--regressions=")) {
      a.regressions = v;
    } else if (const char* v = val("--bug=")) {
      if (std::strcmp(v, "vote-ignores-log") == 0) {
        a.bug = raftsim::Bug::kVoteIgnoresLog;
      } else if (std::strcmp(v, "ack-before-sync") == 0) {
        a.bug = raftsim::Bug::kAckBeforeSync;
      } else if (std::strcmp(v, "kv-apply-skip") == 0) {
        a.bug = raftsim::Bug::kKvApplySkip;
      } else {
        return false;
      }
    } else if (s == "--verbose") {
      a.verbose = true;
    } else if (s == "--expect-violation") {
      a.expect_violation = true;
    } else {
      return false;
    }
  }
  return (a.nodes == 3 || a.nodes == 5) && a.seeds > 0 && a.scale > 0;
}

struct Job {
  int nodes;
  uint64_t seed;
};

std::vector<Job> regression_jobs(const std::string& path, bool& ok) {
  std::vector<Job> jobs;
  std::ifstream in(path);
  ok = static_cast<bool>(in);
  std::string line;
  while (ok && std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    std::istringstream ls(line);
    Job j;
    if (ls >> j.nodes >> j.seed) jobs.push_back(j);
  }
  return jobs;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, a)) {
    std::fprintf(
        stderr,
        "usage: raft_sim --nodes=3|5 (--seeds=N [--first-seed=S] | --seed=S) "
        "[--verbose] [--bug=vote-ignores-log|ack-before-sync|kv-apply-skip] [--expect-violation] "
        "[--scale=X] [--regressions=FILE]\n");
    return kExitUsage;
  }
  std::vector<Job> jobs;
  if (!a.regressions.empty()) {
    bool ok = false;
    jobs = regression_jobs(a.regressions, ok);
    if (!ok) {
      std::fprintf(stderr, "cannot read %s\n", a.regressions.c_str());
      return kExitUsage;
    }
  } else {
    for (uint64_t s = a.first_seed; s < a.first_seed + a.seeds; s++) jobs.push_back({a.nodes, s});
  }
  if (jobs.empty()) {
    std::printf("raft_sim: no seeds to run\n");
    return kExitPass;
  }
  std::printf("raft_sim: nodes=%d seeds=%zu first_seed=%lu bug=%s scale=%g%s%s\n", a.nodes,
              jobs.size(), jobs.front().seed, raftsim::bug_name(a.bug), a.scale,
              a.expect_violation ? " expect-violation" : "",
              a.regressions.empty() ? "" : (" regressions=" + a.regressions).c_str());
  std::fflush(stdout);
  std::signal(SIGABRT, on_fatal_signal);
  std::signal(SIGSEGV, on_fatal_signal);
  std::signal(SIGFPE, on_fatal_signal);

  std::clock_t cpu0 = std::clock();
  uint64_t virtual_us = 0, events = 0, acked = 0, increments_acked = 0, increments = 0;
  uint64_t no_config_seeds = 0;  // seeds that hit FINDINGS.md #6
  for (const Job& j : jobs) {
    std::string replay = replay_command(a, j.nodes, j.seed);
    std::snprintf(g_crash_line, sizeof g_crash_line,
                  "CRASH while running seed %lu (nodes=%d)\nreplay: %s\n", j.seed, j.nodes,
                  replay.c_str());
    raftsim::RunConfig rc;
    rc.nodes = j.nodes;
    rc.seed = j.seed;
    rc.bug = a.bug;
    rc.verbose = a.verbose;
    rc.duration_scale = a.scale;
    raftsim::RunResult r = raftsim::run_seed(rc);
    virtual_us += r.virtual_us;
    events += r.events;
    acked += r.acked;
    increments_acked += r.increments_acked;
    increments += r.increments;
    if (r.snapshots_without_config > 0) {
      no_config_seeds++;
      std::printf("seed %lu: %lu snapshot(s) skipped, no configuration known (FINDINGS.md #6)\n",
                  j.seed, r.snapshots_without_config);
    }
    if (r.outcome == raftsim::Outcome::kPass) {
      if (a.single || a.verbose) {
        std::printf(
            "seed %lu passed: %lu events, %zu acked, %lu/%lu increments acked, %.1fs "
            "virtual\n",
            j.seed, r.events, r.acked, r.increments_acked, r.increments,
            static_cast<double>(r.virtual_us) / 1e6);
      }
      continue;
    }
    bool safety = r.outcome == raftsim::Outcome::kSafety;
    std::printf("%s seed=%lu nodes=%d: %s\nreplay: %s\n",
                safety ? "SAFETY VIOLATION" : "LIVENESS FAILURE", j.seed, j.nodes, r.what.c_str(),
                replay.c_str());
    if (a.expect_violation && safety) {
      std::printf("expected violation found: the checker catches bug %s\n",
                  raftsim::bug_name(a.bug));
      return kExitPass;
    }
    if (a.expect_violation) continue;  // a liveness failure does not prove the checker
    return safety ? kExitSafety : kExitLiveness;
  }
  double cpu_s = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  std::printf(
      "raft_sim: %zu seeds passed, %lu events, %lu acked writes, %lu CAS increments (%lu "
      "acked), %.1fs virtual, %.2fs cpu, %.1f seeds/s\n",
      jobs.size(), events, acked, increments, increments_acked,
      static_cast<double>(virtual_us) / 1e6, cpu_s,
      cpu_s > 0 ? static_cast<double>(jobs.size()) / cpu_s : 0.0);
  if (no_config_seeds > 0) {
    std::printf(
        "raft_sim: %lu seeds skipped a snapshot for want of a configuration "
        "(known raftlog bug, FINDINGS.md #6)\n",
        no_config_seeds);
  }
  if (a.expect_violation) {
    std::printf("NO VIOLATION FOUND with bug %s: the checker missed it\n",
                raftsim::bug_name(a.bug));
    return 1;
  }
  return kExitPass;
}
