// The client's typed calls for keys, transactions and leases (issue 4). No
// Beast here: everything goes through Client::send / Client::request.
#include "api/change_json.h"
#include "api/client.h"
#include "api/http_errors.h"

namespace api {

namespace {

// Percent-encodes all but unreserved characters; keep_slash leaves '/' as is
// so that key paths stay readable (/keys/pgha/c1/leader). The server decodes
// the rest of the path after "/keys/" byte for byte.
std::string encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string key_target(const std::string& key) {
  return "/keys/" + encode(key, true);
}

bool success(const HttpResponse& r) {
  return r.status >= 200 && r.status < 300;
}

// A write's answer: 2xx, a 409 revision mismatch (a value), or an error.
Result<TxnResult> write_result(const Result<HttpResponse>& res, std::string_view key) {
  if (!res.is_ok()) return res.status();
  bool mismatch = res->status == 409 && is_revision_mismatch(res->body);
  if (!success(*res) && !mismatch) return status_from_http(res->status, res->body);
  return parse_txn_result(res->status, res->body, key);
}

Result<LeaseInfo> lease_result(const Result<HttpResponse>& res) {
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  return parse_lease(res->body);
}

}  // namespace

Result<TxnResult> Client::put_key(const std::string& key, std::string_view value_json,
                                  std::optional<uint64_t> if_revision, uint64_t lease) {
  if (Status s = validate_key(key); !s.is_ok()) return s;
  auto body = render_put_key_body(value_json, if_revision, lease);
  if (!body.is_ok()) return body.status();
  auto res = send("PUT", key_target(key), std::move(body.value()), false);
  return write_result(res, key);
}

Result<TxnResult> Client::delete_key(const std::string& key, std::optional<uint64_t> if_revision) {
  if (Status s = validate_key(key); !s.is_ok()) return s;
  std::string target = key_target(key);
  if (if_revision) target += "?ifRevision=" + std::to_string(*if_revision);
  auto res = send("DELETE", target, {}, false);
  return write_result(res, key);
}

Result<TxnResult> Client::txn(const TxnRequest& req) {
  auto body = render_txn_request(req);
  if (!body.is_ok()) return body.status();
  auto res = send("POST", "/txn", std::move(body.value()), false);
  return write_result(res, {});
}

Result<KeyValue> Client::get_key(const std::string& key, bool consistent) {
  if (Status s = validate_key(key); !s.is_ok()) return s;
  std::string target = key_target(key);
  if (consistent) target += "?consistent=true";
  auto res = send("GET", target, {}, true);
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  return parse_key(res->body);
}

Result<KeyPage> Client::list_keys(const std::string& prefix, const std::string& after,
                                  uint32_t limit, bool consistent) {
  std::string target = "/keys?prefix=" + encode(prefix, false) + "&limit=" + std::to_string(limit);
  if (!after.empty()) target += "&after=" + encode(after, false);
  if (consistent) target += "&consistent=true";
  auto res = send("GET", target, {}, true);
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  return parse_key_page(res->body);
}

Result<LeaseInfo> Client::lease_grant(uint64_t ttl_seconds) {
  auto res = send("POST", "/leases", "{\"ttl\":" + std::to_string(ttl_seconds) + "}", false);
  return lease_result(res);
}

Result<LeaseInfo> Client::lease_keepalive(uint64_t id) {
  // A keepalive sent twice renews twice: harmless, so it may be resent.
  auto res = send("POST", "/leases/" + std::to_string(id) + "/keepalive", {}, true);
  return lease_result(res);
}

Status Client::lease_revoke(uint64_t id) {
  auto res = send("DELETE", "/leases/" + std::to_string(id), {}, false);
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  return Status::ok();
}

Result<LeaseInfo> Client::lease_get(uint64_t id) {
  auto res = send("GET", "/leases/" + std::to_string(id), {}, true);
  return lease_result(res);
}

}  // namespace api
