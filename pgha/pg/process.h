// Runs a PostgreSQL tool (initdb, pg_ctl, pg_basebackup, pg_rewind) to
// completion with a deadline, capturing what it printed. The tools print
// the reason for a failure on stderr, which is what an operator needs, so
// the output travels back in the Status message.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgha::pg {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string output;  // stdout and stderr interleaved, truncated to output_bytes_max
};

// Bytes of a tool's output kept; the tail is what matters.
inline constexpr size_t kProcessOutputBytesMax = 64 * 1024;

// argv[0] is an absolute path. kTimeout (after a SIGKILL to the tool's whole
// process group) when the deadline passes; kIoError when it cannot start.
// A non-zero exit is a value, not an error: check exit_code.
common::Result<ProcessResult> run_process(const std::vector<std::string>& argv,
                                          std::chrono::milliseconds timeout);

// "initdb exited 1: <last lines of its output>" for a failed run.
common::Status process_failure(const std::string& what, const ProcessResult& r);

}  // namespace pgha::pg
