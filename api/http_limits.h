// Named limits of the client HTTP API that are not per-server options
// (those live in HttpOptions). Units and qualifier last.
#pragma once

#include <cstdint>

namespace api {

// GET /changes: default and maximum page size; limit=0 or above max is 400.
inline constexpr uint32_t kFeedLimitDefault = 100;
inline constexpr uint32_t kFeedLimitMax = 10000;
// Tags: per change, per query (repeated tag=), and bytes per tag.
inline constexpr uint32_t kTagsPerChangeMax = 64;
inline constexpr uint32_t kTagsPerQueryMax = 64;
inline constexpr uint32_t kTagBytesMax = 256;
// POST /changes/batch: changes per request (over it: 413).
inline constexpr uint32_t kBatchChangesMax = 1000;
// POST /txn: operations (1..max) and compares (0..max) per transaction; over
// either bound is 413, like an oversized batch.
inline constexpr uint32_t kTxnOpsMax = 128;
inline constexpr uint32_t kTxnComparesMax = 128;
// GET /keys: default and maximum page size; limit=0 or above max is 400.
inline constexpr uint32_t kKeyListLimitDefault = 100;
inline constexpr uint32_t kKeyListLimitMax = 10000;
// Request line plus headers (HttpOptions::header_bytes_max, default 16 KiB;
// more is 431 and the connection closes) may not be set below this: basic
// auth, a long key in the target and the usual headers must fit.
inline constexpr uint32_t kHeaderBytesMin = 1024;
// A response that cannot be written in this long belongs to a dead client.
inline constexpr uint32_t kWriteTimeoutSeconds = 30;
// SSE: a comment line this often keeps proxies from closing an idle stream.
inline constexpr uint32_t kSseHeartbeatSeconds = 15;
// SSE: changes read from the log per round before writing them out.
inline constexpr uint32_t kSseBatchChangesMax = 100;
// block= above this many seconds is refused as absurd (400); between the
// server's block_seconds_max and this it is capped to the server's limit.
inline constexpr uint32_t kBlockSecondsAbsurd = 24 * 3600;

static_assert(kFeedLimitDefault <= kFeedLimitMax);
static_assert(kSseBatchChangesMax <= kFeedLimitMax);
static_assert(kSseHeartbeatSeconds < kWriteTimeoutSeconds);
static_assert(kKeyListLimitDefault <= kKeyListLimitMax);
static_assert(kTxnOpsMax >= 1 && kTxnComparesMax >= kTxnOpsMax);

}  // namespace api
