// The slow-link proxy on loopback: a round trip through it takes at least
// twice its delay, bytes keep their order under jitter, stop() breaks the
// links it carries, and a refused target shows as a broken connection.
#include "tests/chaos/delay_proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

namespace chaos {
namespace {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

int listen_loopback(uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

int dial(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Reads exactly n bytes, or fewer if the connection ends or `limit` passes.
std::string read_n(int fd, size_t n, Millis limit = Millis(10000)) {
  std::string out;
  auto deadline = Clock::now() + limit;
  while (out.size() < n && Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[8192];
    ssize_t r = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

// Echoes every byte of one accepted connection back until EOF.
class EchoServer {
 public:
  EchoServer() {
    listener_ = listen_loopback(&port_);
    thread_ = std::thread([this] {
      int c = ::accept(listener_, nullptr, nullptr);
      if (c < 0) return;
      char buf[8192];
      for (ssize_t n; (n = ::recv(c, buf, sizeof buf, 0)) > 0;) {
        if (::send(c, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
      }
      ::close(c);
    });
  }
  ~EchoServer() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  int listener_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

std::unique_ptr<DelayProxy> proxy_to(uint16_t port, Millis delay, Millis jitter) {
  DelayProxyOptions o;
  o.listen_host = "127.0.0.1";
  o.target_host = "127.0.0.1";
  o.target_port = port;
  o.delay = delay;
  o.jitter = jitter;
  auto p = DelayProxy::start(o);
  EXPECT_TRUE(p.is_ok()) << p.status().message();
  return p.is_ok() ? std::move(p.value()) : nullptr;
}

TEST(DelayProxy, RoundTripTakesTwiceTheDelay) {
  EchoServer echo;
  auto proxy = proxy_to(echo.port(), Millis(150), Millis(0));
  ASSERT_TRUE(proxy);
  int fd = dial(proxy->port());
  ASSERT_GE(fd, 0);
  for (int round = 0; round < 3; round++) {
    auto t0 = Clock::now();
    ASSERT_EQ(::send(fd, "ping", 4, MSG_NOSIGNAL), 4);
    EXPECT_EQ(read_n(fd, 4), "ping");
    auto rtt = std::chrono::duration_cast<Millis>(Clock::now() - t0);
    // 150 ms each way; the upper bound only guards against a proxy that
    // holds bytes far longer than asked (a loaded machine adds little).
    EXPECT_GE(rtt.count(), 300) << "round " << round;
    EXPECT_LT(rtt.count(), 1500) << "round " << round;
  }
  EXPECT_EQ(proxy->connections_accepted(), 1u);
  EXPECT_EQ(proxy->bytes_forwarded(), 24u);
  ::close(fd);
}

TEST(DelayProxy, JitterNeverReorders) {
  EchoServer echo;
  auto proxy = proxy_to(echo.port(), Millis(20), Millis(40));
  ASSERT_TRUE(proxy);
  int fd = dial(proxy->port());
  ASSERT_GE(fd, 0);
  // Many small writes, each likely its own chunk with its own jitter.
  std::string sent;
  for (int i = 0; i < 400; i++) {
    std::string piece = std::to_string(i) + ",";
    sent += piece;
    ASSERT_EQ(::send(fd, piece.data(), piece.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(piece.size()));
    if (i % 50 == 0) std::this_thread::sleep_for(Millis(3));
  }
  // And one large write, beyond a socket buffer, to exercise partial sends.
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); i++) big[i] = static_cast<char>('a' + (i * 7) % 26);
  sent += big;
  std::thread writer([&] {
    size_t off = 0;
    while (off < big.size()) {
      ssize_t n = ::send(fd, big.data() + off, big.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  });
  std::string got = read_n(fd, sent.size(), Millis(30000));
  writer.join();
  ASSERT_EQ(got.size(), sent.size());
  EXPECT_TRUE(got == sent) << "bytes came back in another order";
  ::close(fd);
}

TEST(DelayProxy, StopResetsTheConnections) {
  EchoServer echo;
  auto proxy = proxy_to(echo.port(), Millis(10), Millis(0));
  ASSERT_TRUE(proxy);
  int fd = dial(proxy->port());
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::send(fd, "x", 1, MSG_NOSIGNAL), 1);
  EXPECT_EQ(read_n(fd, 1), "x");
  proxy->stop();
  char c;
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  EXPECT_LE(::recv(fd, &c, 1, 0), 0) << "the link must be broken after stop()";
  ::close(fd);
  EXPECT_LT(dial(proxy->port()), 0) << "nothing listens after stop()";
}

TEST(DelayProxy, RefusedTargetBreaksTheLink) {
  uint16_t closed_port = 0;
  int l = listen_loopback(&closed_port);
  ::close(l);  // nothing listens there now
  auto proxy = proxy_to(closed_port, Millis(10), Millis(0));
  ASSERT_TRUE(proxy);
  int fd = dial(proxy->port());
  ASSERT_GE(fd, 0);
  char c;
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  EXPECT_LE(::recv(fd, &c, 1, 0), 0);
  ::close(fd);
}

TEST(DelayProxy, RejectsABadAddress) {
  DelayProxyOptions o;
  o.listen_host = "not-an-ip";
  o.target_host = "127.0.0.1";
  o.target_port = 1;
  auto p = DelayProxy::start(o);
  ASSERT_FALSE(p.is_ok());
  EXPECT_NE(p.status().message().find("not-an-ip"), std::string::npos);
}

}  // namespace
}  // namespace chaos
