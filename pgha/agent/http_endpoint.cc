#include "pgha/agent/http_endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace pgha::agent {

using common::Code;
using common::Result;
using common::Status;

namespace {

// A client that sends nothing for this long is dropped (the loop is serial).
constexpr int kReadTimeoutMs = 2000;

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

bool parse_request_line(const std::string& head, HttpQuery& q) {
  auto eol = head.find("\r\n");
  std::string line = head.substr(0, eol);
  auto sp1 = line.find(' ');
  auto sp2 = line.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) return false;
  q.method = line.substr(0, sp1);
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  auto qm = target.find('?');
  q.path = url_decode(target.substr(0, qm));
  if (qm == std::string::npos) return true;
  std::string_view rest(target);
  rest.remove_prefix(qm + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    auto eq = kv.find('=');
    std::string k = url_decode(kv.substr(0, eq));
    std::string v = eq == std::string_view::npos ? "" : url_decode(kv.substr(eq + 1));
    if (!k.empty()) q.params[k] = v;
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return true;
}

void write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

}  // namespace

Status split_host_port(const std::string& text, std::string& host, uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= text.size()) {
    return Status(Code::kInvalidArgument, "'" + text + "' is not host:port");
  }
  host = text.substr(0, colon);
  unsigned p = 0;
  auto [end, ec] = std::from_chars(text.data() + colon + 1, text.data() + text.size(), p);
  if (ec != std::errc() || end != text.data() + text.size() || p > 65535) {
    return Status(Code::kInvalidArgument, "'" + text + "' has no valid port (0..65535)");
  }
  port = static_cast<uint16_t>(p);
  return Status::ok();
}

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::start(const std::string& listen,
                                                          HttpHandler handler) {
  std::string host;
  uint16_t port = 0;
  if (auto s = split_host_port(listen, host, port); !s.is_ok()) return s;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (host == "localhost") host = "127.0.0.1";
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    return Status(Code::kInvalidArgument, "listen address '" + host + "' is not an IPv4 address");
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd, 64) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return Status(Code::kIoError, "cannot listen on " + listen + ": " + why);
  }
  return std::unique_ptr<HttpEndpoint>(new HttpEndpoint(fd, ntohs(a.sin_port), std::move(handler)));
}

HttpEndpoint::HttpEndpoint(int fd, uint16_t port, HttpHandler handler)
    : fd_(fd), port_(port), handler_(std::move(handler)) {
  thread_ = std::thread([this] { serve(); });
}

HttpEndpoint::~HttpEndpoint() {
  stopping_ = true;
  ::shutdown(fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
}

void HttpEndpoint::serve() {
  while (!stopping_) {
    pollfd p{fd_, POLLIN, 0};
    int n = ::poll(&p, 1, 200);
    if (n <= 0) continue;
    int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    answer(conn);
    ::close(conn);
  }
}

void HttpEndpoint::answer(int conn) {
  std::string head;
  char buf[2048];
  while (head.find("\r\n\r\n") == std::string::npos) {
    if (head.size() > kRequestHeadBytesMax) {
      write_all(conn,
                "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
                "Content-Length: 0\r\n\r\n");
      // Read what the client still sends (bounded) before closing: closing
      // with unread bytes resets the connection and can destroy the answer.
      ::shutdown(conn, SHUT_WR);
      for (size_t drained = 0; drained < kRequestHeadBytesMax;) {
        pollfd d{conn, POLLIN, 0};
        if (::poll(&d, 1, 200) <= 0) break;
        ssize_t got = ::recv(conn, buf, sizeof buf, 0);
        if (got <= 0) break;
        drained += static_cast<size_t>(got);
      }
      return;
    }
    pollfd p{conn, POLLIN, 0};
    if (::poll(&p, 1, kReadTimeoutMs) <= 0) return;
    ssize_t got = ::recv(conn, buf, sizeof buf, 0);
    if (got <= 0) return;
    head.append(buf, static_cast<size_t>(got));
  }
  HttpQuery q;
  HttpAnswer a;
  if (!parse_request_line(head, q)) {
    a = {400, R"({"error":"malformed request line","code":"invalid_argument"})"};
  } else {
    a = handler_(q);
  }
  std::string out = "HTTP/1.1 " + std::to_string(a.status) + " " + reason_phrase(a.status) +
                    "\r\nContent-Type: " + a.content_type +
                    "\r\nContent-Length: " + std::to_string(a.body.size()) +
                    "\r\nConnection: close\r\n\r\n";
  if (q.method != "HEAD") out += a.body;
  write_all(conn, out);
}

}  // namespace pgha::agent
