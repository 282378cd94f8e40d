// GET/PUT /config: the replicated cluster config (api/cluster_config.h).
//
// GET answers from this node's applied state: {"revision", "appliedIndex",
// "config" (the settings that are set), "effective" (what this node runs
// with: the replicated value, else its flag or the default),
// "pendingRestart" (replicated settings this node takes at its next start)}.
// `ETag` carries the revision.
//
// PUT takes the settings to change (null unsets one) and optionally the
// revision it is conditional on ("revision", If-Match or ?ifRevision=). It
// is refused with 400 and the reason before anything is proposed when a
// field is bad or the merged config breaks a rule. The write is one Txn
// that puts/deletes the named keys and compares EVERY setting key with the
// revision read, so the config it validated is the one it replaces; a
// concurrent change makes an unconditional PUT read, validate and try
// again (bounded), and a conditional one 409.
//
// YAML: a PUT body with Content-Type application/yaml (or application/x-yaml,
// text/yaml) is the same settings written as YAML (common/yaml_json.h); it is
// converted to JSON first and stored as JSON, so every node and every later
// GET sees one format. A GET or PUT whose Accept names a YAML type gets the
// answer as YAML.
#include <boost/json.hpp>

#include "api/change_json.h"
#include "api/cluster_config.h"
#include "api/http_router.h"
#include "api/http_router_internal.h"
#include "common/yaml_json.h"

namespace api {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace http_detail;

namespace {

constexpr int kConfigPutAttemptsMax = 5;

// If-Match: "12", 12 or W/"12"; nullopt when absent; an error when garbled.
Result<std::optional<uint64_t>> if_match_revision(const HttpRequest& req) {
  const std::string* h = req.header("if-match");
  if (h == nullptr) return std::optional<uint64_t>();
  std::string_view v = *h;
  if (v.starts_with("W/")) v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  auto n = parse_u64(v);
  if (!n) return bad("If-Match must be a config revision (an integer), got '" + *h + "'");
  return std::optional<uint64_t>(*n);
}

std::string render_view(const ConfigView& v, uint64_t body_bytes_max_flag) {
  json::object eff;
  eff["heartbeatIntervalMs"] = v.heartbeat_interval_ms;
  eff["electionTimeoutMs"] = v.election_timeout_ms;
  eff["retentionMinRecords"] = v.retention_min_records;
  eff["retentionMinDurationSeconds"] = v.retention_min_duration_seconds;
  eff["bodyBytesMax"] = v.replicated.body_bytes_max.value_or(body_bytes_max_flag);
  eff["requestIdWindowSeconds"] = v.request_id_window_seconds;
  json::object o;
  o["revision"] = v.revision;
  o["appliedIndex"] = v.applied_index;
  o["config"] = json::parse(render_config_json(v.replicated));
  json::value hooks = o["config"].as_object().contains("webhooks")
                          ? o["config"].as_object()["webhooks"]
                          : json::value(json::array());
  eff["webhooks"] = std::move(hooks);
  o["effective"] = std::move(eff);
  json::array pending;
  for (const auto& p : v.pending_restart) pending.emplace_back(p);
  o["pendingRestart"] = std::move(pending);
  return json::serialize(o);
}

// application/yaml, application/x-yaml, text/yaml, text/x-yaml (any case,
// parameters ignored).
bool is_yaml_media_type(std::string_view v) {
  v = v.substr(0, v.find(';'));
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  std::string lower(v);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "application/yaml" || lower == "application/x-yaml" || lower == "text/yaml" ||
         lower == "text/x-yaml";
}

// Whether an Accept header asks for YAML (one of its listed types is YAML
// and JSON is not listed before it).
bool accepts_yaml(const std::string* accept) {
  if (accept == nullptr) return false;
  std::string_view rest = *accept;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    if (is_yaml_media_type(item)) return true;
    if (item.find("json") != std::string_view::npos) return false;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

// The reply for a config view, as JSON or as the YAML the client asked for.
HttpReply view_reply(const HttpRequest& req, const ConfigView& v, uint64_t body_bytes_max) {
  std::string body = render_view(v, body_bytes_max);
  HttpReply r = json_reply(200, body);
  if (accepts_yaml(req.header("accept"))) {
    auto yaml = common::json_to_yaml(body);
    if (yaml.is_ok()) {
      r.body = std::move(*yaml);
      r.content_type = "application/yaml";
    }
  }
  r.headers.emplace_back("ETag", "\"" + std::to_string(v.revision) + "\"");
  return r;
}

// The merged config a patch asks for, and the Txn that writes it.
TxnRequest config_txn(const ConfigView& v, const ConfigPatch& patch, const std::string& body) {
  TxnRequest txn;
  txn.internal = true;  // bookkeeping: a prefix watch on _config/ still sees it
  txn.change.data_json = body;
  for (const auto& s : config_settings()) {
    std::string key(s.key);
    auto rev = v.key_revisions.find(key);
    txn.compares.push_back({key, rev == v.key_revisions.end() ? 0 : rev->second});
    auto it = patch.values.find(std::string(s.name));
    if (it == patch.values.end()) continue;
    // Unset is a put of JSON null, not a delete: the key keeps a revision,
    // so the config revision (the newest among them) never goes back.
    txn.ops.push_back(TxnOp{key, false, it->second.value_or("null"), 0});
  }
  return txn;
}

// The config the stored values plus the patch describe.
ClusterConfig merged_config(const ConfigView& v, const ConfigPatch& patch) {
  std::map<std::string, std::string> values = v.stored;
  for (const auto& s : config_settings()) {
    auto p = patch.values.find(std::string(s.name));
    if (p == patch.values.end()) continue;
    if (p->second) {
      values[std::string(s.key)] = *p->second;
    } else {
      values.erase(std::string(s.key));
    }
  }
  return config_from_keys(values);
}

}  // namespace

asio::awaitable<HttpReply> Router::dispatch_cluster_config(const HttpRequest& req, const Query& q,
                                                           const Status& qs,
                                                           std::string_view& route_name) {
  route_name = "/config";
  const std::string& m = req.method;
  if (m != "GET" && m != "PUT") co_return method_not_allowed("GET, PUT");
  if (!qs.is_ok()) co_return status_reply(qs);
  if (m == "GET") {
    if (q.consistent) {
      Status s = co_await barrier();
      if (!s.is_ok()) co_return status_reply(s);
    }
    auto v = svc_.config_view();
    if (!v.is_ok()) co_return status_reply(v.status());
    co_return view_reply(req, *v, opts_.body_bytes_max);
  }
  const std::string* content_type = req.header("content-type");
  std::string body = req.body;
  if (content_type != nullptr && is_yaml_media_type(*content_type)) {
    auto converted = common::yaml_to_json(req.body);
    if (!converted.is_ok()) co_return status_reply(converted.status());
    body = std::move(*converted);
  } else if (!is_json_content_type(content_type)) {
    co_return error_reply(kErrUnsupportedMediaType,
                          "Content-Type must be application/json or application/yaml");
  }
  auto patch = parse_config_patch(body);
  if (!patch.is_ok()) co_return status_reply(patch.status());
  auto header_rev = if_match_revision(req);
  if (!header_rev.is_ok()) co_return status_reply(header_rev.status());
  std::optional<uint64_t> wanted = patch->revision;
  for (const auto& other : {*header_rev, q.if_revision}) {
    if (!other) continue;
    if (wanted && *wanted != *other) {
      co_return status_reply(bad("the revision in the body, If-Match and ifRevision disagree"));
    }
    wanted = other;
  }
  if (wanted) {
    // Compare against the newest config, not a follower's possibly older one.
    Status s = co_await barrier();
    if (!s.is_ok()) co_return status_reply(s);
  }
  for (int attempt = 0;; attempt++) {
    auto v = svc_.config_view();
    if (!v.is_ok()) co_return status_reply(v.status());
    if (wanted && *wanted != v->revision) {
      co_return error_reply(kErrRevisionMismatch,
                            "config revision is " + std::to_string(v->revision) + ", not " +
                                std::to_string(*wanted) + "; GET /config and try again");
    }
    ClusterConfig next = merged_config(*v, *patch);
    if (Status s = validate_config(next); !s.is_ok()) co_return status_reply(s);
    TxnRequest txn = config_txn(*v, *patch, body);
    Result<TxnResult> r = co_await run_reserved_txn(txn);
    if (!r.is_ok()) co_return status_reply(r.status());
    if (r->succeeded) break;
    if (wanted || attempt + 1 >= kConfigPutAttemptsMax) {
      co_return error_reply(kErrRevisionMismatch,
                            "the config changed while this PUT was being applied; GET /config "
                            "and try again");
    }
    // Someone else's config write won: wait until it is applied here, then
    // validate against it.
    Status s = co_await barrier();
    if (!s.is_ok()) co_return status_reply(s);
  }
  auto after = svc_.config_view();
  if (!after.is_ok()) co_return status_reply(after.status());
  co_return view_reply(req, *after, opts_.body_bytes_max);
}

}  // namespace api
