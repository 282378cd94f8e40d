#include "discovery/dns_resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <mutex>

namespace discovery {

struct DnsResolver::Channel {
  ares_channel channel = nullptr;
  ~Channel() {
    if (channel != nullptr) ares_destroy(channel);
  }
  // Drives c-ares until `done` is set by a callback. c-ares bounds every
  // query by its own timeout and tries, so this ends; the poll timeout
  // comes from ares_timeout.
  void run(const bool& done) {
    while (!done) {
      ares_socket_t socks[ARES_GETSOCK_MAXNUM];
      int mask = ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
      pollfd fds[ARES_GETSOCK_MAXNUM];
      nfds_t n = 0;
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
        short events = 0;
        if (ARES_GETSOCK_READABLE(mask, i)) events |= POLLIN;
        if (ARES_GETSOCK_WRITABLE(mask, i)) events |= POLLOUT;
        if (events == 0) continue;
        fds[n++] = pollfd{socks[i], events, 0};
      }
      timeval max{1, 0};
      timeval tv{};
      timeval* t = ares_timeout(channel, &max, &tv);
      int timeout_ms = static_cast<int>(t->tv_sec * 1000 + t->tv_usec / 1000);
      int ready = poll(fds, n, std::max(timeout_ms, 1));
      if (ready <= 0) {
        ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        continue;
      }
      for (nfds_t i = 0; i < n; i++) {
        ares_socket_t r =
            (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd : ARES_SOCKET_BAD;
        ares_socket_t w = (fds[i].revents & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD;
        if (r != ARES_SOCKET_BAD || w != ARES_SOCKET_BAD) ares_process_fd(channel, r, w);
      }
    }
  }
};

namespace {

// c-ares' status as our Code, with words an operator can act on.
Status lookup_status(int status, const std::string& what, const std::string& server) {
  std::string where = what + " at " + server;
  switch (status) {
    case ARES_ENOTFOUND:
      return Status(Code::kNotFound, where + ": NXDOMAIN (no such name)");
    case ARES_ENODATA:
      return Status(Code::kNotFound, where + ": no records of that type (empty answer)");
    case ARES_ETIMEOUT:
      return Status(Code::kTimeout, where + ": no answer (timed out)");
    case ARES_ESERVFAIL:
      return Status(Code::kUnavailable, where + ": SERVFAIL (the server failed)");
    case ARES_EREFUSED:
      return Status(Code::kUnavailable, where + ": REFUSED by the server");
    case ARES_ECONNREFUSED:
      return Status(Code::kUnavailable, where + ": connection refused (no DNS server there?)");
    case ARES_EBADRESP:
    case ARES_EFORMERR:
    case ARES_EBADNAME:
      return Status(Code::kCorruption,
                    where + ": malformed answer (" + std::string(ares_strerror(status)) + ")");
    default:
      return Status(Code::kUnavailable, where + ": " + std::string(ares_strerror(status)));
  }
}

std::once_flag g_ares_init;
int g_ares_init_status = ARES_SUCCESS;

struct SrvQuery {
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<SrvRecord> records;
};

void on_srv(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* q = static_cast<SrvQuery*>(arg);
  q->done = true;
  q->status = status;
  if (status != ARES_SUCCESS) return;
  ares_srv_reply* reply = nullptr;
  q->status = ares_parse_srv_reply(abuf, alen, &reply);
  for (ares_srv_reply* r = reply; r != nullptr; r = r->next) {
    q->records.push_back(SrvRecord{r->host ? r->host : "", r->port, r->priority, r->weight});
  }
  if (reply != nullptr) ares_free_data(reply);
}

struct AddrQuery {
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<std::string> v4, v6;
};

void on_addr(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
  auto* q = static_cast<AddrQuery*>(arg);
  q->done = true;
  q->status = status;
  if (res == nullptr) return;
  for (ares_addrinfo_node* n = res->nodes; n != nullptr; n = n->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (n->ai_family == AF_INET) {
      auto* sa = reinterpret_cast<sockaddr_in*>(n->ai_addr);
      if (inet_ntop(AF_INET, &sa->sin_addr, buf, sizeof buf)) q->v4.push_back(buf);
    } else if (n->ai_family == AF_INET6) {
      auto* sa = reinterpret_cast<sockaddr_in6*>(n->ai_addr);
      if (inet_ntop(AF_INET6, &sa->sin6_addr, buf, sizeof buf)) {
        q->v6.push_back("[" + std::string(buf) + "]");
      }
    }
  }
  ares_freeaddrinfo(res);
}

}  // namespace

Result<std::unique_ptr<DnsResolver>> DnsResolver::create(DnsOptions opts) {
  std::call_once(g_ares_init, [] { g_ares_init_status = ares_library_init(ARES_LIB_INIT_ALL); });
  if (g_ares_init_status != ARES_SUCCESS) {
    return Status(Code::kInternal,
                  "c-ares failed to initialize: " + std::string(ares_strerror(g_ares_init_status)));
  }
  auto channel = std::make_unique<Channel>();
  ares_options o{};
  o.timeout = static_cast<int>(opts.timeout.count());
  o.tries = std::max(opts.tries, 1);
  o.flags = ARES_FLAG_NOSEARCH;  // the names we ask for are complete
  int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
  if (int s = ares_init_options(&channel->channel, &o, mask); s != ARES_SUCCESS) {
    return Status(Code::kInternal, "c-ares channel: " + std::string(ares_strerror(s)));
  }
  std::string label = "the system resolver";
  if (!opts.server.empty()) {
    if (int s = ares_set_servers_ports_csv(channel->channel, opts.server.c_str());
        s != ARES_SUCCESS) {
      return Status(Code::kInvalidArgument,
                    "--dns-server '" + opts.server +
                        "' is not ip:port (an IP address, not a name): " + ares_strerror(s));
    }
    label = opts.server;
  }
  return std::unique_ptr<DnsResolver>(new DnsResolver(std::move(channel), label, opts));
}

DnsResolver::DnsResolver(std::unique_ptr<Channel> channel, std::string label, DnsOptions opts)
    : channel_(std::move(channel)), server_label_(std::move(label)), opts_(std::move(opts)) {}

DnsResolver::~DnsResolver() = default;

Result<std::vector<SrvRecord>> DnsResolver::srv(const std::string& name) {
  SrvQuery q;
  ares_query(channel_->channel, name.c_str(), 1 /* C_IN */, 33 /* T_SRV */, on_srv, &q);
  channel_->run(q.done);
  if (q.status != ARES_SUCCESS) return lookup_status(q.status, "SRV " + name, server_label_);
  return std::move(q.records);
}

Result<std::string> DnsResolver::address_of(const std::string& host) {
  AddrQuery q;
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  ares_getaddrinfo(channel_->channel, host.c_str(), nullptr, &hints, on_addr, &q);
  channel_->run(q.done);
  if (q.status != ARES_SUCCESS) return lookup_status(q.status, "address of " + host, server_label_);
  if (!q.v4.empty()) return *std::min_element(q.v4.begin(), q.v4.end());
  if (!q.v6.empty()) return *std::min_element(q.v6.begin(), q.v6.end());
  return lookup_status(ARES_ENODATA, "address of " + host, server_label_);
}

}  // namespace discovery
