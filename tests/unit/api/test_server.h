// A real HttpServer on an ephemeral 127.0.0.1 port, backed by the
// FakeService test double, with its io_context on a background thread; plus
// a raw-socket helper for requests the client library would never send.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <string>
#include <thread>

#include "api/client.h"
#include "api/http_server.h"
#include "tests/unit/api/fake_service.h"

namespace api::test {

class TestServer {
 public:
  explicit TestServer(HttpOptions opts = {}) : svc(io) {
    opts.host = "127.0.0.1";
    opts.port = 0;
    auto started = HttpServer::start(io, svc, std::move(opts));
    EXPECT_TRUE(started.is_ok()) << started.status().to_string();
    server = std::move(started.value());
    thread_ = std::thread([this] { io.run(); });
  }

  ~TestServer() { shutdown(); }

  // Stops the server and waits until every connection has ended.
  void shutdown() {
    if (!thread_.joinable()) return;
    server->stop();
    work_.reset();
    thread_.join();
  }

  std::string endpoint() const { return "127.0.0.1:" + std::to_string(server->port()); }

  std::unique_ptr<Client> client(ClientOptions opts = {}) {
    if (opts.endpoints.empty()) opts.endpoints = {endpoint()};
    auto c = Client::create(opts);
    EXPECT_TRUE(c.is_ok()) << c.status().to_string();
    return std::move(c.value());
  }

  boost::asio::io_context io;
  FakeService svc;
  std::unique_ptr<HttpServer> server;

 private:
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io);
  std::thread thread_;
};

// A blocking TCP connection for hand-written HTTP.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port, int recv_timeout_ms = 5000) : sock_(io_) {
    sock_.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    timeval tv{recv_timeout_ms / 1000, (recv_timeout_ms % 1000) * 1000};
    setsockopt(sock_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send(const std::string& data) { boost::asio::write(sock_, boost::asio::buffer(data)); }
  // Reads until the peer closes or the receive timeout passes.
  std::string read_all() {
    std::string out;
    char buf[4096];
    for (;;) {
      boost::system::error_code ec;
      size_t n = sock_.read_some(boost::asio::buffer(buf), ec);
      if (ec) break;
      out.append(buf, n);
    }
    return out;
  }
  // Reads until `needle` appears in what was read (or timeout/close).
  std::string read_until(const std::string& needle, std::string& acc) {
    char buf[4096];
    while (acc.find(needle) == std::string::npos) {
      boost::system::error_code ec;
      size_t n = sock_.read_some(boost::asio::buffer(buf), ec);
      if (ec) break;
      acc.append(buf, n);
    }
    return acc;
  }
  bool closed_by_peer() {
    char c;
    boost::system::error_code ec;
    sock_.read_some(boost::asio::buffer(&c, 1), ec);
    return ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket sock_;
};

// Status code of a raw HTTP response ("HTTP/1.1 404 ...").
inline int raw_status(const std::string& response) {
  if (response.size() < 12) return 0;
  return std::atoi(response.substr(9, 3).c_str());
}

}  // namespace api::test
