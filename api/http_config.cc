// Cluster-wide settings the state machine applies, as keys under `_config/`
// written through the log (see cursors.h). One so far:
//   GET/PUT/DELETE /config/request_id_window   {"seconds": N}
// how long a request id is remembered (exactly-once appends). A PUT takes
// effect from its own entry on, on every node alike; DELETE restores the
// default (state::kRequestIdWindowNsDefault, 10 minutes).
#include <boost/asio/use_awaitable.hpp>

#include "api/change_json.h"
#include "api/cursors.h"
#include "api/http_router.h"
#include "api/http_router_internal.h"

namespace api {

namespace asio = boost::asio;
using namespace http_detail;

namespace {

constexpr uint64_t kRequestIdWindowSecondsDefault = 600;

std::string window_json(uint64_t seconds, bool is_default, uint64_t revision) {
  return "{\"name\":\"request_id_window\",\"seconds\":" + std::to_string(seconds) +
         ",\"default\":" + (is_default ? "true" : "false") +
         ",\"revision\":" + std::to_string(revision) + "}";
}

}  // namespace

asio::awaitable<HttpReply> Router::dispatch_config(const HttpRequest& req, const std::string& path,
                                                   const Query& q, const Status& qs,
                                                   std::string_view& route_name) {
  const std::string& m = req.method;
  if (path != "/config/request_id_window") {
    co_return error_reply(kErrRouteNotFound,
                          "no such setting: " + path + "; known: /config/request_id_window");
  }
  route_name = "/config/request_id_window";
  if (m != "GET" && m != "PUT" && m != "DELETE") co_return method_not_allowed("GET, PUT, DELETE");
  if (!qs.is_ok()) co_return status_reply(qs);
  std::string key(kRequestIdWindowConfigKey);
  if (m == "GET") {
    if (q.consistent) {
      Status s = co_await barrier();
      if (!s.is_ok()) co_return status_reply(s);
    }
    auto kv = svc_.get_key(key);
    if (!kv.is_ok() && kv.status().code() != Code::kNotFound) co_return status_reply(kv.status());
    if (!kv.is_ok())
      co_return json_reply(200, window_json(kRequestIdWindowSecondsDefault, true, 0));
    auto seconds = parse_u64(kv->value_json);
    co_return json_reply(200, window_json(seconds.value_or(kRequestIdWindowSecondsDefault),
                                          !seconds, kv->mod_revision));
  }
  TxnRequest txn;
  uint64_t seconds = kRequestIdWindowSecondsDefault;
  if (m == "PUT") {
    if (!is_json_content_type(req.header("content-type"))) {
      co_return error_reply(kErrUnsupportedMediaType, "Content-Type must be application/json");
    }
    auto s = parse_request_id_window_body(req.body);
    if (!s.is_ok()) co_return status_reply(s.status());
    seconds = *s;
    txn.change.data_json = std::to_string(seconds);
    txn.ops.push_back(TxnOp{key, false, txn.change.data_json, 0});
  } else {
    txn.change.data_json = "null";
    txn.ops.push_back(TxnOp{key, true, {}, 0});
  }
  if (q.if_revision) txn.compares.push_back({key, *q.if_revision});
  std::vector<TxnCompare> wanted = txn.compares;
  Result<TxnResult> r = co_await run_reserved_txn(txn);
  if (!r.is_ok()) co_return status_reply(r.status());
  if (!r->succeeded) {
    co_return json_reply(kErrRevisionMismatch.status, render_revision_mismatch(wanted, *r, false));
  }
  co_return json_reply(200, window_json(seconds, m == "DELETE", r->id));
}

}  // namespace api
