#include "proto/codec.h"

#include <climits>

#include "common/assert.h"
#include "proto/raft.pb.h"

namespace raftpb {

namespace pb = changeagent::raftpb;
using common::Code;
using common::Result;
using common::Status;

namespace {

// The mapping of both enums is the identity on their numeric values; these
// asserts keep the .proto and raftlog/types.h from drifting apart.
static_assert(pb::ENTRY_MEMBERSHIP == static_cast<int>(raftlog::EntryType::kMembership));
static_assert(pb::MSG_READ_INDEX_RESP == static_cast<int>(raftlog::MessageType::kReadIndexResp));
static_assert(pb::MessageType_MAX == static_cast<int>(raftlog::MessageType::kReadIndexResp));

Status corrupt(const char* what, const std::string& why) {
  return Status(Code::kCorruption, std::string("decode ") + what + ": " + why);
}

// Parses `bytes` into `out`; protobuf's API takes an int size.
bool parse(std::string_view bytes, google::protobuf::MessageLite* out) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) return false;
  return out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

std::string serialize(const google::protobuf::MessageLite& m) {
  std::string out;
  // Only fails above 2 GiB; every value we encode is bounded far below by
  // msg_bytes_max / entry limits, so this is our bug, not an operating error.
  bool ok = m.SerializeToString(&out);
  CA_ASSERT(ok);
  return out;
}

void to_pb(const raftlog::Entry& e, pb::Entry* out) {
  out->set_term(e.term.value());
  out->set_index(e.index.value());
  out->set_type(static_cast<pb::EntryType>(e.type));
  out->set_data(e.data);
}

Result<raftlog::Entry> from_pb(const pb::Entry& p) {
  if (!pb::EntryType_IsValid(p.type())) {
    return corrupt("entry", "unknown entry type " + std::to_string(p.type()) + " at index " +
                                std::to_string(p.index()));
  }
  return raftlog::Entry{raftlog::Term(p.term()), raftlog::Index(p.index()),
                        static_cast<raftlog::EntryType>(p.type()), p.data()};
}

void to_pb(const raftlog::Membership& m, pb::Membership* out) {
  for (const auto& [id, member] : m.members) {
    pb::Member* pm = out->add_members();
    pm->set_id(id.value());
    pm->set_learner(member.learner);
    pm->set_address(member.address);
  }
}

Result<raftlog::Membership> from_pb(const pb::Membership& p) {
  raftlog::Membership m;
  for (const pb::Member& pm : p.members()) {
    if (pm.id() == 0) return corrupt("membership", "member id 0");
    raftlog::Member member{pm.learner(), pm.address()};
    if (!m.members.emplace(raftlog::NodeId(pm.id()), std::move(member)).second) {
      return corrupt("membership", "duplicate member id " + std::to_string(pm.id()));
    }
  }
  return m;
}

void to_pb(const raftlog::SnapshotMeta& meta, pb::SnapshotMeta* out) {
  out->set_index(meta.index.value());
  out->set_term(meta.term.value());
  to_pb(meta.membership, out->mutable_membership());
}

Result<raftlog::SnapshotMeta> from_pb(const pb::SnapshotMeta& p) {
  auto membership = from_pb(p.membership());
  if (!membership.is_ok()) return membership.status();
  return raftlog::SnapshotMeta{raftlog::Index(p.index()), raftlog::Term(p.term()),
                               std::move(membership).value()};
}

bool is_empty(const raftlog::SnapshotMeta& meta) {
  return meta.index == raftlog::Index(0) && meta.term == raftlog::Term(0) &&
         meta.membership.members.empty();
}

}  // namespace

std::string encode_entry(const raftlog::Entry& entry) {
  pb::Entry p;
  to_pb(entry, &p);
  return serialize(p);
}

Result<raftlog::Entry> decode_entry(std::string_view bytes) {
  pb::Entry p;
  if (!parse(bytes, &p)) {
    return corrupt("entry", "not a protobuf Entry (" + std::to_string(bytes.size()) + " bytes)");
  }
  return from_pb(p);
}

std::string encode_hard_state(const raftlog::HardState& hs) {
  pb::HardState p;
  p.set_term(hs.term.value());
  p.set_vote(hs.vote.value());
  p.set_commit(hs.commit.value());
  return serialize(p);
}

Result<raftlog::HardState> decode_hard_state(std::string_view bytes) {
  pb::HardState p;
  if (!parse(bytes, &p)) {
    return corrupt("hard state",
                   "not a protobuf HardState (" + std::to_string(bytes.size()) + " bytes)");
  }
  return raftlog::HardState{raftlog::Term(p.term()), raftlog::NodeId(p.vote()),
                            raftlog::Index(p.commit())};
}

std::string encode_members(const raftlog::Membership& m) {
  pb::Membership p;
  to_pb(m, &p);
  return serialize(p);
}

Result<raftlog::Membership> decode_members(std::string_view bytes) {
  pb::Membership p;
  if (!parse(bytes, &p)) {
    return corrupt("membership",
                   "not a protobuf Membership (" + std::to_string(bytes.size()) + " bytes)");
  }
  return from_pb(p);
}

std::string encode_snapshot_meta(const raftlog::SnapshotMeta& meta) {
  pb::SnapshotMeta p;
  to_pb(meta, &p);
  return serialize(p);
}

Result<raftlog::SnapshotMeta> decode_snapshot_meta(std::string_view bytes) {
  pb::SnapshotMeta p;
  if (!parse(bytes, &p)) {
    return corrupt("snapshot meta",
                   "not a protobuf SnapshotMeta (" + std::to_string(bytes.size()) + " bytes)");
  }
  return from_pb(p);
}

std::string encode_message(const raftlog::Message& msg) {
  pb::Message p;
  p.set_type(static_cast<pb::MessageType>(msg.type));
  p.set_cluster_id(msg.cluster_id.value());
  p.set_from(msg.from.value());
  p.set_to(msg.to.value());
  p.set_term(msg.term.value());
  p.set_log_term(msg.log_term.value());
  p.set_index(msg.index.value());
  p.mutable_entries()->Reserve(static_cast<int>(msg.entries.size()));
  for (const raftlog::Entry& e : msg.entries) to_pb(e, p.add_entries());
  p.set_commit(msg.commit.value());
  p.set_reject(msg.reject);
  p.set_reject_hint(msg.reject_hint.value());
  p.set_context(msg.context);
  if (!is_empty(msg.snapshot.meta)) to_pb(msg.snapshot.meta, p.mutable_snapshot());
  return serialize(p);
}

Result<raftlog::Message> decode_message(std::string_view bytes) {
  pb::Message p;
  if (!parse(bytes, &p)) {
    return corrupt("message",
                   "not a protobuf Message (" + std::to_string(bytes.size()) + " bytes)");
  }
  if (!pb::MessageType_IsValid(p.type())) {
    return corrupt("message", "unknown message type " + std::to_string(p.type()));
  }
  raftlog::Message m;
  m.type = static_cast<raftlog::MessageType>(p.type());
  m.cluster_id = raftlog::ClusterId(p.cluster_id());
  m.from = raftlog::NodeId(p.from());
  m.to = raftlog::NodeId(p.to());
  m.term = raftlog::Term(p.term());
  m.log_term = raftlog::Term(p.log_term());
  m.index = raftlog::Index(p.index());
  m.entries.reserve(static_cast<size_t>(p.entries_size()));
  for (const pb::Entry& pe : p.entries()) {
    auto e = from_pb(pe);
    if (!e.is_ok()) return e.status();
    m.entries.push_back(std::move(e).value());
  }
  m.commit = raftlog::Index(p.commit());
  m.reject = p.reject();
  m.reject_hint = raftlog::Index(p.reject_hint());
  m.context = p.context();
  if (p.has_snapshot()) {
    auto meta = from_pb(p.snapshot());
    if (!meta.is_ok()) return meta.status();
    m.snapshot.meta = std::move(meta).value();
  }
  return m;
}

}  // namespace raftpb
