// verify: internal consistency of a dump file or of a (stopped) data dir.
// Dump: magic and format version, every frame's CRC32C, record order, index
// continuity from the first retained index, terms that never go down, state
// rows in key order, the trailer's counts and body CRC, nothing after it.
// Data dir: format version and identity (by opening it), the log contiguous
// from its base with every entry decoding to its own index and terms never
// going down, a conf/ record for every membership entry, hard state commit
// <= last index, applied <= commit, the snapshot within the log's bounds, a
// membership present, and every state row loading into the state view.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"

namespace admin {

using ProgressFn = std::function<void(uint64_t done, uint64_t total, uint64_t bytes)>;

// OK: a one-paragraph summary of what was checked. Otherwise the first
// problem found (kCorruption with its byte offset or index).
common::Result<std::string> verify_dump(const std::string& path, const ProgressFn& progress);
common::Result<std::string> verify_data_dir(const std::string& dir, const ProgressFn& progress);

}  // namespace admin
