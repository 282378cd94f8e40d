// pgha's data model: what lives in the store under /pgha/<cluster>/ and the
// events it appends to the log. Plain values and their JSON codecs; no IO,
// no clocks (times are milliseconds since the epoch handed in by callers).
//
//   /pgha/<cluster>/desired          Desired        operator intent (changectl)
//   /pgha/<cluster>/members/<node>   Observation    one agent's view of its
//                                                   PostgreSQL, on its lease
//   /pgha/<cluster>/leader           LeaderRecord   the coordinator, on a lease
//   /pgha/<cluster>/status           ClusterStatus  the coordinator's decision,
//                                                   written by CAS
//   change tagged pgha, pgha:<cluster>, <kind>   Event   the cluster's history
//
// The decision functions over these are in reconcile.h. Stolon's split:
// desired (spec) -> coordinator (sentinel) -> status -> agents (keepers).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgha {

// Milliseconds since the Unix epoch (wall clock), always passed in.
using TimeMs = int64_t;
// A PostgreSQL WAL position; 0 = unknown / none. Text form "16/B374D848".
using Lsn = uint64_t;

// "X/Y" (hex halves, as PostgreSQL prints pg_lsn) <-> number.
common::Result<Lsn> parse_lsn(std::string_view text);
std::string format_lsn(Lsn lsn);

// ---- store layout ----
// cluster names and member names: [A-Za-z0-9_.-], 1..63 chars (they are key
// segments and PostgreSQL application_names).
common::Status validate_name(std::string_view what, std::string_view name);
std::string cluster_prefix(std::string_view cluster);  // "/pgha/<cluster>/"
std::string desired_key(std::string_view cluster);
std::string status_key(std::string_view cluster);
std::string leader_key(std::string_view cluster);
std::string members_prefix(std::string_view cluster);  // "/pgha/<cluster>/members/"
std::string member_key(std::string_view cluster, std::string_view member);

// ---- desired state (operator intent) ----

enum class ReplicationMode {
  kAsync,   // no synchronous_standby_names
  kSync,    // exactly one chosen synchronous standby: FIRST 1 ("x")
  kQuorum,  // ANY quorum_n (every other member)
};
// What sync/quorum mode does when too few standbys are available.
enum class SyncFallback {
  kStrict,   // keep synchronous_standby_names: commits block (never silently async)
  kDegrade,  // drop to what is available (possibly async) and record an event
};

struct DesiredMember {
  std::string name;
  // Failover/switchover preference among equally advanced replicas; higher
  // wins. Range [0, 1000].
  int32_t priority = 100;
  // Never promoted by pgha (it still replicates and can be a sync standby).
  bool nofailover = false;
};

enum class HandoverKind {
  kSwitchover,  // planned: the primary is healthy; fence, catch up, promote
  kFailover,    // the primary is gone or must be abandoned; promote the best
};

// An operator's request to move the primary (changectl pgha switchover|failover).
struct HandoverRequest {
  std::string id;  // unique per request; the status remembers the last one handled
  HandoverKind kind = HandoverKind::kSwitchover;
  std::string to;  // target member; "" = pgha picks (failover only)
  TimeMs requested_at_ms = 0;
};

struct Desired {
  // Bumped by every operator edit (changectl does it); agents report the
  // generation they applied settings from.
  uint64_t generation = 0;
  std::vector<DesiredMember> members;  // sorted by name, unique, >= 1
  // Intended primary: used at bootstrap, and while it is healthy and another
  // member is primary the coordinator switches over to it. "" = pgha picks.
  std::string primary;
  ReplicationMode mode = ReplicationMode::kAsync;
  // kQuorum: commits wait for this many standbys, in [1, members - 1].
  // kSync: always 1. kAsync: 0.
  uint32_t quorum_n = 0;
  SyncFallback sync_fallback = SyncFallback::kStrict;
  // PostgreSQL settings pgha writes into the one file it owns (include_dir).
  std::map<std::string, std::string> pg_settings;
  bool paused = false;  // the coordinator and agents observe only
  std::optional<HandoverRequest> handover;

  // ---- timing and limits (defaults chosen for < 5 s failover) ----
  // A replica further behind than this (bytes of WAL behind the newest known
  // primary position) is not promoted and not chosen as sync standby.
  uint64_t max_lag_bytes = 16 * 1024 * 1024;
  // A primary whose agent reports PostgreSQL unreachable this long is failed
  // over (its agent restarts it meanwhile).
  int64_t unhealthy_failover_ms = 3000;
  // A switchover that has not promoted within this is aborted (old primary unfenced).
  int64_t switchover_timeout_ms = 30000;
  // A failover that has not produced a writable primary within this starts
  // over with a fresh candidate choice.
  int64_t failover_timeout_ms = 30000;
  // How long a peer's "you are still primary" answer counts for a primary
  // that lost the store (failsafe); the coordinator waits this long after a
  // primary's lease is gone before promoting anyone, so an isolated old
  // primary has demoted itself by then.
  int64_t failsafe_confirm_ms = 1500;
  // An observation older than this (by its own timestamp) counts as absent.
  // 0 = trust the lease alone.
  int64_t member_stale_ms = 0;
};

common::Result<Desired> parse_desired(std::string_view json);
std::string to_json(const Desired& d);
// Every rule a desired state must satisfy; the first broken one, named
// precisely ("members[2].name 'a' is listed twice", "quorumN 3 is out of
// range [1, 2] for 3 members", "primary 'x' is not a member", ...).
common::Status validate_desired(const Desired& d);
const DesiredMember* find_member(const Desired& d, std::string_view name);

// ---- observed state (one agent, about its own PostgreSQL) ----

enum class PgRole {
  kUnknown,        // cannot tell (PostgreSQL unreachable and no process info)
  kUninitialized,  // no data directory yet
  kStopped,        // data directory exists, server not running
  kPrimary,        // running, not in recovery
  kReplica,        // running, in recovery
};

enum class PgHealth {
  kOk,
  kUnreachable,  // cannot connect (down, refusing, socket missing)
  kQueryFailed,  // connected, but the status query failed
};

// One ancestor timeline in a timeline history (PostgreSQL's
// pg_wal/<TLI>.history): `timeline` ended at `end_lsn`, where its child began.
struct TimelineSwitch {
  uint32_t timeline = 0;
  Lsn end_lsn = 0;
  bool operator==(const TimelineSwitch&) const = default;
};

// A timeline history file's text (lines "<parent tli>\t<switch lsn>\t<reason>",
// blank and '#' lines skipped) as ancestors, oldest first; kInvalidArgument
// naming the line that does not parse.
common::Result<std::vector<TimelineSwitch>> parse_timeline_history(std::string_view file_text);

struct Observation {
  std::string member;
  std::string api_url;     // the agent's HTTP endpoint (failsafe, load balancers)
  std::string pg_address;  // "host:port" replicas connect to
  PgRole role = PgRole::kUnknown;
  PgHealth health = PgHealth::kOk;
  bool pg_running = false;  // the postmaster process is alive (pg_ctl status)
  // Primary only: writes refused (default_transaction_read_only fence).
  bool fenced = false;
  uint32_t timeline = 0;  // 0 = unknown
  Lsn receive_lsn = 0;    // replica: pg_last_wal_receive_lsn
  Lsn replay_lsn = 0;     // replica: pg_last_wal_replay_lsn
  Lsn flush_lsn = 0;      // primary: pg_current_wal_flush_lsn
  // Replica: the member it streams from ("" = not streaming) and whether the
  // WAL receiver is connected.
  std::string upstream;
  bool streaming = false;
  // Replica: it cannot follow its upstream because its history forked
  // (pg_rewind or a fresh clone is needed).
  // (The agent sets it from divergence() against the primary's observation.)
  bool diverged = false;
  bool rewind_failed = false;  // the last pg_rewind failed: only a clone helps
  // Primary: the synchronous_standby_names it runs with and the standbys
  // pg_stat_replication reports as sync/quorum.
  std::string synchronous_standby_names;
  std::vector<std::string> sync_standbys;
  // The ancestors of `timeline`, oldest first, from its history file
  // (empty on timeline 1, or when the file could not be read). JSON:
  // "timelineHistory": ["1:0/3000148", ...].
  std::vector<TimelineSwitch> timeline_history;
  // The status generation whose targets this agent last acted on.
  uint64_t applied_generation = 0;
  std::string last_error;  // "" = none
  TimeMs observed_at_ms = 0;
};

common::Result<Observation> parse_observation(std::string_view json);
std::string to_json(const Observation& o);
// The LSN to compare candidates by: receive for a replica, flush for a primary.
Lsn position_of(const Observation& o);

// /pgha/<cluster>/leader: who coordinates.
struct LeaderRecord {
  std::string member;
  std::string api_url;
  TimeMs since_ms = 0;
};
common::Result<LeaderRecord> parse_leader(std::string_view json);
std::string to_json(const LeaderRecord& l);

// ---- the coordinator's decision ----

enum class ClusterState { kProvisioning, kHealthy, kDegraded, kFailingOver, kPaused };

enum class TargetRole {
  kPrimary,       // be (or become: promote) the writable primary
  kReplica,       // stream from `follow` (clone first if no data)
  kFenced,        // stop accepting writes now (read-only, or stop PostgreSQL)
  kRewindNeeded,  // stop, pg_rewind from `follow`, then stream from it
  kCloneNeeded,   // discard data, pg_basebackup from `follow`, then stream
};

struct MemberTarget {
  TargetRole role = TargetRole::kReplica;
  std::string follow;      // the upstream member (replica, rewind, clone)
  std::string pg_address;  // this member's own "host:port", as last observed
};

enum class HandoverPhase {
  kFencing,     // switchover: wait for the old primary to refuse writes;
                // failover: wait until the old primary cannot be writable
  kCatchingUp,  // switchover: wait for the target to replay up to fence_lsn
  kPromoting,   // the target is told to promote; wait for it to be writable
};

struct Handover {
  HandoverKind kind = HandoverKind::kFailover;
  HandoverPhase phase = HandoverPhase::kFencing;
  std::string from;        // the primary being replaced
  std::string to;          // the chosen target
  std::string request_id;  // the operator's request, "" when automatic
  TimeMs started_at_ms = 0;
  TimeMs phase_since_ms = 0;
  Lsn fence_lsn = 0;  // switchover: old primary's flush LSN once fenced
};

// What every acknowledged commit is guaranteed to be on: at least `n` of
// `names`. Empty names = asynchronous (no guarantee).
struct SyncGuarantee {
  std::vector<std::string> names;  // sorted
  uint32_t n = 0;
};

struct ClusterStatus {
  // Bumped on every change of the status; agents report the one they applied.
  uint64_t generation = 0;
  // Bumped every time the primary changes (bootstrap, failover, switchover).
  uint64_t epoch = 0;
  std::string primary;  // "" until bootstrap chose one
  // The primary's timeline when it was confirmed writable; a new primary
  // must come up on a strictly greater one.
  uint32_t timeline = 0;
  // The newest WAL position known for the primary (its flush LSN); replica
  // lag is measured against it even after the primary is gone.
  Lsn primary_lsn = 0;
  ClusterState state = ClusterState::kProvisioning;
  std::map<std::string, MemberTarget> targets;  // one per desired member
  // What the primary should run with, and what commits are guaranteed to be on.
  std::string synchronous_standby_names;
  SyncGuarantee sync;
  // sync standbys the coordinator asked for but does not count yet: they
  // count once the primary runs the new names and they reached this LSN.
  Lsn sync_catchup_lsn = 0;
  bool sync_degraded = false;  // degrade mode dropped below the desired guarantee
  // The standbys synchronous_standby_names names (sorted); in sync mode the
  // one chosen standby, kept while it is healthy.
  std::vector<std::string> sync_wanted;
  std::optional<Handover> handover;
  std::string last_request_id;  // the last operator handover request handled
  // Since when each member has been unhealthy or absent (for grace periods).
  std::map<std::string, TimeMs> unhealthy_since_ms;
  TimeMs primary_lost_at_ms = 0;  // when the primary's key was first seen gone, 0 = present
  // No switchover toward desired.primary starts before this (set when one
  // was aborted, so a failing target does not fence the primary in a loop).
  TimeMs switchover_retry_at_ms = 0;
  // What the coordinator is waiting for or cannot do, "" = nothing
  // ("failover blocked: no eligible candidate: b: lag ..."). Changing it
  // emits one event, so a stuck cluster says why once, not every loop.
  std::string blocked;
  TimeMs updated_at_ms = 0;
};

common::Result<ClusterStatus> parse_status(std::string_view json);
std::string to_json(const ClusterStatus& s);

// ---- events: the history, appended to the log ----

struct Event {
  std::string cluster;
  std::string kind;    // e.g. "failover-begin"; see kEvent* below
  std::string member;  // the member it is about, "" for the cluster
  std::string message;
  TimeMs at_ms = 0;
  uint64_t generation = 0;  // the status generation that decided it
};

// The kinds the coordinator emits (agents add theirs: "rewind", "fence", ...).
inline constexpr std::string_view kEventBootstrap = "bootstrap";
inline constexpr std::string_view kEventSwitchoverBegin = "switchover-begin";
inline constexpr std::string_view kEventSwitchoverEnd = "switchover-end";
inline constexpr std::string_view kEventSwitchoverAborted = "switchover-aborted";
inline constexpr std::string_view kEventSwitchoverRefused = "switchover-refused";
inline constexpr std::string_view kEventFailoverBegin = "failover-begin";
inline constexpr std::string_view kEventFailoverCandidate = "failover-candidate";
inline constexpr std::string_view kEventFailoverEnd = "failover-end";
inline constexpr std::string_view kEventFailoverBlocked = "failover-blocked";
inline constexpr std::string_view kEventFailoverAborted = "failover-aborted";
inline constexpr std::string_view kEventBlocked = "blocked";
inline constexpr std::string_view kEventHealthFailure = "health-failure";
inline constexpr std::string_view kEventHealthRecovered = "health-recovered";
inline constexpr std::string_view kEventFence = "fence";
inline constexpr std::string_view kEventRewind = "rewind";
inline constexpr std::string_view kEventClone = "clone";
inline constexpr std::string_view kEventSyncStandbyChange = "sync-standby-change";
inline constexpr std::string_view kEventSyncDegraded = "sync-degraded";
inline constexpr std::string_view kEventSyncRestored = "sync-restored";
inline constexpr std::string_view kEventPause = "pause";
inline constexpr std::string_view kEventResume = "resume";

common::Result<Event> parse_event(std::string_view json);
std::string to_json(const Event& e);
// The change's tags: {"pgha", "pgha:<cluster>", <kind>}.
std::vector<std::string> event_tags(const Event& e);
std::string cluster_tag(std::string_view cluster);  // "pgha:<cluster>"
// The request id (Idempotency-Key) an event is appended with, so that a
// retry after an unknown outcome (a lost answer, a leader change, the
// agent's own queue resent) appends it once. Derived from the event alone:
// the same Event always gives the same id, and two events differ in id
// whenever they differ in cluster, generation (each coordinator decision
// has its own, written by CAS), kind, member, time or message (hashed):
//   "pgha/<cluster>/g<generation>/<kind>/<member|->/<at_ms>/<fnv1a64(message) hex>"
// At most kEventRequestIdBytesMax bytes (names are <= 63 chars; a longer
// kind is cut, the hash still tells it apart).
std::string event_request_id(const Event& e);
inline constexpr size_t kEventRequestIdBytesMax = 256;  // the server's request id limit

// ---- enum names (the JSON spelling) ----
std::string_view name_of(ReplicationMode m);
std::string_view name_of(SyncFallback f);
std::string_view name_of(HandoverKind k);
std::string_view name_of(PgRole r);
std::string_view name_of(PgHealth h);
std::string_view name_of(ClusterState s);
std::string_view name_of(TargetRole r);
std::string_view name_of(HandoverPhase p);

}  // namespace pgha
