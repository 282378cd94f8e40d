// Named consumer cursors and checkpoint records (issue 10): their layout in
// the keyed state view and their JSON, shared by the server
// (api/http_cursors.cc), the client (api/client_cursors.cc, FeedReader) and
// retention, which reads `_cursors/` to keep the oldest cursor's position.
//
// Both live in the state view as ordinary keys under reserved prefixes, so
// they are written through the log (replicated, durable on a majority,
// carried by snapshots, the same on every node) and compare-and-set comes
// from the key revisions:
//   _cursors/<name>      {"index": N, "updated": ns}   (N = last change consumed)
//   _checkpoints/<tag>   {"covers": N, "location": "...", "tags": [...]}
//   _checkpoints/        the same, for the newest checkpoint of any tag
//   _config/<setting>    cluster-wide settings applied by the state machine
// The ordinary key APIs (PUT/DELETE /keys, POST /txn, POST /changes with
// "key") refuse writes under these prefixes (400); reading them is allowed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_limits.h"
#include "api/service.h"

namespace api {

inline constexpr std::string_view kCursorKeyPrefix = "_cursors/";
inline constexpr std::string_view kCheckpointKeyPrefix = "_checkpoints/";
inline constexpr std::string_view kConfigKeyPrefix = "_config/";

// Cluster-wide settings the state machine applies (state/state_view.h keeps
// the same names; tests/unit/state checks they agree).
inline constexpr std::string_view kRequestIdWindowConfigKey = "_config/request_id_window";
inline constexpr uint64_t kRequestIdWindowConfigSecondsMax = 7ull * 24 * 3600;

// The `type` of a checkpoint record in the feed. Reserved: POST /changes and
// POST /txn refuse it, so every change of this type went through POST
// /changes/checkpoints and the `_checkpoints/` keys name the newest one.
inline constexpr uint32_t kCheckpointType = 2147483648u;  // 2^31

// Cursor names: 1..max bytes of [A-Za-z0-9._-], so a name is safe in a URL
// path and as a Prometheus label value without escaping.
inline constexpr size_t kCursorNameBytesMax = 128;
inline constexpr size_t kCheckpointLocationBytesMax = 4096;
// GET /cursors: default and maximum page size.
inline constexpr uint32_t kCursorListLimitDefault = 100;
inline constexpr uint32_t kCursorListLimitMax = 1000;
// /metrics carries the lag of at most this many cursors (the first by
// name): a label per cursor must not grow without bound.
inline constexpr uint32_t kCursorLagMetricsMax = 100;
// A checkpoint writes one key per tag plus the any-tag key in one Txn.
static_assert(kTagsPerChangeMax + 1 <= kTxnOpsMax);

struct Cursor {
  std::string name;
  uint64_t index = 0;       // the last change the consumer is done with (a `since`)
  uint64_t updated_ns = 0;  // the serving node's wall clock when it was set
  uint64_t revision = 0;    // the key's mod revision: the ifRevision of a CAS
  uint64_t last_index = 0;  // answers only: the serving node's applied index
};

struct CursorPage {
  std::vector<Cursor> cursors;  // sorted by name
  bool more = false;            // more after the last one (page on with after=name)
  uint64_t last_index = 0;      // the serving node's applied index
};

// PUT /cursors/{name}: {"index": N, "ifRevision"?: R, "force"?: bool}.
// Without force the cursor never moves backwards (409 cursor_behind);
// ifRevision R commits only if the cursor's revision is R (0 = must not exist).
struct CursorWrite {
  uint64_t index = 0;
  std::optional<uint64_t> if_revision;
  bool force = false;
};

struct CheckpointInput {
  uint64_t covers = 0;   // the checkpoint holds the effect of every change <= covers
  std::string location;  // where the checkpoint is stored (opaque to the server)
  std::vector<std::string> tags;
};

struct Checkpoint {
  uint64_t id = 0;     // the checkpoint record's change id
  uint64_t ts_ns = 0;  // its `_ts` (0 if the record itself was compacted away)
  uint64_t covers = 0;
  std::string location;
  std::vector<std::string> tags;
};

Status validate_cursor_name(std::string_view name);
std::string cursor_key(std::string_view name);
// The reserved prefix `key` lies under, if any.
std::optional<std::string_view> reserved_prefix_of(std::string_view key);

// --- state view values ---
std::string cursor_value_json(uint64_t index, uint64_t updated_ns);
// A `_cursors/` key back into a cursor; kCorruption if its value is not one.
Result<Cursor> cursor_from_key(const KeyValue& kv);
std::string checkpoint_value_json(const CheckpointInput& in);
Result<Checkpoint> checkpoint_from_value(std::string_view value_json, uint64_t id);

// --- server: requests in, answers out ---
Result<CursorWrite> parse_cursor_write_body(std::string_view body);
Result<CheckpointInput> parse_checkpoint_body(std::string_view body);
// PUT /config/request_id_window: {"seconds": N}, N in [1, max].
Result<uint64_t> parse_request_id_window_body(std::string_view body);
// {"name","index","updated","revision","lastIndex","lag"}
std::string render_cursor(const Cursor& c);
// {"cursors":[...],"more","lastIndex"}
std::string render_cursor_page(const CursorPage& page);
// {"_id","_ts","covers","location","tags"}
std::string render_checkpoint(const Checkpoint& c);

// --- client ---
std::string render_cursor_write_body(const CursorWrite& w);
std::string render_checkpoint_body(const CheckpointInput& in);
Result<Cursor> parse_cursor(std::string_view json);
Result<CursorPage> parse_cursor_page(std::string_view json);
Result<Checkpoint> parse_checkpoint(std::string_view json);

}  // namespace api
