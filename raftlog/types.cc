#include "raftlog/types.h"

#include "common/varint.h"

namespace raftlog {

bool Membership::is_voter(NodeId id) const {
  auto it = members.find(id);
  return it != members.end() && !it->second.learner;
}

std::vector<NodeId> Membership::voters() const {
  std::vector<NodeId> out;
  for (const auto& [id, m] : members) {
    if (!m.learner) out.push_back(id);
  }
  return out;
}

size_t Membership::voter_count() const {
  size_t n = 0;
  for (const auto& [id, m] : members) n += m.learner ? 0 : 1;
  return n;
}

namespace {

// Membership encoding (pure, no protobuf so the core stays dependency-free):
//   "M1" count:varint { id:varint learner:u8 addr_len:varint addr }*
using common::get_varint;
using common::put_varint;

constexpr uint64_t kMembersMax = 1024;
constexpr uint64_t kAddressBytesMax = 4096;

}  // namespace

std::string encode_membership(const Membership& m) {
  std::string out = "M1";
  put_varint(out, m.members.size());
  for (const auto& [id, member] : m.members) {
    put_varint(out, id.value());
    out.push_back(member.learner ? 1 : 0);
    put_varint(out, member.address.size());
    out += member.address;
  }
  return out;
}

Result<Membership> decode_membership(const std::string& data) {
  auto bad = [](const char* why) {
    return Status(Code::kCorruption, std::string("membership entry: ") + why);
  };
  if (data.size() < 2 || data[0] != 'M' || data[1] != '1') return bad("unknown encoding");
  size_t pos = 2;
  uint64_t count = 0;
  if (!get_varint(data, pos, count)) return bad("truncated count");
  if (count > kMembersMax) return bad("too many members");
  Membership m;
  for (uint64_t i = 0; i < count; i++) {
    uint64_t id = 0, len = 0;
    if (!get_varint(data, pos, id) || id == 0) return bad("bad member id");
    if (pos >= data.size()) return bad("truncated member");
    uint8_t learner = static_cast<uint8_t>(data[pos++]);
    if (learner > 1) return bad("bad learner flag");
    if (!get_varint(data, pos, len) || len > kAddressBytesMax || pos + len > data.size()) {
      return bad("bad address");
    }
    Member member{learner == 1, data.substr(pos, len)};
    pos += len;
    if (!m.members.emplace(NodeId(id), std::move(member)).second) return bad("duplicate id");
  }
  if (pos != data.size()) return bad("trailing bytes");
  return m;
}

const char* message_type_name(MessageType t) {
  switch (t) {
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResp:
      return "PreVoteResp";
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResp:
      return "VoteResp";
    case MessageType::kAppend:
      return "Append";
    case MessageType::kAppendResp:
      return "AppendResp";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kHeartbeatResp:
      return "HeartbeatResp";
    case MessageType::kSnapshot:
      return "Snapshot";
    case MessageType::kTimeoutNow:
      return "TimeoutNow";
    case MessageType::kReadIndex:
      return "ReadIndex";
    case MessageType::kReadIndexResp:
      return "ReadIndexResp";
  }
  return "?";
}

const char* role_name(Role r) {
  switch (r) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "?";
}

}  // namespace raftlog
