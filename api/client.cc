#include "api/client.h"
#include "api/url_encode.h"

#include <spdlog/spdlog.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>
#include <thread>

#include "api/basic_auth.h"
#include "api/change_json.h"
#include "api/http_errors.h"
#include "api/tls.h"
#include "common/logger.h"

namespace api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// A feed page of 10000 changes of 1 MiB each is not a response we want.
constexpr uint64_t kResponseBytesMax = 256ull << 20;
// watch(): backoff between failed rounds doubles up to this.
constexpr std::chrono::milliseconds kWatchBackoffMin{100};
constexpr std::chrono::milliseconds kWatchBackoffMax{5000};
// A kept connection idle this long is replaced before use: the server closes
// idle ones (HttpOptions::idle_timeout, 60 s by default), and a POST sent
// into a connection the server is closing would have an unknown outcome.
constexpr std::chrono::seconds kIdleReconnect{20};

std::shared_ptr<spdlog::logger> client_log() {
  return common::component_logger("client");
}

struct Endpoint {
  std::string text;  // as given, for messages
  std::string host;
  std::string port;
  bool tls = false;
};

// tls_default: the scheme of an endpoint given without one.
std::optional<Endpoint> parse_endpoint(std::string_view text, bool tls_default) {
  Endpoint ep{std::string(text), {}, "8080", tls_default};
  std::string_view s = text;
  if (s.starts_with("http://")) {
    s.remove_prefix(7);
    ep.tls = false;
  } else if (s.starts_with("https://")) {
    s.remove_prefix(8);
    ep.tls = true;
  }
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  if (s.front() == '[') {  // [v6]:port
    size_t close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    ep.host = std::string(s.substr(1, close - 1));
    s.remove_prefix(close + 1);
    if (!s.empty() && s.front() != ':') return std::nullopt;
    if (!s.empty()) ep.port = std::string(s.substr(1));
  } else {
    size_t colon = s.rfind(':');
    ep.host = std::string(s.substr(0, colon));
    if (colon != std::string_view::npos) ep.port = std::string(s.substr(colon + 1));
  }
  if (ep.host.empty() || ep.port.empty() ||
      ep.port.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return ep;
}

// How far a failed attempt got, which decides whether it may be retried.
enum class Failure { kNotSent, kLostAnswer };

struct AttemptError {
  Status status;
  Failure failure;
};

}  // namespace

struct Client::Impl {
  ClientOptions opts;
  std::vector<Endpoint> endpoints;
  size_t current = 0;  // index into endpoints of the connection we keep
  asio::io_context io;
  std::shared_ptr<asio::ssl::context> tls_ctx;  // set when ca/cert/key or an https endpoint
  // The connection we keep: `stream` for http://, `tls_stream` for https://
  // (at most one is set).
  std::optional<beast::tcp_stream> stream;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_stream;
  beast::flat_buffer buffer;
  uint32_t requests_on_connection = 0;
  std::chrono::steady_clock::time_point last_used;
  std::string idempotency_key;  // sent as Idempotency-Key while set (a batch's request id)
  std::string authorization;    // "Basic ..." from opts.basic_auth, or empty

  // Runs one async operation to completion on our private io_context; the
  // stream's expiry bounds it.
  template <typename Start>
  beast::error_code run(Start&& start) {
    beast::error_code result = asio::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    io.restart();
    io.run();
    return result;
  }

  bool connected() const { return stream.has_value() || tls_stream.has_value(); }
  beast::tcp_stream& tcp() { return tls_stream ? beast::get_lowest_layer(*tls_stream) : *stream; }

  void disconnect() {
    if (connected()) {
      beast::error_code ec;
      tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
      stream.reset();
      tls_stream.reset();
    }
    buffer.clear();
    requests_on_connection = 0;
  }

  Status connect(const Endpoint& ep) {
    tcp::resolver resolver(io);
    beast::error_code ec;
    auto results = resolver.resolve(ep.host, ep.port, ec);
    if (ec) return Status(Code::kUnavailable, "cannot resolve " + ep.text + ": " + ec.message());
    stream.emplace(io);
    stream->expires_after(opts.connect_timeout);
    ec = run([&](auto handler) { stream->async_connect(results, std::move(handler)); });
    if (ec) {
      stream.reset();
      return Status(Code::kUnavailable, "cannot connect to " + ep.text + ": " + ec.message());
    }
    if (ep.tls) return start_tls(ep);
    return Status::ok();
  }

  // Moves the connected stream under TLS: the server's certificate must
  // chain to the CA and name the host we dialled.
  Status start_tls(const Endpoint& ep) {
    tls_stream.emplace(std::move(*stream), *tls_ctx);
    stream.reset();
    tls_stream->set_verify_callback(asio::ssl::host_name_verification(ep.host));
    beast::error_code ec;
    asio::ip::make_address(ep.host, ec);
    if (ec) SSL_set_tlsext_host_name(tls_stream->native_handle(), ep.host.c_str());
    tcp().expires_after(opts.connect_timeout);
    ec = run([&](auto handler) {
      tls_stream->async_handshake(asio::ssl::stream_base::client, std::move(handler));
    });
    if (ec) {
      std::string why = tls_failure(tls_stream->native_handle(), ec);
      tls_stream.reset();
      return Status(Code::kUnavailable, "TLS handshake with " + ep.text + " failed: " + why);
    }
    return Status::ok();
  }

  http::request<http::string_body> build(std::string_view method, std::string_view target,
                                         std::string body, std::string_view content_type,
                                         const Endpoint& ep) {
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, ep.host + ":" + ep.port);
    req.set(http::field::user_agent, "changeagent-client");
    if (!opts.cluster_id_hex.empty()) req.set("X-Cluster-Id", opts.cluster_id_hex);
    if (!authorization.empty()) req.set(http::field::authorization, authorization);
    if (!idempotency_key.empty()) req.set("Idempotency-Key", idempotency_key);
    if (!body.empty()) req.set(http::field::content_type, content_type);
    req.keep_alive(true);
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
  }

  // One request on endpoints[i], connecting if needed.
  Result<HttpResponse> attempt(size_t i, const http::request<http::string_body>& req,
                               std::chrono::milliseconds timeout, bool idempotent,
                               AttemptError& err);
  Result<HttpResponse> request(std::string_view method, std::string_view target, std::string body,
                               std::string_view content_type, std::chrono::milliseconds extra,
                               bool failover_on_503, bool idempotent);
};

Result<HttpResponse> Client::Impl::attempt(size_t i, const http::request<http::string_body>& req,
                                           std::chrono::milliseconds timeout, bool idempotent,
                                           AttemptError& err) {
  const Endpoint& ep = endpoints[i];
  auto now = std::chrono::steady_clock::now();
  if (i != current || now - last_used > kIdleReconnect) disconnect();
  last_used = now;
  current = i;
  bool reused = connected();
  err.failure = Failure::kNotSent;
  if (!connected()) {
    Status s = connect(ep);
    if (!s.is_ok()) return err.status = s;
  }
  tcp().expires_after(timeout);
  beast::error_code ec = run([&](auto handler) {
    if (tls_stream) {
      http::async_write(*tls_stream, req, std::move(handler));
    } else {
      http::async_write(*stream, req, std::move(handler));
    }
  });
  if (ec) {
    disconnect();
    // A reused connection the server closed while idle: nothing was read.
    if (reused) return attempt(i, req, timeout, idempotent, err);
    return err.status =
               Status(Code::kUnavailable, "cannot send to " + ep.text + ": " + ec.message());
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(kResponseBytesMax);
  ec = run([&](auto handler) {
    if (tls_stream) {
      http::async_read(*tls_stream, buffer, parser, std::move(handler));
    } else {
      http::async_read(*stream, buffer, parser, std::move(handler));
    }
  });
  if (ec) {
    disconnect();
    bool closed = ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                  ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
    // A kept connection the server closed just as we sent: safe to resend
    // when repeating the request cannot do harm.
    if (reused && closed && idempotent) return attempt(i, req, timeout, idempotent, err);
    err.failure = Failure::kLostAnswer;
    Code code = ec == beast::error::timeout ? Code::kTimeout : Code::kUnavailable;
    return err.status = Status(code, "no answer from " + ep.text + ": " + ec.message());
  }
  auto res = parser.release();
  requests_on_connection++;
  if (!res.keep_alive()) disconnect();
  if (opts.learn_cluster_id && opts.cluster_id_hex.empty()) {
    if (auto cid = res.find("X-Cluster-Id"); cid != res.end() && !cid->value().empty()) {
      opts.cluster_id_hex = std::string(cid->value());
      client_log()->debug("{} belongs to cluster {}; requests carry that id from now on", ep.text,
                          opts.cluster_id_hex);
    }
  }
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[http::field::content_type]);
  out.body = std::move(res.body());
  return out;
}

Result<HttpResponse> Client::Impl::request(std::string_view method, std::string_view target,
                                           std::string body, std::string_view content_type,
                                           std::chrono::milliseconds extra, bool failover_on_503,
                                           bool idempotent) {
  Status last;
  std::optional<HttpResponse> last_503;  // returned as a value if every endpoint says 503
  size_t first = current;
  for (size_t n = 0; n < endpoints.size(); n++) {
    size_t i = (first + n) % endpoints.size();
    auto req = build(method, target, body, content_type, endpoints[i]);
    AttemptError err;
    auto res = attempt(i, req, opts.request_timeout + extra, idempotent, err);
    if (res.is_ok()) {
      if (res->status != 503 || !failover_on_503) return res;
      last = status_from_http(res->status, res->body);
      last_503 = std::move(res.value());
      disconnect();
    } else {
      last = err.status;
      if (err.failure == Failure::kLostAnswer && !idempotent) {
        return Status(Code::kTimeout, last.message() + "; the write may or may not have happened");
      }
    }
    client_log()->debug("{} {} via {} failed ({}); trying the next endpoint", method, target,
                        endpoints[i].text, last.to_string());
  }
  if (last_503) return std::move(*last_503);
  return last;
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::create(ClientOptions opts) {
  auto impl = std::make_unique<Impl>();
  bool tls_files = !opts.ca_file.empty() || !opts.cert_file.empty();
  bool any_tls = false;
  for (const auto& text : opts.endpoints) {
    auto ep = parse_endpoint(text, tls_files);
    if (!ep) {
      return Status(
          Code::kInvalidArgument,
          "bad endpoint '" + text + "'; expected host:port, http://host:port or https://host:port");
    }
    any_tls |= ep->tls;
    impl->endpoints.push_back(std::move(*ep));
  }
  if (impl->endpoints.empty()) return Status(Code::kInvalidArgument, "no endpoints given");
  if (any_tls) {
    TlsFiles files{opts.cert_file, opts.key_file, opts.ca_file};
    auto ctx = make_client_tls_context(files);
    if (!ctx.is_ok()) return ctx.status();
    impl->tls_ctx = std::move(*ctx);
  }
  if (!opts.basic_auth.empty()) {
    if (opts.basic_auth.find(':') == std::string::npos || opts.basic_auth.front() == ':') {
      return Status(Code::kInvalidArgument, "basic auth credentials must be user:password");
    }
    impl->authorization = basic_auth_header(opts.basic_auth);
  }
  impl->opts = std::move(opts);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

const std::string& Client::current_endpoint() const {
  return impl_->endpoints[impl_->current].text;
}

const std::string& Client::cluster_id() const {
  return impl_->opts.cluster_id_hex;
}

Result<HttpResponse> Client::request(std::string_view method, std::string_view target,
                                     std::string body, std::string_view content_type,
                                     std::chrono::milliseconds extra_timeout) {
  // A PUT /keys is a write like a POST: resending one whose answer was lost
  // could append it twice, or fail its own ifRevision.
  bool idempotent = method == "GET" || (method == "PUT" && !target.starts_with("/keys"));
  return impl_->request(method, target, std::move(body), content_type, extra_timeout, true,
                        idempotent);
}

Result<HttpResponse> Client::send(std::string_view method, std::string_view target,
                                  std::string body, bool idempotent) {
  return impl_->request(method, target, std::move(body), "application/json", {}, true, idempotent);
}

namespace {

bool success(const HttpResponse& r) {
  return r.status >= 200 && r.status < 300;
}

}  // namespace

// A POST that carries a request id (ChangeInput::request_id; a batch's is
// its first change's, sent as Idempotency-Key) may be resent: the server answers a
// retry with the original entries. So a lost answer, a 504 (outcome
// unknown) or a 503 is retried with the same id, a bounded number of times
// with a growing pause; a POST without an id never is.
namespace {

constexpr int kIdRetryAttemptsMax = 8;
constexpr auto kIdRetryPause = std::chrono::milliseconds(100);

// (Client::Impl is private to this file; a free function keeps client.h as is.)
Result<HttpResponse> post_with_id(Client& c, Client::Impl& impl, std::string_view target,
                                  const std::string& body, const std::string& request_id) {
  if (request_id.empty()) return c.request("POST", target, body);
  Result<HttpResponse> res = Status(Code::kInternal, "not sent");
  for (int attempt = 0; attempt < kIdRetryAttemptsMax; attempt++) {
    if (attempt > 0) std::this_thread::sleep_for(kIdRetryPause * attempt);
    // idempotent=true: a lost answer may be resent to the next endpoint.
    res = impl.request("POST", target, body, "application/json", {}, true, true);
    bool retry = res.is_ok() ? (res->status == 504 || res->status == 503)
                             : (res.status().code() == Code::kTimeout ||
                                res.status().code() == Code::kUnavailable);
    if (!retry) break;
    client_log()->debug("POST {} with request id {} failed ({}); retrying with the same id", target,
                        request_id,
                        res.is_ok() ? std::to_string(res->status) : res.status().to_string());
  }
  return res;
}

}  // namespace

Result<std::vector<Appended>> Client::post_changes(const std::vector<ChangeInput>& in, bool wait) {
  std::string target = wait ? "/changes/batch" : "/changes/batch?wait=false";
  auto body = render_change_inputs(in);
  if (!body.is_ok()) return body.status();
  std::string rid = in.empty() ? std::string() : in.front().request_id;
  impl_->idempotency_key = rid;
  auto res = post_with_id(*this, *impl_, target, *body, rid);
  impl_->idempotency_key.clear();
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  return parse_appended(res->body);
}

Result<Appended> Client::post_change(const ChangeInput& in, bool wait) {
  auto body = render_change_input(in);
  if (!body.is_ok()) return body.status();
  auto res =
      post_with_id(*this, *impl_, wait ? "/changes" : "/changes?wait=false", *body, in.request_id);
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  auto appended = parse_appended(res->body);
  if (!appended.is_ok()) return appended.status();
  if (appended->size() != 1)
    return Status(Code::kInternal, "server answered a single POST with a list");
  return appended->front();
}

Result<FeedPage> Client::get_feed(const FeedRequest& r) {
  std::string target =
      "/changes?since=" + std::to_string(r.since) + "&limit=" + std::to_string(r.limit);
  if (r.block_seconds > 0) target += "&block=" + std::to_string(r.block_seconds);
  if (r.consistent) target += "&consistent=true";
  for (const auto& t : r.tags) target += "&tag=" + url_encode(t);
  if (!r.prefix.empty()) target += "&prefix=" + url_encode(r.prefix);
  if (r.include_internal) target += "&internal=true";
  auto res = request("GET", target, {}, {}, std::chrono::seconds(r.block_seconds));
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  return parse_feed(res->body);
}

Result<Change> Client::get_change(uint64_t id, bool consistent) {
  std::string target = "/changes/" + std::to_string(id);
  if (consistent) target += "?consistent=true";
  auto res = request("GET", target);
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  return parse_change(res->body);
}

Status Client::watch(const WatchOptions& w, const std::function<bool(const Change&)>& on_change) {
  FeedRequest req{w.since, w.limit, w.tags, w.block_seconds, false, w.prefix, w.include_internal};
  auto backoff = kWatchBackoffMin;
  while (!(w.should_stop && w.should_stop())) {
    auto page = get_feed(req);
    if (!page.is_ok()) {
      Code c = page.status().code();
      bool transient = c == Code::kUnavailable || c == Code::kBusy || c == Code::kNotLeader ||
                       c == Code::kTimeout || c == Code::kInternal;
      if (!transient) return page.status();
      client_log()->debug("watch: {}; retrying in {} ms", page.status().to_string(),
                          backoff.count());
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, kWatchBackoffMax);
      continue;
    }
    backoff = kWatchBackoffMin;
    for (const Change& c : page->changes) {
      req.since = c.id;
      if (!on_change(c)) return Status::ok();
    }
  }
  return Status::ok();
}

Result<ClusterView> Client::cluster() {
  auto res = request("GET", "/cluster");
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  return parse_cluster(res->body);
}

Result<std::map<uint64_t, std::string>> Client::members() {
  auto res = request("GET", "/cluster/members");
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  return parse_members(res->body);
}

Status Client::health() {
  auto res = impl_->request("GET", "/health", {}, {}, {}, false, true);
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  return Status::ok();
}

Status Client::set_health(bool up) {
  auto res =
      impl_->request("PUT", up ? "/health?up=true" : "/health?up=false", {}, {}, {}, false, true);
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  return Status::ok();
}

Result<RaftDiagnostics> Client::diagnostics() {
  auto res = request("GET", "/diagnostics/raft");
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  return parse_diagnostics(res->body);
}

}  // namespace api
