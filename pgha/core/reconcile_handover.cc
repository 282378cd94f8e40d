// Moving the primary: failure detection, operator requests, and the phases
// of a switchover (fence -> catch up -> promote) and of a failover (wait
// until the old primary cannot accept writes -> choose -> promote). A new
// primary counts only once it is writable on a timeline above the old one.
#include <algorithm>

#include "pgha/core/reconcile_internal.h"

namespace pgha::detail {

namespace {

std::string ms_text(int64_t ms) {
  return std::to_string(ms) + " ms";
}

void end_handover(Run& r, std::string_view kind, const std::string& member, std::string message) {
  r.event(kind, member, std::move(message));
  r.s.handover.reset();
}

void abort_switchover(Run& r, const std::string& why) {
  Handover& h = *r.s.handover;
  r.s.targets[h.from].role = TargetRole::kPrimary;  // unfence: it stays the primary
  r.s.switchover_retry_at_ms = r.now + r.desired.switchover_timeout_ms;
  end_handover(r, kEventSwitchoverAborted, h.to,
               "switchover from " + h.from + " to " + h.to + " aborted: " + why + "; " + h.from +
                   " stays primary");
}

// The old primary cannot be accepting writes: it stopped, is a replica,
// refuses writes, or its agent's lease is gone long enough that it has
// demoted itself unless a majority confirmed it (and a majority is here).
bool old_primary_is_safe(const Run& r, const Observation* old, std::string* why_not) {
  if (old) {
    if (!old->pg_running || old->role == PgRole::kStopped || old->role == PgRole::kReplica ||
        old->role == PgRole::kUninitialized || old->fenced) {
      return true;
    }
    *why_not =
        "waiting for " + old->member + " to stop accepting writes (" + unhealth(old, false) + ")";
    return false;
  }
  TimeMs safe_at = r.s.primary_lost_at_ms + r.desired.failsafe_confirm_ms;
  if (r.s.primary_lost_at_ms > 0 && r.now >= safe_at) return true;
  // Constant text: a blocked reason that changed every loop would be a
  // status write and an event every loop.
  *why_not = "waiting failsafeConfirmMs (" + ms_text(r.desired.failsafe_confirm_ms) + ") after " +
             r.s.handover->from + "'s lease ended, so that an isolated " + r.s.handover->from +
             " has fenced itself";
  return false;
}

// Nobody else can take over, but the member being replaced is back (its
// agent registered; its PostgreSQL stopped or fenced, with its data): it
// holds every commit it acknowledged, so it is the primary again rather
// than a cluster without one. (A failed candidate of an earlier choice, or
// an operator failover that found no candidate, end the same way.)
bool call_off_for_returning(Run& r, const Observation* old, const std::string& why) {
  Handover& h = *r.s.handover;
  if (!old || old->diverged || old->rewind_failed || old->role == PgRole::kUninitialized) {
    return false;
  }
  r.s.primary_lost_at_ms = 0;
  r.s.targets[h.from].role = TargetRole::kPrimary;
  r.s.targets[h.from].follow.clear();
  end_handover(r, kEventFailoverAborted, h.from,
               "failover called off: " + why + "; " + h.from + " is back and stays the primary");
  return true;
}

void advance_failover_fencing(Run& r) {
  Handover& h = *r.s.handover;
  const Observation* old = r.obs(h.from);
  if (old && r.s.primary_lost_at_ms > 0) r.s.primary_lost_at_ms = 0;
  if (!old && r.s.primary_lost_at_ms == 0) r.s.primary_lost_at_ms = r.now;
  // An automatic failover that has not promoted anyone yet is called off
  // when the primary serves again (an agent that was paused came back).
  if (h.request_id.empty() && old && serving_primary(*old) && !old->fenced) {
    r.s.primary_lost_at_ms = 0;
    r.s.targets[h.from].role = TargetRole::kPrimary;
    return end_handover(r, kEventFailoverAborted, h.from,
                        "failover called off: " + h.from + " serves as primary again");
  }
  r.s.targets[h.from].role = TargetRole::kFenced;
  std::string why;
  if (!old_primary_is_safe(r, old, &why)) return r.block("failover: " + why);
  if (!failover_quorum_live(r, &why)) return r.block("failover blocked: " + why);
  if (!sync_quorum_reachable(r, &why)) {
    if (call_off_for_returning(r, old, why)) return;
    return r.block("failover blocked: " + why);
  }
  Choice c = choose_candidate(r, h.from, h.to, true);
  if (c.member.empty()) {
    if (call_off_for_returning(r, old, c.summary(true))) return;
    r.reasons.push_back("failover blocked: " + c.summary());
    return r.block("failover blocked: " + c.summary(true));
  }
  const Observation* o = r.obs(c.member);
  r.event(kEventFailoverCandidate, c.member,
          c.member + " chosen to replace " + h.from + " (received " + format_lsn(position_of(*o)) +
              ", priority " + std::to_string(find_member(r.desired, c.member)->priority) + ")");
  promote(r, c.member);
}

void advance_switchover(Run& r) {
  Handover& h = *r.s.handover;
  const Observation* old = r.obs(h.from);
  const Observation* to = r.obs(h.to);
  if (!old || !serving_primary(*old)) {
    // The primary is failing: stop the switchover; failure detection decides.
    r.s.switchover_retry_at_ms = 0;
    r.s.targets[h.from].role = TargetRole::kPrimary;
    return end_handover(r, kEventSwitchoverAborted, h.to,
                        "switchover aborted: " + h.from + ": " + unhealth(old));
  }
  if (!to || !serving_replica(*to)) return abort_switchover(r, h.to + ": " + unhealth(to));
  if (r.now - h.started_at_ms > r.desired.switchover_timeout_ms) {
    return abort_switchover(r, "not done within " + ms_text(r.desired.switchover_timeout_ms));
  }
  r.s.targets[h.from].role = TargetRole::kFenced;
  if (h.phase == HandoverPhase::kFencing) {
    if (!old->fenced) return r.block("switchover: waiting for " + h.from + " to refuse writes");
    h.fence_lsn = old->flush_lsn;
    h.phase = HandoverPhase::kCatchingUp;
    h.phase_since_ms = r.now;
  }
  if (to->replay_lsn < h.fence_lsn || to->receive_lsn < h.fence_lsn) {
    return r.block("switchover: waiting for " + h.to + " to replay up to " +
                   format_lsn(h.fence_lsn));
  }
  promote(r, h.to);
}

void advance_promoting(Run& r) {
  Handover& h = *r.s.handover;
  const Observation* to = r.obs(h.to);
  if (to && serving_primary(*to) && !to->fenced && to->timeline > r.s.timeline) {
    r.s.timeline = to->timeline;
    r.s.primary_lost_at_ms = 0;
    // Every commit acknowledged so far is on the new primary (it was chosen
    // for that), and maybe nowhere else yet: the guarantee is the new
    // primary itself until its standbys run with it and caught up to where
    // it was (update_sync). An empty guarantee would claim that earlier
    // acknowledgements were asynchronous and let a lagging standby be
    // promoted next. (The property test found this.)
    r.s.sync = {};
    if (r.desired.mode != ReplicationMode::kAsync) r.s.sync = {{h.to}, 1};
    r.s.sync_catchup_lsn = 0;
    bool switchover = h.kind == HandoverKind::kSwitchover;
    return end_handover(
        r, switchover ? kEventSwitchoverEnd : kEventFailoverEnd, h.to,
        h.to + " is primary on timeline " + std::to_string(to->timeline) + " (was " + h.from + ")");
  }
  int64_t limit_ms = h.kind == HandoverKind::kSwitchover ? r.desired.switchover_timeout_ms
                                                         : r.desired.failover_timeout_ms;
  if (r.now - h.phase_since_ms <= limit_ms) {
    std::string seen =
        !to ? unhealth(to)
            : std::string(name_of(to->role)) + " on timeline " + std::to_string(to->timeline);
    return r.block("waiting for " + h.to + " to be writable on a timeline above " +
                   std::to_string(r.s.timeline) + " (" + seen + ")");
  }
  // The candidate did not come up: it is now the failed primary, and the
  // choice starts over (it was told to promote, so it is fenced like one).
  std::string failed = h.to;
  r.event(kEventFailoverBegin, failed,
          failed + " did not become writable within " + ms_text(limit_ms) + "; choosing again");
  h.kind = HandoverKind::kFailover;
  h.from = failed;
  h.to.clear();
  h.request_id.clear();
  h.phase = HandoverPhase::kFencing;
  h.phase_since_ms = r.now;
  r.s.primary_lost_at_ms = to ? 0 : r.now;
  advance_failover_fencing(r);
}

}  // namespace

void promote(Run& r, const std::string& to) {
  Handover& h = *r.s.handover;
  MemberTarget& old = r.s.targets[h.from];
  old.role = TargetRole::kRewindNeeded;
  old.follow = to;
  r.s.primary = to;
  r.s.epoch += 1;
  MemberTarget& t = r.s.targets[to];
  t.role = TargetRole::kPrimary;
  t.follow.clear();
  h.to = to;
  h.phase = HandoverPhase::kPromoting;
  h.phase_since_ms = r.now;
  r.reasons.push_back("promote " + to + " (epoch " + std::to_string(r.s.epoch) + ")");
  advance_promoting(r);
}

void advance_handover(Run& r) {
  switch (r.s.handover->phase) {
    case HandoverPhase::kFencing:
    case HandoverPhase::kCatchingUp:
      if (r.s.handover->kind == HandoverKind::kSwitchover) return advance_switchover(r);
      return advance_failover_fencing(r);
    case HandoverPhase::kPromoting:
      return advance_promoting(r);
  }
}

bool detect_primary_failure(Run& r) {
  const Observation* p = r.obs(r.s.primary);
  std::string why;
  if (!p) {
    if (r.s.primary_lost_at_ms == 0) r.s.primary_lost_at_ms = r.now;
    why = "agent lease gone";
  } else {
    r.s.primary_lost_at_ms = 0;
    if (serving_primary(*p)) return false;
    auto it = r.s.unhealthy_since_ms.find(r.s.primary);
    TimeMs since = it == r.s.unhealthy_since_ms.end() ? r.now : it->second;
    if (r.now - since < r.desired.unhealthy_failover_ms) {
      r.block("primary " + r.s.primary + ": " + unhealth(p, false) + "; failover after " +
              ms_text(r.desired.unhealthy_failover_ms) + " unhealthy");
      return true;
    }
    why = unhealth(p) + " for " + ms_text(r.now - since);
  }
  std::string not_majority;
  if (!failover_quorum_live(r, &not_majority)) {
    r.block("failover blocked: " + not_majority);
    return true;
  }
  r.s.handover = Handover{
      HandoverKind::kFailover, HandoverPhase::kFencing, r.s.primary, "", "", r.now, r.now, 0};
  r.event(kEventFailoverBegin, r.s.primary, "primary " + r.s.primary + " lost: " + why);
  // A pending operator request was about the cluster before this failure:
  // run after the failover it would move the new primary again.
  const auto& req = r.desired.handover;
  if (req && req->id != r.s.last_request_id) {
    r.s.last_request_id = req->id;
    r.event(
        req->kind == HandoverKind::kSwitchover ? kEventSwitchoverRefused : kEventFailoverBlocked,
        req->to,
        "request " + req->id + " superseded by the automatic failover from " + r.s.primary);
  }
  advance_handover(r);
  return true;
}

namespace {

// An operator's failover: from the current primary to `to` (or the best),
// whatever the primary's health; the old primary is fenced first.
void start_failover(Run& r, const HandoverRequest& req) {
  r.s.last_request_id = req.id;
  if (!req.to.empty()) {
    Choice c = choose_candidate(r, r.s.primary, req.to, true);
    if (c.member.empty()) {
      r.event(kEventFailoverBlocked, req.to, "failover to " + req.to + " refused: " + c.summary());
      return;
    }
  }
  r.s.handover = Handover{HandoverKind::kFailover,
                          HandoverPhase::kFencing,
                          r.s.primary,
                          req.to,
                          req.id,
                          r.now,
                          r.now,
                          0};
  r.event(kEventFailoverBegin, r.s.primary,
          "operator failover from " + r.s.primary + (req.to.empty() ? "" : " to " + req.to));
  advance_handover(r);
}

// Why a switchover to `to` cannot start, "" if it can; stable: without
// figures that move every loop (for the status).
std::string switchover_refusal(const Run& r, const std::string& to, bool stable) {
  const Observation* p = r.obs(r.s.primary);
  if (to == r.s.primary) return to + " is already the primary";
  if (!p || !serving_primary(*p)) {
    return "primary " + r.s.primary + " is not serving (" + unhealth(p, !stable) +
           "): use failover";
  }
  Choice c = choose_candidate(r, r.s.primary, to, false);
  if (c.member.empty()) return c.summary(stable);
  const Observation* o = r.obs(to);
  if (!o->streaming || o->upstream != r.s.primary) {
    return to + " is not streaming from " + r.s.primary;
  }
  return "";
}

}  // namespace

void start_requested_handover(Run& r) {
  const auto& req = r.desired.handover;
  bool requested = req && req->id != r.s.last_request_id;
  std::string to;
  if (requested) {
    if (req->kind == HandoverKind::kFailover) return start_failover(r, *req);
    to = req->to;
  } else if (!r.desired.primary.empty() && r.desired.primary != r.s.primary) {
    if (r.now < r.s.switchover_retry_at_ms) {
      return r.block("switchover to intended primary " + r.desired.primary +
                     " retried after the back-off (switchoverTimeoutMs)");
    }
    to = r.desired.primary;
  } else {
    return;
  }
  // A refused request is one event (details help); a waiting intended
  // primary is kept in the status (stable text).
  std::string refusal = switchover_refusal(r, to, !requested);
  if (requested) r.s.last_request_id = req->id;
  if (!refusal.empty()) {
    if (requested) {
      r.event(kEventSwitchoverRefused, to, "switchover to " + to + " refused: " + refusal);
    } else {
      r.block("switchover to intended primary " + to + " waiting: " + refusal);
    }
    return;
  }
  r.s.handover = Handover{HandoverKind::kSwitchover,
                          HandoverPhase::kFencing,
                          r.s.primary,
                          to,
                          requested ? req->id : "",
                          r.now,
                          r.now,
                          0};
  r.event(kEventSwitchoverBegin, to,
          "switchover from " + r.s.primary + " to " + to +
              (requested ? " (operator request " + req->id + ")" : " (intended primary)"));
  advance_handover(r);
}

}  // namespace pgha::detail
