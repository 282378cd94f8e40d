// The Beast half of the HTTP server: accepting, the TLS handshake on an
// HTTPS listener, reading requests within the limits, writing replies, and
// streaming SSE. Everything else is in http_router.cc, which is free of
// Beast. A session is a template over its stream (plain TCP or TLS over
// it); the code after the handshake is the same for both.
#include "api/http_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <unordered_set>

#include "api/change_json.h"
#include "api/http_limits.h"
#include "api/http_router.h"
#include "api/log_limiter.h"
#include "api/tls.h"

namespace api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

namespace {

// After an error reply on a connection we are about to close, the client may
// still be sending its body. Reading (and discarding) it for a moment keeps
// the kernel from answering with a reset that would destroy our reply.
constexpr uint64_t kDrainBytesMax = 4 << 20;
constexpr std::chrono::seconds kDrainTimeout{1};
constexpr std::chrono::seconds kRejectTimeout{5};
// The first read of a request: enough for most whole requests at once.
constexpr size_t kFirstReadBytes = 4096;
// A client that has not finished its TLS handshake by then is dropped.
constexpr std::chrono::seconds kTlsHandshakeTimeout{10};
// Waiting for the client's close_notify after ours, at most.
constexpr std::chrono::seconds kTlsShutdownTimeout{1};

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// What stop() needs of a live connection, whatever its stream.
struct SessionBase {
  virtual ~SessionBase() = default;
  virtual void cancel() = 0;
  bool busy = false;           // a request is being served; stop() lets it finish
  std::string remote_ip;       // the client's address, for per-client limits
  std::string remote_address;  // ip:port, for logs
};

template <class Stream>
struct Session : SessionBase {
  template <class... Args>
  explicit Session(Args&&... args) : stream(std::forward<Args>(args)...) {}
  void cancel() override { beast::get_lowest_layer(stream).cancel(); }
  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream); }
  Stream stream;
  std::string client_cert_cn;  // of a verified client certificate (TLS only)
};

using PlainSession = Session<beast::tcp_stream>;
using TlsSession = Session<TlsStream>;

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    http_log()->error("a connection ended with an exception: {}", ex.what());
  }
}

}  // namespace

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
  State(asio::io_context& io_, Service& svc_, HttpOptions opts_)
      : io(io_),
        svc(svc_),
        opts(std::move(opts_)),
        acceptor(io_),
        waiters(metrics.longpoll_waiters),
        router(svc_, opts, metrics, waiters) {}

  void stop_now();
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> run_plain_session(tcp::socket sock);
  asio::awaitable<void> run_tls_session(tcp::socket sock);
  template <class S>
  asio::awaitable<void> serve_requests(S& s);
  template <class S>
  asio::awaitable<bool> serve_one(S& s, http::request<http::string_body>& req);
  template <class S>
  asio::awaitable<beast::error_code> read_request(S& s, beast::flat_buffer& buf,
                                                  http::request_parser<http::string_body>& parser);
  template <class S>
  asio::awaitable<void> answer_read_error(S& s, beast::error_code ec);
  // One warn line per period for refusals a client can cause (LogLimiter).
  void log_limit(const SessionBase& s, const std::string& what);
  template <class S>
  asio::awaitable<void> run_sse(S& s, const SseStart& sse);
  template <class S>
  asio::awaitable<bool> write_raw(S& s, const std::string& data);
  template <class S>
  asio::awaitable<void> run_stream(S& s, std::shared_ptr<ByteStream> body);

  asio::io_context& io;
  Service& svc;
  const HttpOptions opts;
  tcp::acceptor acceptor;
  HttpMetrics metrics;
  Waiters waiters;
  Router router;
  std::unordered_set<SessionBase*> sessions;  // live connections, for stop()
  uint16_t port = 0;
  bool stopping = false;
  LogLimiter limit_log;
};

void HttpServer::State::stop_now() {
  if (stopping) return;
  stopping = true;
  beast::error_code ec;
  acceptor.close(ec);
  waiters.stop();
  for (SessionBase* s : sessions) {
    if (!s->busy) s->cancel();  // ends the wait for the next request
  }
}

namespace {

asio::awaitable<void> reject_overloaded(tcp::socket sock) {
  static const std::string kBody =
      error_json(kErrOverloaded.code, "too many connections; retry later or elsewhere");
  static const std::string kResponse =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
      "Connection: close\r\nContent-Length: " +
      std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
  beast::tcp_stream stream(std::move(sock));
  stream.expires_after(kRejectTimeout);
  co_await asio::async_write(stream, asio::buffer(kResponse), kAwait);
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

// After an error reply on a connection we close: shut down our side and
// read (and discard) what the client still sends for a moment, so that the
// kernel does not answer it with a reset that would destroy our reply.
asio::awaitable<void> drain_and_close(beast::tcp_stream& stream) {
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.expires_after(kDrainTimeout);
  std::array<char, 16 * 1024> sink;
  for (uint64_t drained = 0; drained < kDrainBytesMax;) {
    auto [rec, rn] = co_await stream.async_read_some(asio::buffer(sink), kAwait);
    if (rec) break;
    drained += rn;
  }
}

// A plain HTTP request sent to the HTTPS port: answer it in plain HTTP, so
// the client sees why instead of a reset.
asio::awaitable<void> answer_plain_http(beast::tcp_stream& stream) {
  static const std::string kBody = error_json(
      kErrBadRequest.code, "this port speaks HTTPS; use an https:// URL (docs/SECURITY.md)");
  static const std::string kResponse =
      "HTTP/1.1 400 Bad Request\r\nServer: changeagent\r\nContent-Type: application/json\r\n"
      "Connection: close\r\nContent-Length: " +
      std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
  stream.expires_after(kRejectTimeout);
  auto [ec, n] = co_await asio::async_write(stream.socket(), asio::buffer(kResponse), kAwait);
  if (!ec) co_await drain_and_close(stream);
}

}  // namespace

asio::awaitable<void> HttpServer::State::accept_loop() {
  auto self = shared_from_this();
  while (!stopping) {
    auto [ec, sock] = co_await acceptor.async_accept(kAwait);
    if (stopping) break;
    if (ec) {
      // Out of file descriptors and the like: pause instead of spinning.
      http_log()->warn("accept failed: {}; retrying in 100 ms", ec.message());
      asio::steady_timer pause(io, std::chrono::milliseconds(100));
      co_await pause.async_wait(kAwait);
      continue;
    }
    if (sessions.size() >= opts.connections_max) {
      metrics.record("overloaded", 503);
      uint64_t suppressed = 0;
      if (limit_log.allow(Clock::now(), suppressed)) {
        http_log()->warn(
            "refused a connection with 503: {} connections open (--max-connections){}",
            sessions.size(),
            suppressed ? " (" + std::to_string(suppressed) + " more not logged)" : std::string());
      }
      if (opts.tls) {
        // A plain-text 503 means nothing to a TLS client: just close.
        beast::error_code ignored;
        sock.close(ignored);
      } else {
        asio::co_spawn(io, reject_overloaded(std::move(sock)), log_exception);
      }
      continue;
    }
    if (opts.tls) {
      asio::co_spawn(io, run_tls_session(std::move(sock)), log_exception);
    } else {
      asio::co_spawn(io, run_plain_session(std::move(sock)), log_exception);
    }
  }
}

asio::awaitable<void> HttpServer::State::run_plain_session(tcp::socket sock) {
  auto self = shared_from_this();
  PlainSession s(std::move(sock));
  sessions.insert(&s);
  metrics.connections.set(static_cast<int64_t>(sessions.size()));
  co_await serve_requests(s);
  beast::error_code ec;
  s.tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
  sessions.erase(&s);
  metrics.connections.set(static_cast<int64_t>(sessions.size()));
}

asio::awaitable<void> HttpServer::State::run_tls_session(tcp::socket sock) {
  auto self = shared_from_this();
  // This connection keeps the context it started with across a reload.
  std::shared_ptr<asio::ssl::context> ctx = opts.tls->current();
  TlsSession s(std::move(sock), *ctx);
  sessions.insert(&s);
  metrics.connections.set(static_cast<int64_t>(sessions.size()));
  s.tcp().expires_after(kTlsHandshakeTimeout);
  auto [hec] = co_await s.stream.async_handshake(asio::ssl::stream_base::server, kAwait);
  if (hec && is_plain_http_on_tls(hec)) {
    metrics.record("plain_http_on_https", 400);
    co_await answer_plain_http(s.tcp());
  } else if (hec) {
    // Per connection and caused by the client: debug, not a warning.
    http_log()->debug("TLS handshake with a client failed: {}",
                      tls_failure(s.stream.native_handle(), hec));
  } else {
    s.client_cert_cn = verified_peer_cn(s.stream.native_handle());
    co_await serve_requests(s);
    // close_notify, so a client reading to the end (SSE) sees a clean end.
    s.tcp().expires_after(kTlsShutdownTimeout);
    co_await s.stream.async_shutdown(kAwait);
  }
  beast::error_code ec;
  s.tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
  sessions.erase(&s);
  metrics.connections.set(static_cast<int64_t>(sessions.size()));
}

template <class S>
asio::awaitable<void> HttpServer::State::serve_requests(S& s) {
  {
    beast::error_code ec;
    auto ep = s.tcp().socket().remote_endpoint(ec);
    if (!ec) s.remote_ip = ep.address().to_string();
    if (!ec) s.remote_address = s.remote_ip + ":" + std::to_string(ep.port());
  }
  beast::flat_buffer buf;
  while (!stopping) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(opts.header_bytes_max);
    // The replicated bodyBytesMax (PUT /config) replaces the flag once set.
    parser.body_limit(svc.replicated_body_bytes_max().value_or(opts.body_bytes_max));
    beast::error_code ec = co_await read_request(s, buf, parser);
    if (ec) {
      co_await answer_read_error(s, ec);
      break;
    }
    s.busy = true;
    auto req = parser.release();
    bool keep_alive = co_await serve_one(s, req);
    s.busy = false;
    if (!keep_alive) break;
  }
}

// Three deadlines, so that a client cannot hold a connection by sending a
// request slowly (slow loris): idle_timeout for the first byte of a request,
// header_timeout from there to the end of the headers, idle_timeout again
// for the body. A missed deadline closes the socket (Beast's tcp_stream does
// that on expiry, so there is no 408 to send) and is logged.
template <class S>
asio::awaitable<beast::error_code> HttpServer::State::read_request(
    S& s, beast::flat_buffer& buf, http::request_parser<http::string_body>& parser) {
  if (buf.size() == 0) {
    s.tcp().expires_after(opts.idle_timeout);
    auto [ec, n] = co_await s.stream.async_read_some(buf.prepare(kFirstReadBytes), kAwait);
    if (ec) co_return ec;  // closed, idle or stop(): nothing was asked
    buf.commit(n);
  }
  s.tcp().expires_after(opts.header_timeout);
  auto [ec, n] = co_await http::async_read_header(s.stream, buf, parser, kAwait);
  if (ec == beast::error::timeout) {
    log_limit(s, "closed: request headers not complete within " +
                     std::to_string(opts.header_timeout.count()) + " s (slow client)");
  }
  if (ec || parser.is_done()) co_return ec;
  s.tcp().expires_after(opts.idle_timeout);
  auto [bec, bn] = co_await http::async_read(s.stream, buf, parser, kAwait);
  if (bec == beast::error::timeout) {
    log_limit(s, "closed: request body not complete within " +
                     std::to_string(opts.idle_timeout.count()) + " s (slow client)");
  }
  co_return bec;
}

void HttpServer::State::log_limit(const SessionBase& s, const std::string& what) {
  uint64_t suppressed = 0;
  if (!limit_log.allow(Clock::now(), suppressed)) return;
  http_log()->warn(
      "{}: {}{}", s.remote_address.empty() ? "?" : s.remote_address, what,
      suppressed ? " (" + std::to_string(suppressed) + " more like it not logged)" : std::string());
}

template <class S>
asio::awaitable<void> HttpServer::State::answer_read_error(S& s, beast::error_code ec) {
  HttpReply r;
  if (ec == http::error::body_limit) {
    r = error_reply(
        kErrBodyTooLarge,
        "request body over " +
            std::to_string(svc.replicated_body_bytes_max().value_or(opts.body_bytes_max)) +
            " bytes");
  } else if (ec == http::error::header_limit) {
    r = error_reply(kErrHeadersTooLarge,
                    "request headers over " + std::to_string(opts.header_bytes_max) + " bytes");
  } else if (ec.category() == http::make_error_code(http::error::body_limit).category() &&
             ec != http::error::end_of_stream && ec != http::error::partial_message) {
    r = error_reply(kErrBadRequest, "malformed HTTP request: " + ec.message());
  } else {
    co_return;  // closed, reset, idle timeout or stop(): nobody to answer
  }
  metrics.record("malformed", r.status);
  log_limit(s, "refused with " + std::to_string(r.status) + ": " + ec.message());
  http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
  res.set(http::field::content_type, r.content_type);
  res.keep_alive(false);
  res.body() = std::move(r.body);
  res.prepare_payload();
  s.tcp().expires_after(std::chrono::seconds(kWriteTimeoutSeconds));
  auto [wec, wn] = co_await http::async_write(s.stream, res, kAwait);
  if (wec) co_return;
  // Over TLS the drain reads ciphertext, which is all it needs to do.
  co_await drain_and_close(s.tcp());
}

template <class S>
asio::awaitable<bool> HttpServer::State::serve_one(S& s, http::request<http::string_body>& req) {
  HttpRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  for (const auto& field : req) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  r.body = std::move(req.body());
  r.client_cert_cn = s.client_cert_cn;
  r.remote_address = s.remote_address;
  Routed out = co_await router.route(r);
  if (out.sse) {
    co_await run_sse(s, *out.sse);
    co_return false;
  }
  if (out.stream) {
    co_await run_stream(s, out.stream);
    co_return false;
  }
  http::response<http::string_body> res{static_cast<http::status>(out.reply.status), req.version()};
  res.set(http::field::server, "changeagent");
  res.set(http::field::content_type, out.reply.content_type);
  for (const auto& [k, v] : out.reply.headers) res.set(k, v);
  res.keep_alive(req.keep_alive() && !stopping);
  res.body() = std::move(out.reply.body);
  res.prepare_payload();
  s.tcp().expires_after(std::chrono::seconds(kWriteTimeoutSeconds));
  auto [ec, n] = co_await http::async_write(s.stream, res, kAwait);
  co_return !ec && res.keep_alive();
}

template <class S>
asio::awaitable<bool> HttpServer::State::write_raw(S& s, const std::string& data) {
  s.tcp().expires_after(std::chrono::seconds(kWriteTimeoutSeconds));
  auto [ec, n] = co_await asio::async_write(s.stream, asio::buffer(data), kAwait);
  co_return !ec;
}

// Server-Sent Events: the response has no length and ends when the
// connection closes. Each change is one event whose id resumes the stream.
template <class S>
asio::awaitable<void> HttpServer::State::run_sse(S& s, const SseStart& sse) {
  static const std::string kHead =
      "HTTP/1.1 200 OK\r\nServer: changeagent\r\nContent-Type: text/event-stream\r\n"
      "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\nConnection: close\r\n\r\n";
  ClientWaiterSlot slot(waiters, s.remote_ip, opts.longpoll_waiters_per_client_max);
  if (!slot.held()) {
    static const std::string kBody =
        error_json(kErrTooManyWaiters.code, "this client has too many long-polls and streams open");
    static const std::string kRefusal =
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        "Connection: close\r\nContent-Length: " +
        std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
    log_limit(s, "refused an event stream with 429: too many waiters from this client");
    co_await write_raw(s, kRefusal);
    co_return;
  }
  if (!co_await write_raw(s, kHead)) co_return;
  uint64_t since = sse.since;
  bool woke_early = false;  // the last wait ended before its heartbeat deadline
  uint64_t waited_at = 0;   // the applied index that wait started from
  // Bounded by the connection: each round writes events, waits at most one
  // heartbeat interval, or ends (stop, error, a wake without progress).
  while (!stopping) {
    auto page = svc.read_feed(
        FeedQuery{since, kSseBatchChangesMax, sse.tags, sse.prefix, sse.include_internal});
    std::string out;
    if (!page.is_ok()) {
      HttpError e = http_error_for(page.status().code());
      std::optional<uint64_t> first;  // a 410 says where the retained log starts
      if (page.status().code() == Code::kCompacted) first = svc.diagnostics().first_index;
      out = "event: error\ndata: " + error_json(e.code, page.status().message(), first) + "\n\n";
      co_await write_raw(s, out);
      co_return;
    }
    // The Service wakes waiters at shutdown without progress: end the stream.
    if (page->changes.empty() && woke_early && page->last_index <= waited_at) co_return;
    for (const Change& c : page->changes) {
      out += "id: " + std::to_string(c.id) + "\nevent: change\ndata: ";
      append_change_json(out, c);
      out += "\n\n";
      since = c.id;
    }
    woke_early = false;
    if (page->changes.empty()) {
      if (waiters.size() >= opts.longpoll_waiters_max) {
        out = "event: error\ndata: " + error_json(kErrOverloaded.code, "too many waiters") + "\n\n";
        co_await write_raw(s, out);
        co_return;
      }
      auto deadline = Clock::now() + std::chrono::seconds(kSseHeartbeatSeconds);
      waited_at = page->last_index;
      co_await waiters.wait(svc, std::max(since, page->last_index), deadline);
      woke_early = Clock::now() < deadline;
      if (!woke_early) out = ": heartbeat\n\n";
    }
    if (!out.empty() && !co_await write_raw(s, out)) co_return;
  }
}

// GET /admin/dump: a body with no length, ended by closing the connection.
// One chunk is pulled at a time and written before the next is asked for, so
// a slow client slows the producer (bounded queue) rather than growing memory.
template <class S>
asio::awaitable<void> HttpServer::State::run_stream(S& s, std::shared_ptr<ByteStream> body) {
  const std::string head =
      "HTTP/1.1 200 OK\r\nServer: changeagent\r\nContent-Type: " + body->content_type() +
      "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
  if (!co_await write_raw(s, head)) co_return;
  struct Pending {
    explicit Pending(const asio::any_io_executor& ex) : timer(ex, Clock::time_point::max()) {}
    asio::steady_timer timer;
    std::optional<Result<std::string>> chunk;
  };
  auto executor = co_await asio::this_coro::executor;
  while (!stopping) {
    auto pending = std::make_shared<Pending>(executor);
    body->next([pending](Result<std::string> c) {
      pending->chunk = std::move(c);
      pending->timer.cancel();
    });
    if (!pending->chunk) co_await pending->timer.async_wait(kAwait);
    if (!pending->chunk || !pending->chunk->is_ok() || pending->chunk->value().empty()) co_return;
    const std::string& data = pending->chunk->value();
    if (!co_await write_raw(s, data)) co_return;
  }
}

HttpServer::HttpServer(std::shared_ptr<State> state) : state_(std::move(state)) {}

HttpServer::~HttpServer() {
  stop();
}

uint16_t HttpServer::port() const {
  return state_->port;
}

void HttpServer::stop() {
  asio::dispatch(state_->io, [st = state_] { st->stop_now(); });
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(asio::io_context& io, Service& svc,
                                                      HttpOptions opts) {
  if (opts.body_bytes_max == 0 || opts.connections_max == 0 || opts.idle_timeout.count() <= 0 ||
      opts.header_timeout.count() <= 0 || opts.longpoll_waiters_per_client_max == 0 ||
      opts.block_seconds_max > kBlockSecondsAbsurd) {
    return Status(Code::kInvalidArgument,
                  "HTTP options: body_bytes_max, connections_max, idle_timeout, header_timeout "
                  "and longpoll_waiters_per_client_max must be > 0, block_seconds_max at most " +
                      std::to_string(kBlockSecondsAbsurd));
  }
  if (opts.header_bytes_max < kHeaderBytesMin) {
    return Status(Code::kInvalidArgument, "HTTP options: header_bytes_max must be at least " +
                                              std::to_string(kHeaderBytesMin));
  }
  auto st = std::make_shared<State>(io, svc, std::move(opts));
  beast::error_code ec;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(st->opts.host, std::to_string(st->opts.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return Status(Code::kInvalidArgument,
                  "cannot resolve HTTP listen host '" + st->opts.host + "': " + ec.message());
  }
  tcp::endpoint ep = results.begin()->endpoint();
  std::string where = st->opts.host + ":" + std::to_string(st->opts.port);
  if (st->acceptor.open(ep.protocol(), ec); !ec) {
    st->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) st->acceptor.bind(ep, ec);
  if (!ec) st->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status(Code::kIoError, "cannot listen for HTTP on " + where + ": " + ec.message() +
                                      " (is another process using the port?)");
  }
  st->port = st->acceptor.local_endpoint().port();
  asio::co_spawn(io, st->accept_loop(), log_exception);
  http_log()->debug("HTTP{} API listening on {}:{}", st->opts.tls ? "S" : "", st->opts.host,
                    st->port);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(st)));
}

}  // namespace api
