// The coordination store's routes (issue 4): POST /txn, /keys, /leases.
// Validation happens here, before the Service is called, so bad input never
// reaches the log (nothing half-applied). Coroutines here take references to
// named objects, never temporaries built in the co_await expression (GCC 12
// bug 99576; see await_callback).
#include <boost/asio/use_awaitable.hpp>

#include "api/change_json.h"
#include "api/http_limits.h"
#include "api/http_router.h"
#include "api/http_router_internal.h"
#include "common/assert.h"

namespace api {

namespace asio = boost::asio;
using namespace http_detail;

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The request target was validated by Boost.URL, so every '%' is followed by
// two hex digits; a stray one is kept as is all the same. '+' stays '+'.
std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::optional<uint64_t> lease_id(std::string_view text) {
  auto id = parse_u64(text);
  if (!id || *id == 0) return std::nullopt;
  return id;
}

}  // namespace

asio::awaitable<HttpReply> Router::dispatch_keys(const HttpRequest& req,
                                                 const std::string& encoded_path, const Query& q,
                                                 const Status& qs, std::string_view& route_name) {
  const std::string& m = req.method;
  if (!encoded_path.starts_with("/keys")) {  // "/txn", however it was spelled
    route_name = "/txn";
    if (m != "POST") co_return method_not_allowed("POST");
    if (!qs.is_ok()) co_return status_reply(qs);
    HttpReply out = co_await post_txn(req, q.wait);
    co_return out;
  }
  if (encoded_path == "/keys") {
    route_name = "/keys";
    if (m != "GET") co_return method_not_allowed("GET");
    if (!qs.is_ok()) co_return status_reply(qs);
    HttpReply out = co_await list_keys(q);
    co_return out;
  }
  route_name = "/keys/{key}";
  if (m != "GET" && m != "PUT" && m != "DELETE") co_return method_not_allowed("GET, PUT, DELETE");
  if (!qs.is_ok()) co_return status_reply(qs);
  std::string key = percent_decode(std::string_view(encoded_path).substr(6));
  if (key.empty()) {
    co_return status_reply(
        bad("the key is empty: use /keys/{key}, or GET /keys?prefix=... to list keys"));
  }
  if (Status s = validate_key(key); !s.is_ok()) co_return status_reply(s);
  HttpReply out;
  if (m == "GET") {
    out = co_await get_key(key, q.consistent);
  } else if (m == "PUT") {
    out = co_await put_key(req, key, q.wait);
  } else {
    out = co_await delete_key(key, q);
  }
  co_return out;
}

asio::awaitable<HttpReply> Router::dispatch_leases(const HttpRequest& req, const std::string& path,
                                                   const Query& q, const Status& qs,
                                                   std::string_view& route_name) {
  const std::string& m = req.method;
  if (path == "/leases") {
    route_name = "/leases";
    if (m != "POST") co_return method_not_allowed("POST");
    if (!qs.is_ok()) co_return status_reply(qs);
    HttpReply out = co_await grant_lease(req);
    co_return out;
  }
  std::string_view rest = std::string_view(path).substr(8);  // after "/leases/"
  bool keepalive = rest.ends_with("/keepalive");
  if (keepalive) rest.remove_suffix(10);
  route_name = keepalive ? "/leases/{id}/keepalive" : "/leases/{id}";
  if (keepalive && m != "POST") co_return method_not_allowed("POST");
  if (!keepalive && m != "GET" && m != "DELETE") co_return method_not_allowed("GET, DELETE");
  if (!qs.is_ok()) co_return status_reply(qs);
  auto id = lease_id(rest);
  if (!id) co_return status_reply(bad("a lease id is a positive integer, as POST /leases gave"));
  HttpReply out = co_await lease_call(m, *id, keepalive);
  co_return out;
}

asio::awaitable<Result<TxnResult>> Router::run_txn(TxnRequest& txn, bool wait) {
  using Done = Result<TxnResult>;
  // Cursors, checkpoints and settings have their own routes (cursors.h).
  if (Status s = check_reserved_write(txn); !s.is_ok()) co_return s;
  // Not one full-expression with co_await: see await_callback.
  auto start = [this, &txn, wait](std::function<void(Done)> done) {
    svc_.txn(std::move(txn), wait, std::move(done));
  };
  auto op = await_callback<Done>(std::move(start));
  Done result = co_await std::move(op);
  co_return result;
}

asio::awaitable<HttpReply> Router::write_key(TxnRequest& txn, bool wait, int ok_status) {
  CA_ASSERT(txn.ops.size() == 1);
  std::string key = txn.ops.front().key;
  std::vector<TxnCompare> wanted = txn.compares;  // txn is moved into the Service
  Result<TxnResult> r = co_await run_txn(txn, wait);
  if (!r.is_ok()) co_return status_reply(r.status());
  if (!r->succeeded) {
    co_return json_reply(kErrRevisionMismatch.status, render_revision_mismatch(wanted, *r, false));
  }
  co_return json_reply(ok_status, render_key_write(key, *r));
}

asio::awaitable<HttpReply> Router::post_txn(const HttpRequest& req, bool wait) {
  if (!is_json_content_type(req.header("content-type"))) {
    co_return error_reply(kErrUnsupportedMediaType, "Content-Type must be application/json");
  }
  auto txn = parse_txn_body(req.body);
  if (!txn.is_ok()) co_return status_reply(txn.status());
  std::vector<TxnCompare> wanted = txn->compares;
  Result<TxnResult> r = co_await run_txn(txn.value(), wait);
  if (!r.is_ok()) co_return status_reply(r.status());
  if (!r->succeeded) {
    co_return json_reply(kErrRevisionMismatch.status, render_revision_mismatch(wanted, *r, true));
  }
  co_return json_reply(wait ? 200 : 202, render_txn_succeeded(*r));
}

asio::awaitable<HttpReply> Router::put_key(const HttpRequest& req, const std::string& key,
                                           bool wait) {
  if (!is_json_content_type(req.header("content-type"))) {
    co_return error_reply(kErrUnsupportedMediaType, "Content-Type must be application/json");
  }
  auto txn = parse_put_key_body(key, req.body);
  if (!txn.is_ok()) co_return status_reply(txn.status());
  HttpReply out = co_await write_key(txn.value(), wait, wait ? 200 : 202);
  co_return out;
}

asio::awaitable<HttpReply> Router::delete_key(const std::string& key, const Query& q) {
  // Without ifRevision, deleting an absent key is a 404 rather than an
  // empty change in the feed. Read locally: a race with a concurrent delete
  // only turns that 404 into a delete of nothing.
  if (!q.if_revision) {
    auto current = svc_.get_key(key);
    if (!current.is_ok()) co_return status_reply(current.status());
  }
  TxnRequest txn;
  txn.change.data_json = "null";
  if (q.if_revision) txn.compares.push_back({key, *q.if_revision});
  txn.ops.push_back(TxnOp{key, true, {}, 0});
  HttpReply out = co_await write_key(txn, q.wait, q.wait ? 200 : 202);
  co_return out;
}

asio::awaitable<HttpReply> Router::get_key(const std::string& key, bool consistent) {
  if (consistent) {
    Status s = co_await barrier();
    if (!s.is_ok()) co_return status_reply(s);
  }
  auto kv = svc_.get_key(key);
  if (!kv.is_ok()) co_return status_reply(kv.status());
  co_return json_reply(200, render_key(*kv));
}

asio::awaitable<HttpReply> Router::list_keys(const Query& q) {
  uint32_t limit = 0;
  if (Status s = route_limit(q, kKeyListLimitDefault, kKeyListLimitMax, limit); !s.is_ok()) {
    co_return status_reply(s);
  }
  if (q.consistent) {
    Status s = co_await barrier();
    if (!s.is_ok()) co_return status_reply(s);
  }
  auto page = svc_.list_keys(q.prefix, q.after, limit);
  if (!page.is_ok()) co_return status_reply(page.status());
  co_return json_reply(200, render_key_page(*page));
}

asio::awaitable<HttpReply> Router::grant_lease(const HttpRequest& req) {
  if (!is_json_content_type(req.header("content-type"))) {
    co_return error_reply(kErrUnsupportedMediaType, "Content-Type must be application/json");
  }
  auto ttl = parse_lease_grant_body(req.body);
  if (!ttl.is_ok()) co_return status_reply(ttl.status());
  using Done = Result<LeaseInfo>;
  // Not one full-expression with co_await: see await_callback.
  auto start = [this, ttl = *ttl](std::function<void(Done)> done) {
    svc_.lease_grant(ttl, std::move(done));
  };
  auto op = await_callback<Done>(std::move(start));
  Done lease = co_await std::move(op);
  if (!lease.is_ok()) co_return status_reply(lease.status());
  co_return json_reply(201, render_lease(*lease, false, false));
}

asio::awaitable<HttpReply> Router::lease_call(const std::string& method, uint64_t id,
                                              bool keepalive) {
  if (method == "DELETE") {
    // Not one full-expression with co_await: see await_callback.
    auto start = [this, id](std::function<void(Status)> done) {
      svc_.lease_revoke(id, std::move(done));
    };
    auto op = await_callback<Status>(std::move(start));
    Status s = co_await std::move(op);
    if (!s.is_ok()) co_return status_reply(s);
    co_return json_reply(200, "{\"id\":" + std::to_string(id) + "}");
  }
  using Done = Result<LeaseInfo>;
  auto start = [this, id, keepalive](std::function<void(Done)> done) {
    if (keepalive) {
      svc_.lease_keepalive(id, std::move(done));
    } else {
      svc_.lease_get(id, std::move(done));
    }
  };
  auto op = await_callback<Done>(std::move(start));
  Done lease = co_await std::move(op);
  if (!lease.is_ok()) co_return status_reply(lease.status());
  co_return json_reply(200, render_lease(*lease, true, !keepalive));
}

}  // namespace api
