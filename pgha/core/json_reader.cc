#include "pgha/core/json_reader.h"

#include <limits>

namespace pgha::detail {

namespace {

bool as_i64(const json::value& v, int64_t& out) {
  if (v.is_int64()) {
    out = v.as_int64();
    return true;
  }
  if (v.is_uint64() &&
      v.as_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    out = static_cast<int64_t>(v.as_uint64());
    return true;
  }
  return false;
}

}  // namespace

std::string ObjectReader::path_of(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

const json::value* ObjectReader::field(std::string_view key) {
  seen_.emplace(key);
  const json::value* v = o_.if_contains(key);
  if (v && v->is_null()) return nullptr;  // null reads as absent
  return v;
}

void ObjectReader::fail(std::string message) {
  if (error_.empty()) error_ = std::move(message);
}

void ObjectReader::str(std::string_view key, std::string& out, bool required) {
  const json::value* v = field(key);
  if (!v) {
    if (required) fail(path_of(key) + " is required");
    return;
  }
  if (!v->is_string()) return fail(path_of(key) + " must be a string");
  out = std::string(v->as_string());
}

void ObjectReader::boolean(std::string_view key, bool& out) {
  const json::value* v = field(key);
  if (!v) return;
  if (!v->is_bool()) return fail(path_of(key) + " must be true or false");
  out = v->as_bool();
}

void ObjectReader::u64(std::string_view key, uint64_t& out) {
  const json::value* v = field(key);
  if (!v) return;
  if (v->is_uint64()) {
    out = v->as_uint64();
  } else if (v->is_int64() && v->as_int64() >= 0) {
    out = static_cast<uint64_t>(v->as_int64());
  } else {
    fail(path_of(key) + " must be an integer >= 0");
  }
}

void ObjectReader::i64(std::string_view key, int64_t& out, int64_t min, int64_t max) {
  const json::value* v = field(key);
  if (!v) return;
  int64_t x = 0;
  if (!as_i64(*v, x) || x < min || x > max) {
    return fail(path_of(key) + " must be an integer in [" + std::to_string(min) + ", " +
                std::to_string(max) + "]");
  }
  out = x;
}

void ObjectReader::u32(std::string_view key, uint32_t& out, uint32_t min, uint32_t max) {
  int64_t x = out;
  i64(key, x, min, max);
  out = static_cast<uint32_t>(x);
}

void ObjectReader::i32(std::string_view key, int32_t& out, int32_t min, int32_t max) {
  int64_t x = out;
  i64(key, x, min, max);
  out = static_cast<int32_t>(x);
}

void ObjectReader::str_list(std::string_view key, std::vector<std::string>& out) {
  const json::value* v = field(key);
  if (!v) return;
  if (!v->is_array()) return fail(path_of(key) + " must be an array of strings");
  std::vector<std::string> items;
  for (const auto& item : v->as_array()) {
    if (!item.is_string()) return fail(path_of(key) + " must be an array of strings");
    items.emplace_back(item.as_string());
  }
  out = std::move(items);
}

common::Status ObjectReader::finish() {
  if (error_.empty() && strict_) {
    for (const auto& kv : o_) {
      if (!seen_.count(std::string_view(kv.key()))) {
        fail("unknown field " + path_of(kv.key()));
        break;
      }
    }
  }
  if (error_.empty()) return common::Status::ok();
  return common::Status(common::Code::kInvalidArgument, error_);
}

common::Result<json::object> parse_object_text(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    return common::Status(common::Code::kInvalidArgument,
                          std::string(what) + " is not valid JSON: " + ec.message());
  }
  if (!v.is_object()) {
    return common::Status(common::Code::kInvalidArgument,
                          std::string(what) + " must be a JSON object");
  }
  return std::move(v.as_object());
}

}  // namespace pgha::detail
