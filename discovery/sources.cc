#include "discovery/sources.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "discovery/peer_list.h"

namespace discovery {

namespace {

// A discovery file larger than this is not a peer list.
constexpr std::streamsize kFileBytesMax = 1 << 20;

}  // namespace

Lookup FileSource::poll() {
  Lookup out;
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    out.status = Status(errno == ENOENT ? Code::kNotFound : Code::kIoError,
                        "cannot read " + path_ + ": " + std::strerror(errno));
    return out;
  }
  std::string text(static_cast<size_t>(kFileBytesMax) + 1, '\0');
  in.read(text.data(), kFileBytesMax + 1);
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) {
    out.status = Status(Code::kIoError, "cannot read " + path_ + ": " + std::strerror(errno));
    return out;
  }
  if (text.size() > static_cast<size_t>(kFileBytesMax)) {
    out.status = Status(Code::kTooLarge, path_ + " is over 1 MiB; it is not a peer list");
    return out;
  }
  auto peers = parse_peer_file(text);
  if (!peers.is_ok()) {
    out.status = Status(peers.status().code(), path_ + " " + peers.status().message());
    return out;
  }
  out.peers = std::move(*peers);
  return out;
}

Result<std::unique_ptr<SrvSource>> SrvSource::create(std::string domain, bool tls, DnsOptions dns) {
  std::string d = normalize_target(domain);
  if (!valid_host(d)) {
    return Status(Code::kInvalidArgument,
                  "--discovery-srv '" + domain + "' is not a domain name (e.g. example.com)");
  }
  auto resolver = DnsResolver::create(std::move(dns));
  if (!resolver.is_ok()) return resolver.status();
  return std::unique_ptr<SrvSource>(new SrvSource(d, tls, std::move(*resolver)));
}

std::string SrvSource::describe() const {
  std::string names;
  for (const auto& n : srv_names(domain_, tls_)) names += (names.empty() ? "" : " and ") + n;
  return "DNS SRV " + names + " via " + resolver_->server_label();
}

Lookup SrvSource::poll() {
  Lookup out;
  std::vector<SrvRecord> records;
  std::set<std::pair<std::string, uint32_t>> from_earlier_names;
  std::vector<Status> failures;
  for (const auto& name : srv_names(domain_, tls_)) {
    auto r = resolver_->srv(name);
    if (!r.is_ok()) {
      failures.push_back(r.status());
      continue;
    }
    std::set<std::pair<std::string, uint32_t>> here;
    for (auto& rec : *r) {
      // With TLS both names may list the same peer: that is no repeat.
      auto key = std::pair{normalize_target(rec.target), rec.port};
      if (from_earlier_names.count(key)) continue;
      here.insert(key);
      records.push_back(std::move(rec));
    }
    from_earlier_names.insert(here.begin(), here.end());
  }
  if (failures.size() == srv_names(domain_, tls_).size()) {
    // Every name failed: report the first (the others say the same kind).
    out.status = failures.front();
    for (size_t i = 1; i < failures.size(); i++) {
      out.status = Status(out.status.code(), out.status.message() + "; " + failures[i].message());
    }
    return out;
  }
  SrvCheck check = check_srv_records(records);
  out.issues = check.issues;
  std::map<std::string, Result<std::string>> addresses;
  for (const auto& [target, port] : check.targets) {
    addresses.emplace(target, resolver_->address_of(target));
  }
  out.peers = srv_peers(check, addresses, out.issues);
  return out;
}

}  // namespace discovery
