#include "admin/http_fetch.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

namespace admin {

using common::Code;
using common::Status;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kHeadBytesMax = 64 * 1024;
constexpr size_t kErrorBodyBytesMax = 64 * 1024;

std::string strip_scheme(std::string s) {
  auto p = s.find("://");
  if (p != std::string::npos) s = s.substr(p + 3);
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// The server's {"error": ...} text, else the raw body.
std::string error_text(const std::string& body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (auto* e = v.as_object().if_contains("error"); e && e->is_string()) {
      return std::string(e->as_string());
    }
  }
  return body.substr(0, 300);
}

// Runs the io_context until `done` or the deadline; false on timeout.
bool run_until(asio::io_context& io, bool& done, std::chrono::milliseconds timeout) {
  io.restart();
  io.run_for(timeout);
  return done;
}

}  // namespace

Status http_get_stream(const FetchOptions& o,
                       const std::function<Status(std::string_view)>& on_body) {
  std::string hostport = strip_scheme(o.endpoint);
  auto colon = hostport.rfind(':');
  std::string host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  std::string port = colon == std::string::npos ? "8080" : hostport.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  asio::io_context io;
  tcp::socket sock(io);
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  auto eps = resolver.resolve(host, port, ec);
  if (ec) return Status(Code::kInvalidArgument, "cannot resolve " + hostport + ": " + ec.message());
  bool done = false;
  asio::async_connect(sock, eps, [&](boost::system::error_code e, const tcp::endpoint&) {
    ec = e;
    done = true;
  });
  if (!run_until(io, done, o.connect_timeout)) {
    return Status(Code::kUnavailable, "cannot connect to " + hostport + ": timed out");
  }
  if (ec) return Status(Code::kUnavailable, "cannot connect to " + hostport + ": " + ec.message());

  std::string request = "GET " + o.target + " HTTP/1.1\r\nHost: " + hostport +
                        "\r\nAccept: application/octet-stream\r\nConnection: close\r\n\r\n";
  asio::write(sock, asio::buffer(request), ec);
  if (ec) return Status(Code::kUnavailable, "sending to " + hostport + ": " + ec.message());

  std::string buf(256 * 1024, '\0');
  std::string head;
  bool in_body = false;
  int status = 0;
  std::string error_body;
  for (;;) {
    size_t got = 0;
    done = false;
    sock.async_read_some(asio::buffer(buf), [&](boost::system::error_code e, size_t n) {
      ec = e;
      got = n;
      done = true;
    });
    if (!run_until(io, done, o.idle_timeout)) {
      return Status(Code::kTimeout, hostport + " sent nothing for " +
                                        std::to_string(o.idle_timeout.count()) + " ms");
    }
    std::string_view chunk(buf.data(), got);
    if (!in_body) {
      head.append(chunk);
      auto end = head.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (head.size() > kHeadBytesMax || ec) {
          return Status(Code::kUnavailable, hostport + " sent no valid HTTP response head");
        }
        continue;
      }
      if (head.compare(0, 5, "HTTP/") != 0 || head.size() < 12) {
        return Status(Code::kUnavailable, hostport + " did not answer HTTP");
      }
      status = std::atoi(head.c_str() + 9);
      in_body = true;
      chunk = std::string_view(head).substr(end + 4);
    }
    if (!chunk.empty()) {
      if (status == 200) {
        if (Status s = on_body(chunk); !s.is_ok()) return s;
      } else if (error_body.size() < kErrorBodyBytesMax) {
        error_body.append(chunk);
      }
    }
    if (in_body) head.clear();
    if (ec == asio::error::eof) break;
    if (ec) return Status(Code::kUnavailable, "reading from " + hostport + ": " + ec.message());
  }
  if (status != 200) {
    Code code = status == 503   ? Code::kUnavailable
                : status == 404 ? Code::kNotFound
                                : Code::kFailedPrecondition;
    return Status(code,
                  hostport + " answered " + std::to_string(status) + ": " + error_text(error_body));
  }
  return Status::ok();
}

}  // namespace admin
