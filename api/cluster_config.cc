// Parsing, validation and rendering of the replicated config (see
// cluster_config.h). Every refusal names the setting and the rule broken.
#include "api/cluster_config.h"

#include <boost/json.hpp>

namespace api {

namespace json = boost::json;
using common::Code;
using common::Result;
using common::Status;

namespace {

Status invalid(const std::string& why) {
  return Status(Code::kInvalidArgument, why);
}

const ConfigSetting kHeartbeat{"heartbeatIntervalMs", "_config/heartbeat_interval_ms"};
const ConfigSetting kElection{"electionTimeoutMs", "_config/election_timeout_ms"};
const ConfigSetting kMinRecords{"retentionMinRecords", "_config/retention_min_records"};
const ConfigSetting kMinDuration{"retentionMinDurationSeconds",
                                 "_config/retention_min_duration_seconds"};
const ConfigSetting kBodyBytes{"bodyBytesMax", "_config/body_bytes_max"};
// The key predates /config (PUT /config/request_id_window) and the state
// view reads it: same key, same format (a JSON integer of seconds).
const ConfigSetting kRequestIdWindow{"requestIdWindowSeconds", "_config/request_id_window"};
const ConfigSetting kWebhooks{"webhooks", "_config/webhooks"};

std::optional<uint64_t> as_u64(const json::value& v) {
  if (v.is_uint64()) return v.as_uint64();
  if (v.is_int64() && v.as_int64() >= 0) return static_cast<uint64_t>(v.as_int64());
  return std::nullopt;
}

Result<uint64_t> bounded(std::string_view name, const json::value& v, uint64_t lo, uint64_t hi) {
  auto n = as_u64(v);
  if (!n || *n < lo || *n > hi) {
    return invalid(std::string(name) + " must be an integer from " + std::to_string(lo) + " to " +
                   std::to_string(hi) + ", got " + json::serialize(v));
  }
  return *n;
}

// http(s)://host[:port][/path]; host may be an [IPv6] literal.
Status parse_url(Webhook& w, const std::string& where) {
  std::string_view u = w.url;
  if (u.size() > kWebhookUrlBytesMax) {
    return invalid(where + ".url is over " + std::to_string(kWebhookUrlBytesMax) + " bytes");
  }
  if (u.starts_with("https://")) {
    w.tls = true;
    u.remove_prefix(8);
  } else if (u.starts_with("http://")) {
    w.tls = false;
    u.remove_prefix(7);
  } else {
    return invalid(where + ".url must start with http:// or https://");
  }
  size_t slash = u.find('/');
  std::string_view authority = u.substr(0, slash);
  w.target = slash == std::string_view::npos ? "/" : std::string(u.substr(slash));
  if (authority.find('@') != std::string_view::npos) {
    return invalid(where + ".url must not carry credentials");
  }
  std::string default_port = w.tls ? "443" : "80";
  if (authority.starts_with('[')) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalid(where + ".url has an unclosed '['");
    w.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) {
      return invalid(where + ".url has junk after ']'");
    }
    w.port = rest.empty() ? default_port : std::string(rest.substr(1));
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    w.host = std::string(authority.substr(0, colon));
    w.port = std::string(authority.substr(colon + 1));
  } else {
    w.host = std::string(authority);
    w.port = default_port;
  }
  if (w.host.empty()) return invalid(where + ".url has no host");
  if (w.port.empty() || w.port.size() > 5 ||
      w.port.find_first_not_of("0123456789") != std::string::npos || std::stoul(w.port) == 0 ||
      std::stoul(w.port) > 65535) {
    return invalid(where + ".url has a bad port '" + w.port + "'");
  }
  for (char c : w.target) {
    if (c <= ' ' || c == 0x7f) return invalid(where + ".url has a space or control character");
  }
  return Status::ok();
}

Result<std::vector<std::string>> string_list(const json::object& o, const char* field,
                                             const std::string& where) {
  std::vector<std::string> out;
  const json::value* v = o.if_contains(field);
  if (v == nullptr) return out;
  if (!v->is_array()) return invalid(where + "." + field + " must be an array of strings");
  if (v->as_array().size() > kWebhookFiltersMax) {
    return invalid(where + "." + field + " has more than " + std::to_string(kWebhookFiltersMax) +
                   " entries");
  }
  for (const auto& s : v->as_array()) {
    if (!s.is_string() || s.as_string().empty()) {
      return invalid(where + "." + field + " must hold non-empty strings");
    }
    out.emplace_back(s.as_string());
  }
  return out;
}

Result<Webhook> parse_webhook(const json::value& v, size_t i) {
  std::string where = "webhooks[" + std::to_string(i) + "]";
  if (!v.is_object()) return invalid(where + " must be an object with \"url\"");
  const json::object& o = v.as_object();
  for (const auto& [k, _] : o) {
    if (k != "url" && k != "tags" && k != "keyPrefixes" && k != "timeoutMs" &&
        k != "failurePolicy") {
      return invalid(where + " has an unknown field \"" + std::string(k) +
                     "\"; known: url, tags, keyPrefixes, timeoutMs, failurePolicy");
    }
  }
  Webhook w;
  const json::value* url = o.if_contains("url");
  if (url == nullptr || !url->is_string()) return invalid(where + ".url must be a string");
  w.url = std::string(url->as_string());
  if (Status s = parse_url(w, where); !s.is_ok()) return s;
  auto tags = string_list(o, "tags", where);
  if (!tags.is_ok()) return tags.status();
  w.tags = std::move(*tags);
  auto prefixes = string_list(o, "keyPrefixes", where);
  if (!prefixes.is_ok()) return prefixes.status();
  w.key_prefixes = std::move(*prefixes);
  if (const json::value* t = o.if_contains("timeoutMs")) {
    auto ms = bounded(where + ".timeoutMs", *t, 1, kWebhookTimeoutMsMax);
    if (!ms.is_ok()) return ms.status();
    w.timeout_ms = static_cast<uint32_t>(*ms);
  }
  if (const json::value* p = o.if_contains("failurePolicy")) {
    if (p->is_string() && p->as_string() == "fail-open") {
      w.fail_open = true;
    } else if (p->is_string() && p->as_string() == "fail-closed") {
      w.fail_open = false;
    } else {
      return invalid(where + ".failurePolicy must be \"fail-open\" or \"fail-closed\"");
    }
  }
  return w;
}

Result<std::vector<Webhook>> parse_webhooks(const json::value& v) {
  if (!v.is_array()) return invalid("webhooks must be an array of {\"url\": ...}");
  if (v.as_array().size() > kWebhooksMax) {
    return invalid("webhooks: at most " + std::to_string(kWebhooksMax) + " webhooks");
  }
  std::vector<Webhook> out;
  for (size_t i = 0; i < v.as_array().size(); i++) {
    auto w = parse_webhook(v.as_array()[i], i);
    if (!w.is_ok()) return w.status();
    out.push_back(std::move(*w));
  }
  return out;
}

json::array webhooks_json(const std::vector<Webhook>& hooks) {
  json::array a;
  for (const auto& w : hooks) {
    json::object o;
    o["url"] = w.url;
    if (!w.tags.empty()) o["tags"] = json::array(w.tags.begin(), w.tags.end());
    if (!w.key_prefixes.empty()) {
      o["keyPrefixes"] = json::array(w.key_prefixes.begin(), w.key_prefixes.end());
    }
    o["timeoutMs"] = w.timeout_ms;
    o["failurePolicy"] = w.fail_open ? "fail-open" : "fail-closed";
    a.push_back(std::move(o));
  }
  return a;
}

// A field's value checked and made canonical (what its key stores).
Result<std::string> canonical(const ConfigSetting& s, const json::value& v) {
  auto number = [&](uint64_t lo, uint64_t hi) -> Result<std::string> {
    auto n = bounded(s.name, v, lo, hi);
    if (!n.is_ok()) return n.status();
    return std::to_string(*n);
  };
  if (s.key == kHeartbeat.key) return number(kHeartbeatIntervalMsMin, kHeartbeatIntervalMsMax);
  if (s.key == kElection.key) {
    return number(kHeartbeatIntervalMsMin * kElectionPerHeartbeatMin, kElectionTimeoutMsMax);
  }
  if (s.key == kMinRecords.key) return number(0, kRetentionMinRecordsMax);
  if (s.key == kMinDuration.key) return number(0, kRetentionMinDurationSecondsMax);
  if (s.key == kBodyBytes.key) return number(kBodyBytesMaxMin, kBodyBytesMaxMax);
  if (s.key == kRequestIdWindow.key) {
    return number(kRequestIdWindowSecondsMin, kRequestIdWindowSecondsMax);
  }
  auto hooks = parse_webhooks(v);
  if (!hooks.is_ok()) return hooks.status();
  return json::serialize(webhooks_json(*hooks));
}

}  // namespace

const std::vector<ConfigSetting>& config_settings() {
  static const std::vector<ConfigSetting> all{
      kHeartbeat, kElection, kMinRecords, kMinDuration, kBodyBytes, kRequestIdWindow, kWebhooks};
  return all;
}

Result<ConfigPatch> parse_config_patch(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return invalid("the body is not JSON: " + ec.message());
  if (!v.is_object()) return invalid("PUT /config takes a JSON object of settings");
  ConfigPatch patch;
  for (const auto& [k, val] : v.as_object()) {
    if (k == "revision") {
      auto r = as_u64(val);
      if (!r) return invalid("revision must be a non-negative integer");
      patch.revision = *r;
      continue;
    }
    const ConfigSetting* s = nullptr;
    for (const auto& c : config_settings()) {
      if (c.name == k) s = &c;
    }
    if (s == nullptr) {
      std::string known;
      for (const auto& c : config_settings())
        known += (known.empty() ? "" : ", ") + std::string(c.name);
      return invalid("unknown setting \"" + std::string(k) + "\"; known: " + known + ", revision");
    }
    if (val.is_null()) {
      patch.values[std::string(s->name)] = std::nullopt;
      continue;
    }
    auto c = canonical(*s, val);
    if (!c.is_ok()) return c.status();
    patch.values[std::string(s->name)] = std::move(*c);
  }
  if (patch.values.empty()) {
    return invalid("PUT /config names no setting; give at least one (null unsets it)");
  }
  return patch;
}

ClusterConfig config_from_keys(const std::map<std::string, std::string>& values) {
  ClusterConfig c;
  for (const auto& s : config_settings()) {
    auto it = values.find(std::string(s.key));
    if (it == values.end()) continue;
    boost::system::error_code ec;
    json::value v = json::parse(it->second, ec);
    if (ec) continue;
    if (!canonical(s, v).is_ok()) continue;  // malformed: unset
    if (s.key == kWebhooks.key) {
      c.webhooks = *parse_webhooks(v);
      continue;
    }
    uint64_t n = *as_u64(v);
    if (s.key == kHeartbeat.key) c.heartbeat_interval_ms = n;
    if (s.key == kElection.key) c.election_timeout_ms = n;
    if (s.key == kMinRecords.key) c.retention_min_records = n;
    if (s.key == kMinDuration.key) c.retention_min_duration_seconds = n;
    if (s.key == kBodyBytes.key) c.body_bytes_max = n;
    if (s.key == kRequestIdWindow.key) c.request_id_window_seconds = n;
  }
  return c;
}

Status validate_config(const ClusterConfig& c) {
  if (c.heartbeat_interval_ms.has_value() != c.election_timeout_ms.has_value()) {
    return invalid(
        "heartbeatIntervalMs and electionTimeoutMs are set together (one without the other "
        "would pair with each node's own flag, which may break the 5x rule there)");
  }
  if (c.heartbeat_interval_ms &&
      *c.election_timeout_ms < kElectionPerHeartbeatMin * *c.heartbeat_interval_ms) {
    return invalid("electionTimeoutMs (" + std::to_string(*c.election_timeout_ms) +
                   ") must be at least " + std::to_string(kElectionPerHeartbeatMin) +
                   " x heartbeatIntervalMs (" + std::to_string(*c.heartbeat_interval_ms) + ")");
  }
  return Status::ok();
}

std::string render_config_json(const ClusterConfig& c) {
  json::object o;
  auto put = [&o](const ConfigSetting& s, const std::optional<uint64_t>& v) {
    if (v) o[s.name] = *v;
  };
  put(kHeartbeat, c.heartbeat_interval_ms);
  put(kElection, c.election_timeout_ms);
  put(kMinRecords, c.retention_min_records);
  put(kMinDuration, c.retention_min_duration_seconds);
  put(kBodyBytes, c.body_bytes_max);
  put(kRequestIdWindow, c.request_id_window_seconds);
  if (c.webhooks) o[kWebhooks.name] = webhooks_json(*c.webhooks);
  return json::serialize(o);
}

bool webhook_matches(const Webhook& w, const std::vector<std::string>& tags,
                     const std::vector<std::string>& keys) {
  if (w.tags.empty() && w.key_prefixes.empty()) return true;
  for (const auto& t : tags) {
    for (const auto& want : w.tags) {
      if (t == want) return true;
    }
  }
  for (const auto& k : keys) {
    for (const auto& p : w.key_prefixes) {
      if (k.starts_with(p)) return true;
    }
  }
  return false;
}

}  // namespace api
