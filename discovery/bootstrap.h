// When a new node may form its cluster from the discovered set. Pure: the
// caller polls (Watcher) and acts. Every node of the cluster applies the
// same rule to the same set, so they all bootstrap with the same members
// and so derive the same cluster id (api::cluster_id_for over the sorted
// name=address list plus --initial-cluster-token).
#pragma once

#include <string>
#include <vector>

#include "discovery/sources.h"

namespace discovery {

struct BootstrapDecision {
  enum class Kind {
    kWait,   // not yet: `reason` says what is missing
    kReady,  // form the cluster from `peers`
    kFail,   // never with this set: `reason` says what to change
  };
  Kind kind = Kind::kWait;
  std::string reason;
  std::vector<Peer> peers;
};

// Ready once the source lists exactly `size` peers and this node (by name)
// is one of them. More than `size` waits (the operator fixes the source or
// the size); exactly `size` without this node fails: it is not a member of
// that cluster (use --join to add it to a running one).
BootstrapDecision decide_bootstrap(const Lookup& lookup, const std::string& self_name,
                                   const std::string& self_address, size_t size);

}  // namespace discovery
