#include "api/http_router.h"

#include <spdlog/spdlog.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>

#include "api/change_json.h"
#include "api/cursors.h"
#include "api/http_auth.h"
#include "api/http_dump.h"
#include "api/http_limits.h"
#include "api/http_router_internal.h"
#include "api/log_limiter.h"
#include "common/logger.h"

namespace api {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::shared_ptr<spdlog::logger> http_log() {
  return common::component_logger("http");
}

// ---- metrics ----

void HttpMetrics::record(std::string_view route, int status) {
  std::lock_guard lock(mu_);
  requests_[{std::string(route), status}]++;
}

void HttpMetrics::render(std::string& out) const {
  out += "# HELP changeagent_http_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE changeagent_http_requests_total counter\n";
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, n] : requests_) {
      out += "changeagent_http_requests_total{route=\"" + key.first + "\",status=\"" +
             std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
    }
  }
  latency.render(out, "changeagent_http_request_duration_seconds",
                 "Latency of HTTP requests that do not block.");
  render_gauge(out, "changeagent_http_connections", "Open client connections.",
               connections.value());
  render_gauge(out, "changeagent_http_longpoll_waiters",
               "Blocked long-poll requests and SSE streams.", longpoll_waiters.value());
}

// ---- waiters ----

struct Waiters::State {
  explicit State(const asio::any_io_executor& ex, Clock::time_point deadline)
      : timer(ex, deadline) {}
  asio::steady_timer timer;
  bool woken = false;  // set by whoever ends the wait, so a wake before async_wait counts
};

asio::awaitable<void> Waiters::wait(Service& svc, uint64_t after, Clock::time_point deadline) {
  if (stopped_) co_return;
  auto state = std::make_shared<State>(co_await asio::this_coro::executor, deadline);
  live_.insert(state);
  gauge_.set(static_cast<int64_t>(live_.size()));
  // Weak: the Service may call back long after this wait ended.
  std::weak_ptr<State> weak = state;
  svc.wait_applied(after, deadline, [weak] {
    if (auto s = weak.lock()) {
      s->woken = true;
      s->timer.cancel();
    }
  });
  if (!state->woken) co_await state->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  live_.erase(state);
  gauge_.set(static_cast<int64_t>(live_.size()));
}

bool Waiters::enter_client(std::string_view ip, uint32_t max) {
  auto it = per_client_.find(ip);
  if (it == per_client_.end()) it = per_client_.emplace(std::string(ip), 0).first;
  if (it->second >= max) return false;
  it->second++;
  return true;
}

void Waiters::leave_client(std::string_view ip) {
  auto it = per_client_.find(ip);
  if (it == per_client_.end()) return;
  if (--it->second == 0) per_client_.erase(it);
}

void Waiters::stop() {
  stopped_ = true;
  for (const auto& s : live_) {
    s->woken = true;
    s->timer.cancel();
  }
}

// ---- helpers ----

namespace {

std::optional<bool> parse_bool(std::string_view s) {
  if (s == "true" || s == "1" || s.empty()) return true;
  if (s == "false" || s == "0") return false;
  return std::nullopt;
}

}  // namespace

namespace http_detail {

bool is_json_content_type(const std::string* ct) {
  if (!ct) return false;
  std::string_view v = *ct;
  v = v.substr(0, v.find(';'));
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.size() != 16) return false;
  for (size_t i = 0; i < v.size(); i++) {
    if (std::tolower(static_cast<unsigned char>(v[i])) != "application/json"[i]) return false;
  }
  return true;
}

// X-Cluster-Id, when sent, must name this cluster as /cluster prints it
// (hex; "0x" and leading zeros are tolerated): a client aimed at another
// cluster gets 409 wrong_cluster before anything is read or written.
std::optional<HttpReply> check_cluster_id(const std::string* header, const std::string& ours_hex) {
  if (header == nullptr) return std::nullopt;
  auto parse_hex = [](std::string_view s) -> std::optional<uint64_t> {
    if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
  };
  auto theirs = parse_hex(*header);
  if (!theirs) {
    return error_reply(kErrBadRequest, "X-Cluster-Id '" + *header +
                                           "' is not a cluster id; send it as GET /cluster "
                                           "prints clusterId (16 hex digits)");
  }
  if (*theirs == parse_hex(ours_hex)) return std::nullopt;
  return error_reply(kErrClusterMismatch, "X-Cluster-Id " + *header +
                                              " does not match this cluster (" + ours_hex +
                                              "); check the client's endpoints");
}

// A /diagnostics body with each section's JSON added under its key.
std::string with_sections(
    const std::string& body,
    const std::vector<std::pair<std::string, std::function<std::string()>>>& sections) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return body;
  for (const auto& [key, render] : sections) {
    boost::json::value section = boost::json::parse(render(), ec);
    v.as_object()[key] = ec ? boost::json::value(nullptr) : std::move(section);
  }
  return boost::json::serialize(v);
}

HttpReply method_not_allowed(std::string_view allow) {
  HttpReply r = error_reply(kErrMethodNotAllowed, "method not allowed; use " + std::string(allow));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

std::optional<uint64_t> parse_time_ns(std::string_view s) {
  if (auto ns = parse_u64(s)) return ns;
  // YYYY-MM-DDTHH:MM:SS
  auto digits = [&](size_t pos, size_t n) -> std::optional<int64_t> {
    if (pos + n > s.size()) return std::nullopt;
    int64_t v = 0;
    for (size_t i = pos; i < pos + n; i++) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2);
  auto hour = digits(11, 2), minute = digits(14, 2), second = digits(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 ||
      *second > 60 || *year < 1970) {
    return std::nullopt;
  }
  size_t pos = 19;
  int64_t frac_ns = 0;
  if (pos < s.size() && s[pos] == '.') {
    pos++;
    int64_t scale = 100000000;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac_ns += (s[pos] - '0') * scale;  // digits past ns are dropped
      scale /= 10;
      pos++;
    }
    if (pos == start) return std::nullopt;
  }
  int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    pos++;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    auto oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (!oh || !om || pos + 3 >= s.size() || s[pos + 3] != ':') return std::nullopt;
    offset_s = (*oh * 3600 + *om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;  // RFC 3339 requires an offset
  }
  if (pos != s.size()) return std::nullopt;
  // Days since the epoch of a proleptic Gregorian date (H. Hinnant's
  // days_from_civil).
  int64_t y = *year - (*month <= 2 ? 1 : 0);
  int64_t era = y / 400;
  int64_t yoe = y - era * 400;
  int64_t mp = (*month + 9) % 12;
  int64_t doy = (153 * mp + 2) / 5 + *day - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = era * 146097 + doe - 719468;
  int64_t secs = days * 86400 + *hour * 3600 + *minute * 60 + *second - offset_s;
  if (secs < 0) return uint64_t{0};
  return static_cast<uint64_t>(secs) * 1000000000ull + static_cast<uint64_t>(frac_ns);
}

Status route_limit(const Router::Query& q, uint32_t default_limit, uint32_t max_limit,
                   uint32_t& out) {
  if (!q.limit) {
    out = default_limit;
    return Status::ok();
  }
  if (*q.limit == 0 || *q.limit > max_limit) {
    return bad("limit must be an integer from 1 to " + std::to_string(max_limit));
  }
  out = static_cast<uint32_t>(*q.limit);
  return Status::ok();
}

}  // namespace http_detail

using namespace http_detail;

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::string_view HttpRequest::remote_ip() const {
  std::string_view a = remote_address;
  return a.substr(0, std::min(a.size(), a.rfind(':')));
}

HttpReply error_reply(const HttpError& e, std::string_view message,
                      std::optional<uint64_t> first_index) {
  return json_reply(e.status, error_json(e.code, message, first_index));
}

HttpReply status_reply(const Status& s, std::optional<uint64_t> first_index) {
  return error_reply(http_error_for(s.code()), s.message(), first_index);
}

// ---- query parameters ----

namespace {

Status parse_param(Router::Query& q, std::string_view key, std::string_view value,
                   uint32_t block_seconds_max) {
  if (key == "since") {
    auto v = parse_u64(value);
    if (!v) return bad("since must be a non-negative integer");
    q.since = *v;
    q.since_given = true;
  } else if (key == "sinceTime") {
    auto v = parse_time_ns(value);
    if (!v) return bad("sinceTime must be RFC 3339 (2026-01-02T03:04:05.5Z) or integer ns");
    q.since_time_ns = *v;
  } else if (key == "limit") {
    auto v = parse_u64(value);
    if (!v || *v == 0) return bad("limit must be a positive integer");
    q.limit = *v;
  } else if (key == "block") {
    auto v = parse_u64(value);
    if (!v || *v > kBlockSecondsAbsurd) {
      return bad("block must be a number of seconds from 0 to " +
                 std::to_string(block_seconds_max));
    }
    q.block_seconds = static_cast<uint32_t>(std::min<uint64_t>(*v, block_seconds_max));
  } else if (key == "tag") {
    if (value.empty() || value.size() > kTagBytesMax) return bad("tag must be 1 to 256 bytes");
    if (q.tags.size() >= kTagsPerQueryMax) {
      return bad("at most " + std::to_string(kTagsPerQueryMax) + " tag parameters");
    }
    q.tags.emplace_back(value);
  } else if (key == "consistent" || key == "wait" || key == "internal" || key == "force") {
    auto v = parse_bool(value);
    if (!v) return bad(std::string(key) + " must be true or false");
    (key == "wait"       ? q.wait
     : key == "internal" ? q.include_internal
     : key == "force"    ? q.force
                         : q.consistent) = *v;
  } else if (key == "prefix" || key == "after") {
    // A prefix watch must see a lease's expiry or revoke deleting its keys,
    // and those are internal entries: with a prefix they are included (a
    // grant writes no key, so the prefix still filters it out).
    // Bounded like a key; empty is allowed (all keys / from the start).
    if (value.size() > kKeyBytesMax) {
      return bad(std::string(key) + " is at most " + std::to_string(kKeyBytesMax) + " bytes");
    }
    (key == "prefix" ? q.prefix : q.after) = std::string(value);
  } else if (key == "ifRevision") {
    auto v = parse_u64(value);
    if (!v) return bad("ifRevision must be an integer >= 0 (0 = the key must not exist)");
    q.if_revision = *v;
  } else if (key == "up") {
    q.up = std::string(value);
  }
  // Unknown parameters are ignored, as the original did, so newer clients
  // can send hints older servers do not know.
  return Status::ok();
}

Status parse_query(Router::Query& q, const boost::urls::url_view& u, uint32_t block_seconds_max) {
  for (auto param : u.params()) {
    Status s = parse_param(q, param.key, param.value, block_seconds_max);
    if (!s.is_ok()) return s;
  }
  return Status::ok();
}

}  // namespace

// ---- routing ----

namespace {

HttpReply too_many_waiters(const HttpRequest& req) {
  thread_local LogLimiter log_limit;  // per io thread: no lock needed
  uint64_t suppressed = 0;
  if (log_limit.allow(Clock::now(), suppressed)) {
    http_log()->warn(
        "429 for {}: too many long-polls and streams from one client{}", req.remote_address,
        suppressed ? " (" + std::to_string(suppressed) + " more not logged)" : std::string());
  }
  HttpReply r = error_reply(kErrTooManyWaiters,
                            "this client has too many long-polls and streams open; "
                            "close some or block less");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

}  // namespace

asio::awaitable<Routed> Router::route(const HttpRequest& req) {
  auto start = Clock::now();
  std::string_view route_name = "unknown";
  bool blocking = false;
  Routed out = co_await dispatch(req, route_name, blocking);
  // Every answer names its cluster, so a client can pin the id it first
  // reached (ClientOptions::learn_cluster_id) and send it back.
  if (!out.sse && !opts_.cluster_id_hex.empty()) {
    out.reply.headers.emplace_back("X-Cluster-Id", opts_.cluster_id_hex);
  }
  int status = out.sse ? 200 : out.reply.status;
  metrics_.record(route_name, status);
  if (!blocking && !out.sse) {
    metrics_.latency.observe(std::chrono::duration<double>(Clock::now() - start).count());
  }
  if (status >= 500) {
    http_log()->debug("{} {} -> {}", req.method, req.target, status);
  }
  co_return out;
}

asio::awaitable<Routed> Router::dispatch(const HttpRequest& req, std::string_view& route_name,
                                         bool& blocking) {
  auto parsed = boost::urls::parse_origin_form(req.target);
  if (!parsed) co_return Routed{error_reply(kErrBadRequest, "malformed request target"), {}};
  std::string path = parsed->path();
  if (path.size() > 1 && path.back() == '/') path.pop_back();
  // Keys keep their trailing slash and encoded slashes: routed on the raw path.
  std::string encoded_path(parsed->encoded_path());

  // Before anything else reads the request: api/http_auth.cc decides.
  if (opts_.auth) {
    std::optional<HttpReply> denied = co_await opts_.auth->check(req, path);
    if (denied) {
      route_name = "auth";
      co_return Routed{std::move(*denied), {}};
    }
  }
  if (path != "/health" && path != "/metrics" && !opts_.cluster_id_hex.empty()) {
    if (auto refused = check_cluster_id(req.header("x-cluster-id"), opts_.cluster_id_hex)) {
      co_return Routed{std::move(*refused), {}};
    }
  }
  Query q;
  Status qs = parse_query(q, *parsed, opts_.block_seconds_max);
  if (path == "/changes" || path.starts_with("/changes/")) {
    Routed out = co_await dispatch_changes(req, path, q, qs, route_name, blocking);
    co_return out;
  }
  if (path == "/txn" || encoded_path == "/keys" || encoded_path.starts_with("/keys/")) {
    HttpReply out = co_await dispatch_keys(req, encoded_path, q, qs, route_name);
    co_return Routed{std::move(out), {}};
  }
  if (path == "/config") {
    HttpReply out = co_await dispatch_cluster_config(req, q, qs, route_name);
    co_return Routed{std::move(out), {}};
  }
  if (path.starts_with("/config/")) {
    HttpReply out = co_await dispatch_config(req, path, q, qs, route_name);
    co_return Routed{std::move(out), {}};
  }
  if (path == "/cursors" || path.starts_with("/cursors/")) {
    HttpReply out = co_await dispatch_cursors(req, path, q, qs, route_name);
    co_return Routed{std::move(out), {}};
  }
  if (path == "/leases" || path.starts_with("/leases/")) {
    HttpReply out = co_await dispatch_leases(req, path, q, qs, route_name);
    co_return Routed{std::move(out), {}};
  }
  if ((path == "/cluster/members" && req.method != "GET") ||
      path.starts_with("/cluster/members/") || path == "/cluster/leader") {
    HttpReply out = co_await dispatch_members(req, path, q, qs, route_name);
    co_return Routed{std::move(out), {}};
  }
  if (path == "/admin/dump") {  // http_dump.cc
    route_name = "/admin/dump";
    blocking = true;
    co_return route_dump(svc_, req);
  }
  co_return Routed{dispatch_admin(req, path, q, route_name), {}};
}

asio::awaitable<Routed> Router::dispatch_changes(const HttpRequest& req, const std::string& path,
                                                 const Query& q, const Status& qs,
                                                 std::string_view& route_name, bool& blocking) {
  const std::string& m = req.method;
  auto reply = [](HttpReply r) { return Routed{std::move(r), {}}; };
  if (path == "/changes") {
    route_name = "/changes";
    if (m != "GET" && m != "POST") co_return reply(method_not_allowed("GET, POST"));
    if (!qs.is_ok()) co_return reply(status_reply(qs));
    blocking = m == "GET" && q.block_seconds > 0;
    HttpReply out;
    if (m == "GET") {
      // A long-poll holds a waiter slot of its client for its whole life.
      std::optional<ClientWaiterSlot> slot;
      if (blocking) {
        slot.emplace(waiters_, req.remote_ip(), opts_.longpoll_waiters_per_client_max);
        if (!slot->held()) co_return reply(too_many_waiters(req));
      }
      out = co_await get_feed(q);
    } else {
      out = co_await post_changes(req, false, q.wait);
    }
    co_return reply(std::move(out));
  }
  if (path == "/changes/batch") {
    route_name = "/changes/batch";
    if (m != "POST") co_return reply(method_not_allowed("POST"));
    if (!qs.is_ok()) co_return reply(status_reply(qs));
    HttpReply out = co_await post_changes(req, true, q.wait);
    co_return reply(std::move(out));
  }
  if (path == "/changes/stream") {
    route_name = "/changes/stream";
    if (m != "GET") co_return reply(method_not_allowed("GET"));
    if (!qs.is_ok()) co_return reply(status_reply(qs));
    SseStart sse{q.since, q.tags, q.prefix, q.include_internal || !q.prefix.empty()};
    if (q.since_time_ns) {
      if (q.since_given) co_return reply(status_reply(bad("give since or sinceTime, not both")));
      // Resolved once, at subscription; a reconnect's Last-Event-ID wins.
      auto first = svc_.read_feed(FeedQuery{0, 1, {}, {}, false, q.since_time_ns});
      if (!first.is_ok()) {
        co_return reply(status_reply(first.status(), first_index_if(first.status())));
      }
      sse.since = first->since;
    }
    if (const std::string* last = req.header("last-event-id")) {
      auto v = parse_u64(*last);
      if (!v) co_return reply(status_reply(bad("Last-Event-ID must be a change id")));
      sse.since = *v;
    }
    if (waiters_.size() >= opts_.longpoll_waiters_max) {
      co_return reply(error_reply(kErrOverloaded, "too many waiting clients; retry later"));
    }
    // A start below the first retained index is refused before the stream
    // opens (410 with firstIndex), exactly as GET /changes would.
    auto probe = svc_.read_feed(FeedQuery{sse.since, 1, {}, {}, false, std::nullopt});
    if (!probe.is_ok() && probe.status().code() == Code::kCompacted) {
      co_return reply(status_reply(probe.status(), first_index_if(probe.status())));
    }
    co_return Routed{{}, std::move(sse)};
  }
  if (path == "/changes/checkpoints" || path.starts_with("/changes/checkpoints/")) {
    HttpReply out = co_await dispatch_checkpoints(req, path, q, qs, route_name);
    co_return reply(std::move(out));
  }
  route_name = "/changes/{id}";
  if (m != "GET") co_return reply(method_not_allowed("GET"));
  if (!qs.is_ok()) co_return reply(status_reply(qs));
  HttpReply out = co_await get_change(std::string_view(path).substr(9), q.consistent);
  co_return reply(std::move(out));
}

HttpReply Router::dispatch_admin(const HttpRequest& req, const std::string& path, const Query& q,
                                 std::string_view& route_name) {
  const std::string& m = req.method;
  if (path == "/cluster" || path == "/cluster/members") {
    route_name = path == "/cluster" ? "/cluster" : "/cluster/members";
    if (m != "GET") return method_not_allowed("GET");
    ClusterView view = svc_.cluster();
    return json_reply(200, path == "/cluster" ? render_cluster(view) : render_members(view));
  }
  if (path == "/health") {
    route_name = "/health";
    if (m == "GET") return get_health();
    if (m == "PUT") return put_health(req, q.up);
    return method_not_allowed("GET, PUT");
  }
  if (path == "/diagnostics" || path == "/diagnostics/raft") {
    route_name = path == "/diagnostics" ? "/diagnostics" : "/diagnostics/raft";
    if (m != "GET") return method_not_allowed("GET");
    std::string body = render_diagnostics(svc_.diagnostics(), path == "/diagnostics");
    if (path == "/diagnostics" && !opts_.diagnostics_sections.empty()) {
      body = with_sections(body, opts_.diagnostics_sections);
    }
    return json_reply(200, std::move(body));
  }
  if (path == "/metrics") {
    route_name = "/metrics";
    if (m != "GET") return method_not_allowed("GET");
    return get_metrics();
  }
  return error_reply(kErrRouteNotFound, "no such resource: " + path);
}

// ---- handlers ----

std::optional<uint64_t> Router::first_index_if(const Status& s) {
  if (s.code() != Code::kCompacted) return std::nullopt;
  return svc_.diagnostics().first_index;
}

asio::awaitable<Status> Router::barrier() {
  // Not one full-expression with co_await: see await_callback.
  auto start = [this](std::function<void(Status)> done) { svc_.read_barrier(std::move(done)); };
  auto op = await_callback<Status>(std::move(start));
  co_return co_await std::move(op);
}

asio::awaitable<HttpReply> Router::get_feed(const Query& q) {
  if (q.consistent) {
    Status s = co_await barrier();
    if (!s.is_ok()) co_return status_reply(s);
  }
  // With a prefix, internal entries that delete matching keys (lease
  // expiry) are key writes the watcher needs: see parse_param.
  FeedQuery fq{
      q.since,     kFeedLimitDefault, q.tags, q.prefix, q.include_internal || !q.prefix.empty(),
      std::nullopt};
  if (Status s = route_limit(q, kFeedLimitDefault, kFeedLimitMax, fq.limit); !s.is_ok()) {
    co_return status_reply(s);
  }
  if (q.since_time_ns) {
    if (q.since_given) co_return status_reply(bad("give since or sinceTime, not both"));
    // Resolved once: a long-poll round after it continues from that index.
    fq.since_time_ns = q.since_time_ns;
    auto first = svc_.read_feed(FeedQuery{0, 1, {}, {}, false, q.since_time_ns});
    if (!first.is_ok()) co_return status_reply(first.status(), first_index_if(first.status()));
    fq.since = first->since;
    fq.since_time_ns.reset();
  }
  auto deadline = Clock::now() + std::chrono::seconds(q.block_seconds);
  // Bounded: each round either returns or waits until the applied index
  // grows past what was read; a wake without growth (shutdown) ends it. With
  // filters (tag, prefix) a round that finds only non-matching changes waits
  // again: the wait ends on a matching change or at the deadline.
  uint64_t prev_last_index = 0;
  for (int round = 0;; round++) {
    auto page = svc_.read_feed(fq);
    if (!page.is_ok()) co_return status_reply(page.status(), first_index_if(page.status()));
    bool stalled = round > 0 && page->last_index <= prev_last_index;
    if (!page->changes.empty() || q.block_seconds == 0 || Clock::now() >= deadline || stalled ||
        waiters_.stopped()) {
      co_return json_reply(200, feed_with_links(*page, fq));
    }
    if (waiters_.size() >= opts_.longpoll_waiters_max) {
      co_return error_reply(kErrOverloaded, "too many waiting clients; retry later or block less");
    }
    prev_last_index = page->last_index;
    co_await waiters_.wait(svc_, std::max(q.since, page->last_index), deadline);
  }
}

namespace {

// The query a link repeats: the same filters and limit.
std::string link_filters(const FeedQuery& fq) {
  std::string out = "&limit=" + std::to_string(fq.limit);
  for (const auto& t : fq.tags)
    out += "&tag=" + boost::urls::encode(t, boost::urls::unreserved_chars);
  if (!fq.prefix.empty())
    out += "&prefix=" + boost::urls::encode(fq.prefix, boost::urls::unreserved_chars);
  if (fq.include_internal) out += "&internal=true";
  return out;
}

}  // namespace

// A feed page with "next" (always: the following page, or the long-poll
// for what comes after the end) and "prev" (when not at the start: the
// `limit` indexes before this page's start, which is the previous page
// exactly for an unfiltered feed; ids have gaps where internal entries are).
std::string Router::feed_with_links(const FeedPage& page, const FeedQuery& fq) {
  std::string body = render_feed(page);
  body.pop_back();  // the closing brace
  // Past everything this page looked at, so a filtered page that matched
  // nothing still moves on.
  uint64_t next = std::max(page.scanned, fq.since);
  if (!page.changes.empty()) next = std::max(next, page.changes.back().id);
  if (page.at_end) next = std::max(next, page.last_index);
  body += ",\"next\":\"/changes?since=" + std::to_string(next) + link_filters(fq) + "\"";
  if (!page.at_start) {
    uint64_t floor = page.first_index > 0 ? page.first_index - 1 : 0;
    uint64_t prev = fq.since > fq.limit ? fq.since - fq.limit : 0;
    body += ",\"prev\":\"/changes?since=" + std::to_string(std::max(prev, floor)) +
            link_filters(fq) + "\"";
  }
  body += '}';
  return body;
}

asio::awaitable<HttpReply> Router::get_change(std::string_view id_text, bool consistent) {
  auto id = parse_u64(id_text);
  if (!id) co_return status_reply(bad("change id must be a non-negative integer"));
  if (consistent) {
    Status s = co_await barrier();
    if (!s.is_ok()) co_return status_reply(s);
  }
  auto change = svc_.read_change(*id);
  if (!change.is_ok()) co_return status_reply(change.status(), first_index_if(change.status()));
  co_return json_reply(200, render_change(*change));
}

asio::awaitable<HttpReply> Router::post_changes(const HttpRequest& req, bool batch, bool wait) {
  if (!is_json_content_type(req.header("content-type"))) {
    co_return error_reply(kErrUnsupportedMediaType, "Content-Type must be application/json");
  }
  auto body = parse_post_body(req.body, batch);
  if (!body.is_ok()) co_return status_reply(body.status());
  // Exactly-once appends: one id per request (a batch is one request), from
  // the Idempotency-Key header or the change object's "requestId".
  std::string request_id;
  if (!body->changes.empty()) request_id = body->changes.front().request_id;
  if (const std::string* key = req.header("idempotency-key")) {
    if (key->empty() || key->size() > kRequestIdBytesMax) {
      co_return status_reply(
          bad("Idempotency-Key must be 1 to " + std::to_string(kRequestIdBytesMax) + " bytes"));
    }
    if (!request_id.empty() && request_id != *key) {
      co_return status_reply(bad("Idempotency-Key and \"requestId\" differ"));
    }
    request_id = *key;
  }
  if (body->keyed && (body->keyed->change.request_id.size() > 0 || !request_id.empty())) {
    co_return status_reply(
        bad("request ids are not supported on key writes yet; "
            "ifRevision makes a key write safe to retry"));
  }
  for (auto& c : body.value().changes) {
    c.request_id = request_id;
    if (c.type == kCheckpointType) {
      co_return status_reply(bad("type " + std::to_string(kCheckpointType) +
                                 " is reserved for checkpoint records; use POST "
                                 "/changes/checkpoints"));
    }
  }
  if (body->keyed) {
    HttpReply out = co_await write_key(*body->keyed, wait, wait ? 201 : 202);
    co_return out;
  }
  using Done = Result<std::vector<Appended>>;
  // Not one full-expression with co_await: see await_callback.
  auto start = [this, in = std::move(body.value().changes),
                wait](std::function<void(Done)> done) mutable {
    svc_.append(std::move(in), wait, std::move(done));
  };
  auto op = await_callback<Done>(std::move(start));
  auto appended = co_await std::move(op);
  if (!appended.is_ok()) {
    if (request_id.empty()) co_return status_reply(appended.status());
    co_return request_id_error(appended.status(), request_id);
  }
  // A retry answered with the original: nothing new was appended (200).
  bool duplicate = !appended->empty() && appended->front().duplicate;
  co_return json_reply(duplicate ? 200 : wait ? 201 : 202, render_appended(*appended, batch));
}

// An append with a request id failed: a reused id is its own 409 code, and
// every error names the id so a client knows what to retry with.
HttpReply Router::request_id_error(const Status& s, const std::string& request_id) {
  HttpError e = s.code() == Code::kConflict ? kErrRequestIdReused : http_error_for(s.code());
  std::string body = error_json(e.code, s.message());
  // error_json renders an object: add the id before its closing brace.
  if (!body.empty() && body.back() == '}') {
    body.pop_back();
    body += ",\"requestId\":" + boost::json::serialize(boost::json::string(request_id)) + "}";
  }
  return json_reply(e.status, std::move(body));
}

HttpReply Router::get_health() {
  HealthView h = svc_.health();
  if (h.marked_down || !h.has_leader) {
    std::string why = !h.reason.empty() ? h.reason
                      : h.marked_down   ? "marked down by PUT /health?up=false"
                                        : "no leader";
    return error_reply(http_error_for(Code::kUnavailable), why);
  }
  HttpReply r;
  r.content_type = "text/plain";
  r.body = "ok";
  return r;
}

HttpReply Router::put_health(const HttpRequest& req, std::optional<std::string> up) {
  if (!up && !req.body.empty()) {
    // A form body (up=false), as `curl -X PUT -d up=false` sends.
    std::string target = "/?" + req.body;  // outlives the view parsed from it
    auto form = boost::urls::parse_origin_form(target);
    if (form) {
      for (auto p : form->params()) {
        if (p.key == "up") up = std::string(p.value);
      }
    }
  }
  std::optional<bool> value = up ? parse_bool(*up) : std::nullopt;
  if (!value) return status_reply(bad("up must be true or false (query or form body)"));
  svc_.set_marked_down(!*value);
  return json_reply(200, *value ? "{\"up\":true}" : "{\"up\":false}");
}

HttpReply Router::get_metrics() {
  HttpReply r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = svc_.metrics_text();
  if (!r.body.empty() && r.body.back() != '\n') r.body += '\n';
  metrics_.render(r.body);
  for (const auto& section : opts_.metrics_sections) r.body += section();
  render_cursor_metrics(svc_, r.body);
  return r;
}

}  // namespace api
