// Internal to pgha/core: the working state of one reconcile_cluster run and
// the helpers its steps share (reconcile_cluster.cc, reconcile_handover.cc,
// reconcile_sync.cc).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pgha/core/reconcile.h"

namespace pgha::detail {

struct Run {
  std::string_view cluster;
  const Desired& desired;
  TimeMs now;
  // Observations of desired members that are present and fresh.
  std::map<std::string, const Observation*> live;
  ClusterStatus s;  // being decided, starts as the previous status
  std::vector<Event> events;
  std::vector<std::string> reasons;
  std::string blocked;  // becomes s.blocked at the end

  const Observation* obs(const std::string& member) const {
    auto it = live.find(member);
    return it == live.end() ? nullptr : it->second;
  }
  void event(std::string_view kind, std::string member, std::string message) {
    events.push_back(Event{std::string(cluster), std::string(kind), std::move(member),
                           std::move(message), now, 0});
  }
  void block(std::string why) {
    if (blocked.empty()) blocked = std::move(why);
  }
};

// PostgreSQL answers and is a primary or a replica.
bool serving(const Observation& o);
bool serving_primary(const Observation& o);
bool serving_replica(const Observation& o);
// One phrase for why a member is not serving ("agent lease gone", ...).
// detail=false leaves out what varies from loop to loop (the last error),
// for text kept in the status: a reason that changed every loop would be a
// status write and an event every loop.
std::string unhealth(const Observation* o, bool detail = true);

// How far `o` is behind the newest known primary position, in bytes.
uint64_t lag_bytes(const Run& r, const Observation& o);
// Newest known primary position: the status' and the live primary's.
Lsn reference_lsn(const Run& r);

struct Choice {
  std::string member;                // "" = nobody eligible
  std::vector<std::string> why_not;  // "b: nofailover", "c: lag 20971520 bytes > 16777216"
  // The same without figures that move every loop ("c: lag above maxLagBytes").
  std::vector<std::string> why_not_stable;
  // "no eligible candidate: b: ...; c: ..."
  std::string summary(bool stable = false) const;
};

// The best member to promote instead of `from`: a serving replica, allowed
// to fail over, within max_lag_bytes, that holds every acknowledged
// synchronous commit; highest received LSN, then priority, then name.
// `only`: consider just this member (an operator's target). require_sync:
// only members of the synchronous guarantee (a failover; a switchover
// catches its target up instead).
Choice choose_candidate(const Run& r, const std::string& from, const std::string& only,
                        bool require_sync);
// Enough of the synchronous standbys answer to be sure one of them has every
// acknowledged commit; else why not.
bool sync_quorum_reachable(const Run& r, std::string* why_not);

// Members in the store (fresh) are a majority of the desired members.
bool majority_live(const Run& r, std::string* why_not);
// Enough members are in the store that the old primary cannot still hold a
// failsafe majority: ceil(members / 2) (see reconcile_cluster.cc).
bool failover_quorum_live(const Run& r, std::string* why_not);

// Steps (each in its own file).
void advance_handover(Run& r);                // reconcile_handover.cc
bool detect_primary_failure(Run& r);          // reconcile_handover.cc
void start_requested_handover(Run& r);        // reconcile_handover.cc
void promote(Run& r, const std::string& to);  // reconcile_handover.cc
void update_sync(Run& r);                     // reconcile_sync.cc

}  // namespace pgha::detail
