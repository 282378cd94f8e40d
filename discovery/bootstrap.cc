#include "discovery/bootstrap.h"

namespace discovery {

BootstrapDecision decide_bootstrap(const Lookup& lookup, const std::string& self_name,
                                   const std::string& self_address, size_t size) {
  using Kind = BootstrapDecision::Kind;
  const auto& peers = lookup.peers;
  if (!lookup.status.is_ok()) {
    return {Kind::kWait, "the source cannot be read: " + lookup.status.message(), {}};
  }
  std::string found = std::to_string(peers.size()) + " of " + std::to_string(size) + " peers";
  if (peers.size() < size) {
    return {
        Kind::kWait, "found " + found + (peers.empty() ? "" : " (" + describe(peers) + ")"), {}};
  }
  if (peers.size() > size) {
    return {Kind::kWait,
            "found " + found + ", more than --initial-cluster-size; fix the list or the size (" +
                describe(peers) + ")",
            {}};
  }
  for (const auto& p : peers) {
    if (p.name == self_name) return {Kind::kReady, {}, peers};
  }
  std::string hint;
  for (const auto& p : peers) {
    if (p.address == self_address) {
      hint = "; the entry for this node's address " + self_address + " is named '" + p.name +
             "': start with --name " + p.name;
    }
  }
  return {Kind::kFail,
          "the " + std::to_string(size) + " discovered peers (" + describe(peers) +
              ") do not include this node's name '" + self_name + "'" +
              (hint.empty() ? "; to add it to a running cluster use --join" : hint),
          {}};
}

}  // namespace discovery
