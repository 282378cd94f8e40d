// The replicated cluster config (GET/PUT /config): settings every node
// applies from the same log entry, stored as ordinary keys under `_config/`
// (one key per setting), so they replicate, survive restarts and snapshots
// like any key, and a config change is one Txn: one entry, one index.
//
// This generalizes `_config/request_id_window` (state/state_view.h), which
// keeps its key and format and is the setting "requestIdWindowSeconds".
// The config's revision is the newest mod revision among the setting keys
// (0 = nothing was ever set); a PUT compares every setting key against the
// revision it read, so a PUT that validated against one config can never
// land on top of another.
//
// A setting that is not set falls back to the node's own flag (timeouts,
// retention, body limit) or the built-in default (request id window, no
// webhooks). Pure: parsing, validation and rendering only; no IO.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace api {

// A validator webhook: the leader POSTs every matching change to `url`
// before proposing it (api/webhook_client.h).
struct Webhook {
  std::string url;  // http(s)://host[:port][/path]
  // Filters: a change matches when it carries one of `tags` or writes a key
  // under one of `key_prefixes`. Both empty: every change matches.
  std::vector<std::string> tags;
  std::vector<std::string> key_prefixes;
  uint32_t timeout_ms = 2000;
  // What an unreachable, timed-out or garbled webhook means: false (default,
  // "fail-closed") refuses the change with 503, true ("fail-open") lets it
  // through. Either way the event is logged (rate-limited).
  bool fail_open = false;
  // Parsed from url. tls: https (verified against --webhook-ca or the
  // system's CAs, host name checked; --webhook-cert presented if given).
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;
  bool operator==(const Webhook&) const = default;
};

// Bounds (checked before anything is proposed).
inline constexpr uint64_t kHeartbeatIntervalMsMin = 10;
inline constexpr uint64_t kHeartbeatIntervalMsMax = 5000;
inline constexpr uint64_t kElectionTimeoutMsMax = 60000;
// etcd's rule: an election timeout below 5 heartbeats makes spurious
// elections likely on any hiccup.
inline constexpr uint64_t kElectionPerHeartbeatMin = 5;
inline constexpr uint64_t kRetentionMinRecordsMax = uint64_t(1) << 40;
inline constexpr uint64_t kRetentionMinDurationSecondsMax = 366ull * 24 * 3600;
// Below this a PUT /config with a few webhooks could no longer fit; above
// it a forwarded change would not fit a peer frame (transport.h, 64 MiB).
inline constexpr uint64_t kBodyBytesMaxMin = 16 * 1024;
inline constexpr uint64_t kBodyBytesMaxMax = 32ull << 20;
inline constexpr uint64_t kRequestIdWindowSecondsMin = 1;
inline constexpr uint64_t kRequestIdWindowSecondsMax = 7ull * 24 * 3600;
// Webhooks are called one after the other: the count bounds how long a
// write can wait on them (count * timeout).
inline constexpr size_t kWebhooksMax = 8;
inline constexpr uint32_t kWebhookTimeoutMsMax = 30000;
inline constexpr size_t kWebhookUrlBytesMax = 2048;
inline constexpr size_t kWebhookFiltersMax = 64;

// The replicated settings; nullopt = not set (the node's flag or default).
struct ClusterConfig {
  std::optional<uint64_t> heartbeat_interval_ms;
  std::optional<uint64_t> election_timeout_ms;
  std::optional<uint64_t> retention_min_records;
  std::optional<uint64_t> retention_min_duration_seconds;
  std::optional<uint64_t> body_bytes_max;
  std::optional<uint64_t> request_id_window_seconds;
  std::optional<std::vector<Webhook>> webhooks;
  bool operator==(const ClusterConfig&) const = default;
};

// The setting names (JSON field of GET/PUT /config) and their keys.
struct ConfigSetting {
  std::string_view name;  // e.g. "electionTimeoutMs"
  std::string_view key;   // e.g. "_config/election_timeout_ms"
};
const std::vector<ConfigSetting>& config_settings();

// A PUT /config body: the settings it names, each with its canonical JSON
// value (what the key will hold) or nullopt (JSON null: unset it; the key
// then holds null, which reads as unset, so it keeps a revision), and the
// revision it is conditional on ("revision" field).
struct ConfigPatch {
  std::map<std::string, std::optional<std::string>> values;  // by setting name
  std::optional<uint64_t> revision;
};

// Parses and checks each field on its own (types, bounds, URLs); unknown
// fields are refused by name. kInvalidArgument with the precise reason.
common::Result<ConfigPatch> parse_config_patch(std::string_view body);

// The config that key values (setting key -> stored JSON) describe. A
// stored value that does not decode counts as unset, as the state view
// treats a malformed request id window.
ClusterConfig config_from_keys(const std::map<std::string, std::string>& values);

// Rules across settings (after a patch is merged): the two timeouts are set
// together and the election timeout is at least 5 heartbeats.
common::Status validate_config(const ClusterConfig& c);

// The settings that are set, as a JSON object (the "config" of GET /config;
// a valid PUT body).
std::string render_config_json(const ClusterConfig& c);

// Whether a change with these tags that writes these keys goes to `w`.
bool webhook_matches(const Webhook& w, const std::vector<std::string>& tags,
                     const std::vector<std::string>& keys);

// GET /config: the replicated settings and what this node runs with.
struct ConfigView {
  ClusterConfig replicated;
  uint64_t revision = 0;  // newest mod revision among the setting keys; 0 = never set
  std::map<std::string, uint64_t> key_revisions;  // every setting key -> mod revision (0 = unset)
  std::map<std::string, std::string> stored;      // setting key -> stored JSON (set ones)
  uint64_t applied_index = 0;
  // In force on this node now.
  uint64_t heartbeat_interval_ms = 0;
  uint64_t election_timeout_ms = 0;
  uint64_t retention_min_records = 0;
  uint64_t retention_min_duration_seconds = 0;
  uint64_t request_id_window_seconds = 0;
  // Settings whose replicated value this node takes only at its next
  // restart (the Raft timeouts: see DESIGN.md).
  std::vector<std::string> pending_restart;
};

}  // namespace api
