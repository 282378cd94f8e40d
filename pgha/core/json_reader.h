// Internal to pgha/core: reads one JSON object field by field, keeping the
// first error with the field's full path ("members[2].priority must be an
// integer in [0, 1000]") so an operator sees exactly what to fix. In strict
// mode a field it was never asked for is an error too (a typo in a desired
// state must not be silently ignored).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgha::detail {

namespace json = boost::json;

class ObjectReader {
 public:
  ObjectReader(const json::object& o, std::string path, bool strict)
      : o_(o), path_(std::move(path)), strict_(strict) {}

  // Each leaves `out` untouched when the field is absent (defaults stay).
  void str(std::string_view key, std::string& out, bool required = false);
  void boolean(std::string_view key, bool& out);
  void u64(std::string_view key, uint64_t& out);
  void i64(std::string_view key, int64_t& out, int64_t min, int64_t max);
  void u32(std::string_view key, uint32_t& out, uint32_t min, uint32_t max);
  void i32(std::string_view key, int32_t& out, int32_t min, int32_t max);
  void str_list(std::string_view key, std::vector<std::string>& out);
  // The raw value, marked as read; nullptr when absent.
  const json::value* field(std::string_view key);
  // A nested object's path, for a reader of it.
  std::string path_of(std::string_view key) const;

  void fail(std::string message);
  // Ends reading: the first error (strict: or an unknown field), else OK.
  common::Status finish();

 private:
  const json::object& o_;
  std::string path_;
  bool strict_;
  std::set<std::string, std::less<>> seen_;
  std::string error_;
};

// The object in `text`, or kInvalidArgument saying what is wrong with it.
common::Result<json::object> parse_object_text(std::string_view text, std::string_view what);

// An enum from its JSON name; `names` is indexed by the enum's value.
template <typename E, size_t N>
bool enum_from(std::string_view text, const std::string_view (&names)[N], E& out) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == text) {
      out = static_cast<E>(i);
      return true;
    }
  }
  return false;
}

template <size_t N>
std::string one_of(const std::string_view (&names)[N]) {
  std::string s;
  for (size_t i = 0; i < N; ++i) {
    if (i) s += i + 1 == N ? " or " : ", ";
    s += "'" + std::string(names[i]) + "'";
  }
  return s;
}

// Reads an enum field by name; an unknown name fails with the valid ones.
template <typename E, size_t N>
void enum_field(ObjectReader& r, std::string_view key, const std::string_view (&names)[N], E& out) {
  std::string text;
  const json::value* v = r.field(key);
  if (!v) return;
  if (!v->is_string() || !enum_from(v->as_string(), names, out)) {
    r.fail(r.path_of(key) + " must be " + one_of(names));
  }
}

}  // namespace pgha::detail
