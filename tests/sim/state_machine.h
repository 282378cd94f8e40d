// The simulated application. Per applied index it remembers which client
// payload landed there (0 for no-ops and membership entries), and it applies
// every client entry's command to a state::StateView, the same state machine
// the real server applies (plain payloads are commands with no ops). A
// rolling hash folds in each applied entry and what it did to the view
// (outcome and rows written), so two nodes at the same applied index must
// hold the same hash: the checker compares it at every index. Snapshots
// carry all of it, the view as its rows (StateView::all_rows/load_row).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "raftlog/types.h"
#include "state/state_view.h"
#include "tests/sim/kv_command.h"

namespace raftsim {

using raftlog::Entry;
using raftlog::Index;
using raftlog::Term;

// Client payloads: see kv_command.h. Ids start at 1 so 0 means "not a
// client entry".
std::string payload_for(uint64_t client_id);
uint64_t client_id_of(const Entry& e);

// What applying one entry did.
struct SimApplied {
  bool client = false;     // a client payload (plain or KV); false: no-op, membership
  bool malformed = false;  // a kNormal entry with data that does not decode
  Payload payload;
  state::ApplyResult result;  // meaningful when client
  size_t rows_written = 0;    // state rows the view asked to write or delete
};

class SimStateMachine {
 public:
  Index applied() const { return applied_; }
  Term applied_term() const { return applied_term_; }
  uint64_t hash() const { return hash_; }
  const state::StateView& view() const { return view_; }
  // Client id applied at index i (1-based), 0 for non-client entries.
  // Requires i <= applied().
  uint64_t id_at(Index i) const;

  // e.index must be applied() + 1. skip_cas is the deliberate kv-apply-skip
  // bug: a KV command with compares is not applied to the view, yet reported
  // as applied.
  SimApplied apply(const Entry& e, bool skip_cas = false);

  std::string encode() const;
  static raftlog::Result<SimStateMachine> decode(const std::string& data);

 private:
  Index applied_;
  Term applied_term_;
  uint64_t hash_ = 0;
  std::vector<uint64_t> ids_;  // ids_[i - 1] for index i
  state::StateView view_;
};

}  // namespace raftsim
