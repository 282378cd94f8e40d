// JSON codecs of the pgha model. Field names are camelCase like the rest of
// the API; LSNs travel in PostgreSQL's text form ("16/B374D848") so people
// reading the store with changectl see what psql shows. Desired states are
// read strictly (an unknown field is an error: it is usually a typo); the
// agent-written records are read leniently so a newer agent's extra fields
// do not break an older coordinator.
#include <boost/json.hpp>
#include <charconv>
#include <limits>

#include "pgha/core/json_reader.h"
#include "pgha/core/model.h"
#include "pgha/core/model_names.h"

namespace pgha {

namespace json = boost::json;
using detail::enum_field;
using detail::ObjectReader;

namespace {

constexpr int64_t kMsMax = std::numeric_limits<int64_t>::max();

void lsn_field(ObjectReader& r, std::string_view key, Lsn& out) {
  const json::value* v = r.field(key);
  if (!v) return;
  if (!v->is_string()) return r.fail(r.path_of(key) + " must be an LSN string like \"0/3000060\"");
  auto lsn = parse_lsn(v->as_string());
  if (!lsn.is_ok()) return r.fail(r.path_of(key) + ": " + lsn.status().message());
  out = *lsn;
}

json::array to_array(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

std::string text(json::object o) {
  return json::serialize(o);
}

// ---- desired ----

common::Status read_member(const json::value& v, const std::string& path, DesiredMember& m) {
  if (!v.is_object())
    return common::Status(common::Code::kInvalidArgument, path + " must be an object");
  ObjectReader r(v.as_object(), path, true);
  r.str("name", m.name, true);
  r.i32("priority", m.priority, 0, 1000);
  r.boolean("nofailover", m.nofailover);
  return r.finish();
}

common::Status read_handover(const json::value& v, HandoverRequest& h) {
  if (!v.is_object()) {
    return common::Status(common::Code::kInvalidArgument, "handover must be an object");
  }
  ObjectReader r(v.as_object(), "handover", true);
  r.str("id", h.id, true);
  enum_field(r, "kind", names::kHandoverKind, h.kind);
  r.str("to", h.to);
  r.i64("requestedAtMs", h.requested_at_ms, 0, kMsMax);
  return r.finish();
}

void read_settings(ObjectReader& r, std::map<std::string, std::string>& out) {
  const json::value* v = r.field("pgSettings");
  if (!v) return;
  if (!v->is_object()) return r.fail("pgSettings must be an object of name: value");
  for (const auto& kv : v->as_object()) {
    const json::value& val = kv.value();
    std::string name(kv.key());
    if (val.is_string()) {
      out[name] = std::string(val.as_string());
    } else if (val.is_int64() || val.is_uint64() || val.is_double() || val.is_bool()) {
      out[name] = json::serialize(val);
      if (val.is_bool()) out[name] = val.as_bool() ? "on" : "off";
    } else {
      return r.fail("pgSettings." + name + " must be a string, number or boolean");
    }
  }
}

// "timelineHistory": ["1:0/3000148", "2:0/5000060"], oldest first.
void read_timeline_history(ObjectReader& r, std::vector<TimelineSwitch>& out) {
  std::vector<std::string> items;
  r.str_list("timelineHistory", items);
  for (const auto& item : items) {
    TimelineSwitch sw;
    size_t colon = item.find(':');
    auto lsn = colon == std::string::npos
                   ? common::Result<Lsn>(common::Status(common::Code::kInvalidArgument, "no ':'"))
                   : parse_lsn(std::string_view(item).substr(colon + 1));
    auto [end, ec] = std::from_chars(
        item.data(), item.data() + (colon == std::string::npos ? 0 : colon), sw.timeline);
    if (!lsn.is_ok() || ec != std::errc() || end != item.data() + colon || sw.timeline == 0) {
      return r.fail("timelineHistory item '" + item + "' must be <timeline>:<lsn>");
    }
    sw.end_lsn = *lsn;
    out.push_back(sw);
  }
}

json::array timeline_history_array(const std::vector<TimelineSwitch>& history) {
  json::array a;
  for (const auto& sw : history) {
    a.emplace_back(std::to_string(sw.timeline) + ":" + format_lsn(sw.end_lsn));
  }
  return a;
}

}  // namespace

common::Result<Desired> parse_desired(std::string_view json_text) {
  auto obj = detail::parse_object_text(json_text, "desired state");
  if (!obj.is_ok()) return obj.status();
  Desired d;
  ObjectReader r(*obj, "", true);
  r.u64("generation", d.generation);
  if (const json::value* members = r.field("members")) {
    if (!members->is_array()) {
      r.fail("members must be an array of {\"name\", \"priority\", \"nofailover\"}");
    } else {
      const auto& a = members->as_array();
      for (size_t i = 0; i < a.size(); ++i) {
        DesiredMember m;
        if (auto s = read_member(a[i], "members[" + std::to_string(i) + "]", m); !s.is_ok()) {
          return s;
        }
        d.members.push_back(std::move(m));
      }
    }
  } else {
    r.fail("members is required");
  }
  r.str("primary", d.primary);
  enum_field(r, "mode", names::kMode, d.mode);
  d.quorum_n = d.mode == ReplicationMode::kSync ? 1 : 0;
  r.u32("quorumN", d.quorum_n, 0, 1000);
  enum_field(r, "syncFallback", names::kFallback, d.sync_fallback);
  read_settings(r, d.pg_settings);
  r.boolean("paused", d.paused);
  if (const json::value* h = r.field("handover")) {
    HandoverRequest req;
    if (auto s = read_handover(*h, req); !s.is_ok()) return s;
    d.handover = std::move(req);
  }
  r.u64("maxLagBytes", d.max_lag_bytes);
  r.i64("unhealthyFailoverMs", d.unhealthy_failover_ms, 0, kMsMax);
  r.i64("switchoverTimeoutMs", d.switchover_timeout_ms, 0, kMsMax);
  r.i64("failoverTimeoutMs", d.failover_timeout_ms, 0, kMsMax);
  r.i64("failsafeConfirmMs", d.failsafe_confirm_ms, 0, kMsMax);
  r.i64("memberStaleMs", d.member_stale_ms, 0, kMsMax);
  if (auto s = r.finish(); !s.is_ok()) return s;
  std::sort(d.members.begin(), d.members.end(),
            [](const DesiredMember& a, const DesiredMember& b) { return a.name < b.name; });
  if (auto s = validate_desired(d); !s.is_ok()) return s;
  return d;
}

std::string to_json(const Desired& d) {
  json::object o;
  o["generation"] = d.generation;
  json::array members;
  for (const auto& m : d.members) {
    members.push_back(
        json::object{{"name", m.name}, {"priority", m.priority}, {"nofailover", m.nofailover}});
  }
  o["members"] = std::move(members);
  o["primary"] = d.primary;
  o["mode"] = name_of(d.mode);
  o["quorumN"] = d.quorum_n;
  o["syncFallback"] = name_of(d.sync_fallback);
  json::object settings;
  for (const auto& [k, v] : d.pg_settings) settings[k] = v;
  o["pgSettings"] = std::move(settings);
  o["paused"] = d.paused;
  if (d.handover) {
    o["handover"] = json::object{{"id", d.handover->id},
                                 {"kind", name_of(d.handover->kind)},
                                 {"to", d.handover->to},
                                 {"requestedAtMs", d.handover->requested_at_ms}};
  }
  o["maxLagBytes"] = d.max_lag_bytes;
  o["unhealthyFailoverMs"] = d.unhealthy_failover_ms;
  o["switchoverTimeoutMs"] = d.switchover_timeout_ms;
  o["failoverTimeoutMs"] = d.failover_timeout_ms;
  o["failsafeConfirmMs"] = d.failsafe_confirm_ms;
  o["memberStaleMs"] = d.member_stale_ms;
  return text(std::move(o));
}

// ---- observation ----

common::Result<Observation> parse_observation(std::string_view json_text) {
  auto obj = detail::parse_object_text(json_text, "member observation");
  if (!obj.is_ok()) return obj.status();
  Observation o;
  ObjectReader r(*obj, "", false);
  r.str("member", o.member, true);
  r.str("apiUrl", o.api_url);
  r.str("pgAddress", o.pg_address);
  enum_field(r, "role", names::kPgRole, o.role);
  enum_field(r, "health", names::kPgHealth, o.health);
  r.boolean("pgRunning", o.pg_running);
  r.boolean("fenced", o.fenced);
  r.u32("timeline", o.timeline, 0, std::numeric_limits<uint32_t>::max());
  lsn_field(r, "receiveLsn", o.receive_lsn);
  lsn_field(r, "replayLsn", o.replay_lsn);
  lsn_field(r, "flushLsn", o.flush_lsn);
  r.str("upstream", o.upstream);
  r.boolean("streaming", o.streaming);
  r.boolean("diverged", o.diverged);
  r.boolean("rewindFailed", o.rewind_failed);
  r.str("synchronousStandbyNames", o.synchronous_standby_names);
  r.str_list("syncStandbys", o.sync_standbys);
  read_timeline_history(r, o.timeline_history);
  r.u64("appliedGeneration", o.applied_generation);
  r.str("lastError", o.last_error);
  r.i64("observedAtMs", o.observed_at_ms, 0, kMsMax);
  if (auto s = r.finish(); !s.is_ok()) return s;
  if (auto s = validate_name("member", o.member); !s.is_ok()) return s;
  return o;
}

std::string to_json(const Observation& o) {
  return text(json::object{{"member", o.member},
                           {"apiUrl", o.api_url},
                           {"pgAddress", o.pg_address},
                           {"role", name_of(o.role)},
                           {"health", name_of(o.health)},
                           {"pgRunning", o.pg_running},
                           {"fenced", o.fenced},
                           {"timeline", o.timeline},
                           {"receiveLsn", format_lsn(o.receive_lsn)},
                           {"replayLsn", format_lsn(o.replay_lsn)},
                           {"flushLsn", format_lsn(o.flush_lsn)},
                           {"upstream", o.upstream},
                           {"streaming", o.streaming},
                           {"diverged", o.diverged},
                           {"rewindFailed", o.rewind_failed},
                           {"synchronousStandbyNames", o.synchronous_standby_names},
                           {"syncStandbys", to_array(o.sync_standbys)},
                           {"timelineHistory", timeline_history_array(o.timeline_history)},
                           {"appliedGeneration", o.applied_generation},
                           {"lastError", o.last_error},
                           {"observedAtMs", o.observed_at_ms}});
}

// ---- leader ----

common::Result<LeaderRecord> parse_leader(std::string_view json_text) {
  auto obj = detail::parse_object_text(json_text, "leader record");
  if (!obj.is_ok()) return obj.status();
  LeaderRecord l;
  ObjectReader r(*obj, "", false);
  r.str("member", l.member, true);
  r.str("apiUrl", l.api_url);
  r.i64("sinceMs", l.since_ms, 0, kMsMax);
  if (auto s = r.finish(); !s.is_ok()) return s;
  return l;
}

std::string to_json(const LeaderRecord& l) {
  return text(json::object{{"member", l.member}, {"apiUrl", l.api_url}, {"sinceMs", l.since_ms}});
}

// ---- status ----

namespace {

common::Status read_targets(const json::value* v, ObjectReader& parent,
                            std::map<std::string, MemberTarget>& out) {
  if (!v) return common::Status::ok();
  if (!v->is_object()) {
    return common::Status(common::Code::kInvalidArgument, "targets must be an object");
  }
  for (const auto& kv : v->as_object()) {
    std::string name(kv.key());
    if (!kv.value().is_object()) {
      return common::Status(common::Code::kInvalidArgument,
                            "targets." + name + " must be an object");
    }
    MemberTarget t;
    ObjectReader r(kv.value().as_object(), "targets." + name, false);
    enum_field(r, "role", names::kTargetRole, t.role);
    r.str("follow", t.follow);
    r.str("pgAddress", t.pg_address);
    if (auto s = r.finish(); !s.is_ok()) return s;
    out[name] = std::move(t);
  }
  return common::Status::ok();
}

common::Status read_status_handover(const json::value& v, Handover& h) {
  if (!v.is_object()) {
    return common::Status(common::Code::kInvalidArgument, "handover must be an object");
  }
  ObjectReader r(v.as_object(), "handover", false);
  enum_field(r, "kind", names::kHandoverKind, h.kind);
  enum_field(r, "phase", names::kPhase, h.phase);
  r.str("from", h.from);
  r.str("to", h.to);
  r.str("requestId", h.request_id);
  r.i64("startedAtMs", h.started_at_ms, 0, kMsMax);
  r.i64("phaseSinceMs", h.phase_since_ms, 0, kMsMax);
  lsn_field(r, "fenceLsn", h.fence_lsn);
  return r.finish();
}

}  // namespace

common::Result<ClusterStatus> parse_status(std::string_view json_text) {
  auto obj = detail::parse_object_text(json_text, "cluster status");
  if (!obj.is_ok()) return obj.status();
  ClusterStatus s;
  ObjectReader r(*obj, "", false);
  r.u64("generation", s.generation);
  r.u64("epoch", s.epoch);
  r.str("primary", s.primary);
  r.u32("timeline", s.timeline, 0, std::numeric_limits<uint32_t>::max());
  lsn_field(r, "primaryLsn", s.primary_lsn);
  enum_field(r, "state", names::kClusterState, s.state);
  if (auto st = read_targets(r.field("targets"), r, s.targets); !st.is_ok()) return st;
  r.str("synchronousStandbyNames", s.synchronous_standby_names);
  if (const json::value* sync = r.field("sync")) {
    if (!sync->is_object())
      return common::Status(common::Code::kInvalidArgument, "sync must be an object");
    ObjectReader sr(sync->as_object(), "sync", false);
    sr.str_list("names", s.sync.names);
    sr.u32("n", s.sync.n, 0, 1000);
    if (auto st = sr.finish(); !st.is_ok()) return st;
  }
  lsn_field(r, "syncCatchupLsn", s.sync_catchup_lsn);
  r.boolean("syncDegraded", s.sync_degraded);
  r.str_list("syncWanted", s.sync_wanted);
  if (const json::value* h = r.field("handover")) {
    Handover hv;
    if (auto st = read_status_handover(*h, hv); !st.is_ok()) return st;
    s.handover = std::move(hv);
  }
  r.str("lastRequestId", s.last_request_id);
  if (const json::value* u = r.field("unhealthySinceMs")) {
    if (!u->is_object()) {
      return common::Status(common::Code::kInvalidArgument, "unhealthySinceMs must be an object");
    }
    ObjectReader ur(u->as_object(), "unhealthySinceMs", false);
    for (const auto& kv : u->as_object()) {
      int64_t at = 0;
      ur.i64(kv.key(), at, 0, kMsMax);
      s.unhealthy_since_ms[std::string(kv.key())] = at;
    }
    if (auto st = ur.finish(); !st.is_ok()) return st;
  }
  r.i64("primaryLostAtMs", s.primary_lost_at_ms, 0, kMsMax);
  r.i64("switchoverRetryAtMs", s.switchover_retry_at_ms, 0, kMsMax);
  r.str("blocked", s.blocked);
  r.i64("updatedAtMs", s.updated_at_ms, 0, kMsMax);
  if (auto st = r.finish(); !st.is_ok()) return st;
  return s;
}

std::string to_json(const ClusterStatus& s) {
  json::object o;
  o["generation"] = s.generation;
  o["epoch"] = s.epoch;
  o["primary"] = s.primary;
  o["timeline"] = s.timeline;
  o["primaryLsn"] = format_lsn(s.primary_lsn);
  o["state"] = name_of(s.state);
  json::object targets;
  for (const auto& [name, t] : s.targets) {
    targets[name] =
        json::object{{"role", name_of(t.role)}, {"follow", t.follow}, {"pgAddress", t.pg_address}};
  }
  o["targets"] = std::move(targets);
  o["synchronousStandbyNames"] = s.synchronous_standby_names;
  o["sync"] = json::object{{"names", to_array(s.sync.names)}, {"n", s.sync.n}};
  o["syncCatchupLsn"] = format_lsn(s.sync_catchup_lsn);
  o["syncDegraded"] = s.sync_degraded;
  o["syncWanted"] = to_array(s.sync_wanted);
  if (s.handover) {
    const Handover& h = *s.handover;
    o["handover"] = json::object{{"kind", name_of(h.kind)},
                                 {"phase", name_of(h.phase)},
                                 {"from", h.from},
                                 {"to", h.to},
                                 {"requestId", h.request_id},
                                 {"startedAtMs", h.started_at_ms},
                                 {"phaseSinceMs", h.phase_since_ms},
                                 {"fenceLsn", format_lsn(h.fence_lsn)}};
  }
  o["lastRequestId"] = s.last_request_id;
  json::object unhealthy;
  for (const auto& [name, at] : s.unhealthy_since_ms) unhealthy[name] = at;
  o["unhealthySinceMs"] = std::move(unhealthy);
  o["primaryLostAtMs"] = s.primary_lost_at_ms;
  o["switchoverRetryAtMs"] = s.switchover_retry_at_ms;
  o["blocked"] = s.blocked;
  o["updatedAtMs"] = s.updated_at_ms;
  return text(std::move(o));
}

// ---- event ----

common::Result<Event> parse_event(std::string_view json_text) {
  auto obj = detail::parse_object_text(json_text, "event");
  if (!obj.is_ok()) return obj.status();
  Event e;
  ObjectReader r(*obj, "", false);
  r.str("cluster", e.cluster, true);
  r.str("kind", e.kind, true);
  r.str("member", e.member);
  r.str("message", e.message);
  r.i64("atMs", e.at_ms, 0, kMsMax);
  r.u64("generation", e.generation);
  if (auto s = r.finish(); !s.is_ok()) return s;
  return e;
}

std::string to_json(const Event& e) {
  return text(json::object{{"cluster", e.cluster},
                           {"kind", e.kind},
                           {"member", e.member},
                           {"message", e.message},
                           {"atMs", e.at_ms},
                           {"generation", e.generation}});
}

}  // namespace pgha
