// reconcile_local: one agent's decision about its own PostgreSQL, from its
// target in the status. Actions are listed in the order to run them; the
// agent stops at the first that fails and decides again next loop, so every
// list is safe to cut short (each step is idempotent or re-checked).
#include <algorithm>

#include "pgha/core/reconcile.h"

namespace pgha {

namespace {

using Actions = std::vector<LocalAction>;

LocalAction act(LocalActionKind kind, std::string reason) {
  LocalAction a;
  a.kind = kind;
  a.reason = std::move(reason);
  return a;
}

LocalAction from(LocalActionKind kind, const std::string& source, const std::string& address,
                 std::string reason) {
  LocalAction a = act(kind, std::move(reason));
  a.source = source;
  a.source_address = address;
  return a;
}

Actions nothing(std::string reason) {
  return {act(LocalActionKind::kNone, std::move(reason))};
}

bool running_unknown(const Observation& o) {
  return o.pg_running && (o.role == PgRole::kUnknown || o.health != PgHealth::kOk);
}
bool down(const Observation& o) {
  return o.role == PgRole::kStopped || (o.role == PgRole::kUnknown && !o.pg_running);
}

// The store is out of reach. A replica keeps streaming. A primary keeps
// serving while its lease can still be valid, then only while a majority of
// the members (itself included) confirm it directly; else it fences itself.
// The coordinator promotes nobody before the lease ran out plus
// failsafeConfirmMs, and needs a majority in the store to do it, so the two
// majorities cannot both exist.
Actions failsafe(const LocalInput& in) {
  const Observation& o = in.local;
  if (o.role != PgRole::kPrimary) return nothing("store unreachable: keep running as is");
  if (o.fenced) return nothing("store unreachable: stay fenced until it is back");
  if (in.lease_valid) return nothing("store unreachable: lease still valid, keep serving");
  size_t members = in.desired ? in.desired->members.size() : in.status->targets.size();
  int64_t window_ms = in.desired ? in.desired->failsafe_confirm_ms : Desired{}.failsafe_confirm_ms;
  size_t confirms = 1;  // itself
  for (const auto& p : in.peers) {
    bool member = in.desired ? find_member(*in.desired, p.member) != nullptr
                             : in.status->targets.count(p.member) > 0;
    if (member && p.member != in.self && p.confirms && in.now - p.at_ms <= window_ms) {
      ++confirms;
    }
  }
  size_t need = members / 2 + 1;
  std::string tally = std::to_string(confirms) + " of " + std::to_string(members) +
                      " members (itself included) confirm it as primary, " + std::to_string(need) +
                      " needed";
  if (confirms >= need) return nothing("failsafe: store unreachable, " + tally + ": keep serving");
  return {act(LocalActionKind::kFence, "failsafe: store unreachable and only " + tally)};
}

Actions as_primary(const LocalInput& in) {
  const Observation& o = in.local;
  const ClusterStatus& s = *in.status;
  if (o.role == PgRole::kUninitialized) {
    if (s.timeline != 0) {
      return nothing(
          "chosen primary but has no data, and the cluster was bootstrapped already "
          "(timeline " +
          std::to_string(s.timeline) + "): refusing initdb");
    }
    return {act(LocalActionKind::kInitdb, "bootstrap: this member is the first primary"),
            act(LocalActionKind::kStart, "bootstrap: start the new primary")};
  }
  if (down(o)) return {act(LocalActionKind::kStart, "the primary is not running")};
  if (running_unknown(o)) return nothing("waiting for PostgreSQL to answer");
  Actions out;
  if (o.synchronous_standby_names != s.synchronous_standby_names) {
    LocalAction a = act(LocalActionKind::kSetSyncNames,
                        "synchronous_standby_names must be '" + s.synchronous_standby_names + "'");
    a.sync_names = s.synchronous_standby_names;
    out.push_back(std::move(a));
  }
  if (o.role == PgRole::kReplica) {
    // The names go first so the new primary's first commit already waits
    // for its synchronous standbys.
    out.push_back(act(LocalActionKind::kPromote,
                      "chosen as primary (epoch " + std::to_string(s.epoch) + ")"));
    return out;
  }
  if (o.fenced) out.push_back(act(LocalActionKind::kUnfence, "still the primary: accept writes"));
  if (out.empty()) return nothing("primary");
  return out;
}

Actions as_replica(const LocalInput& in, const MemberTarget& t, const std::string& address) {
  const Observation& o = in.local;
  const std::string& up = t.follow;
  if (o.role == PgRole::kUninitialized) {
    return {from(LocalActionKind::kBasebackup, up, address, "no data: clone from " + up),
            from(LocalActionKind::kFollow, up, address, "stream from " + up),
            act(LocalActionKind::kStart, "start the new replica")};
  }
  if (o.role == PgRole::kPrimary) {
    return {act(LocalActionKind::kFence, up + " is the primary: refuse writes now"),
            from(LocalActionKind::kDemote, up, address, "become a replica of " + up)};
  }
  if (down(o)) {
    return {from(LocalActionKind::kFollow, up, address, "stream from " + up),
            act(LocalActionKind::kStart, "the replica is not running")};
  }
  if (running_unknown(o)) return nothing("waiting for PostgreSQL to answer");
  if (o.upstream != up) {
    return {from(LocalActionKind::kFollow, up, address,
                 "repoint from " + (o.upstream.empty() ? std::string("nothing") : o.upstream) +
                     " to " + up)};
  }
  if (!o.streaming) return nothing("waiting to stream from " + up);
  return nothing("streaming from " + up);
}

Actions as_fenced(const LocalInput& in) {
  const Observation& o = in.local;
  if (running_unknown(o)) {
    return {act(LocalActionKind::kStop, "must refuse writes but cannot be queried: stop it")};
  }
  if (o.role == PgRole::kPrimary && !o.fenced) {
    return {act(LocalActionKind::kFence, "the primary is being replaced: refuse writes")};
  }
  return nothing("not accepting writes; waiting for the handover");
}

Actions as_rewind(const LocalInput& in, const MemberTarget& t, const std::string& address) {
  const Observation& o = in.local;
  const std::string& up = t.follow;
  if (o.role == PgRole::kPrimary && o.pg_running) {
    Actions out;
    if (!o.fenced)
      out.push_back(act(LocalActionKind::kFence, up + " is the primary: refuse writes"));
    out.push_back(act(LocalActionKind::kStop, "stop before pg_rewind from " + up));
    return out;
  }
  if (o.role == PgRole::kReplica && o.pg_running) {
    if (o.upstream == up && o.streaming && !o.diverged) {
      return nothing("streaming from " + up + "; the coordinator will mark it a replica");
    }
    return {act(LocalActionKind::kStop, "stop before pg_rewind from " + up)};
  }
  if (running_unknown(o)) return {act(LocalActionKind::kStop, "stop before pg_rewind from " + up)};
  if (o.role == PgRole::kUninitialized) {
    return {from(LocalActionKind::kBasebackup, up, address, "no data: clone from " + up),
            from(LocalActionKind::kFollow, up, address, "stream from " + up),
            act(LocalActionKind::kStart, "start the new replica")};
  }
  if (o.rewind_failed)
    return nothing("pg_rewind failed; waiting for the coordinator to order a clone");
  return {from(LocalActionKind::kRewind, up, address, "rejoin " + up + "'s timeline"),
          from(LocalActionKind::kFollow, up, address, "stream from " + up),
          act(LocalActionKind::kStart, "start as a replica of " + up)};
}

Actions as_clone(const LocalInput& in, const MemberTarget& t, const std::string& address) {
  const Observation& o = in.local;
  if (o.pg_running) return {act(LocalActionKind::kStop, "stop before cloning from " + t.follow)};
  return {from(LocalActionKind::kBasebackup, t.follow, address, "clone afresh from " + t.follow),
          from(LocalActionKind::kFollow, t.follow, address, "stream from " + t.follow),
          act(LocalActionKind::kStart, "start the new replica")};
}

}  // namespace

std::vector<LocalAction> reconcile_local(const LocalInput& in) {
  if (!in.status) {
    return nothing(in.store_reachable ? "no cluster status yet: waiting for the coordinator"
                                      : "store unreachable and no cluster status known");
  }
  if ((in.desired && in.desired->paused) || in.status->state == ClusterState::kPaused) {
    return nothing("paused: observing only");
  }
  if (!in.store_reachable) return failsafe(in);
  auto it = in.status->targets.find(in.self);
  if (it == in.status->targets.end()) {
    const Observation& o = in.local;
    if (o.role == PgRole::kPrimary && o.pg_running && !o.fenced) {
      return {act(LocalActionKind::kFence, "not a member of the desired state: refuse writes")};
    }
    return nothing("not a member of the desired state");
  }
  const MemberTarget& t = it->second;
  std::string address;
  if (!t.follow.empty()) {
    auto up = in.status->targets.find(t.follow);
    if (up != in.status->targets.end()) address = up->second.pg_address;
  }
  if (t.role != TargetRole::kPrimary && t.role != TargetRole::kFenced) {
    if (t.follow.empty() || t.follow == in.self) return nothing("no primary to follow yet");
    if (address.empty()) return nothing("waiting to learn " + t.follow + "'s address");
  }
  switch (t.role) {
    case TargetRole::kPrimary:
      return as_primary(in);
    case TargetRole::kReplica:
      return as_replica(in, t, address);
    case TargetRole::kFenced:
      return as_fenced(in);
    case TargetRole::kRewindNeeded:
      return as_rewind(in, t, address);
    case TargetRole::kCloneNeeded:
      return as_clone(in, t, address);
  }
  return nothing("unknown target");
}

bool confirm_primary(std::string_view asker, uint64_t asker_epoch,
                     const std::optional<ClusterStatus>& my_status, bool my_store_reachable,
                     bool asker_key_present, const Observation& my_local) {
  if (!my_status || my_status->primary != asker || my_status->epoch != asker_epoch) return false;
  if (my_status->handover && my_status->handover->from == asker) return false;
  if (my_local.role == PgRole::kPrimary) return false;
  return !my_store_reachable || asker_key_present;
}

std::string_view name_of(LocalActionKind k) {
  static constexpr std::string_view kNames[] = {
      "none",   "initdb", "basebackup",     "start", "stop",    "promote",
      "follow", "rewind", "set-sync-names", "fence", "unfence", "demote"};
  return kNames[static_cast<int>(k)];
}

}  // namespace pgha
