#include "api/change_json.h"

#include <boost/json.hpp>
#include <limits>

#include "api/change_json_internal.h"
#include "api/http_limits.h"

namespace api {

namespace json = boost::json;

namespace json_detail {

Result<json::value> parse_json(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return invalid("body is not valid JSON: " + ec.message());
  return v;
}

Result<json::object> parse_object(std::string_view text, const char* what) {
  auto v = parse_json(text);
  if (!v.is_ok() || !v->is_object()) {
    return Status(Code::kInternal, std::string("server sent malformed ") + what);
  }
  return std::move(v->as_object());
}

// "tags": must be an array of non-empty strings within the named limits.
Result<std::vector<std::string>> parse_tags(const json::value& v) {
  if (!v.is_array()) return invalid("\"tags\" must be an array of strings");
  const auto& a = v.as_array();
  if (a.size() > kTagsPerChangeMax) {
    return invalid("too many tags: at most " + std::to_string(kTagsPerChangeMax));
  }
  std::vector<std::string> tags;
  for (const auto& t : a) {
    if (!t.is_string()) return invalid("\"tags\" must be an array of strings");
    const auto& s = t.as_string();
    if (s.empty()) return invalid("a tag must not be empty");
    if (s.size() > kTagBytesMax) {
      return invalid("a tag is longer than " + std::to_string(kTagBytesMax) + " bytes");
    }
    tags.emplace_back(s);
  }
  return tags;
}

Result<uint32_t> parse_type(const json::value& v) {
  constexpr uint64_t kTypeMax = std::numeric_limits<uint32_t>::max();
  if (v.is_int64() && v.as_int64() >= 0 && static_cast<uint64_t>(v.as_int64()) <= kTypeMax) {
    return static_cast<uint32_t>(v.as_int64());
  }
  if (v.is_uint64() && v.as_uint64() <= kTypeMax) return static_cast<uint32_t>(v.as_uint64());
  return invalid("\"type\" must be an integer from 0 to 4294967295");
}

Result<uint64_t> parse_uint(const json::value& v, std::string_view what) {
  if (v.is_int64() && v.as_int64() >= 0) return static_cast<uint64_t>(v.as_int64());
  if (v.is_uint64()) return v.as_uint64();
  return invalid("\"" + std::string(what) + "\" must be an integer >= 0");
}

uint64_t get_u64(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64() && v->as_int64() >= 0) return static_cast<uint64_t>(v->as_int64());
  if (v->is_string()) return std::strtoull(v->as_string().c_str(), nullptr, 10);
  return 0;
}

int64_t get_i64(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  return 0;
}

bool get_bool(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_bool() && v->as_bool();
}

std::string get_string(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

void append_json_string(std::string& out, std::string_view s) {
  out += json::serialize(json::string_view(s.data(), s.size()));
}

}  // namespace json_detail

using namespace json_detail;

namespace {

// The original changeagent's rule: an object with "data" is a change object;
// anything else is the data itself. Objects with "key" (or the other key
// fields) are change objects too: see parse_key_fields.
Result<PostedChange> change_from_value(const json::value& v) {
  PostedChange out;
  ChangeInput& in = out.change;
  const json::object* o = v.if_object();
  if (o) {
    auto key = parse_key_fields(*o);
    if (!key.is_ok()) return key.status();
    out.key = std::move(key.value());
  }
  const json::value* data = o ? o->if_contains("data") : nullptr;
  const json::value* rid = o ? o->if_contains("requestId") : nullptr;
  if (rid) {
    // Like "ifRevision" needs "key": an object with "requestId" is a change
    // object, never data stored whole (a dropped id would append twice).
    if (!data && !out.key.present) return invalid("\"requestId\" needs \"data\"");
    if (!rid->is_string() || rid->as_string().empty() ||
        rid->as_string().size() > kRequestIdBytesMax) {
      return invalid("\"requestId\" must be a string of 1 to " +
                     std::to_string(kRequestIdBytesMax) + " bytes");
    }
    in.request_id = std::string(rid->as_string());
  }
  if (!data && !out.key.present) {
    in.data_json = json::serialize(v);
    return out;
  }
  in.data_json = data ? json::serialize(*data) : "null";
  if (const json::value* tags = o->if_contains("tags")) {
    auto parsed = parse_tags(*tags);
    if (!parsed.is_ok()) return parsed.status();
    in.tags = std::move(parsed.value());
  }
  if (const json::value* type = o->if_contains("type")) {
    auto parsed = parse_type(*type);
    if (!parsed.is_ok()) return parsed.status();
    in.type = *parsed;
  }
  return out;
}

Result<Change> change_from_object(const json::value& v) {
  if (!v.is_object()) return Status(Code::kInternal, "server sent a change that is not an object");
  const auto& o = v.as_object();
  Change c;
  c.id = get_u64(o, "_id");
  c.ts_ns = get_u64(o, "_ts");
  c.type = static_cast<uint32_t>(get_u64(o, "_type"));
  if (const json::value* tags = o.if_contains("tags"); tags && tags->is_array()) {
    for (const auto& t : tags->as_array()) {
      if (t.is_string()) c.tags.emplace_back(t.as_string());
    }
  }
  const json::value* data = o.if_contains("data");
  c.data_json = data ? json::serialize(*data) : "null";
  if (const json::value* key = o.if_contains("key"); key && key->is_string()) {
    c.ops.push_back(
        TxnOp{std::string(key->as_string()), get_bool(o, "delete"), {}, get_u64(o, "lease")});
  } else if (const json::value* ops = o.if_contains("ops"); ops && ops->is_array()) {
    for (const auto& op : ops->as_array()) {
      if (!op.is_object()) continue;
      const auto& oo = op.as_object();
      c.ops.push_back(
          TxnOp{get_string(oo, "key"), get_bool(oo, "delete"), {}, get_u64(oo, "lease")});
    }
  }
  c.internal = get_bool(o, "internal");
  return c;
}

}  // namespace

Result<PostBody> parse_post_body(std::string_view body, bool batch) {
  auto v = parse_json(body);
  if (!v.is_ok()) return v.status();
  PostBody out;
  if (!batch) {
    auto one = change_from_value(*v);
    if (!one.is_ok()) return one.status();
    if (one->key.present) {
      out.keyed = keyed_txn(std::move(one.value().change), one->key);
    } else {
      out.changes.push_back(std::move(one.value().change));
    }
    return out;
  }
  if (!v->is_array()) return invalid("a batch must be a JSON array of changes");
  const auto& a = v->as_array();
  if (a.empty()) return invalid("a batch must contain at least one change");
  if (a.size() > kBatchChangesMax) {
    return Status(Code::kTooLarge,
                  "a batch holds at most " + std::to_string(kBatchChangesMax) + " changes");
  }
  for (size_t i = 0; i < a.size(); i++) {
    auto one = change_from_value(a[i]);
    if (!one.is_ok()) return one.status();
    if (!one->change.request_id.empty()) {
      return invalid("change " + std::to_string(i) +
                     " of the batch has a requestId; a batch is one request: send its id in "
                     "the Idempotency-Key header");
    }
    if (one->key.present) {
      return invalid("change " + std::to_string(i) +
                     " of the batch writes a key; a batch cannot write keys yet: use POST /txn "
                     "to write several keys atomically, or one POST /changes per key");
    }
    out.changes.push_back(std::move(one.value().change));
  }
  return out;
}

void append_change_json(std::string& out, const Change& c) {
  // Built by hand so that data_json, already valid compact JSON, is spliced
  // in without a parse and re-serialize per change.
  out += "{\"_id\":" + std::to_string(c.id) + ",\"_ts\":" + std::to_string(c.ts_ns) +
         ",\"_type\":" + std::to_string(c.type) + ",\"tags\":[";
  for (size_t i = 0; i < c.tags.size(); i++) {
    if (i > 0) out += ',';
    append_json_string(out, c.tags[i]);
  }
  out += ']';
  if (c.ops.size() == 1) {
    out += ",\"key\":";
    append_json_string(out, c.ops[0].key);
    if (c.ops[0].del) out += ",\"delete\":true";
    if (c.ops[0].lease != 0) out += ",\"lease\":" + std::to_string(c.ops[0].lease);
  } else if (c.ops.size() > 1) {
    out += ",\"ops\":[";
    for (size_t i = 0; i < c.ops.size(); i++) {
      if (i > 0) out += ',';
      out += "{\"key\":";
      append_json_string(out, c.ops[i].key);
      if (c.ops[i].del) out += ",\"delete\":true";
      if (c.ops[i].lease != 0) out += ",\"lease\":" + std::to_string(c.ops[i].lease);
      out += '}';
    }
    out += ']';
  }
  if (c.internal) out += ",\"internal\":true";
  out += ",\"data\":";
  out += c.data_json.empty() ? "null" : c.data_json;
  out += '}';
}

std::string render_change(const Change& c) {
  std::string out;
  append_change_json(out, c);
  return out;
}

std::string render_feed(const FeedPage& page) {
  std::string out = "{\"changes\":[";
  for (size_t i = 0; i < page.changes.size(); i++) {
    if (i > 0) out += ',';
    append_change_json(out, page.changes[i]);
  }
  out += "],\"atStart\":";
  out += page.at_start ? "true" : "false";
  out += ",\"atEnd\":";
  out += page.at_end ? "true" : "false";
  out += ",\"firstIndex\":" + std::to_string(page.first_index) +
         ",\"lastIndex\":" + std::to_string(page.last_index) + "}";
  return out;
}

std::string render_appended(const std::vector<Appended>& appended, bool as_array) {
  json::array a;
  for (const auto& x : appended) {
    json::object o{{"_id", x.id}, {"_ts", x.ts_ns}};
    if (x.duplicate) o["duplicate"] = true;  // a retried request id: the original's
    a.push_back(std::move(o));
  }
  if (!as_array && a.size() == 1) return json::serialize(a[0]);
  return json::serialize(a);
}

namespace {

json::object members_object(const ClusterView& view) {
  json::object m;
  for (const auto& member : view.members) m[std::to_string(member.id)] = member.peer_url;
  return m;
}

}  // namespace

std::string render_cluster(const ClusterView& view) {
  json::array details;
  for (const auto& m : view.members) {
    details.push_back(json::object{{"id", m.id},
                                   {"name", m.name},
                                   {"peerUrl", m.peer_url},
                                   {"clientUrl", m.client_url},
                                   {"learner", m.learner}});
  }
  json::object o{{"clusterId", view.cluster_id},
                 {"leader", view.leader_id},
                 {"members", members_object(view)},
                 {"details", std::move(details)}};
  return json::serialize(o);
}

std::string render_members(const ClusterView& view) {
  return json::serialize(members_object(view));
}

std::string render_diagnostics(const RaftDiagnostics& d, bool with_build) {
  json::object peer_indices;
  json::array peers;
  for (const auto& p : d.peers) {
    peer_indices[std::to_string(p.id)] = p.match;
    peers.push_back(json::object{{"id", p.id},
                                 {"match", p.match},
                                 {"next", p.next},
                                 {"state", p.state},
                                 {"connected", p.connected}});
  }
  json::object o{{"id", d.id},
                 {"name", d.name},
                 {"state", d.state},
                 {"leader", d.leader},
                 {"term", d.term},
                 {"firstIndex", d.first_index},
                 {"lastIndex", d.last_index},
                 {"appliedIndex", d.applied_index},
                 {"committedIndex", d.committed_index},
                 {"stableIndex", d.stable_index},
                 {"peerIndices", std::move(peer_indices)},
                 {"peers", std::move(peers)}};
  if (!d.snapshot_transfers.empty()) {
    json::array transfers;
    for (const auto& t : d.snapshot_transfers) {
      transfers.push_back(json::object{{"peer", t.peer},
                                       {"direction", t.direction},
                                       {"index", t.index},
                                       {"bytes", t.bytes},
                                       {"bytesEstimate", t.bytes_estimate},
                                       {"entries", t.entries},
                                       {"bytesPerSecond", t.bytes_per_second},
                                       {"etaSeconds", t.eta_seconds}});
    }
    o["snapshotTransfers"] = std::move(transfers);
  }
  json::array connections;
  for (const auto& c : d.connections) {
    connections.push_back(json::object{{"direction", c.inbound ? "in" : "out"},
                                       {"peer", c.peer},
                                       {"remote", c.remote},
                                       {"stage", c.stage},
                                       {"inStageMs", c.in_stage_ms},
                                       {"frames", c.frames},
                                       {"queued", c.queued}});
  }
  o["connections"] = std::move(connections);
  if (with_build) {
#ifdef CA_VERSION
    const char* version = CA_VERSION;
#else
    const char* version = "dev";
#endif
    o["build"] = json::object{{"version", version},
                              {"compiler", __VERSION__},
                              {"cxxStandard", static_cast<int64_t>(__cplusplus)}};
  }
  return json::serialize(o);
}

Status validate_json(std::string_view text) {
  auto v = parse_json(text);
  return v.is_ok() ? Status::ok() : v.status();
}

Result<std::string> render_change_input(const ChangeInput& in) {
  auto data = parse_json(in.data_json);
  if (!data.is_ok()) return invalid("change data is not valid JSON");
  json::array tags;
  for (const auto& t : in.tags) tags.emplace_back(t);
  json::object o{{"data", std::move(data.value())}, {"tags", std::move(tags)}};
  if (in.type != 0) o["type"] = in.type;
  if (!in.request_id.empty()) o["requestId"] = in.request_id;
  return json::serialize(o);
}

Result<std::string> render_change_inputs(const std::vector<ChangeInput>& in) {
  std::string out = "[";
  for (size_t i = 0; i < in.size(); i++) {
    // A batch's id is the request's (Idempotency-Key header), not per change.
    ChangeInput c = in[i];
    c.request_id.clear();
    auto one = render_change_input(c);
    if (!one.is_ok()) return one.status();
    if (i > 0) out += ',';
    out += *one;
  }
  return out + "]";
}

Result<Change> parse_change(std::string_view text) {
  auto v = parse_json(text);
  if (!v.is_ok()) return Status(Code::kInternal, "server sent malformed change JSON");
  return change_from_object(*v);
}

Result<FeedPage> parse_feed(std::string_view text) {
  auto o = parse_object(text, "feed JSON");
  if (!o.is_ok()) return o.status();
  FeedPage page;
  if (const json::value* changes = o->if_contains("changes"); changes && changes->is_array()) {
    for (const auto& item : changes->as_array()) {
      auto c = change_from_object(item);
      if (!c.is_ok()) return c.status();
      page.changes.push_back(std::move(c.value()));
    }
  }
  page.at_start = get_bool(*o, "atStart");
  page.at_end = get_bool(*o, "atEnd");
  page.first_index = get_u64(*o, "firstIndex");
  page.last_index = get_u64(*o, "lastIndex");
  return page;
}

Result<std::vector<Appended>> parse_appended(std::string_view text) {
  auto v = parse_json(text);
  if (!v.is_ok()) return Status(Code::kInternal, "server sent malformed append result");
  std::vector<Appended> out;
  auto one = [&](const json::value& x) {
    if (!x.is_object()) return false;
    out.push_back({get_u64(x.as_object(), "_id"), get_u64(x.as_object(), "_ts"),
                   get_bool(x.as_object(), "duplicate")});
    return true;
  };
  bool ok = true;
  if (v->is_array()) {
    for (const auto& x : v->as_array()) ok = ok && one(x);
  } else {
    ok = one(*v);
  }
  if (!ok) return Status(Code::kInternal, "server sent malformed append result");
  return out;
}

Result<ClusterView> parse_cluster(std::string_view text) {
  auto o = parse_object(text, "cluster JSON");
  if (!o.is_ok()) return o.status();
  ClusterView view;
  view.cluster_id = get_string(*o, "clusterId");
  view.leader_id = get_u64(*o, "leader");
  if (const json::value* d = o->if_contains("details"); d && d->is_array()) {
    for (const auto& item : d->as_array()) {
      if (!item.is_object()) continue;
      const auto& m = item.as_object();
      view.members.push_back({get_u64(m, "id"), get_string(m, "name"), get_string(m, "peerUrl"),
                              get_string(m, "clientUrl"), get_bool(m, "learner")});
    }
  } else if (const json::value* m = o->if_contains("members"); m && m->is_object()) {
    for (const auto& [id, addr] : m->as_object()) {
      MemberView mv;
      mv.id = std::strtoull(std::string(id).c_str(), nullptr, 10);
      if (addr.is_string()) mv.peer_url = addr.as_string();
      view.members.push_back(std::move(mv));
    }
  }
  return view;
}

Result<std::map<uint64_t, std::string>> parse_members(std::string_view text) {
  auto o = parse_object(text, "members JSON");
  if (!o.is_ok()) return o.status();
  std::map<uint64_t, std::string> out;
  for (const auto& [id, addr] : *o) {
    out[std::strtoull(std::string(id).c_str(), nullptr, 10)] =
        addr.is_string() ? std::string(addr.as_string()) : std::string();
  }
  return out;
}

Result<RaftDiagnostics> parse_diagnostics(std::string_view text) {
  auto o = parse_object(text, "diagnostics JSON");
  if (!o.is_ok()) return o.status();
  RaftDiagnostics d;
  d.id = get_u64(*o, "id");
  d.name = get_string(*o, "name");
  d.state = get_string(*o, "state");
  d.leader = get_u64(*o, "leader");
  d.term = get_u64(*o, "term");
  d.first_index = get_u64(*o, "firstIndex");
  d.last_index = get_u64(*o, "lastIndex");
  d.applied_index = get_u64(*o, "appliedIndex");
  d.committed_index = get_u64(*o, "committedIndex");
  d.stable_index = get_u64(*o, "stableIndex");
  if (const json::value* peers = o->if_contains("peers"); peers && peers->is_array()) {
    for (const auto& item : peers->as_array()) {
      if (!item.is_object()) continue;
      const auto& p = item.as_object();
      d.peers.push_back({get_u64(p, "id"), get_u64(p, "match"), get_u64(p, "next"),
                         get_string(p, "state"), get_bool(p, "connected")});
    }
  }
  if (const json::value* ts = o->if_contains("snapshotTransfers"); ts && ts->is_array()) {
    for (const auto& item : ts->as_array()) {
      if (!item.is_object()) continue;
      const auto& t = item.as_object();
      SnapshotTransferView v;
      v.peer = get_u64(t, "peer");
      v.direction = get_string(t, "direction");
      v.index = get_u64(t, "index");
      v.bytes = get_u64(t, "bytes");
      v.bytes_estimate = get_u64(t, "bytesEstimate");
      v.entries = get_u64(t, "entries");
      d.snapshot_transfers.push_back(std::move(v));
    }
  }
  return d;
}

}  // namespace api
