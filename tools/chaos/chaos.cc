// chaos: runs a real changeagent cluster under a seeded fault schedule and
// checks the history (tests/chaos/run.h). Thin main: flags and Ctrl-C.
// Exit: 0 clean, 1 violations, 2 harness could not run, 3 no convergence.
#include <signal.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <random>
#include <sstream>

#include "tests/chaos/run.h"

namespace po = boost::program_options;

namespace {

std::atomic<bool> g_interrupted{false};

// First Ctrl-C ends the faulty phase and still heals, checks and cleans up;
// a second one kills us (the nodes die with us via PDEATHSIG, and the next
// run removes namespaces left behind).
void on_signal(int) {
  if (g_interrupted.exchange(true)) {
    ::signal(SIGINT, SIG_DFL);
    ::raise(SIGINT);
  }
}

}  // namespace

int main(int argc, char** argv) {
  chaos::RunOptions o;
  std::string faults;
  po::options_description desc("chaos options");
  desc.add_options()("help,h", "show this help")("seed", po::value<uint64_t>(),
                                                 "picks the schedule (default: random, printed)")(
      "duration", po::value<double>()->default_value(20), "seconds of the faulty phase")(
      "faults", po::value<std::string>(&faults),
      "comma list of kill-leader,kill-follower,kill-all,pause-leader,isolate-leader,split-2-1,"
      "split-3-2 (5 nodes),one-way,random-loss,slow-link,power-loss,disk-full,disk-ro (default: "
      "all this mode supports)")(
      "changeagent", po::value<std::string>()->default_value(CHANGEAGENT_BIN), "the server binary")(
      "out", po::value<std::string>(), "output dir (default /tmp/chaos-<seed>)")(
      "loopback", "do not use network namespaces even if they work")(
      "eatmydata", "run the servers under eatmydata: fsync disabled (the canary)")(
      "power-loss", "data dirs on an XFS loop mount; enables the power-loss fault")(
      "disk-faults", "data dirs on per-node ext4 loop mounts; enables disk-full and disk-ro")(
      "nodes", po::value<size_t>()->default_value(3), "cluster size: 3 or 5")(
      "appenders", po::value<size_t>()->default_value(3), "append clients")(
      "counters", po::value<size_t>()->default_value(2),
      "CAS counter keys (two contending clients each, checked for linearizability)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chaos: %s (see --help)\n", e.what());
    return chaos::kExitHarness;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  o.seed = vm.count("seed") ? vm["seed"].as<uint64_t>() : std::random_device{}() % 1000000;
  o.duration_s = vm["duration"].as<double>();
  o.changeagent_bin = vm["changeagent"].as<std::string>();
  o.out_dir =
      vm.count("out") ? vm["out"].as<std::string>() : "/tmp/chaos-" + std::to_string(o.seed);
  o.want_netns = !vm.count("loopback");
  o.eatmydata = vm.count("eatmydata") > 0;
  o.power_loss = vm.count("power-loss") > 0;
  o.disk_faults = vm.count("disk-faults") > 0;
  if (o.power_loss && o.disk_faults) {
    std::fprintf(stderr, "chaos: --power-loss and --disk-faults exclude each other\n");
    return 2;
  }
  o.nodes = vm["nodes"].as<size_t>();
  if (o.nodes != 3 && o.nodes != 5) {
    std::fprintf(stderr, "chaos: --nodes must be 3 or 5, not %zu\n", o.nodes);
    return 2;
  }
  o.appenders = vm["appenders"].as<size_t>();
  o.counters = vm["counters"].as<size_t>();
  std::stringstream fs(faults);
  for (std::string f; std::getline(fs, f, ',');) {
    if (!f.empty()) o.faults.push_back(f);
  }
  o.interrupted = &g_interrupted;
  ::signal(SIGINT, on_signal);
  ::signal(SIGTERM, on_signal);
  return chaos::run_chaos(o);
}
