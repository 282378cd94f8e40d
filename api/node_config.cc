// The replicated /config on the node: derived from the `_config/` keys of
// the state view whenever an applied entry writes one (so every node
// switches at the same index), and at start-up. What each setting drives:
//   retention*            the retention policy (overrides the flags)
//   bodyBytesMax          the HTTP server's body limit (replicated_body_bytes_max)
//   requestIdWindowSeconds the state view itself (state/state_view.h)
//   webhooks              the leader's pre-proposal check (below)
//   heartbeat/election    the Raft timeouts, taken at the next start only:
//                         raftlog::Core fixes them at creation, and a
//                         restart is when a node may change its timing
//                         without a live core seeing its timeouts move
//                         under a running election. GET /config says so.
#include <boost/json.hpp>

#include "api/cursors.h"
#include "api/node_impl.h"

namespace api {

namespace json = boost::json;

namespace {

// Setting keys read per refresh: far more than there are settings.
constexpr size_t kConfigKeysScannedMax = 1000;

// A change as a webhook sees it. data and values are the stored JSON.
void append_change_json(std::string& out, const changeagent::peer::Change& c) {
  json::object o;
  o["type"] = c.type();
  json::array tags;
  for (const auto& t : c.tags()) tags.emplace_back(t);
  o["tags"] = std::move(tags);
  if (!c.request_id().empty()) o["requestId"] = c.request_id();
  std::string head = json::serialize(o);
  head.pop_back();  // '}': data and the txn are spliced in as stored JSON
  out += head;
  out += ",\"data\":";
  out += c.data_json().empty() ? "null" : c.data_json();
  if (c.has_txn()) {
    out += ",\"ops\":[";
    for (int i = 0; i < c.txn().ops_size(); i++) {
      const auto& op = c.txn().ops(i);
      if (i > 0) out += ",";
      out += "{\"key\":" + json::serialize(json::string(op.key()));
      if (op.delete_()) {
        out += ",\"delete\":true}";
      } else {
        out +=
            ",\"value\":" + (op.value_json().empty() ? std::string("null") : op.value_json()) + "}";
      }
    }
    out += "],\"compares\":[";
    for (int i = 0; i < c.txn().compares_size(); i++) {
      const auto& cmp = c.txn().compares(i);
      if (i > 0) out += ",";
      out += "{\"key\":" + json::serialize(json::string(cmp.key())) +
             ",\"revision\":" + std::to_string(cmp.mod_revision()) + "}";
    }
    out += "]";
  }
  out += "}";
}

// Bookkeeping changes (leases, cursors, checkpoints, config) never go to
// webhooks: a broken webhook must not be able to stop the cluster from
// keeping its leases, or the operator from removing the webhook.
bool is_user_change(const changeagent::peer::Change& c) {
  if (c.internal() || c.has_lease_grant() || c.lease_revoke() != 0) return false;
  if (c.type() == kCheckpointType) return false;
  for (const auto& op : c.txn().ops()) {
    if (reserved_prefix_of(op.key())) return false;
  }
  return true;
}

uint64_t ms_to_ticks(uint64_t ms, uint32_t tick_ms) {
  return std::max<uint64_t>(1, (ms + tick_ms - 1) / tick_ms);
}

// The Raft timeouts in ticks: the replicated ones if set, else the flags.
std::pair<uint32_t, uint32_t> timeout_ticks(const ClusterConfig& c, const NodeOptions& opts) {
  if (!c.heartbeat_interval_ms || !c.election_timeout_ms) {
    return {opts.heartbeat_ticks, opts.election_ticks};
  }
  auto heartbeat = static_cast<uint32_t>(ms_to_ticks(*c.heartbeat_interval_ms, opts.tick_ms));
  auto election = static_cast<uint32_t>(ms_to_ticks(*c.election_timeout_ms, opts.tick_ms));
  // Rounding to coarse ticks could make them meet; raftlog needs election > heartbeat.
  return {heartbeat, std::max(election, heartbeat + 1)};
}

}  // namespace

void Node::Impl::refresh_config(bool at_start) {
  std::map<std::string, std::string> values;
  std::map<std::string, uint64_t> revisions;
  uint64_t revision = 0;
  bool more = false;
  for (const auto& [key, rec] :
       view.range(std::string(kConfigKeyPrefix), "", kConfigKeysScannedMax, &more)) {
    values[key] = rec.value_json;
  }
  for (const auto& s : config_settings()) {
    const state::KeyRecord* rec = view.get(std::string(s.key));
    revisions[std::string(s.key)] = rec ? rec->mod_revision : 0;
    if (rec) revision = std::max(revision, rec->mod_revision);
  }
  ClusterConfig next = config_from_keys(values);
  // Other `_config/` keys (none today) are not settings of /config.
  std::erase_if(values, [](const auto& kv) {
    for (const auto& s : config_settings()) {
      if (s.key == kv.first) return false;
    }
    return true;
  });
  bool changed = next != cluster_config || revision != config_revision;
  cluster_config = std::move(next);
  config_revision = revision;
  config_key_revisions = std::move(revisions);
  config_stored = std::move(values);

  storage::RetentionPolicy policy = retention_flags;
  if (cluster_config.retention_min_records) {
    policy.min_records = *cluster_config.retention_min_records;
  }
  if (cluster_config.retention_min_duration_seconds) {
    policy.min_duration = std::chrono::seconds(*cluster_config.retention_min_duration_seconds);
  }
  opts.retention = policy;
  if (!changed) return;
  log->info("config revision {}{}: {}", config_revision, at_start ? " (at start)" : "",
            render_config_json(cluster_config));
  if (!at_start && opts.retention.enabled() && !purger) start_retention();
}

// The persisted state view can lag the log: `applied` reaches disk with the
// next write after the apply. A config entry committed but not yet applied
// in the persisted state must still count at this start, else a node
// restarted right after PUT /config would start with the old timeouts. So
// the committed tail is replayed for the `_config/` keys only: a config
// write compares and writes only `_config/` keys, so its outcome there
// depends on nothing else.
ClusterConfig Node::Impl::config_at_commit(Index applied_at, Index commit) {
  struct Key {
    std::string value;
    uint64_t revision = 0;
  };
  std::map<std::string, Key> keys;
  bool more = false;
  for (const auto& [k, rec] :
       view.range(std::string(kConfigKeyPrefix), "", kConfigKeysScannedMax, &more)) {
    keys[k] = Key{rec.value_json, rec.mod_revision};
  }
  bool touched = false;
  constexpr uint64_t kReadBytesMax = 4 << 20;
  for (Index next = applied_at + 1; next <= commit;) {
    auto ents = store->entries(next, commit + 1, kReadBytesMax);
    if (!ents.is_ok() || ents->empty()) break;  // compacted or unreadable: what we have
    for (const auto& e : *ents) {
      next = e.index + 1;
      if (e.type != raftlog::EntryType::kNormal || e.data.empty()) continue;
      auto c = decode_change(e.data);
      if (!c.is_ok() || c->txn().ops().empty()) continue;
      bool config = true;
      for (const auto& op : c->txn().ops())
        config = config && op.key().starts_with(kConfigKeyPrefix);
      for (const auto& cmp : c->txn().compares()) {
        config = config && cmp.key().starts_with(kConfigKeyPrefix);
      }
      if (!config) continue;
      bool holds = true;
      for (const auto& cmp : c->txn().compares()) {
        auto it = keys.find(cmp.key());
        holds = holds && (it == keys.end() ? 0 : it->second.revision) == cmp.mod_revision();
      }
      if (!holds) continue;
      for (const auto& op : c->txn().ops()) {
        if (op.delete_()) {
          keys.erase(op.key());
        } else {
          keys[op.key()] = Key{op.value_json(), e.index.value()};
        }
      }
      touched = true;
    }
  }
  if (!touched) return cluster_config;
  std::map<std::string, std::string> values;
  for (const auto& [k, v] : keys) values[k] = v.value;
  return config_from_keys(values);
}

void Node::Impl::choose_timeouts(raftlog::Config& cfg, const ClusterConfig& config) {
  auto [heartbeat, election] = timeout_ticks(config, opts);
  cfg.heartbeat_ticks = heartbeat;
  cfg.election_timeout_ticks = election;
  heartbeat_ms_in_force = uint64_t(heartbeat) * opts.tick_ms;
  election_ms_in_force = uint64_t(election) * opts.tick_ms;
}

Result<ConfigView> Node::config_view() {
  const Impl& s = *impl_;
  ConfigView v;
  v.replicated = s.cluster_config;
  v.revision = s.config_revision;
  v.key_revisions = s.config_key_revisions;
  v.stored = s.config_stored;
  v.applied_index = s.applied.value();
  v.heartbeat_interval_ms = s.heartbeat_ms_in_force;
  v.election_timeout_ms = s.election_ms_in_force;
  v.retention_min_records = s.opts.retention.min_records;
  v.retention_min_duration_seconds = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(s.opts.retention.min_duration).count());
  v.request_id_window_seconds = s.view.request_window_ns() / 1000000000ull;
  auto [heartbeat, election] = timeout_ticks(s.cluster_config, s.opts);
  if (uint64_t(heartbeat) * s.opts.tick_ms != s.heartbeat_ms_in_force ||
      uint64_t(election) * s.opts.tick_ms != s.election_ms_in_force) {
    v.pending_restart = {"heartbeatIntervalMs", "electionTimeoutMs"};
  }
  return v;
}

std::optional<uint64_t> Node::replicated_body_bytes_max() {
  return impl_->cluster_config.body_bytes_max;
}

bool Node::Impl::start_webhooks(const std::vector<std::string>& payloads,
                                std::function<void(Status)> then) {
  if (!cluster_config.webhooks || cluster_config.webhooks->empty()) return false;
  const std::vector<Webhook>& hooks = *cluster_config.webhooks;
  std::vector<bool> matched(hooks.size(), false);
  std::string body = "{\"changes\":[";
  bool first = true;
  for (const auto& raw : payloads) {
    auto c = decode_change(raw);
    if (!c.is_ok() || !is_user_change(*c)) continue;
    std::vector<std::string> tags(c->tags().begin(), c->tags().end());
    std::vector<std::string> keys;
    for (const auto& op : c->txn().ops()) keys.push_back(op.key());
    for (size_t i = 0; i < hooks.size(); i++) {
      if (webhook_matches(hooks[i], tags, keys)) matched[i] = true;
    }
    if (!first) body += ",";
    first = false;
    append_change_json(body, *c);
  }
  body += "]}";
  // Config order: the first refusal in config order decides.
  std::vector<Webhook> ordered;
  for (size_t i = 0; i < hooks.size(); i++) {
    if (matched[i]) ordered.push_back(hooks[i]);
  }
  if (ordered.empty()) return false;
  if (!webhook_log) webhook_log = std::make_shared<WebhookFailureLog>(log);
  std::weak_ptr<bool> token = alive;
  run_webhooks(
      io, std::move(ordered), std::move(body), webhook_log,
      [token, then = std::move(then)](Status s) {
        if (token.expired()) return;  // the node is gone
        then(std::move(s));
      },
      opts.webhook_tls);
  return true;
}

namespace {

// After an append waited (for the config fence or the webhooks): answers it
// with 503 and returns true when it can no longer be proposed, because the
// node is going away or the request's deadline passed meanwhile (`late`
// says what it waited for). Either way nothing was appended.
bool answered_as_stale(QueuedAppend& q, bool shutting_down, const char* late) {
  if (shutting_down) {
    q.done(Status(Code::kUnavailable, "node is shutting down"));
    return true;
  }
  if (Clock::now() >= q.deadline) {
    q.done(Status(Code::kUnavailable, late));
    return true;
  }
  return false;
}

}  // namespace

bool Node::Impl::wait_for_config_fence(Clock::time_point deadline, std::function<void()> then) {
  if (applied >= config_fence) return false;
  // waiters wake when applied > key; the deadline sweep wakes it too.
  waiters.emplace(config_fence - 1, Waiter{deadline, std::move(then)});
  return true;
}

bool Node::Impl::validate_first(QueuedAppend& q) {
  if (!q.fenced) {
    auto parked = std::make_shared<QueuedAppend>(std::move(q));
    bool waiting = wait_for_config_fence(parked->deadline, [this, parked] {
      QueuedAppend next = std::move(*parked);
      next.fenced = true;
      if (answered_as_stale(next, stopping || failed,
                            "the leader had not applied the latest config before the request "
                            "timeout; not appended")) {
        return;
      }
      dispatch(std::move(next));
    });
    if (waiting) return true;  // parked now owns the append
    q = std::move(*parked);
    q.fenced = true;
  }
  auto held = std::make_shared<QueuedAppend>(std::move(q));
  bool started = start_webhooks(held->payloads, [this, held](Status s) {
    QueuedAppend next = std::move(*held);
    if (!s.is_ok()) {
      next.done(s);
      return;
    }
    if (answered_as_stale(next, stopping || failed,
                          "the validator webhooks took longer than the request timeout; not "
                          "appended")) {
      return;
    }
    next.validated = true;
    dispatch(std::move(next));
  });
  if (!started) q = std::move(*held);
  return started;
}

bool Node::Impl::validate_forward_first(NodeId from, const changeagent::peer::ForwardRequest& req,
                                        bool fenced) {
  auto copy = std::make_shared<changeagent::peer::ForwardRequest>(req);
  if (!fenced) {
    // The forwarding follower bounds the request by its own deadline; this
    // wait is bounded by the request timeout here.
    bool waiting = wait_for_config_fence(Clock::now() + opts.request_timeout, [this, from, copy] {
      if (core->role() != raftlog::Role::kLeader || failed || stopping ||
          !validate_forward_first(from, *copy, true)) {
        on_forward_request(from, *copy, true);
      }
    });
    if (waiting) return true;
  }
  std::vector<std::string> payloads(req.payloads().begin(), req.payloads().end());
  return start_webhooks(payloads, [this, from, copy](Status s) {
    if (s.is_ok()) {
      on_forward_request(from, *copy, true);
      return;
    }
    changeagent::peer::PeerFrame f;
    auto* resp = f.mutable_forward_response();
    resp->set_request_id(copy->request_id());
    resp->set_leader_id(core->leader().value());
    resp->set_code(static_cast<uint32_t>(s.code()));
    resp->set_error(s.message());
    transport->send(from, std::move(f));
  });
}

}  // namespace api
