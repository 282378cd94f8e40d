// Blocking DNS lookups over c-ares, for the discovery thread (never the
// io_context's: a lookup may take the whole timeout). One resolver per
// thread; c-ares itself is asynchronous, and we drive its sockets with
// poll() until the answer or c-ares' own timeout.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "discovery/srv_answer.h"

namespace discovery {

struct DnsOptions {
  // "ip:port" ("[v6]:port") of the DNS server to ask, or empty for the
  // servers of /etc/resolv.conf. An IP, not a name: it resolves names.
  std::string server;
  std::chrono::milliseconds timeout{2000};  // per try
  int tries = 2;
};

class DnsResolver {
 public:
  // kInvalidArgument for a server that is not ip:port; kInternal if c-ares
  // cannot start.
  static Result<std::unique_ptr<DnsResolver>> create(DnsOptions opts);
  ~DnsResolver();
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  // The SRV records of `name`. kNotFound: NXDOMAIN or no SRV records;
  // kTimeout: no server answered in time; kUnavailable: SERVFAIL, REFUSED
  // or no server reachable; kCorruption: an answer we cannot parse. The
  // message says which, naming the name and the server.
  Result<std::vector<SrvRecord>> srv(const std::string& name);
  // An address of `host` (the hosts file first, then DNS): the smallest
  // IPv4 address as text, else the smallest IPv6 one as "[addr]", so every
  // node picks the same one. Errors as srv().
  Result<std::string> address_of(const std::string& host);

  const std::string& server_label() const { return server_label_; }

  struct Channel;

 private:
  DnsResolver(std::unique_ptr<Channel> channel, std::string label, DnsOptions opts);
  std::unique_ptr<Channel> channel_;
  std::string server_label_;  // for messages: the server, or "the system resolver"
  DnsOptions opts_;
};

}  // namespace discovery
