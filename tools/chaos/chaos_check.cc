// chaos-check: runs the chaos checker (tests/chaos/checker.h) over a
// history and the final logs of the nodes. Exit 0 = no violation, 1 =
// violations (listed), 2 = unreadable input, so scripts can tell a broken
// server from a broken run.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "tests/chaos/checker.h"

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fprintf(stderr, "usage: chaos-check history.jsonl [final-log.jsonl...]\n");
    return 2;
  }
  std::ifstream hf(argv[1]);
  if (!hf) {
    std::fprintf(stderr, "chaos-check: cannot open %s\n", argv[1]);
    return 2;
  }
  auto history = chaos::parse_history(hf);
  if (!history.is_ok()) {
    std::fprintf(stderr, "chaos-check: %s: %s\n", argv[1], history.status().message().c_str());
    return 2;
  }
  std::vector<chaos::NodeLog> logs;
  for (int i = 2; i < argc; i++) {
    std::ifstream lf(argv[i]);
    if (!lf) {
      std::fprintf(stderr, "chaos-check: cannot open %s\n", argv[i]);
      return 2;
    }
    auto log = chaos::parse_node_log(lf);
    if (!log.is_ok()) {
      std::fprintf(stderr, "chaos-check: %s: %s\n", argv[i], log.status().message().c_str());
      return 2;
    }
    logs.push_back(std::move(log.value()));
  }
  auto report = chaos::check(*history, logs);
  std::cout << report.summary();
  return report.clean() ? 0 : 1;
}
