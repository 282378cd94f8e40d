// The client HTTP/1.1 API server (DESIGN.md "Client API"). It parses and
// validates requests, calls a Service, renders JSON, and bounds everything it
// holds: connections, header and body bytes, idle time, long-poll waiters.
// Beast stays inside http_server.cc; this header is cheap to include.
//
// Threading: start(), and every request, run on the io_context given to
// start(), which must be run by ONE thread (the Service requires it). stop()
// may be called from any thread. The Service must outlive the io_context's
// last run (callbacks and coroutines hold references to it).
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "api/service.h"

namespace api {

class TlsContext;     // api/tls.h
class Authenticator;  // api/http_auth.h

struct HttpOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;                      // 0 = an ephemeral port; see HttpServer::port()
  uint64_t body_bytes_max = 1 << 20;      // request body; more is 413
  uint32_t header_bytes_max = 16 * 1024;  // request line + headers; more is 431
  uint32_t connections_max = 1024;        // open client connections; more get 503 and close
  uint32_t longpoll_waiters_max = 10000;  // blocked GET /changes + SSE streams; more is 503
  // Long-polls (GET /changes with block>0) and SSE streams open at once from
  // one client IP address; more is 429, so one client cannot take them all.
  uint32_t longpoll_waiters_per_client_max = 256;
  uint32_t block_seconds_max = 300;       // block= is capped to this
  std::chrono::seconds idle_timeout{60};  // the next request must begin within this
  // Slow loris: a request's line and headers must all arrive within this
  // of its first byte, and its body within idle_timeout after them; else
  // the connection is closed (and logged).
  std::chrono::seconds header_timeout{10};
  // The cluster's id as 16 hex digits, or empty to skip the check. A request
  // carrying an X-Cluster-Id that differs gets 409 (it meant another cluster).
  std::string cluster_id_hex;
  // Sections from modules outside the node (discovery): GET /diagnostics
  // shows each as key -> the JSON its function returns; GET /metrics
  // appends each function's Prometheus lines. Called on the io thread per
  // request, so they must be quick and must not block.
  std::vector<std::pair<std::string, std::function<std::string()>>> diagnostics_sections;
  std::vector<std::function<std::string()>> metrics_sections;
  // HTTPS when set: every connection does a TLS handshake with the context
  // current at accept (see TlsContext::reload), and a verified client
  // certificate's CN reaches the router as HttpRequest::client_cert_cn.
  // Null: plain HTTP. One HttpServer is one listener; run two for both.
  std::shared_ptr<TlsContext> tls{};
  // Basic auth and roles (api/http_auth.h); null = every request is allowed.
  std::shared_ptr<Authenticator> auth{};
};

class HttpServer {
 public:
  // Binds and listens before returning, so port() is valid at once.
  // kInvalidArgument for a bad host, kIoError if the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> start(boost::asio::io_context& io, Service& svc,
                                                   HttpOptions opts);
  ~HttpServer();  // stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  // Stops accepting, closes idle connections, wakes long-polls and SSE
  // streams (which answer with what they have and close), and lets requests
  // in flight finish with Connection: close. Idempotent; returns at once.
  void stop();

  struct State;  // the Beast side, defined in http_server.cc

 private:
  explicit HttpServer(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace api
