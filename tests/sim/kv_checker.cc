#include "tests/sim/kv_checker.h"

#include <iterator>

namespace raftsim {

namespace {
std::string s_(uint64_t v) {
  return std::to_string(v);
}
}  // namespace

std::optional<std::string> KvChecker::on_applied(const std::string& who,
                                                 const state::StateView& view, uint64_t index,
                                                 const SimApplied& a) {
  if (!a.payload.kv) return std::nullopt;
  const state::Command& cmd = a.payload.cmd;
  // state_view.h: a command that does not apply changes nothing; it only
  // leaves its failed-entry marker row.
  if (a.result.outcome != state::Outcome::kApplied && a.rows_written != 1) {
    return who + " applied a failed command at " + s_(index) + " (outcome " +
           s_(static_cast<uint64_t>(a.result.outcome)) + ") that wrote " + s_(a.rows_written) +
           " state rows: a command that does not apply must change nothing";
  }
  bool counter = false;
  for (const auto& op : cmd.ops) counter = counter || is_counter_key(op.key);
  if (counter) return check_cas(who, view, index, a);
  if (a.result.outcome != state::Outcome::kApplied) return std::nullopt;
  for (const auto& op : cmd.ops) {
    if (op.del || op.lease == 0) continue;
    const state::KeyRecord* r = view.get(op.key);
    if (r == nullptr || r->lease != op.lease || r->mod_revision != index) {
      return who + " applied a put of " + op.key + " with lease " + s_(op.lease) + " at " +
             s_(index) + " but its view does not hold it attached";
    }
  }
  if (cmd.lease_revoke != 0) {
    revoked_.insert(cmd.lease_revoke);
    return check_revoked(who, view, cmd.lease_revoke);
  }
  return std::nullopt;
}

std::optional<std::string> KvChecker::check_cas(const std::string& who,
                                                const state::StateView& view, uint64_t index,
                                                const SimApplied& a) {
  const state::Command& cmd = a.payload.cmd;
  if (cmd.compares.size() != 1 || cmd.ops.size() != 1 || cmd.ops[0].del ||
      cmd.ops[0].key != cmd.compares[0].key || cmd.ops[0].lease != 0 ||
      cmd.lease_grant_ttl_seconds || cmd.lease_revoke != 0) {
    return "counter written by something other than a CAS on itself at " + s_(index);
  }
  const std::string& key = cmd.ops[0].key;
  Chain& ch = chains_[key];
  auto it = ch.decided.find(index);
  if (it == ch.decided.end()) {
    // First apply of this index anywhere: every earlier index has been
    // applied somewhere already (applies go in log order, snapshots come
    // from applies), so the model knows every write below it.
    if (!ch.decided.empty() && ch.decided.rbegin()->first > index) {
      return "CAS model gap: " + key + " index " + s_(index) + " first applied after " +
             s_(ch.decided.rbegin()->first);
    }
    uint64_t prev_index = ch.writes.empty() ? 0 : ch.writes.rbegin()->first;
    uint64_t prev_value = ch.writes.empty() ? 0 : ch.writes.rbegin()->second;
    Link l;
    l.applied = cmd.compares[0].mod_revision == prev_index;
    if (l.applied) {
      auto v = parse_counter(cmd.ops[0].value_json);
      if (!v || *v != prev_value + 1) {
        return "CAS chain: " + key + " at " + s_(index) + " compares revision " + s_(prev_index) +
               " (value " + s_(prev_value) + ") but writes '" + cmd.ops[0].value_json +
               "': the read paired a revision with another value";
      }
      l.value = *v;
      ch.writes.emplace(index, l.value);
    }
    it = ch.decided.emplace(index, l).first;
  }
  const Link& l = it->second;
  auto w = ch.writes.lower_bound(index);  // first write at or after index
  uint64_t prev_index = 0, prev_value = 0;
  if (w != ch.writes.begin()) {
    prev_index = std::prev(w)->first;
    prev_value = std::prev(w)->second;
  }
  bool applied = a.result.outcome == state::Outcome::kApplied;
  if (applied != l.applied) {
    return "CAS chain: " + who + " reports " + (applied ? "success" : "failure") + " for " + key +
           " at " + s_(index) + " (compare revision " + s_(cmd.compares[0].mod_revision) +
           ") but the previous successful write is at " + s_(prev_index);
  }
  // The view must now hold exactly the model's record: the value is also
  // the chain length, hence the version.
  const state::KeyRecord* r = view.get(key);
  uint64_t want_rev = l.applied ? index : prev_index;
  uint64_t want_value = l.applied ? l.value : prev_value;
  bool ok = want_rev == 0
                ? r == nullptr
                : r != nullptr && r->mod_revision == want_rev && r->value_json == s_(want_value) &&
                      r->version == want_value && r->create_revision == ch.writes.begin()->first;
  if (!ok) {
    return "CAS chain: after " + key + " at " + s_(index) + " " + who + " holds " +
           (r ? "rev " + s_(r->mod_revision) + " value '" + r->value_json + "' version " +
                    s_(r->version)
              : std::string("nothing")) +
           ", expected rev " + s_(want_rev) + " value " + s_(want_value);
  }
  return std::nullopt;
}

std::optional<std::string> KvChecker::check_revoked(const std::string& who,
                                                    const state::StateView& view,
                                                    uint64_t lease) const {
  if (view.lease(lease) != nullptr) {
    return who + " still holds lease " + s_(lease) + " after its revoke";
  }
  bool more = false;
  auto left = view.range(lease_key_prefix(lease), "", 1, &more);
  if (!left.empty()) {
    return who + " still holds " + left.front().first + " of revoked lease " + s_(lease);
  }
  return std::nullopt;
}

std::optional<std::string> KvChecker::final_check(
    const std::map<std::string, const state::StateView*>& views) {
  const state::StateView* first = nullptr;
  std::string first_name;
  for (const auto& [name, v] : views) {
    if (first && !(*first == *v)) return "views differ between " + first_name + " and " + name;
    first = v;
    first_name = name;
  }
  for (const auto& [key, ch] : chains_) {
    uint64_t links = ch.writes.size();
    if (links < ch.acked || links > ch.acked + ch.unknown) {
      return "counter " + key + ": " + s_(links) + " successful increments, but " + s_(ch.acked) +
             " acknowledged and " + s_(ch.unknown) + " of unknown outcome";
    }
    for (const auto& [name, v] : views) {
      const state::KeyRecord* r = v->get(key);
      uint64_t value = r ? parse_counter(r->value_json).value_or(~0ULL) : 0;
      uint64_t rev = r ? r->mod_revision : 0;
      uint64_t want_rev = links ? ch.writes.rbegin()->first : 0;
      if (value != links || rev != want_rev) {
        return "counter " + key + " on " + name + " is " + s_(value) + " at rev " + s_(rev) +
               ", expected " + s_(links) + " at rev " + s_(want_rev);
      }
    }
  }
  for (uint64_t lease : revoked_) {
    for (const auto& [name, v] : views) {
      if (auto bad = check_revoked(name, *v, lease)) return bad;
    }
  }
  return std::nullopt;
}

uint64_t KvChecker::acked_increments() const {
  uint64_t n = 0;
  for (const auto& [key, ch] : chains_) n += ch.acked;
  return n;
}

uint64_t KvChecker::chain_links() const {
  uint64_t n = 0;
  for (const auto& [key, ch] : chains_) n += ch.writes.size();
  return n;
}

}  // namespace raftsim
