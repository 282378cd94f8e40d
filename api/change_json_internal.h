// Helpers shared by change_json.cc (changes, cluster, diagnostics) and
// change_json_keys.cc (keys, transactions, leases). Not part of the API:
// include only from those two files.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/service.h"

namespace api::json_detail {

namespace json = boost::json;

inline Status invalid(std::string message) {
  return Status(Code::kInvalidArgument, std::move(message));
}

// kInvalidArgument unless text is one valid JSON value (UTF-8 checked).
Result<json::value> parse_json(std::string_view text);
// The server's answer as an object; kInternal otherwise (a server bug).
Result<json::object> parse_object(std::string_view text, const char* what);

// Request fields, strict: wrong type or sign is kInvalidArgument naming `what`.
Result<std::vector<std::string>> parse_tags(const json::value& v);
Result<uint32_t> parse_type(const json::value& v);
// A JSON integer >= 0 (not a float, not a string).
Result<uint64_t> parse_uint(const json::value& v, std::string_view what);

// Response fields, lenient: absent or mistyped reads as 0 / false / "".
uint64_t get_u64(const json::object& o, std::string_view key);
int64_t get_i64(const json::object& o, std::string_view key);
bool get_bool(const json::object& o, std::string_view key);
std::string get_string(const json::object& o, std::string_view key);

// The key fields a change object may carry (POST /changes): "key",
// "ifRevision", "delete", "lease". present = "key" was given.
struct KeyFields {
  bool present = false;
  std::string key;
  std::optional<uint64_t> if_revision;
  bool del = false;
  uint64_t lease = 0;
};
// kInvalidArgument for a bad key, wrong types, the other fields without
// "key", a lease on a delete, or a put without "data".
Result<KeyFields> parse_key_fields(const json::object& o);

struct PostedChange {
  ChangeInput change;
  KeyFields key;
};

// The transaction a keyed change stands for: at most one compare (on
// ifRevision) and one op on k.key whose value is the change's data.
TxnRequest keyed_txn(ChangeInput change, const KeyFields& k);

// Appends s as a JSON string literal (quoted, escaped).
void append_json_string(std::string& out, std::string_view s);

}  // namespace api::json_detail
