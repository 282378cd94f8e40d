// Helpers shared by http_router.cc (changes, admin) and http_keys.cc (keys,
// transactions, leases). Not part of the API: include only from those files.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_router.h"

namespace api {

// Parsed query parameters of any route; each route reads what it needs.
struct Router::Query {
  uint64_t since = 0;
  std::optional<uint64_t> limit;  // a positive integer; each route checks its own maximum
  uint32_t block_seconds = 0;
  std::vector<std::string> tags;
  std::string prefix;  // key prefix (feed, stream, GET /keys)
  std::string after;   // GET /keys: start strictly after this key
  bool include_internal = false;
  bool consistent = false;
  bool wait = true;
  bool force = false;                   // DELETE /cluster/members/{id}
  std::optional<uint64_t> if_revision;  // DELETE /keys/{key}
  std::optional<std::string> up;        // PUT /health
  std::optional<std::string> last_event_id;
  bool since_given = false;               // since= was present (with sinceTime: 400)
  std::optional<uint64_t> since_time_ns;  // sinceTime=, RFC 3339 or integer ns
};

// POST /changes: a request id was used before for a different body.
inline constexpr HttpError kErrRequestIdReused{409, "request_id_reused"};

namespace http_detail {

using Clock = std::chrono::steady_clock;

// Turns a Service callback API into an awaitable: the callback stores the
// value and cancels a timer we sleep on. A callback made inside start()
// (before we sleep) is seen by the loop condition, so it is never lost.
// Callers build the awaitable in its own statement from a named lambda: GCC 12
// destroys temporaries of a full-expression containing co_await twice (GCC
// bug 99576).
template <typename T, typename Start>
boost::asio::awaitable<T> await_callback(Start start) {
  namespace asio = boost::asio;
  struct Slot {
    explicit Slot(const asio::any_io_executor& ex) : timer(ex, Clock::time_point::max()) {}
    asio::steady_timer timer;
    std::optional<T> value;
  };
  auto slot = std::make_shared<Slot>(co_await asio::this_coro::executor);
  start([slot](T v) {
    slot->value.emplace(std::move(v));
    slot->timer.cancel();
  });
  while (!slot->value) co_await slot->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return std::move(*slot->value);
}

inline std::optional<uint64_t> parse_u64(std::string_view s) {
  uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

inline Status bad(std::string message) {
  return Status(Code::kInvalidArgument, std::move(message));
}

inline HttpReply json_reply(int status, std::string body) {
  HttpReply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

bool is_json_content_type(const std::string* ct);
// sinceTime: integer ns since the epoch, or RFC 3339
// (2026-01-02T03:04:05[.fraction](Z|+hh:mm|-hh:mm)); nullopt if neither.
std::optional<uint64_t> parse_time_ns(std::string_view s);
HttpReply method_not_allowed(std::string_view allow);
// 400 for an ordinary key write under a reserved prefix or with the
// checkpoint type (http_cursors.cc; see cursors.h).
Status check_reserved_write(const TxnRequest& txn);
// changeagent_cursor_lag{cursor=...} for at most kCursorLagMetricsMax cursors.
void render_cursor_metrics(Service& svc, std::string& out);
// The limit= of a route: its default when absent, 400 above its maximum.
Status route_limit(const Router::Query& q, uint32_t default_limit, uint32_t max_limit,
                   uint32_t& out);

}  // namespace http_detail
}  // namespace api
