// Where discovery reads the peer set from. A Source is polled from the
// discovery thread only (Watcher), so poll() may block on a file or DNS.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "discovery/dns_resolver.h"
#include "discovery/peer.h"

namespace discovery {

// One poll's result.
struct Lookup {
  // Not OK: the source could not be read at all (NXDOMAIN, SERVFAIL,
  // timeout, missing file, a bad line); peers is empty then.
  Status status;
  std::vector<Peer> peers;  // sorted by name, names and addresses unique
  // Entries left out of peers, one line each; the set may lack someone.
  std::vector<std::string> issues;
  bool complete() const { return status.is_ok() && issues.empty(); }
  bool operator==(const Lookup& o) const {
    return status.code() == o.status.code() && status.message() == o.status.message() &&
           peers == o.peers && issues == o.issues;
  }
};

class Source {
 public:
  virtual ~Source() = default;
  virtual Lookup poll() = 0;
  // "file /etc/changeagent/peers", "DNS SRV _changeagent._tcp.example.com via 10.0.0.2:53"
  virtual std::string describe() const = 0;
};

// A file of peers (parse_peer_file), read whole at each poll. A missing
// file is an error like any other (it may appear later).
class FileSource final : public Source {
 public:
  explicit FileSource(std::string path) : path_(std::move(path)) {}
  Lookup poll() override;
  std::string describe() const override { return "file " + path_; }

 private:
  std::string path_;
};

// DNS SRV records of a domain (srv_names), their targets resolved to
// addresses with the same resolver.
class SrvSource final : public Source {
 public:
  static Result<std::unique_ptr<SrvSource>> create(std::string domain, bool tls, DnsOptions dns);
  Lookup poll() override;
  std::string describe() const override;

 private:
  SrvSource(std::string domain, bool tls, std::unique_ptr<DnsResolver> resolver)
      : domain_(std::move(domain)), tls_(tls), resolver_(std::move(resolver)) {}
  std::string domain_;
  bool tls_;
  std::unique_ptr<DnsResolver> resolver_;
};

}  // namespace discovery
