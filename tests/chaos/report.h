// What a chaos run shows its operator: a one-screen summary and an SVG
// timeline of throughput with the fault windows shaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/chaos/checker.h"
#include "tests/chaos/run.h"

namespace chaos {

struct FaultRecord {
  std::string kind;
  std::string detail;
  int64_t start_ns = 0;  // on the history's clock
  int64_t end_ns = 0;    // healed
  // Longest stretch from the fault's start until 5 s after its heal with no
  // acknowledged write: what a client saw of it.
  int64_t stall_ns = 0;
  // What the fault's own checks found wrong, e.g. a node that kept running
  // on a read-only disk without saying so; empty if nothing. Any makes the
  // run fail like a checker violation.
  std::string problem;
};

void compute_stalls(const std::vector<Op>& history, std::vector<FaultRecord>& faults,
                    int64_t run_end_ns);
void write_timeline_svg(const std::string& path, const std::vector<Op>& history,
                        const std::vector<FaultRecord>& faults, int64_t run_end_ns);
std::string render_summary(const RunOptions& opts, const std::string& mode,
                           const std::vector<FaultRecord>& faults, const Report& report);

}  // namespace chaos
