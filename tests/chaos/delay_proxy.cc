#include "tests/chaos/delay_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <random>
#include <vector>

namespace chaos {

using common::Code;
using common::Result;
using common::Status;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kReadChunk = 64 << 10;

sockaddr_in ipv4(const std::string& host, uint16_t port, bool* ok) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  *ok = ::inet_pton(AF_INET, host.c_str(), &a.sin_addr) == 1;
  return a;
}

// Closing with a zero linger sends RST: the other end sees the link break
// at once instead of a FIN it might take for an orderly goodbye.
void reset_close(int fd) {
  if (fd < 0) return;
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

// Bytes travelling one way, each chunk held until its release time. An
// empty chunk is the sender's EOF, delayed like the bytes before it.
struct Direction {
  struct Chunk {
    Clock::time_point release;
    std::string bytes;
  };
  std::deque<Chunk> chunks;
  size_t front_written = 0;
  size_t queued = 0;
  bool read_eof = false;    // the source said EOF (or we stopped reading it)
  bool write_shut = false;  // the EOF was passed on: this direction is done
  bool blocked = false;     // the destination's send buffer was full
  Clock::time_point last_release{};
};

struct Connection {
  int client = -1;    // accepted from the dialling node
  int upstream = -1;  // to the target
  bool connecting = true;
  Direction up;    // client -> upstream
  Direction down;  // upstream -> client
  bool dead = false;
};

}  // namespace

Result<std::unique_ptr<DelayProxy>> DelayProxy::start(DelayProxyOptions o) {
  bool ok = false;
  sockaddr_in a = ipv4(o.listen_host, 0, &ok);
  if (!ok) return Status(Code::kInvalidArgument, "not an IPv4 address: " + o.listen_host);
  ipv4(o.target_host, o.target_port, &ok);
  if (!ok) return Status(Code::kInvalidArgument, "not an IPv4 address: " + o.target_host);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status(Code::kIoError, std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0) {
    Status s(Code::kIoError, "listen on " + o.listen_host + ": " + std::strerror(errno));
    ::close(fd);
    return s;
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int pipefd[2];
  if (::pipe2(pipefd, O_NONBLOCK | O_CLOEXEC) != 0) {
    ::close(fd);
    return Status(Code::kIoError, std::string("pipe: ") + std::strerror(errno));
  }
  std::unique_ptr<DelayProxy> p(
      new DelayProxy(std::move(o), fd, pipefd[0], pipefd[1], ntohs(a.sin_port)));
  p->thread_ = std::thread([raw = p.get()] { raw->loop(); });
  return p;
}

DelayProxy::DelayProxy(DelayProxyOptions options, int listener, int wake_read, int wake_write,
                       uint16_t port)
    : opts_(std::move(options)),
      listener_(listener),
      wake_read_(wake_read),
      wake_write_(wake_write),
      port_(port) {}

DelayProxy::~DelayProxy() {
  stop();
  ::close(wake_read_);
  ::close(wake_write_);
}

void DelayProxy::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  char b = 1;
  (void)!::write(wake_write_, &b, 1);
  thread_.join();
}

void DelayProxy::loop() {
  std::list<Connection> conns;
  std::mt19937_64 rng(opts_.seed);
  bool ok = false;
  const sockaddr_in target = ipv4(opts_.target_host, opts_.target_port, &ok);

  auto release_time = [&](Direction& d) {
    auto j = opts_.jitter.count() > 0
                 ? std::chrono::milliseconds(
                       std::uniform_int_distribution<int64_t>(0, opts_.jitter.count())(rng))
                 : std::chrono::milliseconds(0);
    // Never before the chunk ahead of it: jitter delays, it does not reorder.
    d.last_release = std::max(d.last_release, Clock::now() + opts_.delay + j);
    return d.last_release;
  };
  // Reads what `from` has into `d`; false when the connection must die.
  auto pull = [&](int from, Direction& d) {
    char buf[kReadChunk];
    ssize_t n = ::recv(from, buf, sizeof buf, 0);
    if (n > 0) {
      d.chunks.push_back({release_time(d), std::string(buf, static_cast<size_t>(n))});
      d.queued += static_cast<size_t>(n);
      return true;
    }
    if (n == 0) {
      d.read_eof = true;
      d.chunks.push_back({release_time(d), std::string()});
      return true;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  };
  // Writes every chunk of `d` that is due to `to`; false when it must die.
  auto push = [&](int to, Direction& d, Clock::time_point now) {
    d.blocked = false;
    while (!d.chunks.empty() && d.chunks.front().release <= now) {
      auto& c = d.chunks.front();
      if (c.bytes.empty()) {
        ::shutdown(to, SHUT_WR);
        d.write_shut = true;
        d.chunks.pop_front();
        continue;
      }
      ssize_t n = ::send(to, c.bytes.data() + d.front_written, c.bytes.size() - d.front_written,
                         MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
          d.blocked = true;
          return true;
        }
        return false;
      }
      bytes_ += static_cast<uint64_t>(n);
      d.front_written += static_cast<size_t>(n);
      if (d.front_written == c.bytes.size()) {
        d.queued -= c.bytes.size();
        d.front_written = 0;
        d.chunks.pop_front();
      }
    }
    return true;
  };

  std::vector<pollfd> fds;
  std::vector<Connection*> owner;  // per pollfd after the first two: its connection
  while (!stopping_) {
    auto now = Clock::now();
    // Write what is due first: its time has come whatever else happens.
    for (auto& c : conns) {
      if (c.dead || c.connecting) continue;
      if (!push(c.upstream, c.up, now) || !push(c.client, c.down, now)) c.dead = true;
    }
    for (auto it = conns.begin(); it != conns.end();) {
      bool done = it->up.write_shut && it->down.write_shut;
      if (it->dead || done) {
        // A clean close on both sides is passed on as one; anything else
        // (an error on either side) as a reset of both.
        if (done) {
          ::close(it->client);
          ::close(it->upstream);
        } else {
          reset_close(it->client);
          reset_close(it->upstream);
        }
        it = conns.erase(it);
      } else {
        ++it;
      }
    }

    fds.clear();
    owner.clear();
    fds.push_back({wake_read_, POLLIN, 0});
    fds.push_back({listener_, POLLIN, 0});
    int timeout_ms = -1;
    auto due_in = [&](const Direction& d) {
      if (d.chunks.empty() || d.blocked) return;
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(d.chunks.front().release - now);
      int t = static_cast<int>(std::max<int64_t>(0, ms.count()));
      timeout_ms = timeout_ms < 0 ? t : std::min(timeout_ms, t);
    };
    for (auto& c : conns) {
      short cev = 0, uev = 0;
      if (!c.up.read_eof && c.up.queued < opts_.queued_bytes_max) cev |= POLLIN;
      if (c.connecting) {
        uev |= POLLOUT;
      } else {
        if (!c.down.read_eof && c.down.queued < opts_.queued_bytes_max) uev |= POLLIN;
        if (c.up.blocked) uev |= POLLOUT;
        if (c.down.blocked) cev |= POLLOUT;
        due_in(c.up);
        due_in(c.down);
      }
      fds.push_back({c.client, cev, 0});
      owner.push_back(&c);
      fds.push_back({c.upstream, uev, 0});
      owner.push_back(&c);
    }
    int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    if (fds[0].revents) break;  // stop()
    if (fds[1].revents & POLLIN) {
      for (;;) {
        int cfd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) break;
        int ufd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (ufd < 0) {
          reset_close(cfd);
          continue;
        }
        int one = 1;
        ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int r = ::connect(ufd, reinterpret_cast<const sockaddr*>(&target), sizeof target);
        if (r != 0 && errno != EINPROGRESS) {
          reset_close(cfd);
          ::close(ufd);
          continue;
        }
        accepted_++;
        Connection c;
        c.client = cfd;
        c.upstream = ufd;
        c.connecting = r != 0;
        conns.push_back(std::move(c));
      }
    }
    for (size_t k = 2; k < fds.size(); k++) {
      Connection& c = *owner[k - 2];
      short ev = fds[k].revents;
      if (!ev || c.dead) continue;
      bool is_client = fds[k].fd == c.client;
      if (!is_client && c.connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.upstream, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (ev & (POLLERR | POLLHUP))) {
          c.dead = true;  // the target refused: the dialler sees a reset
          continue;
        }
        c.connecting = false;
        continue;
      }
      if (ev & POLLERR) {
        c.dead = true;
        continue;
      }
      if (ev & (POLLIN | POLLHUP)) {
        Direction& d = is_client ? c.up : c.down;
        if (!d.read_eof && !pull(fds[k].fd, d)) c.dead = true;
      }
    }
  }
  for (auto& c : conns) {
    reset_close(c.client);
    reset_close(c.upstream);
  }
  ::close(listener_);
}

}  // namespace chaos
