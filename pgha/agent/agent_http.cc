// The agent's HTTP answers (load balancer checks, /status, the failsafe
// question), the failsafe questions it asks its peers, and the translation
// of the executor's observation into the model's.
#include <spdlog/spdlog.h>
#include <boost/json.hpp>

#include "pgha/agent/agent.h"

namespace pgha::agent {

using common::Status;
namespace json = boost::json;

namespace {

HttpAnswer text(int status, const std::string& body) {
  return {status, body + "\n", "text/plain"};
}

HttpAnswer error(int status, const std::string& code, const std::string& message) {
  json::object o{{"error", message}, {"code", code}};
  return {status, json::serialize(o) + "\n"};
}

}  // namespace

Observation Agent::to_model(const pg::Observation& o, int64_t now_ms) const {
  Observation m;
  m.member = cfg_.name;
  m.api_url = cfg_.advertise_url;
  m.pg_address = cfg_.pg.listen_host + ":" + std::to_string(cfg_.pg.port);
  switch (o.reach) {
    case pg::Reach::kNoDataDir:
      m.role = PgRole::kUninitialized;
      break;
    case pg::Reach::kStopped:
      m.role = PgRole::kStopped;
      break;
    case pg::Reach::kUnreachable:
      m.role = PgRole::kUnknown;
      m.health = PgHealth::kUnreachable;
      break;
    case pg::Reach::kQueryFailed:
      m.role = PgRole::kUnknown;
      m.health = PgHealth::kQueryFailed;
      break;
    case pg::Reach::kOk:
      m.role = o.role == pg::PgRole::kPrimary ? PgRole::kPrimary : PgRole::kReplica;
      break;
  }
  if (o.reach == pg::Reach::kStopped || o.reach == pg::Reach::kNoDataDir) {
    m.health = PgHealth::kUnreachable;
  }
  m.pg_running = o.reach != pg::Reach::kNoDataDir && o.reach != pg::Reach::kStopped;
  m.fenced = o.role == pg::PgRole::kPrimary && o.read_only;
  m.timeline = o.timeline;
  m.receive_lsn = o.receive_lsn;
  m.replay_lsn = o.replay_lsn;
  m.flush_lsn = o.flush_lsn;
  m.streaming = o.streaming;
  for (const auto& sw : o.timeline_history) m.timeline_history.push_back({sw.timeline, sw.end_lsn});
  // The upstream by member name: match the sender's host:port against the
  // members' advertised PostgreSQL addresses.
  if (!o.upstream.empty() && snap_) {
    for (const auto& [name, peer] : snap_->members) {
      if (peer.pg_address == o.upstream) m.upstream = name;
    }
  }
  // A replica whose history forked from the primary's cannot stream from
  // it (PostgreSQL retries forever); say so, and the coordinator orders a
  // rewind. The primary's observation is the one in the last read.
  if (m.role == PgRole::kReplica && snap_ && snap_->status && snap_->status->primary != cfg_.name) {
    auto p = snap_->members.find(snap_->status->primary);
    if (p != snap_->members.end()) m.diverged = !divergence(m, p->second).empty();
  }
  m.rewind_failed = rewind_failed_;
  m.synchronous_standby_names = o.synchronous_standby_names;
  for (const auto& s : o.standbys) {
    if (s.sync_state == "sync" || s.sync_state == "quorum")
      m.sync_standbys.push_back(s.application_name);
  }
  m.applied_generation = applied_generation_;
  m.last_error = o.reach == pg::Reach::kOk ? last_error_ : o.error;
  m.observed_at_ms = now_ms;
  return m;
}

std::vector<PeerAnswer> Agent::ask_peers(int64_t now_ms) {
  std::vector<std::pair<std::string, std::string>> peers;  // name, url
  uint64_t epoch = 0;
  {
    std::lock_guard lock(mu_);
    if (!snap_) return {};
    if (snap_->status) epoch = snap_->status->epoch;
    for (const auto& [name, o] : snap_->members) {
      if (name != cfg_.name && !o.api_url.empty()) peers.emplace_back(name, o.api_url);
    }
  }
  std::vector<PeerAnswer> answers;
  for (const auto& [name, url] : peers) {
    api::ClientOptions o;
    o.endpoints = {url};
    o.connect_timeout = cfg_.peer_timeout;
    o.request_timeout = cfg_.peer_timeout;
    PeerAnswer a{name, false, now_ms};
    auto c = api::Client::create(o);
    if (c.is_ok()) {
      auto r =
          (*c)->request("GET", "/failsafe?member=" + cfg_.name + "&epoch=" + std::to_string(epoch));
      a.confirms = r.is_ok() && r->status == 200;
    }
    // One line when a peer's answer changes, not one per loop.
    auto [it, fresh] = failsafe_answers_.try_emplace(name, a.confirms);
    bool changed = fresh || it->second != a.confirms;
    it->second = a.confirms;
    if (auto l = spdlog::get("store"); l && changed) {
      l->info("failsafe: {} {} that {} is primary", name,
              a.confirms ? "confirms" : "does not confirm", cfg_.name);
    }
    answers.push_back(a);
  }
  return answers;
}

HttpAnswer Agent::handle(const HttpQuery& q) {
  if (q.method != "GET" && q.method != "HEAD") {
    return error(405, "method_not_allowed", "only GET and HEAD are served here");
  }
  std::lock_guard lock(mu_);
  const bool pg_ok = pg_local_.reach == pg::Reach::kOk;
  const std::optional<ClusterStatus> status = snap_ ? snap_->status : std::nullopt;
  if (q.path == "/health") {
    return pg_ok ? text(200, "ok")
                 : text(503, "PostgreSQL " + std::string(pg::reach_name(pg_local_.reach)));
  }
  if (q.path == "/primary") {
    // Writable here, and the cluster's decision agrees: a load balancer
    // never sends writes to a primary the cluster is replacing.
    bool writable = pg_ok && pg_local_.role == pg::PgRole::kPrimary && !pg_local_.read_only;
    bool named = status && status->primary == cfg_.name;
    if (writable && named) return text(200, "primary");
    return text(503,
                writable ? "writable, but not the cluster's primary" : "not a writable primary");
  }
  if (q.path == "/replica") {
    if (!pg_ok || pg_local_.role != pg::PgRole::kReplica || !pg_local_.streaming) {
      return text(503, "not a streaming replica");
    }
    uint64_t primary_lsn = status ? status->primary_lsn : 0;
    uint64_t lag = primary_lsn > pg_local_.replay_lsn ? primary_lsn - pg_local_.replay_lsn : 0;
    if (lag > cfg_.replica_lag_bytes_max) {
      return text(503, "replica lags " + std::to_string(lag) + " bytes");
    }
    return text(200, "replica");
  }
  if (q.path == "/status") {
    json::object o;
    o["member"] = cfg_.name;
    o["cluster"] = cfg_.cluster;
    o["storeReachable"] = store_reachable_;
    o["coordinator"] = coordinator_;
    o["lastError"] = last_error_;
    o["observation"] = json::parse(to_json(local_));
    if (status) o["status"] = json::parse(to_json(*status));
    return {200, json::serialize(o) + "\n"};
  }
  if (q.path == "/failsafe") {
    auto m = q.params.find("member");
    auto e = q.params.find("epoch");
    if (m == q.params.end() || e == q.params.end()) {
      return error(400, "invalid_argument", "member and epoch are required");
    }
    uint64_t epoch = 0;
    try {
      epoch = std::stoull(e->second);
    } catch (...) {
      return error(400, "invalid_argument", "epoch must be a number");
    }
    bool key_present = snap_ && snap_->members.count(m->second) > 0;
    bool yes = confirm_primary(m->second, epoch, status, store_reachable_, key_present, local_);
    return yes ? text(200, "confirmed")
               : error(409, "not_confirmed",
                       "this member does not see " + m->second + " as primary");
  }
  return error(404, "not_found", "no such path: " + q.path);
}

}  // namespace pgha::agent
