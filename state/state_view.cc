#include "state/state_view.h"

#include <limits>

#include "common/assert.h"
#include "common/varint.h"

namespace state {

using common::Code;
using common::Status;

namespace {

using common::get_varint;
using common::put_varint;

std::string be64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; i--) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

bool parse_be64(const std::string& s, size_t pos, uint64_t& v) {
  if (s.size() != pos + 8) return false;
  v = 0;
  for (size_t i = pos; i < pos + 8; i++) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return true;
}

// KeyRecord encoding: "K1" create mod version lease (varints) then the value.
std::string encode_record(const KeyRecord& r) {
  std::string out = "K1";
  put_varint(out, r.create_revision);
  put_varint(out, r.mod_revision);
  put_varint(out, r.version);
  put_varint(out, r.lease);
  out += r.value_json;
  return out;
}

bool decode_record(const std::string& s, KeyRecord& r) {
  if (s.size() < 2 || s[0] != 'K' || s[1] != '1') return false;
  size_t pos = 2;
  if (!get_varint(s, pos, r.create_revision) || !get_varint(s, pos, r.mod_revision) ||
      !get_varint(s, pos, r.version) || !get_varint(s, pos, r.lease)) {
    return false;
  }
  r.value_json = s.substr(pos);
  return true;
}

// RequestRecord encoding: "R1" first count ts hash (varints).
std::string encode_request(const RequestRecord& r) {
  std::string out = "R1";
  put_varint(out, r.first_index);
  put_varint(out, r.count);
  put_varint(out, r.ts_ns);
  put_varint(out, r.hash);
  return out;
}

bool decode_request(const std::string& s, RequestRecord& r) {
  if (s.size() < 2 || s[0] != 'R' || s[1] != '1') return false;
  size_t pos = 2;
  uint64_t count = 0;
  if (!get_varint(s, pos, r.first_index) || !get_varint(s, pos, count) ||
      !get_varint(s, pos, r.ts_ns) || !get_varint(s, pos, r.hash) || pos != s.size() ||
      count == 0 || count > std::numeric_limits<uint32_t>::max()) {
    return false;
  }
  r.count = static_cast<uint32_t>(count);
  return true;
}

}  // namespace

std::string request_row(const std::string& id) {
  return "r/" + id;
}

std::string key_row(const std::string& key) {
  return "k/" + key;
}
std::string lease_row(uint64_t id) {
  return "l/" + be64(id);
}
std::string failed_row(uint64_t index) {
  return "f/" + be64(index);
}

ApplyResult StateView::apply(uint64_t index, const Command& cmd, std::vector<Row>* rows) {
  CA_ASSERT(index > last_index_);
  CA_ASSERT(rows != nullptr);
  last_index_ = index;
  ApplyResult res;
  auto fail = [&](Outcome o) {
    res.outcome = o;
    failed_.insert(index);
    rows->push_back(Row{failed_row(index), std::string()});
    return res;
  };
  if (cmd.ts_ns != 0) prune_requests(cmd.ts_ns, rows);
  // A request id seen before decides first: a duplicate must not run its
  // compares or writes a second time.
  if (cmd.request) {
    if (auto o = decide_request(index, cmd, res, rows)) return fail(*o);
  }
  // Every check first, then every mutation: a command that fails changes
  // nothing at all (not even its lease part).
  if (cmd.lease_revoke != 0 && leases_.count(cmd.lease_revoke) == 0) {
    return fail(Outcome::kUnknownLease);
  }
  if (!check(cmd.compares, &res.current)) return fail(Outcome::kCompareFailed);
  for (const auto& op : cmd.ops) {
    bool granted_here = cmd.lease_grant_ttl_seconds && op.lease == index;
    if (!op.del && op.lease != 0 && leases_.count(op.lease) == 0 && !granted_here) {
      return fail(Outcome::kUnknownLease);
    }
  }
  if (cmd.lease_grant_ttl_seconds) {
    leases_[index] = LeaseRecord{*cmd.lease_grant_ttl_seconds, {}};
    std::string v;
    put_varint(v, *cmd.lease_grant_ttl_seconds);
    rows->push_back(Row{lease_row(index), v});
  }
  if (cmd.lease_revoke != 0) {
    std::set<std::string> keys = leases_[cmd.lease_revoke].keys;
    for (const auto& k : keys) {
      erase(k, rows);
      res.revoked_keys.push_back(k);
    }
    leases_.erase(cmd.lease_revoke);
    rows->push_back(Row{lease_row(cmd.lease_revoke), std::nullopt});
  }
  for (const auto& op : cmd.ops) {
    if (op.del) {
      erase(op.key, rows);
    } else {
      put(index, op, rows);
    }
  }
  return res;
}

std::optional<Outcome> StateView::decide_request(uint64_t index, const Command& cmd,
                                                 ApplyResult& res, std::vector<Row>* rows) {
  const RequestTag& tag = *cmd.request;
  if (const RequestRecord* seen = request(tag.id, cmd.ts_ns)) {
    bool same_batch = seen->first_index + tag.seq == index;
    if (!same_batch) {
      res.original = *seen;
      return seen->hash == tag.hash ? Outcome::kDuplicate : Outcome::kRequestIdReused;
    }
    return std::nullopt;  // a later entry of the batch that recorded the id
  }
  // New (or expired): recorded at the batch's first index. A batch's later
  // entries carry the same stamp, so they find this record above.
  RequestRecord rec{index - tag.seq, tag.count, cmd.ts_ns, tag.hash};
  if (auto old = requests_.find(tag.id); old != requests_.end()) {
    requests_by_index_.erase(old->second.first_index);  // expired: replaced
  }
  requests_[tag.id] = rec;
  requests_by_index_[rec.first_index] = tag.id;
  rows->push_back(Row{request_row(tag.id), encode_request(rec)});
  return std::nullopt;
}

void StateView::prune_requests(uint64_t ts_ns, std::vector<Row>* rows) {
  // Ids are recorded in index order and stamps never decrease with the
  // index, so the oldest stamps are at the front.
  while (!requests_by_index_.empty()) {
    auto it = requests_by_index_.begin();
    auto rec = requests_.find(it->second);
    if (rec == requests_.end()) {
      requests_by_index_.erase(it);
      continue;
    }
    if (rec->second.ts_ns + request_window_ns_ >= ts_ns) break;
    rows->push_back(Row{request_row(it->second), std::nullopt});
    requests_.erase(rec);
    requests_by_index_.erase(it);
  }
}

const RequestRecord* StateView::request(const std::string& id, uint64_t ts_ns) const {
  auto it = requests_.find(id);
  if (it == requests_.end()) return nullptr;
  if (it->second.ts_ns + request_window_ns_ < ts_ns) return nullptr;
  return &it->second;
}

bool StateView::check(const std::vector<Compare>& compares, std::vector<Compare>* current) const {
  bool ok = true;
  for (const auto& c : compares) {
    const KeyRecord* r = get(c.key);
    if ((r ? r->mod_revision : 0) != c.mod_revision) ok = false;
  }
  if (!ok && current != nullptr) {
    current->clear();
    for (const auto& c : compares) {
      const KeyRecord* r = get(c.key);
      current->push_back(Compare{c.key, r ? r->mod_revision : 0});
    }
  }
  return ok;
}

void StateView::put(uint64_t index, const Op& op, std::vector<Row>* rows) {
  auto [it, created] = keys_.try_emplace(op.key);
  KeyRecord& r = it->second;
  if (created) {
    r.create_revision = index;
    r.version = 1;
  } else {
    r.version++;
  }
  if (r.lease != op.lease) {
    if (r.lease != 0) leases_[r.lease].keys.erase(op.key);
    if (op.lease != 0) leases_[op.lease].keys.insert(op.key);
    r.lease = op.lease;
  }
  r.mod_revision = index;
  r.value_json = op.value_json;
  rows->push_back(Row{key_row(op.key), encode_record(r)});
  update_request_window(op.key);
}

std::optional<uint64_t> request_window_ns_of(const std::string& value_json) {
  size_t b = value_json.find_first_not_of(" \t\r\n");
  size_t e = value_json.find_last_not_of(" \t\r\n");
  if (b == std::string::npos || e - b + 1 > 12) return std::nullopt;
  uint64_t seconds = 0;
  for (size_t i = b; i <= e; i++) {
    char c = value_json[i];
    if (c < '0' || c > '9') return std::nullopt;
    seconds = seconds * 10 + static_cast<uint64_t>(c - '0');
  }
  if (seconds < 1 || seconds > kRequestIdWindowSecondsMax) return std::nullopt;
  return seconds * 1000 * 1000 * 1000;
}

void StateView::update_request_window(const std::string& key) {
  if (key != kRequestIdWindowKey) return;
  const KeyRecord* r = get(key);
  std::optional<uint64_t> ns = r ? request_window_ns_of(r->value_json) : std::nullopt;
  request_window_ns_ = ns.value_or(default_window_ns_);
}

void StateView::erase(const std::string& key, std::vector<Row>* rows) {
  auto it = keys_.find(key);
  if (it == keys_.end()) return;
  if (key == kRequestIdWindowKey) request_window_ns_ = default_window_ns_;
  if (it->second.lease != 0) {
    auto l = leases_.find(it->second.lease);
    if (l != leases_.end()) l->second.keys.erase(key);
  }
  keys_.erase(it);
  rows->push_back(Row{key_row(key), std::nullopt});
}

const KeyRecord* StateView::get(const std::string& key) const {
  auto it = keys_.find(key);
  return it == keys_.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::string, KeyRecord>> StateView::range(const std::string& prefix,
                                                                const std::string& after,
                                                                size_t limit, bool* more) const {
  std::vector<std::pair<std::string, KeyRecord>> out;
  auto it = after.empty() || after < prefix ? keys_.lower_bound(prefix) : keys_.upper_bound(after);
  if (more) *more = false;
  for (; it != keys_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (out.size() >= limit) {
      if (more) *more = true;
      break;
    }
    out.emplace_back(it->first, it->second);
  }
  return out;
}

const LeaseRecord* StateView::lease(uint64_t id) const {
  auto it = leases_.find(id);
  return it == leases_.end() ? nullptr : &it->second;
}

Status StateView::load_row(const std::string& key, const std::string& value) {
  auto bad = [&](const char* why) {
    return Status(Code::kCorruption, std::string("state row: ") + why);
  };
  if (key.rfind("k/", 0) == 0) {
    KeyRecord r;
    if (!decode_record(value, r)) return bad("key record does not decode");
    std::string k = key.substr(2);
    if (r.lease != 0) leases_[r.lease].keys.insert(k);
    keys_[k] = std::move(r);
    update_request_window(k);
    return Status::ok();
  }
  if (key.rfind("l/", 0) == 0) {
    uint64_t id = 0, ttl = 0;
    size_t pos = 0;
    if (!parse_be64(key, 2, id) || !get_varint(value, pos, ttl)) return bad("lease row");
    leases_[id].ttl_seconds = ttl;
    return Status::ok();
  }
  if (key.rfind("f/", 0) == 0) {
    uint64_t idx = 0;
    if (!parse_be64(key, 2, idx)) return bad("failed-entry row");
    failed_.insert(idx);
    return Status::ok();
  }
  if (key.rfind("r/", 0) == 0) {
    RequestRecord r;
    if (!decode_request(value, r)) return bad("request id row");
    std::string id = key.substr(2);
    requests_by_index_[r.first_index] = id;
    requests_[id] = r;
    return Status::ok();
  }
  return bad("unknown row kind");
}

std::vector<Row> StateView::all_rows() const {
  std::vector<Row> rows;
  for (const auto& [k, r] : keys_) rows.push_back(Row{key_row(k), encode_record(r)});
  for (const auto& [id, l] : leases_) {
    std::string v;
    put_varint(v, l.ttl_seconds);
    rows.push_back(Row{lease_row(id), v});
  }
  for (uint64_t idx : failed_) rows.push_back(Row{failed_row(idx), std::string()});
  for (const auto& [id, r] : requests_) rows.push_back(Row{request_row(id), encode_request(r)});
  return rows;
}

}  // namespace state
