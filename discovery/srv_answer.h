// What to make of a DNS SRV answer, without doing any DNS: which records
// name usable peers and which are bad (logged and left out). Pure, so the
// rules are table-tested; the c-ares lookups live in dns_resolver.cc.
//
// A peer discovered by SRV is named by its target host name (lowercase, no
// trailing dot): that is the name every node sees for it, so a node started
// with --discovery-srv must use its own target name as --name. Its address
// is the target's IPv4 address (else IPv6) and the record's port.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "discovery/peer.h"

namespace discovery {

struct SrvRecord {
  std::string target;  // as the answer gives it (may end with '.')
  uint32_t port = 0;   // 0 is invalid for us (RFC 2782 allows it)
  uint16_t priority = 0;
  uint16_t weight = 0;
};

struct SrvCheck {
  // One per usable target: name (normalized target) -> port.
  std::map<std::string, uint32_t> targets;
  // Records left out, one line each (a target of ".", an invalid name, port
  // 0, a target listed with two ports). An exact repeat of a record is
  // harmless and only noted.
  std::vector<std::string> issues;
};

// "N1.Example.COM." -> "n1.example.com"; "" for ".".
std::string normalize_target(const std::string& target);

// The checks that need no further lookups.
SrvCheck check_srv_records(const std::vector<SrvRecord>& records);

// Peers from the usable targets and what each target's address lookup
// gave (an IP literal, or an error). Targets that did not resolve, and
// targets whose ip:port another target also has, become issues. Sorted by
// name.
std::vector<Peer> srv_peers(const SrvCheck& check,
                            const std::map<std::string, Result<std::string>>& addresses,
                            std::vector<std::string>& issues);

// The SRV names looked up for `domain`: _changeagent._tcp.<domain>, and
// with TLS on also _changeagent-ssl._tcp.<domain> (as etcd looks up both
// _etcd-server-ssl and _etcd-server).
std::vector<std::string> srv_names(const std::string& domain, bool tls);

}  // namespace discovery
