#include "discovery/proposals.h"

#include <map>
#include <set>

namespace discovery {

namespace {

std::string changectl(const CommandTarget& t, const std::string& rest) {
  std::string cmd = "changectl --endpoints " + t.endpoint;
  if (!t.cluster_id_hex.empty()) cmd += " --cluster-id " + t.cluster_id_hex;
  return cmd + " cluster " + rest;
}

std::string member_ref(const Member& m) {
  return m.name.empty() ? std::to_string(m.id) : m.name;
}

}  // namespace

std::string_view action_name(Proposal::Action a) {
  switch (a) {
    case Proposal::Action::kAdd:
      return "add";
    case Proposal::Action::kUpdate:
      return "update";
    case Proposal::Action::kRemove:
      return "remove";
  }
  return "?";
}

std::vector<Proposal> propose(const std::vector<Peer>& discovered, bool complete,
                              const std::vector<Member>& members, const CommandTarget& target) {
  std::vector<Proposal> adds, updates, removes;
  std::map<std::string, const Member*> by_name, by_address;
  for (const auto& m : members) {
    if (!m.name.empty()) by_name[m.name] = &m;
    by_address[m.address] = &m;
  }
  std::set<uint64_t> matched;
  for (const auto& p : discovered) {
    const Member* m = nullptr;
    if (auto it = by_name.find(p.name); it != by_name.end()) {
      m = it->second;
    } else if (auto at = by_address.find(p.address);
               at != by_address.end() && at->second->name.empty()) {
      m = at->second;
    }
    if (m != nullptr) {
      matched.insert(m->id);
      if (m->address != p.address) {
        updates.push_back({Proposal::Action::kUpdate, p.name, m->id, p.address,
                           "member " + member_ref(*m) + " is at " + m->address +
                               " but discovery lists it at " + p.address,
                           changectl(target, "update " + member_ref(*m) + " " + p.address)});
      }
      continue;
    }
    std::string reason = "discovered " + p.name + " at " + p.address + " is not a member";
    if (auto at = by_address.find(p.address); at != by_address.end()) {
      reason += " (member " + member_ref(*at->second) +
                " has that address: remove it first, or correct the discovery source)";
    }
    adds.push_back({Proposal::Action::kAdd, p.name, 0, p.address, reason,
                    changectl(target, "add " + p.name + " " + p.address)});
  }
  if (complete && !discovered.empty()) {
    for (const auto& m : members) {
      if (matched.count(m.id)) continue;
      removes.push_back({Proposal::Action::kRemove, m.name, m.id, m.address,
                         "member " + member_ref(m) + " (" + m.address + ") is no longer discovered",
                         changectl(target, "remove " + member_ref(m))});
    }
  }
  std::vector<Proposal> out = std::move(adds);
  out.insert(out.end(), updates.begin(), updates.end());
  out.insert(out.end(), removes.begin(), removes.end());
  return out;
}

}  // namespace discovery
