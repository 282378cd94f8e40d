#include "pgha/agent/agent.h"

#include <spdlog/spdlog.h>

#include <fmt/ranges.h>
#include <algorithm>

#include "common/logger.h"

namespace pgha::agent {

using common::Code;
using common::Result;
using common::Status;

namespace {

std::shared_ptr<spdlog::logger> named_log(const char* name) {
  return common::component_logger(name);
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Agent::Agent(AgentConfig cfg) : cfg_(std::move(cfg)), executor_(cfg_.pg) {}

Result<std::unique_ptr<Agent>> Agent::create(AgentConfig cfg) {
  if (auto s = validate_name("--name", cfg.name); !s.is_ok()) return s;
  if (auto s = validate_name("--cluster", cfg.cluster); !s.is_ok()) return s;
  if (cfg.lease_ttl_s < api::kLeaseTtlSecondsMin || cfg.lease_ttl_s > 60) {
    return Status(Code::kInvalidArgument, "--lease-ttl must be in [1, 60] seconds");
  }
  cfg.pg.node_name = cfg.name;
  std::unique_ptr<Agent> a(new Agent(std::move(cfg)));
  auto store = Store::create(a->cfg_.store_endpoints, a->cfg_.cluster, a->cfg_.store_timeout);
  if (!store.is_ok()) return store.status();
  a->store_ = std::move(*store);
  auto events = EventLog::start(a->cfg_.store_endpoints, a->cfg_.store_timeout);
  if (!events.is_ok()) return events.status();
  a->events_ = std::move(*events);
  Agent* self = a.get();
  auto http =
      HttpEndpoint::start(a->cfg_.listen, [self](const HttpQuery& q) { return self->handle(q); });
  if (!http.is_ok()) return http.status();
  a->http_ = std::move(*http);
  if (a->cfg_.advertise_url.empty()) {
    std::string host;
    uint16_t port = 0;
    (void)split_host_port(a->cfg_.listen, host, port);
    a->cfg_.advertise_url = "http://" + host + ":" + std::to_string(a->http_->port());
  }
  return a;
}

Agent::~Agent() {
  stopping_ = true;
  wake();
  if (watcher_.joinable()) watcher_.join();
  keeper_.reset();
  http_.reset();
}

void Agent::wake() {
  {
    std::lock_guard lock(wake_mu_);
    woken_ = true;
  }
  wake_cv_.notify_one();
}

void Agent::run(const std::atomic<bool>& stop) {
  named_log("reconciler")
      ->info("agent {} of cluster {} up: http {}, PostgreSQL {} on port {}", cfg_.name,
             cfg_.cluster, cfg_.advertise_url, cfg_.pg.data_dir, cfg_.pg.port);
  watcher_ = std::thread([this] { watch_loop(); });
  while (!stop) {
    loop_once();
    std::unique_lock lock(wake_mu_);
    wake_cv_.wait_for(lock, cfg_.loop_interval, [&] { return woken_ || stop.load(); });
    woken_ = false;
  }
  stopping_ = true;
  wake();
  if (watcher_.joinable()) watcher_.join();
  // A clean stop frees the member key and, if held, the coordinator key at
  // once, so that the others need not wait for the lease to run out.
  keeper_.reset();
  if (lease_ != 0) (void)store_->revoke_lease(lease_);
  named_log("reconciler")->info("agent {} stopped", cfg_.name);
}

// Long-polls the cluster's prefix; any change wakes the loop, so that a new
// status reaches every agent within one store round trip.
void Agent::watch_loop() {
  api::ClientOptions o;
  o.endpoints = cfg_.store_endpoints;
  o.connect_timeout = std::chrono::milliseconds(1000);
  o.request_timeout = std::chrono::milliseconds(5000);
  auto c = api::Client::create(o);
  if (!c.is_ok()) return;
  while (!stopping_) {
    api::FeedRequest head;
    head.prefix = cluster_prefix(cfg_.cluster);
    head.limit = 1;
    auto page = (*c)->get_feed(head);
    if (!page.is_ok()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      continue;
    }
    api::WatchOptions w;
    w.since = page->last_index;
    w.prefix = cluster_prefix(cfg_.cluster);
    w.block_seconds = 2;  // stop is noticed between rounds
    w.should_stop = [this] { return stopping_.load(); };
    (void)(*c)->watch(w, [this](const api::Change&) {
      wake();
      return !stopping_.load();
    });
    if (!stopping_) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

bool Agent::ensure_lease() {
  if (lease_ != 0 && !lease_lost_) return true;
  keeper_.reset();
  lease_ = 0;
  auto l = store_->grant_lease(cfg_.lease_ttl_s);
  if (!l.is_ok()) return false;
  api::LeaseKeeper::Options o;
  o.client.endpoints = cfg_.store_endpoints;
  o.client.connect_timeout = std::chrono::milliseconds(500);
  o.lease_id = l->id;
  o.ttl_seconds = cfg_.lease_ttl_s;
  o.on_lost = [this](const Status& s) {
    named_log("store")->warn("lease lost: {}", s.to_string());
    lease_lost_ = true;
  };
  o.on_renewed = [this](const api::LeaseInfo&) { lease_renewed_at_ms_ = steady_ms(); };
  auto k = api::LeaseKeeper::start(std::move(o));
  if (!k.is_ok()) return false;
  lease_ = l->id;
  lease_lost_ = false;
  lease_renewed_at_ms_ = steady_ms();
  keeper_ = std::move(*k);
  named_log("store")->info("holding lease {} (ttl {} s)", lease_, cfg_.lease_ttl_s);
  return true;
}

void Agent::loop_once() {
  const int64_t now = wall_ms();
  pg::Observation pgo = executor_.observe();
  Observation obs;
  {
    std::lock_guard lock(mu_);
    obs = to_model(pgo, now);
  }
  if (pgo.reach != pg_local_.reach || pgo.role != pg_local_.role) {
    named_log("pg")->info("PostgreSQL is {} ({}){}", pg::reach_name(pgo.reach),
                          pg::pg_role_name(pgo.role), pgo.error.empty() ? "" : ": " + pgo.error);
  }

  bool store_ok = ensure_lease();
  if (store_ok) store_ok = store_->put_member(obs, lease_).is_ok();
  std::optional<ClusterSnapshot> snap;
  if (store_ok) {
    auto r = store_->read();
    if (r.is_ok()) {
      snap = std::move(*r);
    } else {
      store_ok = false;
    }
  }
  if (store_ok != store_reachable_) {
    if (store_ok) {
      named_log("store")->info("store reachable");
    } else {
      named_log("store")->warn("store unreachable (endpoints {})",
                               fmt::join(cfg_.store_endpoints, ","));
    }
  }
  if (snap && !snap->desired && !cfg_.bootstrap_members.empty()) {
    Desired d;
    for (const auto& m : cfg_.bootstrap_members) d.members.push_back(DesiredMember{m});
    std::sort(d.members.begin(), d.members.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    d.generation = 1;
    auto put = store_->put_desired_if_absent(d);
    if (put.is_ok() && *put) {
      named_log("reconciler")
          ->info("wrote the first desired state: members {}",
                 fmt::join(cfg_.bootstrap_members, ","));
      auto again = store_->read();
      if (again.is_ok()) snap = std::move(*again);
    } else if (!put.is_ok()) {
      named_log("reconciler")
          ->error("cannot write the desired state: {}", put.status().to_string());
    }
  }
  {
    std::lock_guard lock(mu_);
    store_reachable_ = store_ok;
    pg_local_ = pgo;
    local_ = obs;
    if (snap) snap_ = snap;
  }
  if (snap && snap->desired) coordinate(*snap, now);

  LocalInput in;
  in.self = cfg_.name;
  {
    std::lock_guard lock(mu_);
    if (snap_) {
      in.desired = snap_->desired;
      in.status = snap_->status;
    }
  }
  in.local = obs;
  in.store_reachable = store_ok;
  in.lease_valid =
      !lease_lost_ && lease_ != 0 &&
      steady_ms() - lease_renewed_at_ms_.load() < static_cast<int64_t>(cfg_.lease_ttl_s) * 1000;
  if (!store_ok && pgo.role == pg::PgRole::kPrimary) in.peers = ask_peers(now);
  in.now = now;
  act(in);
}

void Agent::coordinate(const ClusterSnapshot& snap, int64_t now_ms) {
  LeaderRecord me{cfg_.name, cfg_.advertise_url, now_ms};
  auto held = store_->acquire_leader(snap, me, lease_);
  bool is_coordinator = held.is_ok() && *held;
  if (is_coordinator != coordinator_) {
    named_log("reconciler")
        ->info("{} cluster {}", is_coordinator ? "coordinating" : "no longer coordinating",
               cfg_.cluster);
  }
  {
    std::lock_guard lock(mu_);
    coordinator_ = is_coordinator;
  }
  if (!is_coordinator) return;
  fence_lost_primary(snap);
  // The leader key may have been taken just now: read its revision again
  // so that the status CAS compares against it.
  ClusterSnapshot base = snap;
  if (snap.leader_revision == 0) {
    auto again = store_->read();
    if (!again.is_ok()) return;
    base = std::move(*again);
  }
  ClusterDecision d =
      reconcile_cluster(cfg_.cluster, *base.desired, base.members, base.status, now_ms);
  if (!d.changed) return;
  auto wrote = store_->write_status(base, d.status);
  if (!wrote.is_ok() || !*wrote) {
    named_log("reconciler")
        ->warn("status write lost ({}); deciding again next loop",
               wrote.is_ok() ? "compare failed" : wrote.status().to_string());
    return;
  }
  for (const auto& r : d.reasons) named_log("reconciler")->info("{}", r);
  events_->push(d.events);
  ClusterSnapshot after = base;
  after.status = d.status;
  fence_lost_primary(after);
  std::lock_guard lock(mu_);
  last_reasons_ = d.reasons;
  if (snap_) {
    snap_->status = d.status;
    snap_->status_revision = 0;  // unknown until the next read
  }
}

// A failover whose old primary's agent is gone (killed, paused, cut off):
// its PostgreSQL may still accept writes. The coordinator fences it over
// libpq before anyone is promoted; if it cannot be reached it is down or
// isolated, and the failsafe window covers an isolated one.
void Agent::fence_lost_primary(const ClusterSnapshot& snap) {
  if (!snap.status || !snap.status->handover) return;
  const Handover& h = *snap.status->handover;
  if (h.kind != HandoverKind::kFailover || h.phase != HandoverPhase::kFencing) return;
  if (snap.members.count(h.from) || fenced_handover_at_ms_ == h.started_at_ms) return;
  fenced_handover_at_ms_ = h.started_at_ms;
  auto t = snap.status->targets.find(h.from);
  if (t == snap.status->targets.end() || t->second.pg_address.empty()) return;
  pg::PgAddress addr;
  if (!split_host_port(t->second.pg_address, addr.host, addr.port).is_ok()) return;
  Status s = executor_.fence_remote(addr);
  Event e;
  e.cluster = cfg_.cluster;
  e.kind = std::string(kEventFence);
  e.member = h.from;
  e.at_ms = wall_ms();
  e.generation = snap.status->generation;
  e.message = s.is_ok() ? "fenced over libpq by the coordinator " + cfg_.name +
                              ": its agent is gone and its PostgreSQL accepted connections"
                        : "not fenced by the coordinator (" + s.message() + ")";
  named_log("reconciler")->warn("{}: {}", h.from, e.message);
  events_->push(std::move(e));
}

void Agent::emit(std::string_view kind, const std::string& message) {
  Event e;
  e.cluster = cfg_.cluster;
  e.kind = std::string(kind);
  e.member = cfg_.name;
  e.message = message;
  e.at_ms = wall_ms();
  {
    std::lock_guard lock(mu_);
    if (snap_ && snap_->status) e.generation = snap_->status->generation;
  }
  // Kept until the store takes it: what an agent did while cut off (a
  // failsafe fence) belongs in the history too.
  events_->push(std::move(e));
}

}  // namespace pgha::agent
