// Calls validator webhooks (cluster_config.h, "webhooks") before the leader
// proposes a change: one HTTP/1.1 POST per matching webhook, asynchronous on
// the node's io_context (Beast), so a slow or dead webhook never blocks the
// io thread; each call is bounded by its webhook's timeout.
//
// Webhooks run one after the other in config order; the first refusal
// (non-2xx) decides. A call that fails (connect, timeout, garbled answer)
// follows its webhook's failure policy and is logged, at most one line per
// webhook per kWebhookLogIntervalSeconds (the rest are counted in the next).
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/cluster_config.h"
#include "api/log_limiter.h"
#include "common/status.h"

namespace spdlog {
class logger;
}
namespace boost::asio::ssl {
class context;
}

namespace api {

inline constexpr uint32_t kWebhookLogIntervalSeconds = 10;
// A refusal's message is cut to this many bytes; the answer body read is
// bounded too (more is a failed call).
inline constexpr size_t kWebhookMessageBytesMax = 1024;
inline constexpr size_t kWebhookResponseBytesMax = 64 * 1024;

struct WebhookOutcome {
  enum class Kind { kAccepted, kRefused, kFailed };
  Kind kind = Kind::kFailed;
  int http_status = 0;  // kAccepted / kRefused
  std::string message;  // kRefused: the webhook's message; kFailed: what went wrong
};

// The TLS client context https webhooks are called with. Null: one
// verifying against the system's CAs is made on first use.
using WebhookTls = std::shared_ptr<boost::asio::ssl::context>;

// One POST of `body` (JSON) to `w`; `done` runs once, on `io`. An https
// webhook's certificate must chain to `tls`'s CAs and name w.host (SNI is
// sent); a failed handshake is a failed call (the failure policy applies).
void call_webhook(boost::asio::io_context& io, const Webhook& w, std::string body,
                  std::function<void(WebhookOutcome)> done, WebhookTls tls = nullptr);

// Logs failed calls, rate-limited per webhook URL. io thread only.
class WebhookFailureLog {
 public:
  explicit WebhookFailureLog(std::shared_ptr<spdlog::logger> log) : log_(std::move(log)) {}
  void failed(const Webhook& w, const std::string& why);

 private:
  std::shared_ptr<spdlog::logger> log_;
  std::map<std::string, LogLimiter> by_url_;
};

// Runs `hooks` in order on `body`; done(OK) when all accepted (or failed
// open), kInvalidArgument with the refusing webhook's message, or
// kUnavailable when one failed closed. `log` must outlive the calls.
void run_webhooks(boost::asio::io_context& io, std::vector<Webhook> hooks, std::string body,
                  std::shared_ptr<WebhookFailureLog> log, std::function<void(common::Status)> done,
                  WebhookTls tls = nullptr);

}  // namespace api
