// The KV checks, run from outside the replicas on every apply of every node
// (O(log n) each), plus a final check once the cluster converged. Relies on
// the key conventions in kv_command.h.
//
//  - CAS chains: per counter key the checker keeps its own model of the
//    successful writes in log order. The first time any node applies index
//    i the model decides the CAS there: it succeeds iff its compare revision
//    is the previous successful write's index (0 before the first), and then
//    its value must be the previous value + 1. Every node applying i must
//    then report that outcome, and its view must hold exactly the model's
//    record for the key afterwards (mod_revision, value, version,
//    create_revision). So successful writes form one chain of revisions
//    without gaps or forks, and the value rises by exactly one per link.
//  - Increments: clients report each increment acknowledged (the proposer
//    applied it and the view said kApplied) or of unknown outcome. At the
//    end, per counter, acked <= final value <= acked + unknown, and the final
//    value equals the chain length on every member.
//  - Leases: after a node applies a revoke, the lease and every key under
//    lease_key_prefix(lease) are gone from its view; at the end, from every
//    member's view. A lease key, when written, is attached to its lease.
//  - A command that does not apply (failed compare, unknown lease) writes
//    only its failed-entry marker row: it changes nothing else.
//  - Views: at the end all members (same applied index) hold equal views.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "tests/sim/state_machine.h"

namespace raftsim {

class KvChecker {
 public:
  // After node `who` applied entry `index` to `view`. Returns the violation.
  std::optional<std::string> on_applied(const std::string& who, const state::StateView& view,
                                        uint64_t index, const SimApplied& a);
  void on_increment_acked(const std::string& key) { chains_[key].acked++; }
  void on_increment_unknown(const std::string& key) { chains_[key].unknown++; }

  std::optional<std::string> final_check(
      const std::map<std::string, const state::StateView*>& views);

  uint64_t acked_increments() const;
  uint64_t chain_links() const;

 private:
  struct Link {
    bool applied = false;
    uint64_t value = 0;  // when applied
  };
  struct Chain {
    std::map<uint64_t, Link> decided;     // every CAS index the model decided
    std::map<uint64_t, uint64_t> writes;  // successful ones: index -> value
    uint64_t acked = 0;
    uint64_t unknown = 0;
  };
  std::optional<std::string> check_cas(const std::string& who, const state::StateView& view,
                                       uint64_t index, const SimApplied& a);
  std::optional<std::string> check_revoked(const std::string& who, const state::StateView& view,
                                           uint64_t lease) const;

  std::map<std::string, Chain> chains_;
  std::set<uint64_t> revoked_;  // leases some node applied a successful revoke of
};

}  // namespace raftsim
