// Value types of the Raft core. Plain structs, no behaviour beyond encoding:
// they cross into storage/ (persisted as protobuf) and api/ (sent as
// protobuf), and the simulator copies them freely.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace raftlog {

using common::Code;
using common::Result;
using common::Status;

// A uint64 that cannot be mixed up with another kind of uint64.
template <typename Tag>
class Strong {
 public:
  constexpr Strong() = default;
  constexpr explicit Strong(uint64_t v) : v_(v) {}
  constexpr uint64_t value() const { return v_; }
  constexpr auto operator<=>(const Strong&) const = default;
  constexpr Strong operator+(uint64_t d) const { return Strong(v_ + d); }
  constexpr Strong operator-(uint64_t d) const { return Strong(v_ - d); }
  constexpr Strong& operator++() {
    ++v_;
    return *this;
  }

 private:
  uint64_t v_ = 0;
};

// Log position. 0 means "before the first entry"; real entries start at 1.
using Index = Strong<struct IndexTag>;
// Raft term. 0 is the term of the empty log; the first election makes 1.
using Term = Strong<struct TermTag>;
// Node identity within a cluster. 0 means "nobody" (no vote, no leader).
using NodeId = Strong<struct NodeIdTag>;
// Cluster identity, random at bootstrap. Every message carries it.
using ClusterId = Strong<struct ClusterIdTag>;

inline constexpr NodeId kNoNode{0};

enum class EntryType : uint8_t {
  kNormal = 0,      // application data (an empty kNormal is a new leader's no-op)
  kMembership = 1,  // data is encode_membership(new membership); effective when appended
};

struct Entry {
  Term term;
  Index index;
  EntryType type = EntryType::kNormal;
  std::string data;

  bool operator==(const Entry&) const = default;
};

// Bytes an entry costs against msg_bytes_max / ready budgets.
inline uint64_t entry_size(const Entry& e) {
  return e.data.size() + 24;
}

struct Member {
  bool learner = false;  // learners receive the log but neither vote nor count for quorum
  std::string address;   // opaque to the core (api/ keeps the peer URL here)

  bool operator==(const Member&) const = default;
};

// A full configuration (not a delta): every membership entry carries the
// whole member set, so reverting a truncated change is "use the previous one".
struct Membership {
  std::map<NodeId, Member> members;  // sorted: deterministic iteration

  bool operator==(const Membership&) const = default;
  bool is_voter(NodeId id) const;
  bool contains(NodeId id) const { return members.count(id) != 0; }
  std::vector<NodeId> voters() const;
  size_t voter_count() const;
};

std::string encode_membership(const Membership& m);
Result<Membership> decode_membership(const std::string& data);

// State that must be durable before any message that depends on it is sent.
struct HardState {
  Term term;     // only grows
  NodeId vote;   // who we voted for in `term`; never changes within a term once set
  Index commit;  // highest index known committed; only grows

  bool operator==(const HardState&) const = default;
};

struct SnapshotMeta {
  Index index;            // last index the snapshot covers; 0 = no snapshot
  Term term;              // term of that entry
  Membership membership;  // configuration as of `index`

  bool operator==(const SnapshotMeta&) const = default;
};

// A snapshot as it travels to a follower or is installed. The data is
// opaque to the core: api/ fills it from storage when sending (in chunks on
// the wire); the simulator fills it from its state machine.
struct Snapshot {
  SnapshotMeta meta;
  std::shared_ptr<const std::string> data;  // may be null in metadata-only messages
};

enum class MessageType : uint8_t {
  kPreVote = 0,
  kPreVoteResp,
  kVote,
  kVoteResp,
  kAppend,
  kAppendResp,
  kHeartbeat,
  kHeartbeatResp,
  kSnapshot,       // InstallSnapshot; meta in `snapshot`, data attached by the sender's driver
  kTimeoutNow,     // leadership transfer: campaign now, skipping pre-vote and leases
  kReadIndex,      // follower -> leader: confirm leadership for a read (context = ctx)
  kReadIndexResp,  // leader -> follower: index to wait for (index), ctx echoed
};

const char* message_type_name(MessageType t);

struct Message {
  MessageType type = MessageType::kAppend;
  ClusterId cluster_id;
  NodeId from;
  NodeId to;
  Term term;      // sender's term (for kPreVote: the term it would campaign at)
  Term log_term;  // kAppend: term of entry `index`; votes: candidate's last term;
                  // rejecting kAppendResp: term of `reject_hint`
  Index index;    // kAppend: index preceding `entries`; votes: candidate's last index;
                  // kAppendResp: highest index matched (or rejected probe index)
  std::vector<Entry> entries;
  Index commit;  // leader's commit (heartbeats: capped at the follower's match)
  bool reject = false;
  Index reject_hint;    // rejecting kAppendResp: follower's guess of the matching index
  std::string context;  // read-index ctx; kVote/kPreVote: "transfer" when forced by TimeoutNow
  Snapshot snapshot;    // kSnapshot only
};

enum class Role : uint8_t { kFollower = 0, kPreCandidate, kCandidate, kLeader };
const char* role_name(Role r);

// Volatile state the driver may want to show (diagnostics) or react to.
struct SoftState {
  NodeId leader;
  Role role = Role::kFollower;
  bool operator==(const SoftState&) const = default;
};

// A confirmed read: once applied >= index, a read with this ctx is linearizable.
struct ReadState {
  Index index;
  std::string context;
};

// Things the core noticed that an operator may care about. The core does
// not log; the driver turns these into log lines and metrics.
struct Notice {
  enum class Kind : uint8_t {
    kForeignCluster,    // dropped a message carrying another cluster id
    kUnknownSender,     // dropped a message from a node not in the configuration
    kReadIndexDropped,  // read_index could not be served (no leader)
    kTransferAborted,   // leadership transfer timed out or was cancelled
    kStepDownNoQuorum,  // check-quorum: leader lost contact with a majority
    kSnapshotFailed,    // follower reported a failed snapshot install
    // A follower refused an append at or below the index it had acknowledged
    // (its match): it lost entries it had promised were durable (a failed or
    // replaced disk). Raft assumes this never happens; the leader keeps
    // probing at match + 1, which such a follower can never accept, so the
    // operator must remove and re-add it (tests/chaos/FINDINGS.md #8).
    kFollowerLostAcknowledged,
  };
  Kind kind;
  NodeId peer;
  uint64_t value = 0;  // kForeignCluster: the foreign cluster id;
                       // kFollowerLostAcknowledged: the match it had acknowledged
};

}  // namespace raftlog
