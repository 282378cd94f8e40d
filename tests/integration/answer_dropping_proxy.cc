#include "tests/integration/answer_dropping_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>

namespace integration {

using common::Code;
using common::Result;
using common::Status;

namespace {

// One read or write on either side waits at most this long.
constexpr int kIoTimeoutMs = 10000;

bool read_more(int fd, std::string& buf) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, kIoTimeoutMs) <= 0) return false;
  char chunk[16384];
  ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
  if (n <= 0) return false;
  buf.append(chunk, static_cast<size_t>(n));
  return true;
}

bool write_all(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads one HTTP message (head + Content-Length body) off `buf`/`fd`; the
// message is moved out of buf, leaving what follows it.
bool read_message(int fd, std::string& buf, std::string& message) {
  size_t head_end;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (!read_more(fd, buf)) return false;
  }
  std::string head = buf.substr(0, head_end);
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  size_t length = 0;
  if (auto at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
    length = std::stoul(lower.substr(at + 17));
  }
  const size_t total = head_end + 4 + length;
  while (buf.size() < total) {
    if (!read_more(fd, buf)) return false;
  }
  message = buf.substr(0, total);
  buf.erase(0, total);
  return true;
}

int connect_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<AnswerDroppingProxy>> AnswerDroppingProxy::start(uint16_t upstream_port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Status(Code::kIoError, std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return Status(Code::kIoError, std::string("proxy listen: ") + std::strerror(errno));
  }
  std::unique_ptr<AnswerDroppingProxy> p(
      new AnswerDroppingProxy(fd, ntohs(a.sin_port), upstream_port));
  p->acceptor_ = std::thread([raw = p.get()] { raw->accept_loop(); });
  return p;
}

AnswerDroppingProxy::~AnswerDroppingProxy() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::lock_guard lock(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_) t.join();
  for (int fd : open_fds_) ::close(fd);
  ::close(listen_fd_);
}

void AnswerDroppingProxy::drop_answers(const std::string& line_prefix, uint32_t n) {
  std::lock_guard lock(mu_);
  drop_prefix_ = line_prefix;
  drops_left_ = n;
  matching_forwarded_ = 0;
}

bool AnswerDroppingProxy::take_drop(const std::string& request_line) {
  std::lock_guard lock(mu_);
  if (drop_prefix_.empty() || request_line.rfind(drop_prefix_, 0) != 0) return false;
  matching_forwarded_++;
  if (drops_left_ == 0) return false;
  drops_left_--;
  return true;
}

void AnswerDroppingProxy::accept_loop() {
  while (!stopping_) {
    int c = ::accept(listen_fd_, nullptr, nullptr);
    if (c < 0) return;
    std::lock_guard lock(mu_);
    open_fds_.push_back(c);
    threads_.emplace_back([this, c] { serve(c); });
  }
}

void AnswerDroppingProxy::serve(int client_fd) {
  int up = connect_loopback(upstream_port_);
  {
    std::lock_guard lock(mu_);
    if (up >= 0) open_fds_.push_back(up);
  }
  std::string from_client;
  std::string from_up;
  while (up >= 0 && !stopping_) {
    std::string request;
    if (!read_message(client_fd, from_client, request)) break;
    if (!write_all(up, request)) break;
    std::string answer;
    if (!read_message(up, from_up, answer)) break;
    if (take_drop(request.substr(0, request.find("\r\n")))) {
      dropped_++;
      break;  // the node answered; the client never hears it
    }
    if (!write_all(client_fd, answer)) break;
  }
  // Shut down rather than close: the fds stay owned (and closed) by
  // whoever ends last, and shutdown wakes a stop waiting on them.
  ::shutdown(client_fd, SHUT_RDWR);
  if (up >= 0) ::shutdown(up, SHUT_RDWR);
}

}  // namespace integration
