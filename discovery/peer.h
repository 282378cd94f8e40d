// Where a cluster's peers are, as discovery sees them: a name and the
// host:port the others dial. Shared by the sources (static list, watched
// file, DNS SRV), bootstrap and the proposals. No IO here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace discovery {

using common::Code;
using common::Result;
using common::Status;

struct Peer {
  // Unique in the cluster; the node id is derived from it, so every node
  // must see the same name for the same peer.
  std::string name;
  std::string address;  // host:port (IPv6 as [addr]:port)
  bool operator==(const Peer&) const = default;
};

// "http://host:port/", "https://host:port", "host:port", "[v6]:port" ->
// "host:port". The port must be 1..65535; the host a DNS name or an IP
// literal. kInvalidArgument with a message that quotes `text`.
Result<std::string> parse_peer_address(std::string_view text);

// RFC 1123 host name (letters, digits, '-', dots between labels of 1..63,
// at most 253 in all) or an IPv4/bracketed IPv6 literal.
bool valid_host(std::string_view host);

// Sorted by name; kInvalidArgument if a name or an address appears twice
// (the message names both).
Result<std::vector<Peer>> sorted_unique(std::vector<Peer> peers, std::string_view where);

// "n1=127.0.0.1:2380,n2=..." sorted by name, for logs and messages.
std::string describe(const std::vector<Peer>& peers);

}  // namespace discovery
