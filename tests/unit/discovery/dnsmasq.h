// A real DNS server for discovery tests: Debian's dnsmasq on a free
// 127.0.0.1 UDP/TCP port, serving only the SRV and A records a test gives
// it (--no-resolv --no-hosts; --local makes unknown names under the test
// domain NXDOMAIN). Records are fixed at start: restart() with new ones
// keeps the port. The child dies with the test process (PDEATHSIG) and is
// SIGKILLed by the destructor. Fork only from the main thread.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "discovery/dns_resolver.h"

namespace discovery::test {

inline const char* dnsmasq_path() {
  for (const char* p : {"/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return nullptr;
}

// A port that was free on 127.0.0.1 for both UDP and TCP a moment ago.
inline uint16_t free_dns_port() {
  for (int attempt = 0; attempt < 50; attempt++) {
    int u = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(u, reinterpret_cast<sockaddr*>(&a), &len);
    int t = ::socket(AF_INET, SOCK_STREAM, 0);
    bool tcp_free = ::bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(t);
    ::close(u);
    if (tcp_free) return ntohs(a.sin_port);
  }
  return 0;
}

struct SrvEntry {
  std::string name;    // _changeagent._tcp.ca.test
  std::string target;  // empty: no target (the "." record)
  uint32_t port = 0;
};

class Dnsmasq {
 public:
  // `local_domain`: answered only from our records (NXDOMAIN otherwise).
  explicit Dnsmasq(std::string local_domain) : domain_(std::move(local_domain)) {}
  ~Dnsmasq() {
    stop();
    if (!log_path_.empty()) ::unlink(log_path_.c_str());
  }
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  std::vector<SrvEntry> srv;
  std::vector<std::pair<std::string, std::string>> hosts;  // name -> IPv4

  // Starts (or restarts with the current records, on the same port) and
  // waits until it answers. False with `error` set if it would not.
  bool start(std::string& error) {
    stop();
    for (int attempt = 0; attempt < 5; attempt++) {
      if (port_ == 0 || attempt > 0) port_ = free_dns_port();
      if (spawn() && wait_answering()) return true;
      stop();
    }
    error = "dnsmasq did not start on 127.0.0.1 (log: " + log_path_ + ")";
    return false;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }

 private:
  std::vector<std::string> args() const {
    std::vector<std::string> a = {"dnsmasq",
                                  "--keep-in-foreground",
                                  "--conf-file=/dev/null",
                                  "--no-resolv",
                                  "--no-hosts",
                                  "--no-negcache",
                                  "--bind-interfaces",
                                  "--listen-address=127.0.0.1",
                                  "--port=" + std::to_string(port_),
                                  "--pid-file=",
                                  "--log-facility=-",
                                  "--local=/" + domain_ + "/"};
    if (::geteuid() == 0) a.push_back("--user=root");
    for (const auto& s : srv) {
      std::string v = "--srv-host=" + s.name;
      if (!s.target.empty()) v += "," + s.target + "," + std::to_string(s.port);
      a.push_back(v);
    }
    for (const auto& [name, ip] : hosts) a.push_back("--host-record=" + name + "," + ip);
    return a;
  }

  bool spawn() {
    const char* bin = dnsmasq_path();
    if (bin == nullptr) return false;
    auto a = args();
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    if (!log_path_.empty()) ::unlink(log_path_.c_str());
    char tmpl[] = "/tmp/dnsmasq-test-XXXXXX";
    int log_fd = ::mkstemp(tmpl);
    log_path_ = tmpl;
    int null_fd = ::open("/dev/null", O_RDONLY);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(null_fd, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::close_range(3, ~0U, 0);
      ::execv(bin, argv.data());
      ::_exit(127);
    }
    ::close(log_fd);
    ::close(null_fd);
    pid_ = pid;
    return pid > 0;
  }

  // Answering: a name of ours resolves (or is NXDOMAIN: dnsmasq said so).
  bool wait_answering() {
    DnsOptions o;
    o.server = server();
    o.timeout = std::chrono::milliseconds(200);
    o.tries = 1;
    auto r = DnsResolver::create(o);
    if (!r.is_ok()) return false;
    for (int i = 0; i < 50; i++) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      auto a = (*r)->srv("_probe._tcp." + domain_);
      if (a.is_ok() || a.status().code() == common::Code::kNotFound) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::string domain_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::string log_path_;
};

}  // namespace discovery::test
