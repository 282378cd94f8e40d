// The agent's small HTTP/1.1 endpoint: load balancer checks (GET /primary,
// /replica, /health), GET /status, and the failsafe question peers ask. One
// request per connection (Connection: close), answered from a snapshot the
// agent loop keeps: a health check never waits for PostgreSQL or the store.
// Plain sockets on one thread: the answers are tiny, and the agent must not
// pull the changeagent server (api_http) in.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "common/status.h"

namespace pgha::agent {

struct HttpAnswer {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

struct HttpQuery {
  std::string method;
  std::string path;                           // without the query string
  std::map<std::string, std::string> params;  // query parameters (last wins)
};

using HttpHandler = std::function<HttpAnswer(const HttpQuery&)>;

// Bytes of request head accepted; more is 431 and a close.
inline constexpr size_t kRequestHeadBytesMax = 16 * 1024;

class HttpEndpoint {
 public:
  // "host:port" (port 0 = ephemeral). kIoError when it cannot bind.
  static common::Result<std::unique_ptr<HttpEndpoint>> start(const std::string& listen,
                                                             HttpHandler handler);
  ~HttpEndpoint();  // stops and joins
  uint16_t port() const { return port_; }

 private:
  HttpEndpoint(int fd, uint16_t port, HttpHandler handler);
  void serve();
  void answer(int conn);

  int fd_;
  uint16_t port_;
  HttpHandler handler_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Splits "host:port"; kInvalidArgument naming the flag text when it is not.
common::Status split_host_port(const std::string& text, std::string& host, uint16_t& port);

}  // namespace pgha::agent
