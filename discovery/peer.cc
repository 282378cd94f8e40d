#include "discovery/peer.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

namespace discovery {

namespace {

bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool valid_ipv6_literal(std::string_view inner) {
  return !inner.empty() && inner.find(':') != std::string_view::npos &&
         std::all_of(inner.begin(), inner.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
         });
}

}  // namespace

bool valid_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return valid_ipv6_literal(host.substr(1, host.size() - 2));
  }
  if (host.empty() || host.size() > 253) return false;
  size_t start = 0;
  for (;;) {
    size_t dot = host.find('.', start);
    if (!valid_label(host.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

Result<std::string> parse_peer_address(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status(Code::kInvalidArgument, "peer URL '" + std::string(text) + "' " + why);
  };
  std::string_view s = text;
  if (s.starts_with("http://")) {
    s.remove_prefix(7);
  } else if (s.starts_with("https://")) {
    s.remove_prefix(8);
  } else if (s.find("://") != std::string_view::npos) {
    return bad("has a scheme other than http:// or https://");
  }
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  if (s.find('/') != std::string_view::npos) return bad("has a path; give host:port");
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return bad("has no port; give host:port");
  std::string_view host = s.substr(0, colon);
  std::string_view port_text = s.substr(colon + 1);
  if (!valid_host(host)) return bad("has no valid host name or IP address");
  uint32_t port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port == 0 || port > 65535) {
    return bad("has no port in 1..65535");
  }
  return std::string(host) + ":" + std::to_string(port);
}

Result<std::vector<Peer>> sorted_unique(std::vector<Peer> peers, std::string_view where) {
  std::sort(peers.begin(), peers.end(),
            [](const Peer& a, const Peer& b) { return a.name < b.name; });
  std::map<std::string, std::string> by_address;
  for (size_t i = 0; i < peers.size(); i++) {
    if (i > 0 && peers[i].name == peers[i - 1].name) {
      return Status(Code::kInvalidArgument, std::string(where) + " names '" + peers[i].name +
                                                "' twice (" + peers[i - 1].address + " and " +
                                                peers[i].address + ")");
    }
    auto [it, fresh] = by_address.emplace(peers[i].address, peers[i].name);
    if (!fresh) {
      return Status(Code::kInvalidArgument, std::string(where) + " gives " + peers[i].address +
                                                " to both '" + it->second + "' and '" +
                                                peers[i].name + "'");
    }
  }
  return peers;
}

std::string describe(const std::vector<Peer>& peers) {
  std::string out;
  for (const auto& p : peers) out += (out.empty() ? "" : ",") + p.name + "=" + p.address;
  return out.empty() ? "(none)" : out;
}

}  // namespace discovery
