#include "tests/sim/state_machine.h"

#include <cstring>
#include <utility>

#include "common/assert.h"

namespace raftsim {

std::string payload_for(uint64_t client_id) {
  return encode_plain(client_id);
}

uint64_t client_id_of(const Entry& e) {
  if (e.type != raftlog::EntryType::kNormal) return 0;
  auto p = decode_payload(e.data);
  return p ? p->client_id : 0;
}

uint64_t SimStateMachine::id_at(Index i) const {
  CA_ASSERT(i.value() >= 1);
  CA_ASSERT(i <= applied_);
  return ids_[i.value() - 1];
}

namespace {
// splitmix64 finaliser: cheap and mixes every bit.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// FNV-1a, then mixed: for the bytes of the rows an apply wrote.
uint64_t hash_bytes(uint64_t h, const std::string& s) {
  uint64_t x = 0xcbf29ce484222325ULL;
  for (char c : s) x = (x ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
  return mix(h ^ x ^ s.size());
}
}  // namespace

SimApplied SimStateMachine::apply(const Entry& e, bool skip_cas) {
  CA_ASSERT(e.index == applied_ + 1);
  SimApplied out;
  if (e.type == raftlog::EntryType::kNormal && !e.data.empty()) {
    auto p = decode_payload(e.data);
    if (p) {
      out.client = true;
      out.payload = std::move(*p);
    } else {
      out.malformed = true;
    }
  }
  uint64_t id = out.payload.client_id;
  hash_ = mix(hash_ ^ mix(e.index.value() * 31 + e.term.value()) ^ mix(id + 7));
  if (out.client) {
    std::vector<state::Row> rows;
    bool skip = skip_cas && !out.payload.cmd.compares.empty();
    out.result = view_.apply(e.index.value(), skip ? state::Command{} : out.payload.cmd, &rows);
    out.rows_written = rows.size();
    hash_ = mix(hash_ ^ (static_cast<uint64_t>(out.result.outcome) + 1));
    for (const auto& row : rows) {
      hash_ = hash_bytes(hash_, row.key);
      hash_ = row.value ? hash_bytes(hash_, *row.value) : mix(hash_ ^ 0xdead);
    }
  }
  ids_.push_back(id);
  applied_ = e.index;
  applied_term_ = e.term;
  CA_ASSERT(ids_.size() == applied_.value());
  return out;
}

// Layout (u64 little-endian as in memory; the simulator never crosses
// machines): applied, applied_term, hash, view last index, id count, one id
// per index, row count, then per row: key length, key, value length, value.
std::string SimStateMachine::encode() const {
  std::string out;
  auto put = [&out](uint64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(applied_.value());
  put(applied_term_.value());
  put(hash_);
  put(view_.last_index());
  put(ids_.size());
  for (uint64_t id : ids_) put(id);
  std::vector<state::Row> rows = view_.all_rows();
  put(rows.size());
  for (const auto& row : rows) {
    CA_ASSERT(row.value.has_value());  // all_rows lists what exists
    put(row.key.size());
    out += row.key;
    put(row.value->size());
    out += *row.value;
  }
  return out;
}

namespace {
// Sequential reader over a snapshot; any overrun clears ok.
struct Words {
  const std::string& data;
  size_t pos = 0;
  bool ok = true;
  uint64_t u64() {
    if (data.size() - pos < sizeof(uint64_t)) {
      ok = false;
      return 0;
    }
    uint64_t v;
    std::memcpy(&v, data.data() + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  std::string bytes() {
    uint64_t n = u64();
    if (!ok || n > data.size() - pos) {
      ok = false;
      return {};
    }
    std::string s = data.substr(pos, n);
    pos += n;
    return s;
  }
};
}  // namespace

raftlog::Result<SimStateMachine> SimStateMachine::decode(const std::string& data) {
  auto corrupt = [](const char* why) {
    return raftlog::Status(raftlog::Code::kCorruption, std::string("sim snapshot: ") + why);
  };
  Words w{data};
  SimStateMachine sm;
  sm.applied_ = Index(w.u64());
  sm.applied_term_ = Term(w.u64());
  sm.hash_ = w.u64();
  uint64_t view_last = w.u64();
  uint64_t n = w.u64();
  if (!w.ok) return corrupt("short header");
  if (n != sm.applied_.value()) return corrupt("id count != applied");
  if (n > (data.size() - w.pos) / sizeof(uint64_t)) return corrupt("ids overrun");
  sm.ids_.reserve(n);
  for (uint64_t i = 0; i < n; i++) sm.ids_.push_back(w.u64());
  uint64_t rows = w.u64();
  for (uint64_t i = 0; i < rows && w.ok; i++) {
    std::string key = w.bytes();
    std::string value = w.bytes();
    if (!w.ok) break;
    if (auto s = sm.view_.load_row(key, value); !s.is_ok()) return s;
  }
  if (!w.ok || w.pos != data.size()) return corrupt("bad view rows");
  if (view_last > sm.applied_.value()) return corrupt("view ahead of applied");
  sm.view_.set_last_index(view_last);
  return sm;
}

}  // namespace raftsim
