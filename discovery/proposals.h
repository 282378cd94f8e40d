// After bootstrap the discovered set is advice, never an order: where it
// differs from the membership, each difference becomes a proposal that is
// logged with the exact changectl command that applies it, shown in
// /diagnostics and counted in /metrics. Nothing here changes membership.
// Pure: the caller passes the membership and the discovered set.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "discovery/peer.h"

namespace discovery {

struct Member {
  uint64_t id = 0;
  std::string name;     // may be empty (added by address only)
  std::string address;  // peer host:port
};

struct Proposal {
  enum class Action { kAdd, kUpdate, kRemove };
  Action action = Action::kAdd;
  std::string name;
  uint64_t id = 0;      // the member's (kUpdate, kRemove)
  std::string address;  // discovered (kAdd, kUpdate) or current (kRemove)
  std::string reason;   // one line
  std::string command;  // changectl ... that applies it
  bool operator==(const Proposal&) const = default;
};

std::string_view action_name(Proposal::Action a);  // "add" | "update" | "remove"

// Where the changectl command should go: this node's client URL, and the
// cluster id so that it cannot land in another cluster.
struct CommandTarget {
  std::string endpoint;
  std::string cluster_id_hex;
};

// Differences between `discovered` and `members`, adds and updates first.
// A member is matched by name, else by address. Removals are proposed only
// when `complete` (the latest poll succeeded and left nobody out) and the
// set is not empty: a partial or failed answer never suggests shrinking.
std::vector<Proposal> propose(const std::vector<Peer>& discovered, bool complete,
                              const std::vector<Member>& members, const CommandTarget& target);

}  // namespace discovery
