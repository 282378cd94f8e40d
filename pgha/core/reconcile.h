// pgha's decisions, as two pure functions (no IO, no clock: `now` is handed
// in). Stolon's sentinel/keeper split:
//
//   reconcile_cluster  run by the coordinator (the agent holding
//                      /pgha/<cluster>/leader): desired + observations +
//                      previous status -> new status + events. The caller
//                      writes the status with CAS on the revision it read,
//                      then appends the events; a lost CAS drops both.
//   reconcile_local    run by every agent each loop: its target in the
//                      status + what it sees of its own PostgreSQL + whether
//                      it reaches the store (and, if not, what its peers
//                      answer) -> the actions to run, in order.
//   confirm_primary    what an agent answers a primary that lost the store
//                      and asks "am I still the primary?" (failsafe).
//
// The rules are documented in docs/DESIGN.md (pgha) and pinned by the
// tables in tests/unit/pgha/.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgha/core/model.h"

namespace pgha {

struct ClusterDecision {
  // The status to write. Equal to the previous one (same generation) when
  // nothing but bookkeeping moved: then changed is false and nothing needs
  // writing.
  ClusterStatus status;
  bool changed = false;
  std::vector<Event> events;  // to append after the status write succeeded
  // Why the status is what it is, one line each ("failover blocked: b: lag
  // 20971520 bytes > 16777216", "healthy: primary a, 2 replicas streaming").
  std::vector<std::string> reasons;
};

// `observed`: the observations present in the store (a member whose agent's
// lease expired is simply absent), keyed by member name; members not in
// `desired` are ignored. `previous`: the status read (nullopt before the first).
// `desired` must satisfy validate_desired.
ClusterDecision reconcile_cluster(std::string_view cluster, const Desired& desired,
                                  const std::map<std::string, Observation>& observed,
                                  const std::optional<ClusterStatus>& previous, TimeMs now);

// ---- one agent ----

enum class LocalActionKind {
  kNone,          // nothing to do (reason says why)
  kInitdb,        // create the data directory (bootstrap primary only)
  kBasebackup,    // (wipe and) clone from `source` at `source_address`
  kStart,         // start PostgreSQL (as configured: primary, or replica of the last kFollow)
  kStop,          // stop PostgreSQL (fast)
  kPromote,       // pg_promote()
  kFollow,        // stream from `source`: primary_conninfo + standby.signal; reload if running
  kRewind,        // pg_rewind from `source` (stopped server; CHECKPOINT on the source first)
  kSetSyncNames,  // ALTER SYSTEM synchronous_standby_names = `sync_names`; reload
  kFence,         // refuse writes now: default_transaction_read_only + end sessions
  kUnfence,       // accept writes again (an aborted switchover)
  kDemote,        // a running primary becomes a replica of `source`: stop, follow, start
};

struct LocalAction {
  LocalActionKind kind = LocalActionKind::kNone;
  std::string source;          // member to clone / follow / rewind from / demote to
  std::string source_address;  // its "host:port"
  std::string sync_names;      // kSetSyncNames
  std::string reason;
};

// A peer agent's answer to "do you still see me as the primary?".
struct PeerAnswer {
  std::string member;
  bool confirms = false;
  TimeMs at_ms = 0;  // when the answer arrived
};

struct LocalInput {
  std::string self;
  // The newest desired state and status this agent read (they may be old
  // when the store is unreachable).
  std::optional<Desired> desired;
  std::optional<ClusterStatus> status;
  Observation local;  // this agent's view of its own PostgreSQL
  // The last store round trip (status read, member key write) succeeded.
  bool store_reachable = true;
  // This agent's member lease has not run out since its last renewal (by
  // the agent's own clock); while true no failover can have started.
  bool lease_valid = true;
  // Answers collected from peers while the store is unreachable.
  std::vector<PeerAnswer> peers;
  TimeMs now = 0;
};

// Never empty: nothing to do is one kNone with its reason.
std::vector<LocalAction> reconcile_local(const LocalInput& in);

// Failsafe, peer side. `asker` (believing it is primary of `asker_epoch`)
// asks this agent. Confirm only if this agent's newest status names the
// asker primary in that epoch with no handover away from it, this agent's
// own PostgreSQL is not a primary, and either this agent cannot reach the
// store either, or it can and the asker's member key is still present.
bool confirm_primary(std::string_view asker, uint64_t asker_epoch,
                     const std::optional<ClusterStatus>& my_status, bool my_store_reachable,
                     bool asker_key_present, const Observation& my_local);

// The synchronous_standby_names text for `names` and `n` under `mode`
// ("" for async or no names): FIRST 1 ("b") / ANY 2 ("b","c").
std::string sync_names_text(ReplicationMode mode, uint32_t n,
                            const std::vector<std::string>& names);

std::string_view name_of(LocalActionKind k);

// Why `replica` cannot stream from `primary` without pg_rewind (or a clone),
// "" when it can or when the observations cannot tell. PostgreSQL follows a
// newer timeline only from a point at or before where its parent ended, so
// a replica diverged when:
//   - it runs on a timeline above the primary's (it was promoted on its own);
//   - its timeline is not among the primary's ancestors (a fork), or an
//     ancestor both know ended at different LSNs;
//   - its timeline ended in the primary's history at S and it replayed past
//     S (it holds WAL the primary never had: a failover lost it).
// Only a running replica and a running primary with known timelines are
// judged; the primary's history must be known once it is past timeline 1.
std::string divergence(const Observation& replica, const Observation& primary);

}  // namespace pgha
