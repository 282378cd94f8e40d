// The history and final-log file formats of checker.h. A line that does not
// parse is an error naming its line number, never skipped: a checker that
// silently drops evidence would pass a broken run.
#include <boost/json.hpp>
#include <istream>
#include <ostream>

#include "tests/chaos/checker.h"

namespace chaos {

namespace json = boost::json;
using common::Code;
using common::Result;
using common::Status;

const char* kind_name(OpKind k) {
  switch (k) {
    case OpKind::kAppend:
      return "append";
    case OpKind::kRead:
      return "read";
    case OpKind::kCas:
      return "cas";
    case OpKind::kKeyRead:
      return "kv-read";
  }
  return "?";
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kUnknown:
      return "unknown";
  }
  return "?";
}

namespace {

Status bad_line(size_t line, const std::string& why) {
  return Status(Code::kInvalidArgument, "line " + std::to_string(line) + ": " + why);
}

// Integer fields are written by us as JSON numbers; accept any integral kind.
int64_t get_i64(const json::object& o, const char* name, int64_t dflt = 0) {
  auto* v = o.if_contains(name);
  if (!v) return dflt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->as_double());
  return dflt;
}

uint64_t get_u64(const json::object& o, const char* name) {
  return static_cast<uint64_t>(get_i64(o, name));
}

std::string get_str(const json::object& o, const char* name) {
  auto* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool get_bool(const json::object& o, const char* name) {
  auto* v = o.if_contains(name);
  return v && v->is_bool() && v->as_bool();
}

Result<json::object> parse_object(const std::string& text, size_t line) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) return bad_line(line, "not JSON: " + ec.message());
  if (!v.is_object()) return bad_line(line, "not a JSON object");
  return v.as_object();
}

Result<Op> op_from(const json::object& o, size_t line) {
  Op op;
  op.op = get_u64(o, "op");
  op.client = static_cast<uint32_t>(get_u64(o, "client"));
  std::string kind = get_str(o, "kind");
  if (kind == "append") {
    op.kind = OpKind::kAppend;
  } else if (kind == "read") {
    op.kind = OpKind::kRead;
  } else if (kind == "cas") {
    op.kind = OpKind::kCas;
  } else if (kind == "kv-read") {
    op.kind = OpKind::kKeyRead;
  } else {
    return bad_line(line, "kind '" + kind + "' is not append|read|cas|kv-read");
  }
  std::string outcome = get_str(o, "outcome");
  if (outcome == "ok") {
    op.outcome = Outcome::kOk;
  } else if (outcome == "failed") {
    op.outcome = Outcome::kFailed;
  } else if (outcome == "unknown") {
    op.outcome = Outcome::kUnknown;
  } else {
    return bad_line(line, "outcome '" + outcome + "' is not ok|failed|unknown");
  }
  op.invoke_ns = get_i64(o, "invoke_ns");
  op.complete_ns = get_i64(o, "complete_ns");
  op.payload = get_str(o, "payload");
  op.id = get_u64(o, "id");
  op.read_index = get_u64(o, "index");
  if (auto* ids = o.if_contains("ids"); ids && ids->is_array()) {
    for (const auto& v : ids->as_array()) {
      if (v.is_int64()) op.read_ids.push_back(static_cast<uint64_t>(v.as_int64()));
      if (v.is_uint64()) op.read_ids.push_back(v.as_uint64());
    }
  }
  op.key = get_str(o, "key");
  op.value = get_i64(o, "value");
  if (is_write(op.kind) && op.payload.empty()) {
    return bad_line(line, "an append or cas needs its unique payload");
  }
  if ((op.kind == OpKind::kCas || op.kind == OpKind::kKeyRead) && op.key.empty()) {
    return bad_line(line, "a cas or kv-read needs its key");
  }
  return op;
}

}  // namespace

Result<std::vector<Op>> parse_history(std::istream& in) {
  std::vector<Op> ops;
  std::string text;
  size_t line = 0;
  while (std::getline(in, text)) {
    line++;
    if (text.empty()) continue;
    auto o = parse_object(text, line);
    if (!o.is_ok()) return o.status();
    auto op = op_from(*o, line);
    if (!op.is_ok()) return op.status();
    ops.push_back(std::move(op.value()));
  }
  return ops;
}

Result<NodeLog> parse_node_log(std::istream& in) {
  NodeLog log;
  std::string text;
  size_t line = 0;
  bool header = false;
  while (std::getline(in, text)) {
    line++;
    if (text.empty()) continue;
    auto r = parse_object(text, line);
    if (!r.is_ok()) return r.status();
    const json::object& o = *r;
    if (o.contains("node")) {
      log.node = get_str(o, "node");
      log.first_index = get_u64(o, "first_index");
      log.last_index = get_u64(o, "last_index");
      log.gaps_probed = get_bool(o, "gaps_probed");
      header = true;
    } else if (o.contains("gap")) {
      log.gaps[get_u64(o, "gap")] = get_str(o, "why");
    } else if (o.contains("id")) {
      LogEntry e;
      e.id = get_u64(o, "id");
      e.payload = get_str(o, "payload");
      e.key = get_str(o, "key");
      e.internal = get_bool(o, "internal");
      log.entries.push_back(std::move(e));
    } else if (o.contains("key")) {
      log.keys[get_str(o, "key")] = get_i64(o, "value");
    } else {
      return bad_line(line, "neither header, entry, gap nor key");
    }
  }
  if (!header) return Status(Code::kInvalidArgument, "no header line {\"node\":...}");
  return log;
}

std::string render_op(const Op& op) {
  json::object o;
  o["op"] = op.op;
  o["client"] = op.client;
  o["kind"] = kind_name(op.kind);
  o["invoke_ns"] = op.invoke_ns;
  o["complete_ns"] = op.complete_ns;
  o["outcome"] = outcome_name(op.outcome);
  if (!op.payload.empty()) o["payload"] = op.payload;
  if (op.id) o["id"] = op.id;
  if (op.kind == OpKind::kRead) {
    o["index"] = op.read_index;
    json::array ids;
    for (uint64_t id : op.read_ids) ids.push_back(id);
    o["ids"] = std::move(ids);
  }
  if (op.kind == OpKind::kCas || op.kind == OpKind::kKeyRead) {
    o["key"] = op.key;
    o["value"] = op.value;
  }
  return json::serialize(o);
}

void write_node_log(std::ostream& out, const NodeLog& log) {
  out << json::serialize(json::object{{"node", log.node},
                                      {"first_index", log.first_index},
                                      {"last_index", log.last_index},
                                      {"gaps_probed", log.gaps_probed}})
      << "\n";
  for (const auto& e : log.entries) {
    json::object o{{"id", e.id}};
    if (!e.payload.empty()) o["payload"] = e.payload;
    if (!e.key.empty()) o["key"] = e.key;
    if (e.internal) o["internal"] = true;
    out << json::serialize(o) << "\n";
  }
  for (const auto& [id, why] : log.gaps) {
    out << json::serialize(json::object{{"gap", id}, {"why", why}}) << "\n";
  }
  for (const auto& [key, value] : log.keys) {
    out << json::serialize(json::object{{"key", key}, {"value", value}}) << "\n";
  }
}

}  // namespace chaos
