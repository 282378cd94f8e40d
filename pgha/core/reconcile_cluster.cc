// reconcile_cluster: the coordinator's decision. Works on a copy of the
// previous status, in steps (Stolon's updateCluster): pause, bootstrap,
// the handover in progress, failure detection, requested handovers, replica
// targets, synchronous standbys, health, cluster state. See docs/DESIGN.md.
#include <algorithm>

#include "pgha/core/reconcile_internal.h"

namespace pgha {

namespace detail {

bool serving(const Observation& o) {
  return o.health == PgHealth::kOk && o.pg_running &&
         (o.role == PgRole::kPrimary || o.role == PgRole::kReplica);
}
bool serving_primary(const Observation& o) {
  return serving(o) && o.role == PgRole::kPrimary;
}
bool serving_replica(const Observation& o) {
  return serving(o) && o.role == PgRole::kReplica;
}

std::string unhealth(const Observation* o, bool detail) {
  if (!o) return "agent lease gone";
  if (o->health == PgHealth::kUnreachable) return "PostgreSQL unreachable";
  if (o->health == PgHealth::kQueryFailed) {
    return "PostgreSQL query failed" +
           (o->last_error.empty() || !detail ? "" : ": " + o->last_error);
  }
  if (o->role == PgRole::kUninitialized) return "PostgreSQL is uninitialized (no data yet)";
  if (!o->pg_running) return "PostgreSQL not running";
  return "PostgreSQL is " + std::string(name_of(o->role));
}

Lsn reference_lsn(const Run& r) {
  Lsn ref = r.s.primary_lsn;
  if (const Observation* p = r.obs(r.s.primary); p && p->role == PgRole::kPrimary) {
    ref = std::max(ref, p->flush_lsn);
  }
  return ref;
}

uint64_t lag_bytes(const Run& r, const Observation& o) {
  Lsn ref = reference_lsn(r);
  Lsn pos = position_of(o);
  return ref > pos ? ref - pos : 0;
}

bool majority_live(const Run& r, std::string* why_not) {
  size_t members = r.desired.members.size();
  size_t need = members / 2 + 1;
  if (r.live.size() >= need) return true;
  if (why_not) {
    *why_not = "only " + std::to_string(r.live.size()) + " of " + std::to_string(members) +
               " members are in the store (need " + std::to_string(need) + ")";
  }
  return false;
}

// An old primary cut off from the store keeps serving only while a majority
// of the members (itself included) confirm it, and a member in the store
// does not confirm a primary whose key is gone. So the old primary's
// possible majority is itself plus the members NOT in the store: a failover
// is safe once those are fewer than a majority, i.e. once at least
// members - majority + 1 = ceil(members / 2) members are in the store (2 of
// 3, 3 of 5, and 1 of 2: a two-member cluster can fail over).
bool failover_quorum_live(const Run& r, std::string* why_not) {
  size_t members = r.desired.members.size();
  size_t need = members - members / 2;
  if (r.live.size() >= need) return true;
  if (why_not) {
    *why_not = "only " + std::to_string(r.live.size()) + " of " + std::to_string(members) +
               " members are in the store (need " + std::to_string(need) +
               "): the others could still confirm an isolated primary";
  }
  return false;
}

bool sync_quorum_reachable(const Run& r, std::string* why_not) {
  const SyncGuarantee& g = r.s.sync;
  if (g.names.empty() || g.n == 0) return true;  // asynchronous: nothing promised
  size_t need = g.names.size() - g.n + 1;
  size_t answering = 0;
  for (const auto& name : g.names) {
    const Observation* o = r.obs(name);
    if (o && serving(*o) && name != r.s.primary) ++answering;
  }
  if (answering >= need) return true;
  if (why_not) {
    std::string list;
    for (const auto& n : g.names) list += (list.empty() ? "" : ",") + n;
    *why_not = "only " + std::to_string(answering) + " of the synchronous standbys {" + list +
               "} answer; " + std::to_string(need) +
               " are needed to be sure of every acknowledged commit";
  }
  return false;
}

std::string Choice::summary(bool stable) const {
  const auto& why = stable ? why_not_stable : why_not;
  std::string s = "no eligible candidate";
  for (size_t i = 0; i < why.size(); ++i) s += (i ? "; " : ": ") + why[i];
  return s;
}

Choice choose_candidate(const Run& r, const std::string& from, const std::string& only,
                        bool require_sync) {
  Choice c;
  const bool need_sync = require_sync && !r.s.sync.names.empty() && r.s.sync.n > 0;
  struct Eligible {
    Lsn pos;
    int32_t priority;
    std::string name;
  };
  std::vector<Eligible> eligible;
  for (const auto& m : r.desired.members) {
    if (m.name == from) continue;
    if (!only.empty() && m.name != only) continue;
    const Observation* o = r.obs(m.name);
    std::string why;
    std::string why_stable;
    if (m.nofailover) {
      why = "nofailover";
    } else if (!o || !serving(*o)) {
      why = unhealth(o);
      why_stable = unhealth(o, false);
    } else if (o->role != PgRole::kReplica) {
      why = "not a replica";
    } else if (o->diverged) {
      why = "diverged from the primary's history";
    } else if (uint64_t lag = lag_bytes(r, *o); lag > r.desired.max_lag_bytes) {
      why = "lag " + std::to_string(lag) + " bytes > " + std::to_string(r.desired.max_lag_bytes);
      why_stable = "lag above maxLagBytes (" + std::to_string(r.desired.max_lag_bytes) + ")";
    } else if (need_sync &&
               !std::binary_search(r.s.sync.names.begin(), r.s.sync.names.end(), m.name)) {
      why = "not a synchronous standby";
    }
    if (!why.empty()) {
      c.why_not.push_back(m.name + ": " + why);
      c.why_not_stable.push_back(m.name + ": " + (why_stable.empty() ? why : why_stable));
      continue;
    }
    eligible.push_back({position_of(*o), m.priority, m.name});
  }
  if (!only.empty() && eligible.empty() && c.why_not.empty()) {
    c.why_not.push_back(only + ": is the current primary");
    c.why_not_stable = c.why_not;
  }
  if (eligible.empty()) return c;
  std::sort(eligible.begin(), eligible.end(), [](const Eligible& a, const Eligible& b) {
    if (a.pos != b.pos) return a.pos > b.pos;
    if (a.priority != b.priority) return a.priority > b.priority;
    return a.name < b.name;
  });
  c.member = eligible.front().name;
  return c;
}

}  // namespace detail

namespace {

using detail::Run;
using detail::serving;
using detail::serving_primary;
using detail::serving_replica;

void collect_live(Run& r, const std::map<std::string, Observation>& observed) {
  for (const auto& m : r.desired.members) {
    auto it = observed.find(m.name);
    if (it == observed.end()) continue;
    const Observation& o = it->second;
    if (r.desired.member_stale_ms > 0 && r.now - o.observed_at_ms > r.desired.member_stale_ms) {
      continue;
    }
    r.live[m.name] = &o;
  }
}

bool has_data(const Observation& o) {
  return o.role == PgRole::kPrimary || o.role == PgRole::kReplica ||
         (o.role == PgRole::kStopped && o.timeline > 0);
}

// No primary chosen yet. Adopt existing data if any member has some (the
// newest: a running primary first, then timeline, then position); else the
// intended primary, else the highest priority live member, once a majority
// of the members' agents are in the store (so the first agent up does not
// win by being first).
void bootstrap(Run& r) {
  const Observation* adopt = nullptr;
  for (const auto& [name, o] : r.live) {
    if (!has_data(*o) || find_member(r.desired, name)->nofailover) continue;
    auto key = [](const Observation* x) {
      return std::make_tuple(x->role == PgRole::kPrimary, x->timeline, position_of(*x));
    };
    if (!adopt || key(o) > key(adopt)) adopt = o;
  }
  std::string chosen;
  std::string how;
  if (adopt) {
    chosen = adopt->member;
    how = "adopting its existing data (timeline " + std::to_string(adopt->timeline) + ")";
  } else if (!r.desired.primary.empty()) {
    if (!r.obs(r.desired.primary)) {
      return r.block("bootstrap: waiting for the intended primary " + r.desired.primary +
                     " to register");
    }
    chosen = r.desired.primary;
    how = "the intended primary (initdb)";
  } else {
    std::string why;
    if (!detail::majority_live(r, &why)) return r.block("bootstrap: waiting: " + why);
    const DesiredMember* best = nullptr;
    for (const auto& m : r.desired.members) {
      if (m.nofailover || !r.obs(m.name)) continue;
      if (!best || m.priority > best->priority) best = &m;
    }
    if (!best) return r.block("bootstrap: no member that may be primary has registered");
    chosen = best->name;
    how = "the highest priority member (initdb)";
  }
  r.s.primary = chosen;
  r.s.epoch += 1;
  r.event(kEventBootstrap, chosen, chosen + " will be the primary: " + how);
}

// Provisioning ends when the chosen primary serves writes: its timeline
// becomes the floor every later primary must exceed.
void confirm_bootstrap(Run& r) {
  const Observation* p = r.obs(r.s.primary);
  if (!p || !serving_primary(*p) || p->timeline == 0) {
    return r.block("bootstrap: waiting for " + r.s.primary + " to run as primary");
  }
  r.s.timeline = p->timeline;
  r.event(kEventBootstrap, r.s.primary,
          r.s.primary + " is primary on timeline " + std::to_string(p->timeline));
}

// Every member but the primary follows the primary. Members that were or
// became a primary on their own, or whose history forked, are rewound; a
// failed rewind becomes a fresh clone. Rewind/clone targets stay until the
// member streams from the primary again.
void set_replica_targets(Run& r) {
  for (auto it = r.s.targets.begin(); it != r.s.targets.end();) {
    it = find_member(r.desired, it->first) ? std::next(it) : r.s.targets.erase(it);
  }
  for (const auto& m : r.desired.members) {
    MemberTarget& t = r.s.targets[m.name];
    const Observation* o = r.obs(m.name);
    if (o && !o->pg_address.empty()) t.pg_address = o->pg_address;
    if (m.name == r.s.primary) {
      // During a handover the steps above own the old and new primary's targets.
      if (!r.s.handover) t = {TargetRole::kPrimary, "", t.pg_address};
      continue;
    }
    if (r.s.handover && m.name == r.s.handover->from) continue;
    t.follow = r.s.primary;
    if (!o) continue;  // keep its last target until its agent returns
    // Judged here too, not only by its agent: both observations are at hand.
    const Observation* primary = r.obs(r.s.primary);
    std::string forked = primary ? divergence(*o, *primary) : "";
    if (forked.empty() && o->diverged) forked = "its agent found its history forked";
    const bool diverged = !forked.empty();
    bool streams_from_primary =
        serving_replica(*o) && o->upstream == r.s.primary && o->streaming && !diverged;
    if (o->rewind_failed && t.role != TargetRole::kCloneNeeded) {
      t.role = TargetRole::kCloneNeeded;
      r.event(kEventClone, m.name,
              m.name + ": pg_rewind failed, cloning afresh from " + r.s.primary);
    } else if (t.role == TargetRole::kRewindNeeded || t.role == TargetRole::kCloneNeeded) {
      if (streams_from_primary && !o->rewind_failed) t.role = TargetRole::kReplica;
    } else if (o->role == PgRole::kPrimary) {
      t.role = TargetRole::kRewindNeeded;
      r.event(kEventFence, m.name,
              m.name + " runs as a primary but " + r.s.primary +
                  " is the primary: fence it, then rewind it to follow " + r.s.primary);
    } else if (diverged) {
      t.role = TargetRole::kRewindNeeded;
      r.event(kEventRewind, m.name,
              m.name + " diverged from " + r.s.primary + "'s history (" + forked + "): rewind it");
    } else {
      t.role = TargetRole::kReplica;
    }
  }
}

void update_health(Run& r) {
  if (r.s.timeline == 0) return;  // provisioning: members are still arriving
  for (const auto& m : r.desired.members) {
    const Observation* o = r.obs(m.name);
    bool ok = o && serving(*o);
    auto it = r.s.unhealthy_since_ms.find(m.name);
    if (!ok && it == r.s.unhealthy_since_ms.end()) {
      r.s.unhealthy_since_ms[m.name] = r.now;
      r.event(kEventHealthFailure, m.name, m.name + ": " + detail::unhealth(o));
    } else if (ok && it != r.s.unhealthy_since_ms.end()) {
      r.s.unhealthy_since_ms.erase(it);
      r.event(kEventHealthRecovered, m.name, m.name + " is serving again");
    }
  }
  for (auto it = r.s.unhealthy_since_ms.begin(); it != r.s.unhealthy_since_ms.end();) {
    it = find_member(r.desired, it->first) ? std::next(it) : r.s.unhealthy_since_ms.erase(it);
  }
}

void set_state(Run& r) {
  ClusterStatus& s = r.s;
  if (s.handover) {
    s.state = ClusterState::kFailingOver;
    r.reasons.push_back(std::string(name_of(s.handover->kind)) + " from " + s.handover->from +
                        " to " + (s.handover->to.empty() ? "(choosing)" : s.handover->to) + ": " +
                        std::string(name_of(s.handover->phase)));
    return;
  }
  if (s.timeline == 0) {
    s.state = ClusterState::kProvisioning;
    r.reasons.push_back("provisioning" + (s.primary.empty() ? "" : ": primary " + s.primary));
    return;
  }
  std::vector<std::string> problems;
  for (const auto& m : r.desired.members) {
    const Observation* o = r.obs(m.name);
    const MemberTarget& t = s.targets[m.name];
    if (m.name == s.primary) {
      if (!o || !serving_primary(*o)) problems.push_back(m.name + ": " + detail::unhealth(o));
    } else if (!o || !serving_replica(*o)) {
      problems.push_back(m.name + ": " + detail::unhealth(o));
    } else if (t.role != TargetRole::kReplica) {
      problems.push_back(m.name + ": " + std::string(name_of(t.role)));
    } else if (!o->streaming || o->upstream != s.primary) {
      problems.push_back(m.name + ": not streaming from " + s.primary);
    }
  }
  if (s.sync_degraded) problems.push_back("synchronous replication degraded");
  if (problems.empty()) {
    s.state = ClusterState::kHealthy;
    r.reasons.push_back("healthy: primary " + s.primary + ", " +
                        std::to_string(r.desired.members.size() - 1) + " replicas streaming");
    return;
  }
  s.state = ClusterState::kDegraded;
  std::string line = "degraded";
  for (size_t i = 0; i < problems.size(); ++i) line += (i ? "; " : ": ") + problems[i];
  r.reasons.push_back(line);
}

// The status without the fields that move on their own (timestamps, the
// primary's position), to tell a decision from bookkeeping.
std::string decision_text(ClusterStatus s) {
  s.updated_at_ms = 0;
  s.primary_lsn = 0;
  return to_json(s);
}

}  // namespace

namespace {

// A desired state that drops the current primary cannot take effect at
// once: the primary would lose its target and keep serving unmanaged while
// another is promoted. It stays a member until a switchover moves the
// primary away (changectl refuses such an edit up front).
Desired effective_desired(const Desired& desired, const std::optional<ClusterStatus>& previous,
                          std::string* kept) {
  if (!previous || previous->primary.empty() || find_member(desired, previous->primary)) {
    return desired;
  }
  Desired d = desired;
  d.members.push_back({previous->primary, DesiredMember{}.priority, false});
  std::sort(d.members.begin(), d.members.end(),
            [](const DesiredMember& a, const DesiredMember& b) { return a.name < b.name; });
  *kept = previous->primary;
  return d;
}

}  // namespace

ClusterDecision reconcile_cluster(std::string_view cluster, const Desired& desired_in,
                                  const std::map<std::string, Observation>& observed,
                                  const std::optional<ClusterStatus>& previous, TimeMs now) {
  std::string kept;
  const Desired desired = effective_desired(desired_in, previous, &kept);
  Run r{cluster, desired, now, {}, previous.value_or(ClusterStatus{}), {}, {}, {}};
  collect_live(r, observed);

  if (desired.paused) {
    if (r.s.state != ClusterState::kPaused) {
      r.event(kEventPause, "", "paused: pgha observes only; no failover, no switchover");
    }
    r.s.state = ClusterState::kPaused;
    r.reasons.push_back("paused: observing only");
    r.blocked = r.s.blocked;  // nothing decided while paused
  } else {
    if (previous && previous->state == ClusterState::kPaused) {
      r.event(kEventResume, "", "resumed: pgha manages the cluster again");
    }
    if (r.s.primary.empty()) bootstrap(r);
    if (!r.s.primary.empty() && r.s.timeline == 0 && !r.s.handover) confirm_bootstrap(r);
    if (r.s.timeline > 0) {
      if (r.s.handover) detail::advance_handover(r);
      if (!r.s.handover && !detail::detect_primary_failure(r)) detail::start_requested_handover(r);
    }
    if (!r.s.primary.empty()) {
      set_replica_targets(r);
      detail::update_sync(r);
    }
    update_health(r);
    set_state(r);
  }
  if (!kept.empty()) {
    r.block("the desired state drops " + kept +
            ", the primary: it stays a member until a switchover moves the primary "
            "(changectl pgha switchover --to MEMBER)");
  }
  if (r.blocked != r.s.blocked) {
    if (!r.blocked.empty()) r.event(kEventBlocked, "", r.blocked);
    r.s.blocked = r.blocked;
  }
  if (!r.s.blocked.empty()) r.reasons.push_back(r.s.blocked);

  ClusterDecision out;
  Lsn ref = detail::reference_lsn(r);
  bool changed = !previous || decision_text(r.s) != decision_text(*previous);
  // The primary's position is recorded with decisions, and on its own only
  // when it moved a quarter of max_lag_bytes and the status is
  // kPrimaryLsnIntervalMs old: enough to judge lag after the primary is gone
  // (while it lives its own position is used) without a status write, that
  // is a log entry, per loop under a heavy write load.
  constexpr int64_t kPrimaryLsnIntervalMs = 5000;
  bool lsn_moved = ref >= r.s.primary_lsn + desired.max_lag_bytes / 4 &&
                   now - r.s.updated_at_ms >= kPrimaryLsnIntervalMs;
  if (changed || lsn_moved) {
    r.s.primary_lsn = ref;
    changed = true;
  }
  if (changed) {
    r.s.generation = (previous ? previous->generation : 0) + 1;
    r.s.updated_at_ms = now;
  }
  for (Event& e : r.events) e.generation = r.s.generation;
  out.status = std::move(r.s);
  out.changed = changed;
  out.events = std::move(r.events);
  out.reasons = std::move(r.reasons);
  return out;
}

}  // namespace pgha
