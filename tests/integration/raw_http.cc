#include "tests/integration/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace integration {

using common::Code;
using Clock = std::chrono::steady_clock;

Result<std::unique_ptr<RawConnection>> RawConnection::connect(uint16_t port, Millis timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status(Code::kIoError, "socket: " + std::string(std::strerror(errno)));
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds connect() too
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return Status(Code::kUnavailable, "connect to port " + std::to_string(port) + ": " + why);
  }
  return std::unique_ptr<RawConnection>(new RawConnection(fd));
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

Status RawConnection::send(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(Code::kUnavailable, "send: " + std::string(std::strerror(errno)));
    off += static_cast<size_t>(n);
  }
  return Status::ok();
}

Status RawConnection::read_some(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  pollfd p{fd_, POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 0)));
  if (r == 0) return Status(Code::kTimeout, "nothing received before the deadline");
  if (r < 0) return Status(Code::kIoError, "poll: " + std::string(std::strerror(errno)));
  char buf[16384];
  ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n == 0) return Status(Code::kUnavailable, "connection closed by the server");
  if (n < 0) return Status(Code::kIoError, "recv: " + std::string(std::strerror(errno)));
  received_.append(buf, static_cast<size_t>(n));
  return Status::ok();
}

bool RawConnection::read_until(const std::string& needle, Clock::time_point deadline) {
  while (received_.find(needle) == std::string::npos) {
    if (Clock::now() >= deadline) return false;
    if (!read_some(deadline).is_ok() && Clock::now() < deadline) {
      // Closed or failed: nothing more will come.
      return received_.find(needle) != std::string::npos;
    }
  }
  return true;
}

std::vector<SseEvent> parse_sse(const std::string& text) {
  std::vector<SseEvent> out;
  size_t body = text.find("\r\n\r\n");
  size_t pos = body == std::string::npos ? 0 : body + 4;
  while (pos < text.size()) {
    size_t end = text.find("\n\n", pos);
    if (end == std::string::npos) break;  // an incomplete event
    std::string block = text.substr(pos, end - pos);
    pos = end + 2;
    SseEvent ev;
    bool any = false;
    std::istringstream lines(block);
    for (std::string line; std::getline(lines, line);) {
      auto field = [&](const char* name, std::string& into) {
        std::string prefix = std::string(name) + ": ";
        if (line.rfind(prefix, 0) != 0) return;
        into = line.substr(prefix.size());
        any = true;
      };
      field("id", ev.id);
      field("event", ev.event);
      field("data", ev.data);
    }
    if (any) out.push_back(std::move(ev));
  }
  return out;
}

}  // namespace integration
