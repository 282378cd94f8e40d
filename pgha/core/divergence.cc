// divergence(): does a replica's history still lead into the primary's?
// Pure; see reconcile.h.
#include <algorithm>

#include "pgha/core/reconcile.h"

namespace pgha {

namespace {

const TimelineSwitch* ancestor(const std::vector<TimelineSwitch>& history, uint32_t timeline) {
  auto it = std::find_if(history.begin(), history.end(),
                         [&](const TimelineSwitch& sw) { return sw.timeline == timeline; });
  return it == history.end() ? nullptr : &*it;
}

std::string tl(uint32_t timeline) {
  return "timeline " + std::to_string(timeline);
}

}  // namespace

std::string divergence(const Observation& replica, const Observation& primary) {
  if (replica.role != PgRole::kReplica || primary.role != PgRole::kPrimary) return "";
  if (replica.health != PgHealth::kOk || primary.health != PgHealth::kOk) return "";
  const uint32_t r = replica.timeline;
  const uint32_t p = primary.timeline;
  if (r == 0 || p == 0) return "";
  if (r > p) {
    return "it is on " + tl(r) + ", above the primary's " + tl(p) + " (it was promoted on its own)";
  }
  // From here the primary's ancestors are needed; unknown past timeline 1
  // means no verdict (never a rewind on a guess).
  if (p > 1 && primary.timeline_history.empty()) return "";
  // Ancestors both know must have ended at the same place: the same
  // timeline id created by two different promotions is a fork.
  for (const auto& mine : replica.timeline_history) {
    const TimelineSwitch* theirs = ancestor(primary.timeline_history, mine.timeline);
    if (!theirs) {
      return "its ancestor " + tl(mine.timeline) + " is not in the primary's history";
    }
    if (theirs->end_lsn != mine.end_lsn) {
      return tl(mine.timeline) + " ended at " + format_lsn(mine.end_lsn) + " here but at " +
             format_lsn(theirs->end_lsn) + " on the primary (a fork)";
    }
  }
  if (r == p) {
    // Same timeline id: a fork shows in the ancestors (checked above) only
    // when the replica's are known.
    if (r > 1 && replica.timeline_history.empty()) return "";
    if (replica.timeline_history != primary.timeline_history) {
      return "its history of " + tl(r) + " differs from the primary's (a fork)";
    }
    return "";
  }
  const TimelineSwitch* sw = ancestor(primary.timeline_history, r);
  if (!sw) return tl(r) + " is not in the primary's history (a fork)";
  const Lsn pos = replica.replay_lsn;
  if (pos > sw->end_lsn) {
    return "it replayed " + tl(r) + " to " + format_lsn(pos) + ", past " + format_lsn(sw->end_lsn) +
           " where the primary's history left it";
  }
  return "";
}

}  // namespace pgha
