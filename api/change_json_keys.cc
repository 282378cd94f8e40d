// The JSON of keys, transactions and leases (issue 4): request parsing for
// the server, rendering of answers, and the client's reverse of both. See
// change_json.h for the shapes.
#include <boost/json.hpp>
#include <set>

#include "api/change_json.h"
#include "api/change_json_internal.h"
#include "api/http_errors.h"
#include "api/http_limits.h"
#include "common/utf8.h"

namespace api {

using namespace json_detail;

namespace {

Result<std::string> key_from_value(const json::value& v, std::string_view what) {
  if (!v.is_string()) return invalid("\"" + std::string(what) + "\" must be a string");
  std::string key(v.as_string());
  Status s = validate_key(key);
  if (!s.is_ok()) return s;
  return key;
}

Result<uint64_t> lease_from_value(const json::value& v) {
  auto id = parse_uint(v, "lease");
  if (!id.is_ok()) return invalid("\"lease\" must be a lease id (an integer >= 0; 0 = none)");
  return id;
}

Result<TxnCompare> compare_from_value(const json::value& v, size_t i) {
  std::string where = "compares[" + std::to_string(i) + "]";
  const json::object* o = v.if_object();
  if (!o) return invalid(where + " must be an object {\"key\", \"revision\"}");
  const json::value* key = o->if_contains("key");
  const json::value* rev = o->if_contains("revision");
  if (!key || !rev) return invalid(where + " needs \"key\" and \"revision\" (0 = must not exist)");
  auto k = key_from_value(*key, where + ".key");
  if (!k.is_ok()) return Status(Code::kInvalidArgument, where + ": " + k.status().message());
  auto r = parse_uint(*rev, where + ".revision");
  if (!r.is_ok()) return r.status();
  return TxnCompare{std::move(k.value()), *r};
}

Result<TxnOp> op_from_value(const json::value& v, size_t i) {
  std::string where = "ops[" + std::to_string(i) + "]";
  const json::object* o = v.if_object();
  if (!o) return invalid(where + " must be an object {\"key\", \"value\" or \"delete\": true}");
  const json::value* key = o->if_contains("key");
  if (!key) return invalid(where + " needs \"key\"");
  auto k = key_from_value(*key, where + ".key");
  if (!k.is_ok()) return Status(Code::kInvalidArgument, where + ": " + k.status().message());
  TxnOp op;
  op.key = std::move(k.value());
  if (const json::value* del = o->if_contains("delete")) {
    if (!del->is_bool()) return invalid(where + ".delete must be true or false");
    op.del = del->as_bool();
  }
  const json::value* value = o->if_contains("value");
  if (op.del && value) return invalid(where + " has both \"value\" and \"delete\": true");
  if (!op.del && !value) return invalid(where + " needs \"value\" (a put) or \"delete\": true");
  if (value) op.value_json = json::serialize(*value);
  if (const json::value* lease = o->if_contains("lease")) {
    auto id = lease_from_value(*lease);
    if (!id.is_ok()) return Status(Code::kInvalidArgument, where + ": " + id.status().message());
    if (op.del && *id != 0) return invalid(where + ": a lease applies to puts, not deletes");
    op.lease = *id;
  }
  return op;
}

// The change a POST /txn records: its "data" (null if absent), tags, type.
Result<ChangeInput> txn_change(const json::object& o) {
  ChangeInput in;
  const json::value* data = o.if_contains("data");
  in.data_json = data ? json::serialize(*data) : "null";
  if (const json::value* tags = o.if_contains("tags")) {
    auto parsed = parse_tags(*tags);
    if (!parsed.is_ok()) return parsed.status();
    in.tags = std::move(parsed.value());
  }
  if (const json::value* type = o.if_contains("type")) {
    auto parsed = parse_type(*type);
    if (!parsed.is_ok()) return parsed.status();
    in.type = *parsed;
  }
  return in;
}

json::object key_object(const KeyValue& kv) {
  boost::system::error_code ec;
  json::value value = json::parse(kv.value_json, ec);
  if (ec) value = nullptr;  // the node stores valid JSON; never emit a broken document
  return json::object{{"key", kv.key},
                      {"value", std::move(value)},
                      {"createRevision", kv.create_revision},
                      {"modRevision", kv.mod_revision},
                      {"version", kv.version},
                      {"lease", kv.lease}};
}

KeyValue key_from_object(const json::object& o) {
  KeyValue kv;
  kv.key = get_string(o, "key");
  const json::value* value = o.if_contains("value");
  kv.value_json = value ? json::serialize(*value) : "null";
  kv.create_revision = get_u64(o, "createRevision");
  kv.mod_revision = get_u64(o, "modRevision");
  kv.version = get_u64(o, "version");
  kv.lease = get_u64(o, "lease");
  return kv;
}

}  // namespace

namespace json_detail {

Result<KeyFields> parse_key_fields(const json::object& o) {
  KeyFields k;
  const json::value* key = o.if_contains("key");
  const json::value* if_rev = o.if_contains("ifRevision");
  const json::value* del = o.if_contains("delete");
  const json::value* lease = o.if_contains("lease");
  if (!key) {
    if (if_rev || del || lease) {
      return invalid(
          "\"ifRevision\", \"delete\" and \"lease\" need \"key\": the key they apply to");
    }
    return k;
  }
  auto name = key_from_value(*key, "key");
  if (!name.is_ok()) return name.status();
  k.present = true;
  k.key = std::move(name.value());
  if (if_rev) {
    auto r = parse_uint(*if_rev, "ifRevision");
    if (!r.is_ok()) {
      return invalid("\"ifRevision\" must be an integer >= 0 (0 = the key must not exist)");
    }
    k.if_revision = *r;
  }
  if (del) {
    if (!del->is_bool()) return invalid("\"delete\" must be true or false");
    k.del = del->as_bool();
  }
  if (lease) {
    auto id = lease_from_value(*lease);
    if (!id.is_ok()) return id.status();
    k.lease = *id;
  }
  if (k.del && k.lease != 0) return invalid("a lease applies to puts, not to \"delete\": true");
  if (!k.del && !o.contains("data")) {
    return invalid(
        "a change with \"key\" needs \"data\" (the key's new value), or \"delete\": true");
  }
  return k;
}

TxnRequest keyed_txn(ChangeInput change, const KeyFields& k) {
  TxnRequest req;
  if (k.if_revision) req.compares.push_back({k.key, *k.if_revision});
  TxnOp op{k.key, k.del, k.del ? std::string() : change.data_json, k.lease};
  req.ops.push_back(std::move(op));
  req.change = std::move(change);
  return req;
}

}  // namespace json_detail

Status validate_key(std::string_view key) {
  if (key.empty()) return invalid("a key must not be empty");
  if (key.size() > kKeyBytesMax) {
    return invalid("a key is at most " + std::to_string(kKeyBytesMax) + " bytes; this one has " +
                   std::to_string(key.size()));
  }
  if (key.find('\0') != std::string_view::npos) return invalid("a key must not contain NUL");
  if (!common::valid_utf8(key)) return invalid("a key must be valid UTF-8");
  return Status::ok();
}

Result<TxnRequest> parse_put_key_body(const std::string& key, std::string_view body) {
  Status valid = validate_key(key);
  if (!valid.is_ok()) return valid;
  auto v = parse_json(body);
  if (!v.is_ok()) return v.status();
  const json::object* o = v->if_object();
  const json::value* value = o ? o->if_contains("value") : nullptr;
  if (!value)
    return invalid("PUT /keys/{key} takes {\"value\": any JSON, \"ifRevision\"?, \"lease\"?}");
  KeyFields k;
  k.present = true;
  k.key = key;
  if (const json::value* r = o->if_contains("ifRevision")) {
    auto rev = parse_uint(*r, "ifRevision");
    if (!rev.is_ok()) {
      return invalid("\"ifRevision\" must be an integer >= 0 (0 = the key must not exist)");
    }
    k.if_revision = *rev;
  }
  if (const json::value* lease = o->if_contains("lease")) {
    auto id = lease_from_value(*lease);
    if (!id.is_ok()) return id.status();
    k.lease = *id;
  }
  return keyed_txn(ChangeInput{json::serialize(*value), {}, 0}, k);
}

Result<TxnRequest> parse_txn_body(std::string_view body) {
  auto v = parse_json(body);
  if (!v.is_ok()) return v.status();
  const json::object* o = v->if_object();
  if (!o) return invalid("a transaction must be an object {\"compares\", \"ops\", \"data\"?}");
  const json::value* compares = o->if_contains("compares");
  const json::value* ops = o->if_contains("ops");
  if (compares && !compares->is_array()) return invalid("\"compares\" must be an array");
  if (!ops || !ops->is_array() || ops->as_array().empty()) {
    return invalid("\"ops\" must be an array of 1 to " + std::to_string(kTxnOpsMax) +
                   " puts/deletes");
  }
  if (ops->as_array().size() > kTxnOpsMax) {
    return Status(Code::kTooLarge,
                  "a transaction holds at most " + std::to_string(kTxnOpsMax) + " ops");
  }
  if (compares && compares->as_array().size() > kTxnComparesMax) {
    return Status(Code::kTooLarge,
                  "a transaction holds at most " + std::to_string(kTxnComparesMax) + " compares");
  }
  TxnRequest req;
  auto change = txn_change(*o);
  if (!change.is_ok()) return change.status();
  req.change = std::move(change.value());
  if (compares) {
    const auto& a = compares->as_array();
    for (size_t i = 0; i < a.size(); i++) {
      auto c = compare_from_value(a[i], i);
      if (!c.is_ok()) return c.status();
      req.compares.push_back(std::move(c.value()));
    }
  }
  std::set<std::string_view> seen;
  const auto& a = ops->as_array();
  for (size_t i = 0; i < a.size(); i++) {
    auto op = op_from_value(a[i], i);
    if (!op.is_ok()) return op.status();
    req.ops.push_back(std::move(op.value()));
  }
  for (const auto& op : req.ops) {
    if (!seen.insert(op.key).second) {
      return invalid("key \"" + op.key + "\" appears more than once among ops");
    }
  }
  return req;
}

Result<uint64_t> parse_lease_grant_body(std::string_view body) {
  auto v = parse_json(body);
  if (!v.is_ok()) return v.status();
  const json::object* o = v->if_object();
  const json::value* ttl = o ? o->if_contains("ttl") : nullptr;
  std::string range =
      "from " + std::to_string(kLeaseTtlSecondsMin) + " to " + std::to_string(kLeaseTtlSecondsMax);
  if (!ttl) return invalid("POST /leases takes {\"ttl\": seconds " + range + "}");
  auto s = parse_uint(*ttl, "ttl");
  if (!s.is_ok() || *s < kLeaseTtlSecondsMin || *s > kLeaseTtlSecondsMax) {
    return invalid("\"ttl\" must be an integer number of seconds " + range);
  }
  return *s;
}

std::string render_key_write(const std::string& key, const TxnResult& r) {
  return json::serialize(
      json::object{{"_id", r.id}, {"_ts", r.ts_ns}, {"key", key}, {"revision", r.id}});
}

std::string render_txn_succeeded(const TxnResult& r) {
  return json::serialize(json::object{{"succeeded", true}, {"_id", r.id}, {"_ts", r.ts_ns}});
}

std::string render_revision_mismatch(const std::vector<TxnCompare>& wanted, const TxnResult& r,
                                     bool txn) {
  // The message names the first compare that failed, with both revisions.
  std::string message = "revision mismatch: nothing was written";
  bool named = false;
  for (const auto& want : wanted) {
    for (const auto& have : r.current) {
      if (named || have.key != want.key || have.mod_revision == want.mod_revision) continue;
      message = "revision mismatch: key \"" + want.key + "\" is at revision " +
                std::to_string(have.mod_revision) + " (0 = absent), not " +
                std::to_string(want.mod_revision) + "; nothing was written";
      named = true;
    }
  }
  json::object o{{"error", message}, {"code", kErrRevisionMismatch.code}};
  if (txn) {
    json::array current;
    for (const auto& c : r.current) {
      current.push_back(json::object{{"key", c.key}, {"revision", c.mod_revision}});
    }
    o["succeeded"] = false;
    o["current"] = std::move(current);
  } else {
    o["current"] = r.current.empty() ? 0 : r.current.front().mod_revision;
  }
  return json::serialize(o);
}

std::string render_key(const KeyValue& kv) {
  return json::serialize(key_object(kv));
}

std::string render_key_page(const KeyPage& page) {
  json::array keys;
  for (const auto& kv : page.keys) keys.push_back(key_object(kv));
  return json::serialize(
      json::object{{"keys", std::move(keys)}, {"more", page.more}, {"revision", page.revision}});
}

std::string render_lease(const LeaseInfo& lease, bool with_remaining, bool with_keys) {
  json::object o{{"id", lease.id}, {"ttl", lease.ttl_seconds}};
  if (with_remaining) o["remainingMs"] = lease.remaining_ms;
  if (with_keys) {
    json::array keys;
    for (const auto& k : lease.keys) keys.emplace_back(k);
    o["keys"] = std::move(keys);
  }
  return json::serialize(o);
}

// ---- client side ----

Result<std::string> render_txn_request(const TxnRequest& req) {
  auto data = parse_json(req.change.data_json.empty() ? "null" : req.change.data_json);
  if (!data.is_ok()) return invalid("transaction data is not valid JSON");
  json::array compares;
  for (const auto& c : req.compares) {
    compares.push_back(json::object{{"key", c.key}, {"revision", c.mod_revision}});
  }
  json::array ops;
  for (const auto& op : req.ops) {
    json::object o{{"key", op.key}};
    if (op.del) {
      o["delete"] = true;
    } else {
      auto value = parse_json(op.value_json);
      if (!value.is_ok()) return invalid("the value for key \"" + op.key + "\" is not valid JSON");
      o["value"] = std::move(value.value());
    }
    if (op.lease != 0) o["lease"] = op.lease;
    ops.push_back(std::move(o));
  }
  json::array tags;
  for (const auto& t : req.change.tags) tags.emplace_back(t);
  json::object o{{"compares", std::move(compares)},
                 {"ops", std::move(ops)},
                 {"data", std::move(data.value())},
                 {"tags", std::move(tags)}};
  if (req.change.type != 0) o["type"] = req.change.type;
  return json::serialize(o);
}

Result<std::string> render_put_key_body(std::string_view value_json,
                                        std::optional<uint64_t> if_revision, uint64_t lease) {
  auto value = parse_json(value_json);
  if (!value.is_ok()) return invalid("the value is not valid JSON");
  json::object o{{"value", std::move(value.value())}};
  if (if_revision) o["ifRevision"] = *if_revision;
  if (lease != 0) o["lease"] = lease;
  return json::serialize(o);
}

bool is_revision_mismatch(std::string_view text) {
  auto v = parse_json(text);
  if (!v.is_ok() || !v->is_object()) return false;
  return get_string(v->as_object(), "code") == kErrRevisionMismatch.code;
}

Result<TxnResult> parse_txn_result(int status, std::string_view text, std::string_view key) {
  auto o = parse_object(text, "write result");
  if (!o.is_ok()) return o.status();
  TxnResult r;
  if (status >= 200 && status < 300) {
    r.succeeded = true;
    r.id = get_u64(*o, "_id");
    r.ts_ns = get_u64(*o, "_ts");
    return r;
  }
  const json::value* current = o->if_contains("current");
  if (current && current->is_array()) {
    for (const auto& c : current->as_array()) {
      if (!c.is_object()) continue;
      r.current.push_back({get_string(c.as_object(), "key"), get_u64(c.as_object(), "revision")});
    }
  } else {
    r.current.push_back({std::string(key), get_u64(*o, "current")});
  }
  return r;
}

Result<KeyValue> parse_key(std::string_view text) {
  auto o = parse_object(text, "key JSON");
  if (!o.is_ok()) return o.status();
  return key_from_object(*o);
}

Result<KeyPage> parse_key_page(std::string_view text) {
  auto o = parse_object(text, "key list JSON");
  if (!o.is_ok()) return o.status();
  KeyPage page;
  if (const json::value* keys = o->if_contains("keys"); keys && keys->is_array()) {
    for (const auto& k : keys->as_array()) {
      if (k.is_object()) page.keys.push_back(key_from_object(k.as_object()));
    }
  }
  page.more = get_bool(*o, "more");
  page.revision = get_u64(*o, "revision");
  return page;
}

Result<LeaseInfo> parse_lease(std::string_view text) {
  auto o = parse_object(text, "lease JSON");
  if (!o.is_ok()) return o.status();
  LeaseInfo l;
  l.id = get_u64(*o, "id");
  l.ttl_seconds = get_u64(*o, "ttl");
  l.remaining_ms = o->contains("remainingMs") ? get_i64(*o, "remainingMs") : -1;
  if (const json::value* keys = o->if_contains("keys"); keys && keys->is_array()) {
    for (const auto& k : keys->as_array()) {
      if (k.is_string()) l.keys.emplace_back(k.as_string());
    }
  }
  return l;
}

}  // namespace api
