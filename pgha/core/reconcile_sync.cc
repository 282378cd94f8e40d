// Synchronous standbys. Two things are kept apart:
//   - what the primary should run with (synchronous_standby_names, from
//     sync_wanted), chosen among healthy streaming standbys;
//   - what every acknowledged commit is known to be on (status.sync), which
//     decides who may be promoted without losing an acknowledged commit.
// The second moves only on evidence: while the primary still runs the old
// names, acknowledgements follow either list, so the guarantee is their
// union (with the smaller count); once the primary runs the new names and n
// of the new standbys reached the primary's position at that moment, they
// alone carry it. So a standby replacing a lost one counts only after it
// has everything that was acknowledged before (Patroni's /sync key rule).
#include <algorithm>

#include "pgha/core/reconcile_internal.h"

namespace pgha {

std::string sync_names_text(ReplicationMode mode, uint32_t n,
                            const std::vector<std::string>& names) {
  if (mode == ReplicationMode::kAsync || n == 0 || names.empty()) return "";
  std::string list;
  for (const auto& name : names) list += (list.empty() ? "\"" : ",\"") + name + "\"";
  return std::string(mode == ReplicationMode::kSync ? "FIRST " : "ANY ") + std::to_string(n) +
         " (" + list + ")";
}

namespace detail {

namespace {

std::string list_text(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ",") + n;
  return s;
}

// Serving replicas streaming from the primary within the lag limit, best
// first (priority, then position, then name).
std::vector<std::string> healthy_standbys(const Run& r) {
  struct H {
    int32_t priority;
    Lsn pos;
    std::string name;
  };
  std::vector<H> hs;
  for (const auto& m : r.desired.members) {
    if (m.name == r.s.primary) continue;
    const Observation* o = r.obs(m.name);
    auto t = r.s.targets.find(m.name);
    if (!o || !serving_replica(*o) || !o->streaming || o->upstream != r.s.primary) continue;
    if (t == r.s.targets.end() || t->second.role != TargetRole::kReplica) continue;
    if (lag_bytes(r, *o) > r.desired.max_lag_bytes) continue;
    hs.push_back({m.priority, position_of(*o), m.name});
  }
  std::sort(hs.begin(), hs.end(), [](const H& a, const H& b) {
    if (a.priority != b.priority) return a.priority > b.priority;
    if (a.pos != b.pos) return a.pos > b.pos;
    return a.name < b.name;
  });
  std::vector<std::string> names;
  for (auto& h : hs) names.push_back(std::move(h.name));
  return names;
}

struct Wanted {
  std::vector<std::string> names;
  uint32_t n = 0;
  bool degraded = false;
};

Wanted choose_sync(Run& r, const std::vector<std::string>& healthy) {
  const Desired& d = r.desired;
  bool strict = d.sync_fallback == SyncFallback::kStrict;
  Wanted w;
  if (d.mode == ReplicationMode::kSync) {
    w.n = 1;
    const auto& cur = r.s.sync_wanted;
    bool keep = cur.size() == 1 && std::count(healthy.begin(), healthy.end(), cur[0]);
    if (keep) {
      w.names = cur;
    } else if (!healthy.empty()) {
      w.names = {healthy.front()};
    } else if (strict) {
      // Nobody can confirm commits: keep naming one so commits wait.
      if (cur.size() == 1 && cur[0] != r.s.primary && find_member(d, cur[0])) {
        w.names = cur;
      } else {
        // Prefer a member whose agent is up and that is meant to replicate
        // (not one being rewound): the likeliest to confirm commits soon.
        const DesiredMember* best = nullptr;
        auto rank = [&](const DesiredMember& m) {
          auto t = r.s.targets.find(m.name);
          bool replica = t != r.s.targets.end() && t->second.role == TargetRole::kReplica;
          return std::make_tuple(r.obs(m.name) != nullptr, replica, m.priority);
        };
        for (const auto& m : d.members) {
          if (m.name != r.s.primary && (!best || rank(m) > rank(*best))) best = &m;
        }
        w.names = {best->name};
      }
      r.reasons.push_back("sync (strict): no healthy standby; commits wait for " + w.names[0]);
    } else {
      w = {{}, 0, true};
    }
    return w;
  }
  // Quorum: every other member, ANY n of them; degrade lowers n to what streams.
  for (const auto& m : d.members) {
    if (m.name != r.s.primary) w.names.push_back(m.name);
  }
  w.n = d.quorum_n;
  if (healthy.size() < d.quorum_n) {
    if (strict) {
      r.reasons.push_back("quorum (strict): " + std::to_string(healthy.size()) + " of " +
                          std::to_string(d.quorum_n) + " standbys stream; commits wait");
    } else {
      w.names = healthy;
      std::sort(w.names.begin(), w.names.end());
      w.n = static_cast<uint32_t>(healthy.size());
      w.degraded = true;
    }
  }
  return w;
}

std::vector<std::string> union_of(const std::vector<std::string>& a,
                                  const std::vector<std::string>& b) {
  std::vector<std::string> u;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(u));
  return u;
}

// Move the guarantee on the primary's evidence (see the file comment).
void update_guarantee(Run& r, const Wanted& w, const std::string& text) {
  ClusterStatus& s = r.s;
  const Observation* p = r.obs(s.primary);
  if (!p || !serving_primary(*p)) return;
  if (p->synchronous_standby_names != text) {
    if (!s.sync.names.empty() && w.n > 0) {
      s.sync.names = union_of(s.sync.names, w.names);
      s.sync.n = std::min(s.sync.n, w.n);
    }
    r.reasons.push_back("sync: waiting for " + s.primary + " to run synchronous_standby_names = '" +
                        text + "'");
    return;
  }
  if (s.sync.names == w.names && s.sync.n == w.n) return;
  if (s.sync_catchup_lsn == 0) s.sync_catchup_lsn = std::max<Lsn>(p->flush_lsn, 1);
  // No guarantee before (async acknowledgements) or none after: nothing to carry over.
  if (s.sync.names.empty() || w.n == 0) {
    s.sync = {w.names, w.n};
    return;
  }
  uint32_t caught = 0;
  for (const auto& name : w.names) {
    const Observation* o = r.obs(name);
    if (o && position_of(*o) >= s.sync_catchup_lsn) ++caught;
  }
  if (caught >= w.n) {
    s.sync = {w.names, w.n};
  } else {
    r.reasons.push_back("sync: " + list_text(w.names) + " count as synchronous once " +
                        std::to_string(w.n) + " of them reached " + format_lsn(s.sync_catchup_lsn));
  }
}

}  // namespace

void update_sync(Run& r) {
  ClusterStatus& s = r.s;
  if (r.desired.mode == ReplicationMode::kAsync) {
    s.sync_wanted.clear();
    s.synchronous_standby_names.clear();
    s.sync = {};
    s.sync_catchup_lsn = 0;
    s.sync_degraded = false;
    return;
  }
  Wanted w = choose_sync(r, healthy_standbys(r));
  std::string text = sync_names_text(r.desired.mode, w.n, w.names);
  if (w.names != s.sync_wanted || text != s.synchronous_standby_names) {
    r.event(kEventSyncStandbyChange, w.names.empty() ? "" : w.names.front(),
            "synchronous standbys: " + list_text(w.names) + " (was " + list_text(s.sync_wanted) +
                "): '" + text + "'");
    s.sync_catchup_lsn = 0;
  }
  if (w.degraded != s.sync_degraded) {
    if (w.degraded) {
      r.event(kEventSyncDegraded, "",
              "too few healthy standbys: commits are acknowledged with " +
                  (w.n == 0 ? std::string("no synchronous standby (async)")
                            : std::to_string(w.n) + " synchronous standbys") +
                  " (syncFallback degrade)");
    } else {
      r.event(kEventSyncRestored, "", "synchronous replication restored: '" + text + "'");
    }
  }
  s.sync_wanted = w.names;
  s.synchronous_standby_names = text;
  s.sync_degraded = w.degraded;
  // While a new primary is being promoted the guarantee of the old one's
  // commits stands: it decides the next choice if this one fails.
  if (s.handover && s.handover->phase == HandoverPhase::kPromoting) return;
  update_guarantee(r, w, text);
}

}  // namespace detail
}  // namespace pgha
