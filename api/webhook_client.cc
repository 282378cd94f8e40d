// The webhook HTTP client: completion handlers (no coroutines), one
// watchdog timer per call that closes everything at the webhook's timeout.
// https: the same steps with a TLS handshake after connect, on a Beast
// ssl_stream over the same tcp_stream.
#include "api/webhook_client.h"

#include <spdlog/spdlog.h>

#include <openssl/ssl.h>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <optional>

#include "api/tls.h"

namespace api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using common::Code;
using common::Status;

namespace {

// What a refusing webhook said: its JSON "error" (or "message") string,
// else the body text; cut to kWebhookMessageBytesMax.
std::string refusal_message(int status, const std::string& body) {
  std::string msg;
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (!ec && v.is_object()) {
    for (const char* field : {"error", "message"}) {
      auto* f = v.as_object().if_contains(field);
      if (f && f->is_string()) {
        msg = std::string(f->as_string());
        break;
      }
    }
  }
  if (msg.empty()) msg = body;
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r' || msg.back() == ' ')) {
    msg.pop_back();
  }
  if (msg.size() > kWebhookMessageBytesMax) msg.resize(kWebhookMessageBytesMax);
  if (msg.empty()) msg = "HTTP " + std::to_string(status);
  return msg;
}

class WebhookCall : public std::enable_shared_from_this<WebhookCall> {
 public:
  WebhookCall(asio::io_context& io, const Webhook& w, std::string body,
              std::function<void(WebhookOutcome)> done, WebhookTls tls)
      : io_(io),
        hook_(w),
        resolver_(io),
        stream_(io),
        watchdog_(io),
        done_(std::move(done)),
        tls_ctx_(std::move(tls)) {
    req_.method(http::verb::post);
    req_.target(w.target);
    req_.version(11);
    req_.set(http::field::host, w.host + ":" + w.port);
    req_.set(http::field::content_type, "application/json");
    req_.set(http::field::user_agent, "changeagent-webhook");
    req_.keep_alive(false);
    req_.body() = std::move(body);
    req_.prepare_payload();
    parser_.body_limit(kWebhookResponseBytesMax);
  }

  void start() {
    if (hook_.tls) {
      if (!tls_ctx_) {
        auto ctx = make_client_tls_context(TlsFiles{});
        if (!ctx.is_ok()) return fail("no TLS context: " + ctx.status().message());
        tls_ctx_ = std::move(*ctx);
      }
      tls_stream_.emplace(std::move(stream_), *tls_ctx_);
    }
    auto self = shared_from_this();
    watchdog_.expires_after(std::chrono::milliseconds(hook_.timeout_ms));
    watchdog_.async_wait([self](beast::error_code ec) {
      if (ec) return;  // cancelled: the call ended first
      self->fail("no answer within " + std::to_string(self->hook_.timeout_ms) + " ms");
    });
    resolver_.async_resolve(hook_.host, hook_.port,
                            [self](beast::error_code ec, tcp::resolver::results_type r) {
                              self->on_resolve(ec, std::move(r));
                            });
  }

 private:
  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (finished_) return;
    if (ec) return fail("cannot resolve " + hook_.host + ": " + ec.message());
    auto self = shared_from_this();
    tcp_layer().async_connect(
        results, [self](beast::error_code ec2, const tcp::endpoint&) { self->on_connect(ec2); });
  }

  void on_connect(beast::error_code ec) {
    if (finished_) return;
    if (ec) return fail("cannot connect: " + ec.message());
    auto self = shared_from_this();
    if (!tls_stream_) {
      http::async_write(stream_, req_,
                        [self](beast::error_code ec2, size_t) { self->on_write(ec2); });
      return;
    }
    // Verify the certificate names the host we dialled, and send SNI.
    tls_stream_->set_verify_callback(asio::ssl::host_name_verification(hook_.host));
    SSL_set_tlsext_host_name(tls_stream_->native_handle(), hook_.host.c_str());
    tls_stream_->async_handshake(asio::ssl::stream_base::client,
                                 [self](beast::error_code ec2) { self->on_handshake(ec2); });
  }

  void on_handshake(beast::error_code ec) {
    if (finished_) return;
    if (ec) return fail("TLS handshake failed: " + tls_failure(tls_stream_->native_handle(), ec));
    auto self = shared_from_this();
    http::async_write(*tls_stream_, req_,
                      [self](beast::error_code ec2, size_t) { self->on_write(ec2); });
  }

  void on_write(beast::error_code ec) {
    if (finished_) return;
    if (ec) return fail("cannot send the request: " + ec.message());
    auto self = shared_from_this();
    auto on_read = [self](beast::error_code ec2, size_t) { self->on_read(ec2); };
    if (tls_stream_) {
      http::async_read(*tls_stream_, buf_, parser_, std::move(on_read));
    } else {
      http::async_read(stream_, buf_, parser_, std::move(on_read));
    }
  }

  void on_read(beast::error_code ec) {
    if (finished_) return;
    if (ec) return fail("bad or no answer: " + ec.message());
    const auto& res = parser_.get();
    int status = res.result_int();
    WebhookOutcome out;
    out.http_status = status;
    if (status >= 200 && status < 300) {
      out.kind = WebhookOutcome::Kind::kAccepted;
    } else {
      out.kind = WebhookOutcome::Kind::kRefused;
      out.message = refusal_message(status, res.body());
    }
    finish(std::move(out));
  }

  void fail(std::string why) {
    WebhookOutcome out;
    out.kind = WebhookOutcome::Kind::kFailed;
    out.message = std::move(why);
    finish(std::move(out));
  }

  void finish(WebhookOutcome out) {
    if (finished_) return;
    finished_ = true;
    watchdog_.cancel();
    resolver_.cancel();
    beast::error_code ignored;
    // No TLS close_notify: the call is over either way, and a webhook that
    // hangs must not hold us past its timeout.
    tcp_layer().socket().close(ignored);
    // Posted: the caller's continuation never runs inside a handler of ours.
    asio::post(io_, [done = std::move(done_), out = std::move(out)]() mutable { done(out); });
  }

  beast::tcp_stream& tcp_layer() {
    return tls_stream_ ? beast::get_lowest_layer(*tls_stream_) : stream_;
  }

  asio::io_context& io_;
  Webhook hook_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;  // moved into tls_stream_ for https
  asio::steady_timer watchdog_;
  http::request<http::string_body> req_;
  beast::flat_buffer buf_;
  http::response_parser<http::string_body> parser_;
  std::function<void(WebhookOutcome)> done_;
  WebhookTls tls_ctx_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_stream_;
  bool finished_ = false;
};

struct WebhookRun : std::enable_shared_from_this<WebhookRun> {
  asio::io_context& io;
  std::vector<Webhook> hooks;
  std::string body;
  std::shared_ptr<WebhookFailureLog> log;
  std::function<void(Status)> done;
  WebhookTls tls;
  size_t next = 0;

  WebhookRun(asio::io_context& io_, std::vector<Webhook> h, std::string b,
             std::shared_ptr<WebhookFailureLog> l, std::function<void(Status)> d, WebhookTls t)
      : io(io_),
        hooks(std::move(h)),
        body(std::move(b)),
        log(std::move(l)),
        done(std::move(d)),
        tls(std::move(t)) {}

  void step() {
    if (next == hooks.size()) {
      done(Status::ok());
      return;
    }
    auto self = shared_from_this();
    call_webhook(
        io, hooks[next], body, [self](WebhookOutcome out) { self->on_outcome(out); }, tls);
  }

  void on_outcome(const WebhookOutcome& out) {
    const Webhook& w = hooks[next];
    next++;
    switch (out.kind) {
      case WebhookOutcome::Kind::kAccepted:
        break;
      case WebhookOutcome::Kind::kRefused:
        done(Status(Code::kInvalidArgument, "refused by webhook " + w.url + " (HTTP " +
                                                std::to_string(out.http_status) +
                                                "): " + out.message));
        return;
      case WebhookOutcome::Kind::kFailed:
        log->failed(w, out.message);
        if (!w.fail_open) {
          done(Status(Code::kUnavailable, "validator webhook " + w.url + " failed (" + out.message +
                                              "); its failurePolicy is fail-closed, so the "
                                              "change was not proposed"));
          return;
        }
        break;
    }
    step();
  }
};

}  // namespace

void call_webhook(asio::io_context& io, const Webhook& w, std::string body,
                  std::function<void(WebhookOutcome)> done, WebhookTls tls) {
  std::make_shared<WebhookCall>(io, w, std::move(body), std::move(done), std::move(tls))->start();
}

void WebhookFailureLog::failed(const Webhook& w, const std::string& why) {
  auto it = by_url_.try_emplace(w.url, std::chrono::seconds(kWebhookLogIntervalSeconds)).first;
  uint64_t suppressed = 0;
  if (!it->second.allow(LogLimiter::Clock::now(), suppressed)) return;
  log_->warn("webhook {} failed: {}; failurePolicy {}: the change was {}{}", w.url, why,
             w.fail_open ? "fail-open" : "fail-closed", w.fail_open ? "allowed" : "refused (503)",
             suppressed == 0
                 ? std::string()
                 : " (" + std::to_string(suppressed) + " more failures since the last line)");
}

void run_webhooks(asio::io_context& io, std::vector<Webhook> hooks, std::string body,
                  std::shared_ptr<WebhookFailureLog> log, std::function<void(Status)> done,
                  WebhookTls tls) {
  std::make_shared<WebhookRun>(io, std::move(hooks), std::move(body), std::move(log),
                               std::move(done), std::move(tls))
      ->step();
}

}  // namespace api
