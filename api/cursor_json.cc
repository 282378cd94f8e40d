// JSON of cursors and checkpoints (see cursors.h). Request parsing is strict
// (a wrong type is a 400 naming the field); answer parsing on the client is
// lenient like the rest of change_json.
#include <boost/json.hpp>

#include "api/change_json_internal.h"
#include "api/cursors.h"

namespace api {

namespace json = boost::json;
using namespace json_detail;

namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

Result<json::object> parse_request_object(std::string_view body, const char* usage) {
  auto v = json_detail::parse_json(body);
  if (!v.is_ok()) return v.status();
  if (!v->is_object()) return invalid(std::string("the body must be ") + usage);
  return std::move(v->as_object());
}

std::vector<std::string> get_strings(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_array()) return out;
  for (const auto& s : v->as_array()) {
    if (s.is_string()) out.emplace_back(s.as_string());
  }
  return out;
}

Cursor cursor_from_object(const json::object& o) {
  Cursor c;
  c.name = get_string(o, "name");
  c.index = get_u64(o, "index");
  c.updated_ns = get_u64(o, "updated");
  c.revision = get_u64(o, "revision");
  c.last_index = get_u64(o, "lastIndex");
  return c;
}

json::object cursor_object(const Cursor& c) {
  json::object o;
  o["name"] = c.name;
  o["index"] = c.index;
  o["updated"] = c.updated_ns;
  o["revision"] = c.revision;
  o["lastIndex"] = c.last_index;
  // A cursor ahead of this node's applied index (set on a node further
  // along) has no lag here, not a negative one.
  o["lag"] = c.last_index > c.index ? c.last_index - c.index : 0;
  return o;
}

}  // namespace

Status validate_cursor_name(std::string_view name) {
  if (name.empty() || name.size() > kCursorNameBytesMax) {
    return invalid("a cursor name is 1 to " + std::to_string(kCursorNameBytesMax) + " bytes");
  }
  for (char c : name) {
    if (!name_char(c)) {
      return invalid("a cursor name may hold only letters, digits, '.', '_' and '-'");
    }
  }
  return Status::ok();
}

std::string cursor_key(std::string_view name) {
  return std::string(kCursorKeyPrefix) + std::string(name);
}

std::optional<std::string_view> reserved_prefix_of(std::string_view key) {
  for (std::string_view p : {kCursorKeyPrefix, kCheckpointKeyPrefix, kConfigKeyPrefix}) {
    if (key.starts_with(p)) return p;
  }
  return std::nullopt;
}

std::string cursor_value_json(uint64_t index, uint64_t updated_ns) {
  return "{\"index\":" + std::to_string(index) + ",\"updated\":" + std::to_string(updated_ns) + "}";
}

Result<Cursor> cursor_from_key(const KeyValue& kv) {
  if (!kv.key.starts_with(kCursorKeyPrefix)) {
    return Status(Code::kInternal, "not a cursor key: " + kv.key);
  }
  boost::system::error_code ec;
  json::value v = json::parse(kv.value_json, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const json::value* index = o ? o->if_contains("index") : nullptr;
  if (!index || !(index->is_uint64() || (index->is_int64() && index->as_int64() >= 0))) {
    return Status(Code::kCorruption, "cursor key " + kv.key + " holds no {\"index\": N}");
  }
  Cursor c;
  c.name = kv.key.substr(kCursorKeyPrefix.size());
  c.index = get_u64(*o, "index");
  c.updated_ns = get_u64(*o, "updated");
  c.revision = kv.mod_revision;
  return c;
}

std::string checkpoint_value_json(const CheckpointInput& in) {
  json::object o;
  o["covers"] = in.covers;
  o["location"] = in.location;
  json::array tags;
  for (const auto& t : in.tags) tags.emplace_back(t);
  o["tags"] = std::move(tags);
  return json::serialize(o);
}

Result<Checkpoint> checkpoint_from_value(std::string_view value_json, uint64_t id) {
  boost::system::error_code ec;
  json::value v = json::parse(value_json, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  if (!o || !o->if_contains("covers")) {
    return Status(Code::kCorruption, "a checkpoint key holds no {\"covers\": N, ...}");
  }
  Checkpoint c;
  c.id = id;
  c.covers = get_u64(*o, "covers");
  c.location = get_string(*o, "location");
  c.tags = get_strings(*o, "tags");
  return c;
}

Result<CursorWrite> parse_cursor_write_body(std::string_view body) {
  constexpr const char* kUsage = "{\"index\": N, \"ifRevision\"?: R, \"force\"?: bool}";
  auto o = parse_request_object(body, kUsage);
  if (!o.is_ok()) return o.status();
  CursorWrite w;
  const json::value* index = o->if_contains("index");
  if (!index) return invalid(std::string("PUT /cursors/{name} takes ") + kUsage);
  auto i = parse_uint(*index, "index");
  if (!i.is_ok()) return i.status();
  w.index = *i;
  if (const json::value* r = o->if_contains("ifRevision")) {
    auto rev = parse_uint(*r, "ifRevision");
    if (!rev.is_ok()) return rev.status();
    w.if_revision = *rev;
  }
  if (const json::value* f = o->if_contains("force")) {
    if (!f->is_bool()) return invalid("\"force\" must be true or false");
    w.force = f->as_bool();
  }
  return w;
}

Result<CheckpointInput> parse_checkpoint_body(std::string_view body) {
  constexpr const char* kUsage = "{\"covers\": N, \"location\": \"...\", \"tags\"?: [\"...\"]}";
  auto o = parse_request_object(body, kUsage);
  if (!o.is_ok()) return o.status();
  const json::value* covers = o->if_contains("covers");
  const json::value* location = o->if_contains("location");
  if (!covers || !location) return invalid(std::string("a checkpoint is ") + kUsage);
  CheckpointInput in;
  auto c = parse_uint(*covers, "covers");
  if (!c.is_ok()) return c.status();
  in.covers = *c;
  if (!location->is_string() || location->as_string().empty() ||
      location->as_string().size() > kCheckpointLocationBytesMax) {
    return invalid("\"location\" must be a string of 1 to " +
                   std::to_string(kCheckpointLocationBytesMax) + " bytes");
  }
  in.location = std::string(location->as_string());
  if (const json::value* tags = o->if_contains("tags")) {
    auto t = parse_tags(*tags);
    if (!t.is_ok()) return t.status();
    in.tags = std::move(t.value());
  }
  return in;
}

Result<uint64_t> parse_request_id_window_body(std::string_view body) {
  std::string usage = "PUT /config/request_id_window takes {\"seconds\": 1 to " +
                      std::to_string(kRequestIdWindowConfigSecondsMax) + "}";
  auto o = parse_request_object(body, usage.c_str());
  if (!o.is_ok()) return o.status();
  const json::value* s = o->if_contains("seconds");
  if (!s) return invalid(usage);
  auto v = parse_uint(*s, "seconds");
  if (!v.is_ok() || *v < 1 || *v > kRequestIdWindowConfigSecondsMax) return invalid(usage);
  return *v;
}

std::string render_cursor(const Cursor& c) {
  return json::serialize(cursor_object(c));
}

std::string render_cursor_page(const CursorPage& page) {
  json::object o;
  json::array list;
  for (const auto& c : page.cursors) list.emplace_back(cursor_object(c));
  o["cursors"] = std::move(list);
  o["more"] = page.more;
  o["lastIndex"] = page.last_index;
  return json::serialize(o);
}

std::string render_checkpoint(const Checkpoint& c) {
  json::object o;
  o["_id"] = c.id;
  o["_ts"] = c.ts_ns;
  o["covers"] = c.covers;
  o["location"] = c.location;
  json::array tags;
  for (const auto& t : c.tags) tags.emplace_back(t);
  o["tags"] = std::move(tags);
  return json::serialize(o);
}

std::string render_cursor_write_body(const CursorWrite& w) {
  json::object o;
  o["index"] = w.index;
  if (w.if_revision) o["ifRevision"] = *w.if_revision;
  if (w.force) o["force"] = true;
  return json::serialize(o);
}

std::string render_checkpoint_body(const CheckpointInput& in) {
  return checkpoint_value_json(in);
}

Result<Cursor> parse_cursor(std::string_view text) {
  auto o = parse_object(text, "cursor");
  if (!o.is_ok()) return o.status();
  return cursor_from_object(*o);
}

Result<CursorPage> parse_cursor_page(std::string_view text) {
  auto o = parse_object(text, "cursor list");
  if (!o.is_ok()) return o.status();
  CursorPage page;
  page.more = get_bool(*o, "more");
  page.last_index = get_u64(*o, "lastIndex");
  if (const json::value* list = o->if_contains("cursors"); list && list->is_array()) {
    for (const auto& c : list->as_array()) {
      if (c.is_object()) page.cursors.push_back(cursor_from_object(c.as_object()));
    }
  }
  return page;
}

Result<Checkpoint> parse_checkpoint(std::string_view text) {
  auto o = parse_object(text, "checkpoint");
  if (!o.is_ok()) return o.status();
  Checkpoint c;
  c.id = get_u64(*o, "_id");
  c.ts_ns = get_u64(*o, "_ts");
  c.covers = get_u64(*o, "covers");
  c.location = get_string(*o, "location");
  c.tags = get_strings(*o, "tags");
  return c;
}

}  // namespace api
