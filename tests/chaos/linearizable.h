// Linearizability of one register's history: the Wing & Gong search with
// Lowe's memoization (as in Porcupine and Knossos' "wgl"), for the chaos
// counters. The model is an integer register read with `consistent=true`
// and changed only by compare-and-set: a successful increment from v-1 to v
// is CAS(v-1 -> v). An operation whose outcome is unknown (timeout, reset)
// may have taken effect at any moment after its invocation, or never; an
// operation known to have failed never happened and is not passed in.
//
// Pure and bounded: the search gives up after `max_steps` and says so
// (inconclusive), rather than running for hours on a pathological history.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace chaos {

struct RegisterOp {
  uint64_t op = 0;  // the history's op number, for messages
  int64_t invoke_ns = 0;
  int64_t complete_ns = 0;  // ignored when `unknown`
  bool unknown = false;     // may or may not have happened
  bool is_read = false;     // read of `value`; else CAS(value - 1 -> value)
  int64_t value = 0;
};

enum class LinVerdict { kLinearizable, kViolation, kInconclusive };

struct LinResult {
  LinVerdict verdict = LinVerdict::kLinearizable;
  uint64_t steps = 0;
  // For a violation: the completed operation that no order could place,
  // and how far the longest linearized prefix got.
  std::string detail;
};

LinResult check_register(const std::vector<RegisterOp>& ops, int64_t initial,
                         uint64_t max_steps = 20'000'000);

}  // namespace chaos
