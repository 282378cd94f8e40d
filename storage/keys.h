// Key encodings of the on-disk layout documented in storage/store.h.
// Internal to storage/ (and its tests, which use them to damage a store on
// purpose); nothing else should know what a key looks like.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace storage::keys {

// Column family names. `default` exists too (RocksDB requires it) and is
// never written.
inline constexpr const char* kLogFamily = "log";
inline constexpr const char* kMetaFamily = "meta";
inline constexpr const char* kStateFamily = "state";
inline constexpr const char* kTagsFamily = "tags";

// meta keys. Values of the *_id / version / applied keys are 8-byte
// big-endian integers; the others are protobuf (proto/raft.proto).
inline constexpr std::string_view kFormatVersion = "format_version";
inline constexpr std::string_view kClusterId = "cluster_id";
inline constexpr std::string_view kNodeId = "node_id";
inline constexpr std::string_view kHardState = "hard_state";
inline constexpr std::string_view kSnapshotMeta = "snapshot/meta";
inline constexpr std::string_view kSnapshotData = "snapshot/data";
inline constexpr std::string_view kApplied = "applied";
inline constexpr std::string_view kLogBase = "log_base";
inline constexpr std::string_view kInstallPending = "snapshot/install_pending";
// Exclusive upper bound of every `state` row key (they start with ASCII).
inline constexpr std::string_view kStateEnd = "\xff";
// "conf/" + 8-byte big-endian index; every conf/ key sorts below kConfEnd.
inline constexpr std::string_view kConfPrefix = "conf/";
inline constexpr std::string_view kConfEnd = "conf0";  // '0' == '/' + 1

// Exclusive upper bound of every log key (8 bytes): 9 bytes of 0xff.
inline const std::string kLogEnd(9, '\xff');

inline std::string be64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; i--) {
    out[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

// Returns false unless `bytes` is exactly 8 bytes.
inline bool parse_be64(std::string_view bytes, uint64_t* v) {
  if (bytes.size() != 8) return false;
  uint64_t out = 0;
  for (char c : bytes) out = (out << 8) | static_cast<uint8_t>(c);
  *v = out;
  return true;
}

inline std::string log_key(uint64_t index) {
  return be64(index);
}
inline std::string conf_key(uint64_t index) {
  return std::string(kConfPrefix) + be64(index);
}

}  // namespace storage::keys
