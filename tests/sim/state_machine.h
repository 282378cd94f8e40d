// The simulated application: it remembers, per applied index, which client
// payload landed there (0 for no-ops and membership entries), plus a rolling
// hash of everything applied. That is enough to check state-machine safety
// (two nodes at the same applied index have the same hash) and that every
// acknowledged payload survives. Snapshots serialise the whole thing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "raftlog/types.h"

namespace raftsim {

using raftlog::Entry;
using raftlog::Index;
using raftlog::Term;

// Client payloads are "p<decimal id>"; ids start at 1 so 0 means "not a
// client entry".
std::string payload_for(uint64_t client_id);
uint64_t client_id_of(const Entry& e);

class SimStateMachine {
 public:
  Index applied() const { return applied_; }
  Term applied_term() const { return applied_term_; }
  uint64_t hash() const { return hash_; }
  // Client id applied at index i (1-based), 0 for non-client entries.
  // Requires i <= applied().
  uint64_t id_at(Index i) const;

  void apply(const Entry& e);  // e.index must be applied() + 1

  std::string encode() const;
  static raftlog::Result<SimStateMachine> decode(const std::string& data);

 private:
  Index applied_;
  Term applied_term_;
  uint64_t hash_ = 0;
  std::vector<uint64_t> ids_;  // ids_[i - 1] for index i
};

}  // namespace raftsim
