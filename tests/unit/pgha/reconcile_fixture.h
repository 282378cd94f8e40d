// Builders for the reconciler tables: a three-member cluster whose agents'
// observations a case edits, a mocked clock, and a driver that runs
// reconcile_cluster the way the coordinator loop does (feeding each status
// back in). Cases read as stories: "b's agent is gone for 2 s", not literals.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pgha/core/reconcile.h"

namespace pgha::test {

inline constexpr TimeMs kStart = 1'700'000'000'000;  // any wall-clock ms
inline constexpr Lsn kMiB = 1024 * 1024;

inline Desired three_members(ReplicationMode mode = ReplicationMode::kAsync,
                             SyncFallback fallback = SyncFallback::kStrict) {
  Desired d;
  d.generation = 1;
  d.members = {{"a", 100, false}, {"b", 100, false}, {"c", 100, false}};
  d.mode = mode;
  d.quorum_n = mode == ReplicationMode::kAsync ? 0 : 1;
  d.sync_fallback = fallback;
  EXPECT_TRUE(validate_desired(d).is_ok());
  return d;
}

// Five members, for stories that lose two at once and keep a majority.
inline Desired five_members(ReplicationMode mode, SyncFallback fallback = SyncFallback::kStrict) {
  Desired d = three_members(mode, fallback);
  d.members.push_back({"d", 100, false});
  d.members.push_back({"e", 100, false});
  EXPECT_TRUE(validate_desired(d).is_ok());
  return d;
}

inline Observation fresh(const std::string& name) {
  Observation o;
  o.member = name;
  o.api_url = "http://127.0.0.1:90" + name;
  o.pg_address = "127.0.0.1:54" + name;
  o.role = PgRole::kUninitialized;
  return o;
}

inline Observation primary(const std::string& name, uint32_t timeline, Lsn flush) {
  Observation o = fresh(name);
  o.role = PgRole::kPrimary;
  o.pg_running = true;
  o.timeline = timeline;
  o.flush_lsn = flush;
  return o;
}

inline Observation replica(const std::string& name, const std::string& upstream, uint32_t timeline,
                           Lsn received) {
  Observation o = fresh(name);
  o.role = PgRole::kReplica;
  o.pg_running = true;
  o.timeline = timeline;
  o.upstream = upstream;
  o.streaming = !upstream.empty();
  o.receive_lsn = received;
  o.replay_lsn = received;
  return o;
}

inline bool has_event(const ClusterDecision& d, std::string_view kind) {
  return std::any_of(d.events.begin(), d.events.end(),
                     [&](const Event& e) { return e.kind == kind; });
}

inline std::string all_reasons(const ClusterDecision& d) {
  std::string s;
  for (const auto& r : d.reasons) s += r + " | ";
  for (const auto& e : d.events) s += "[" + e.kind + "] " + e.message + " | ";
  return s;
}

// One coordinator: the store's view (observations), the last status, a clock.
struct Coordinator {
  Desired desired;
  std::map<std::string, Observation> obs;
  std::optional<ClusterStatus> status;
  TimeMs now = kStart;
  ClusterDecision last;
  std::vector<Event> history;

  explicit Coordinator(Desired d) : desired(std::move(d)) {}

  // One loop `dt_ms` after the previous one.
  const ClusterDecision& step(int64_t dt_ms = 100) {
    now += dt_ms;
    last = reconcile_cluster("main", desired, obs, status, now);
    if (last.changed) {
      EXPECT_GT(last.status.generation, status ? status->generation : 0);
      status = last.status;
    } else {
      EXPECT_TRUE(status.has_value());
      EXPECT_EQ(last.status.generation, status->generation)
          << "unchanged status kept its generation";
      EXPECT_TRUE(last.events.empty()) << "events without a status change: " << all_reasons(last);
    }
    check_invariants();
    history.insert(history.end(), last.events.begin(), last.events.end());
    return last;
  }

  // Never two primaries in the decision; the primary's target is primary;
  // the generation and epoch never go back.
  void check_invariants() {
    const ClusterStatus& s = last.status;
    int primaries = 0;
    for (const auto& [name, t] : s.targets) {
      if (t.role == TargetRole::kPrimary) {
        ++primaries;
        EXPECT_EQ(name, s.primary) << all_reasons(last);
      }
    }
    EXPECT_LE(primaries, 1);
    if (prev_epoch_) {
      EXPECT_GE(s.epoch, *prev_epoch_);
    }
    if (prev_timeline_) {
      EXPECT_GE(s.timeline, *prev_timeline_);
    }
    prev_epoch_ = s.epoch;
    prev_timeline_ = s.timeline;
  }

  // A healthy cluster: a primary on timeline 1 at 0/5000000, b and c
  // streaming from it, the status settled.
  void run_healthy(const std::string& p = "a") {
    for (const auto& m : desired.members) {
      obs[m.name] = m.name == p ? primary(m.name, 1, 80 * kMiB) : replica(m.name, p, 1, 80 * kMiB);
    }
    settle();  // bootstrap adopts the running primary's data
    ASSERT_EQ(status->primary, p);
  }

  // Steps until nothing changes (the primary running whatever names it was told).
  void settle(int max_steps = 20) {
    for (int i = 0; i < max_steps; ++i) {
      step();
      if (status && obs.count(status->primary) && obs[status->primary].role == PgRole::kPrimary) {
        obs[status->primary].synchronous_standby_names = status->synchronous_standby_names;
      }
      if (!last.changed) return;
    }
    ADD_FAILURE() << "did not settle: " << all_reasons(last);
  }

  TargetRole role_of(const std::string& m) const { return status->targets.at(m).role; }

 private:
  std::optional<uint64_t> prev_epoch_;
  std::optional<uint32_t> prev_timeline_;
};

}  // namespace pgha::test
