#include "discovery/srv_answer.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace discovery {

std::string normalize_target(const std::string& target) {
  std::string out = target;
  while (!out.empty() && out.back() == '.') out.pop_back();
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

SrvCheck check_srv_records(const std::vector<SrvRecord>& records) {
  SrvCheck out;
  std::set<std::pair<std::string, uint32_t>> seen;
  std::set<std::string> conflicting;
  for (const auto& r : records) {
    std::string name = normalize_target(r.target);
    std::string shown = "'" + r.target + "' port " + std::to_string(r.port);
    if (name.empty()) {
      out.issues.push_back("target '.' (the service is declared unavailable there); left out");
      continue;
    }
    if (!valid_host(name)) {
      out.issues.push_back("target " + shown + " is not a valid host name; left out");
      continue;
    }
    if (r.port == 0 || r.port > 65535) {
      out.issues.push_back("target " + shown + " has no usable port; left out");
      continue;
    }
    if (!seen.emplace(name, r.port).second) {
      out.issues.push_back("target " + shown + " is listed twice; counted once");
      continue;
    }
    auto [it, fresh] = out.targets.emplace(name, r.port);
    if (!fresh) conflicting.insert(name);
  }
  // A target with two ports would be two members of one name: neither is
  // guessed at.
  for (const auto& name : conflicting) {
    out.issues.push_back("target '" + name +
                         "' is listed with several ports; one member per host name, left out");
    out.targets.erase(name);
  }
  return out;
}

std::vector<Peer> srv_peers(const SrvCheck& check,
                            const std::map<std::string, Result<std::string>>& addresses,
                            std::vector<std::string>& issues) {
  std::map<std::string, std::vector<std::string>> names_at;  // ip:port -> names
  std::vector<Peer> peers;
  for (const auto& [name, port] : check.targets) {
    auto it = addresses.find(name);
    if (it == addresses.end() || !it->second.is_ok()) {
      issues.push_back(
          "target '" + name + "' does not resolve (" +
          (it == addresses.end() ? std::string("not looked up") : it->second.status().message()) +
          "); left out");
      continue;
    }
    std::string address = *it->second + ":" + std::to_string(port);
    names_at[address].push_back(name);
    peers.push_back(Peer{name, address});
  }
  std::erase_if(peers, [&](const Peer& p) {
    const auto& names = names_at[p.address];
    if (names.size() < 2) return false;
    issues.push_back("targets '" + names.front() + "' and '" + names.back() + "' both resolve to " +
                     p.address + "; '" + p.name + "' left out");
    return true;
  });
  return peers;  // sorted: the map iterates names in order
}

std::vector<std::string> srv_names(const std::string& domain, bool tls) {
  std::string d = normalize_target(domain);
  std::vector<std::string> out{"_changeagent._tcp." + d};
  if (tls) out.insert(out.begin(), "_changeagent-ssl._tcp." + d);
  return out;
}

}  // namespace discovery
