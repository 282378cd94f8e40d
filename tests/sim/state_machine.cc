#include "tests/sim/state_machine.h"

#include <cstring>

#include "common/assert.h"

namespace raftsim {

std::string payload_for(uint64_t client_id) {
  CA_ASSERT(client_id != 0);
  return "p" + std::to_string(client_id);
}

uint64_t client_id_of(const Entry& e) {
  if (e.type != raftlog::EntryType::kNormal || e.data.size() < 2 || e.data[0] != 'p') return 0;
  uint64_t id = 0;
  for (size_t i = 1; i < e.data.size(); i++) {
    char c = e.data[i];
    if (c < '0' || c > '9') return 0;
    id = id * 10 + static_cast<uint64_t>(c - '0');
  }
  return id;
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
}  // namespace

void SimStateMachine::apply(const Entry& e) {
  CA_ASSERT(e.index == applied_ + 1);
  uint64_t id = client_id_of(e);
  hash_ = mix(hash_ ^ mix(e.index.value() * 31 + e.term.value()) ^ mix(id + 7));
  ids_.push_back(id);
  applied_ = e.index;
  applied_term_ = e.term;
  CA_ASSERT(ids_.size() == applied_.value());
}

// Layout: applied, applied_term, hash, then one id per index; all u64
// little-endian as in memory (the simulator never crosses machines).
std::string SimStateMachine::encode() const {
  std::string out;
  auto put = [&out](uint64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(applied_.value());
  put(applied_term_.value());
  put(hash_);
  for (uint64_t id : ids_) put(id);
  return out;
}

raftlog::Result<SimStateMachine> SimStateMachine::decode(const std::string& data) {
  constexpr size_t kWord = sizeof(uint64_t);
  if (data.size() < 3 * kWord || data.size() % kWord != 0) {
    return raftlog::Status(raftlog::Code::kCorruption, "sim snapshot: bad size");
  }
  auto get = [&data](size_t word) {
    uint64_t v;
    std::memcpy(&v, data.data() + word * kWord, kWord);
    return v;
  };
  SimStateMachine sm;
  sm.applied_ = Index(get(0));
  sm.applied_term_ = Term(get(1));
  sm.hash_ = get(2);
  size_t n = data.size() / kWord - 3;
  if (n != sm.applied_.value()) {
    return raftlog::Status(raftlog::Code::kCorruption, "sim snapshot: id count != applied");
  }
  sm.ids_.reserve(n);
  for (size_t i = 0; i < n; i++) sm.ids_.push_back(get(3 + i));
  return sm;
}

}  // namespace raftsim
