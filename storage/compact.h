// Retention: how much of the log a node keeps, and the steps that trim it.
//
// The policy is one plain struct so that it can be fed from the command
// line today and from the replicated /config later without touching the
// code that enforces it. purge_target() is pure (inputs in, an index out);
// compact_step() does the IO, one bounded step at a time, so that a purge
// of millions of entries never holds the store's write lock for long.
//
// Why the log may be trimmed at all without losing the state: keys, leases
// and the request-id table live in the `state` column family, persisted in
// the same WriteBatch as `applied`. Before entries go, compact_step()
// records a snapshot meta (index, term, membership) at the persisted
// applied index: the state column family IS that snapshot's data, so the
// stored `snapshot/data` stays empty.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/status.h"
#include "raftlog/types.h"
#include "storage/store.h"

namespace storage {

struct RetentionPolicy {
  // Keep at least this many of the newest entries. 0 = no floor by count.
  uint64_t min_records = 0;
  // Keep every entry stamped within this long before now. 0 = no floor by
  // age. With both set, the one that keeps more wins.
  std::chrono::nanoseconds min_duration{0};
  // Purge past the oldest named consumer cursor (keys under `_cursors/`).
  // false (default): a slow consumer holds the log back.
  bool ignore_cursors = false;
  // Entries deleted per compact_step(); small steps keep writes flowing.
  uint64_t purge_batch_entries = 20000;

  // Retention is off (the log is kept forever) unless a floor is given.
  bool enabled() const { return min_records > 0 || min_duration.count() > 0; }
  Status validate() const;
};

// "90s", "30m", "24h", "7d" or a bare number of seconds; kInvalidArgument
// with the reason otherwise (for --retention-min-duration and /config).
Result<std::chrono::nanoseconds> parse_duration(std::string_view text);

// What purge_target() decides from. Indexes are log indexes.
struct RetentionInputs {
  Index first;    // the log's first retained index now
  Index applied;  // persisted applied index: no entry above it may go
  // The first index whose entry is stamped at or after now - min_duration
  // (applied + 1 when none is); ignored when min_duration is 0.
  Index first_within_duration;
  // The smallest index any named consumer cursor holds (it has read up to
  // and including it); nullopt = no cursors.
  std::optional<uint64_t> oldest_cursor;
};

// The first index the log may start at under `policy`: entries below it may
// be deleted. Never below inputs.first (nothing to undo) and never above
// applied + 1.
Index purge_target(const RetentionPolicy& policy, const RetentionInputs& inputs);

// Moves the log's first index toward `target`, deleting at most
// `batch_entries` entries. When the stored snapshot does not cover the step
// yet, first saves one at `applied` (which must be the persisted applied
// index: the state column family agrees with it). Returns the new first
// index. target must be <= applied + 1.
Result<Index> compact_step(Store& store, Index target, Index applied, uint64_t batch_entries);

}  // namespace storage
