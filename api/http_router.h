// The Beast-free half of the HTTP server: a request as plain strings in, a
// reply as plain strings out. Routing, validation, calls into the Service,
// JSON rendering, long-poll waits and the HTTP metrics live here, so that
// only http_server.cc (sockets, parsing, SSE writes) pays for Beast.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "api/http_errors.h"
#include "api/http_server.h"
#include "api/metrics.h"
#include "api/service.h"

namespace spdlog {
class logger;
}

namespace api {

// The "http" logger: the one the process configured, else a clone of the
// default logger under that name.
std::shared_ptr<spdlog::logger> http_log();

struct HttpRequest {
  std::string method;                                        // "GET", "POST", ...
  std::string target;                                        // origin-form: path?query
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  // The subject CN of the client's certificate when the request came over
  // HTTPS and the client presented a certificate that verified against the
  // server's --ca; empty otherwise (plain HTTP, or no certificate). Lets
  // authorization map a certificate to a user (docs/SECURITY.md).
  std::string client_cert_cn{};
  std::string remote_address{};  // "ip:port" of the client, for logs and per-client limits

  // The first header with this lower-case name, or nullptr.
  const std::string* header(std::string_view name) const;
  // remote_address without its port.
  std::string_view remote_ip() const;
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra, e.g. Allow
};

// GET /changes/stream: the session writes events itself (see http_server.cc).
struct SseStart {
  uint64_t since = 0;  // exclusive
  std::vector<std::string> tags;
  std::string prefix;             // only changes writing a key with this prefix
  bool include_internal = false;  // also lease grants/revokes
};

struct Routed {
  HttpReply reply;              // unless sse or stream is set
  std::optional<SseStart> sse;  // the request was a valid SSE subscription
  // GET /admin/dump: a 200 whose body the session copies from this stream.
  std::shared_ptr<ByteStream> stream = nullptr;
};

// Request counters by route and status, latency, and gauges.
class HttpMetrics {
 public:
  void record(std::string_view route, int status);
  void render(std::string& out) const;

  Histogram latency;       // requests that do not block (long-poll and SSE excluded)
  Gauge connections;       // open client connections
  Gauge longpoll_waiters;  // blocked GET /changes and SSE streams

 private:
  mutable std::mutex mu_;  // render() may run on another thread than record()
  std::map<std::pair<std::string, int>, uint64_t> requests_;
};

// Parked long-polls and SSE streams. A wait ends when the Service's applied
// index passes `after`, at the deadline, or at stop(), whichever is first.
class Waiters {
 public:
  explicit Waiters(Gauge& gauge) : gauge_(gauge) {}
  size_t size() const { return live_.size(); }
  bool stopped() const { return stopped_; }
  boost::asio::awaitable<void> wait(Service& svc, uint64_t after,
                                    std::chrono::steady_clock::time_point deadline);
  void stop();

  // Per client IP: long-polls and SSE streams it has open, at most `max`
  // (HttpOptions::longpoll_waiters_per_client_max). False when full.
  bool enter_client(std::string_view ip, uint32_t max);
  void leave_client(std::string_view ip);

  struct State;

 private:
  Gauge& gauge_;
  std::unordered_set<std::shared_ptr<State>> live_;
  std::map<std::string, uint32_t, std::less<>> per_client_;  // ip -> open waiters (> 0)
  bool stopped_ = false;
};

// A client's place among the waiters for as long as this lives: the
// long-poll request or SSE stream it guards.
class ClientWaiterSlot {
 public:
  ClientWaiterSlot(Waiters& w, std::string_view ip, uint32_t max)
      : w_(w), ip_(ip), held_(w.enter_client(ip_, max)) {}
  ~ClientWaiterSlot() {
    if (held_) w_.leave_client(ip_);
  }
  ClientWaiterSlot(const ClientWaiterSlot&) = delete;
  ClientWaiterSlot& operator=(const ClientWaiterSlot&) = delete;
  bool held() const { return held_; }

 private:
  Waiters& w_;
  std::string ip_;
  bool held_;
};

HttpReply error_reply(const HttpError& e, std::string_view message,
                      std::optional<uint64_t> first_index = std::nullopt);
HttpReply status_reply(const Status& s, std::optional<uint64_t> first_index = std::nullopt);

class Router {
 public:
  Router(Service& svc, const HttpOptions& opts, HttpMetrics& metrics, Waiters& waiters)
      : svc_(svc), opts_(opts), metrics_(metrics), waiters_(waiters) {}

  // Never throws for bad input: every problem becomes an error reply.
  // Coroutines here take references, never by-value objects built in the
  // co_await expression: GCC 12 destroys such temporaries twice (bug 99576).
  boost::asio::awaitable<Routed> route(const HttpRequest& req);

  struct Query;  // parsed GET /changes parameters

 private:
  boost::asio::awaitable<Routed> dispatch(const HttpRequest& req, std::string_view& route_name,
                                          bool& blocking);
  boost::asio::awaitable<Routed> dispatch_changes(const HttpRequest& req, const std::string& path,
                                                  const Query& q, const Status& qs,
                                                  std::string_view& route_name, bool& blocking);
  HttpReply dispatch_admin(const HttpRequest& req, const std::string& path, const Query& q,
                           std::string_view& route_name);
  boost::asio::awaitable<HttpReply> get_feed(const Query& q);
  boost::asio::awaitable<HttpReply> get_change(std::string_view id_text, bool consistent);
  boost::asio::awaitable<HttpReply> post_changes(const HttpRequest& req, bool batch, bool wait);
  boost::asio::awaitable<Status> barrier();

  // Membership changes and leadership transfer (http_members.cc).
  boost::asio::awaitable<HttpReply> dispatch_members(const HttpRequest& req,
                                                     const std::string& path, const Query& q,
                                                     const Status& qs,
                                                     std::string_view& route_name);

  // Keys, transactions, leases (http_keys.cc). `encoded_path` is the raw
  // path: a key is its percent-decoded rest after "/keys/".
  boost::asio::awaitable<HttpReply> dispatch_keys(const HttpRequest& req,
                                                  const std::string& encoded_path, const Query& q,
                                                  const Status& qs, std::string_view& route_name);
  boost::asio::awaitable<HttpReply> dispatch_leases(const HttpRequest& req, const std::string& path,
                                                    const Query& q, const Status& qs,
                                                    std::string_view& route_name);
  // Runs a single-key write (POST /changes with "key", PUT/DELETE /keys):
  // ok_status with {"_id","_ts","key","revision"}, or 409 revision_mismatch.
  boost::asio::awaitable<HttpReply> write_key(TxnRequest& txn, bool wait, int ok_status);
  boost::asio::awaitable<Result<TxnResult>> run_txn(TxnRequest& txn, bool wait);
  boost::asio::awaitable<HttpReply> post_txn(const HttpRequest& req, bool wait);
  boost::asio::awaitable<HttpReply> put_key(const HttpRequest& req, const std::string& key,
                                            bool wait);
  boost::asio::awaitable<HttpReply> delete_key(const std::string& key, const Query& q);
  boost::asio::awaitable<HttpReply> get_key(const std::string& key, bool consistent);
  boost::asio::awaitable<HttpReply> list_keys(const Query& q);
  boost::asio::awaitable<HttpReply> lease_call(const std::string& method, uint64_t id,
                                               bool keepalive);
  boost::asio::awaitable<HttpReply> grant_lease(const HttpRequest& req);
  HttpReply request_id_error(const Status& s, const std::string& request_id);

  // Named cursors and checkpoint records (http_cursors.cc).
  boost::asio::awaitable<HttpReply> dispatch_cursors(const HttpRequest& req,
                                                     const std::string& path, const Query& q,
                                                     const Status& qs,
                                                     std::string_view& route_name);
  boost::asio::awaitable<HttpReply> dispatch_checkpoints(const HttpRequest& req,
                                                         const std::string& path, const Query& q,
                                                         const Status& qs,
                                                         std::string_view& route_name);
  boost::asio::awaitable<HttpReply> list_cursors(const Query& q);
  // GET/PUT/DELETE /config/request_id_window (http_config.cc).
  boost::asio::awaitable<HttpReply> dispatch_config(const HttpRequest& req, const std::string& path,
                                                    const Query& q, const Status& qs,
                                                    std::string_view& route_name);
  // GET/PUT /config (http_cluster_config.cc).
  boost::asio::awaitable<HttpReply> dispatch_cluster_config(const HttpRequest& req, const Query& q,
                                                            const Status& qs,
                                                            std::string_view& route_name);
  boost::asio::awaitable<HttpReply> put_cursor(const HttpRequest& req, const std::string& name,
                                               const Query& q);
  boost::asio::awaitable<HttpReply> delete_cursor(const std::string& name, const Query& q);
  boost::asio::awaitable<HttpReply> post_checkpoint(const HttpRequest& req);
  // A Txn that may write the reserved prefixes (cursors.h); waits for apply.
  boost::asio::awaitable<Result<TxnResult>> run_reserved_txn(TxnRequest& txn);
  // This node's applied index once it reached `index`, or after a short
  // bounded wait (then possibly less).
  boost::asio::awaitable<uint64_t> applied_at_least(uint64_t index);
  std::string feed_with_links(const FeedPage& page, const FeedQuery& fq);
  HttpReply get_health();
  HttpReply put_health(const HttpRequest& req, std::optional<std::string> up);
  HttpReply get_metrics();
  std::optional<uint64_t> first_index_if(const Status& s);

  Service& svc_;
  const HttpOptions& opts_;
  HttpMetrics& metrics_;
  Waiters& waiters_;
};

}  // namespace api
