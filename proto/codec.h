// Pure conversions between raftlog's value types and their protobuf bytes
// (proto/raft.proto). This is the only place that knows the mapping; the
// generated classes never leak into other modules' headers.
//
// Encoding cannot fail for values the core produces (every field maps 1:1).
// Decoding validates what the protobuf parser cannot: enum values we know,
// member ids that are non-zero and unique. Any failure is
// Status(kCorruption, "<what> : <why>"); no exception leaves this module.
//
// Not encoded: Message.snapshot.data (snapshot bytes travel in separate
// chunk frames). A decoded Message has snapshot.data == nullptr.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "raftlog/types.h"

namespace raftpb {

std::string encode_entry(const raftlog::Entry& entry);
common::Result<raftlog::Entry> decode_entry(std::string_view bytes);

std::string encode_hard_state(const raftlog::HardState& hs);
common::Result<raftlog::HardState> decode_hard_state(std::string_view bytes);

// A whole configuration as protobuf Membership (storage's conf/ records).
// Named "members" so it never collides with raftlog::encode_membership,
// which is the core's own encoding inside kMembership entry data.
std::string encode_members(const raftlog::Membership& m);
common::Result<raftlog::Membership> decode_members(std::string_view bytes);

std::string encode_snapshot_meta(const raftlog::SnapshotMeta& meta);
common::Result<raftlog::SnapshotMeta> decode_snapshot_meta(std::string_view bytes);

std::string encode_message(const raftlog::Message& msg);
common::Result<raftlog::Message> decode_message(std::string_view bytes);

}  // namespace raftpb
