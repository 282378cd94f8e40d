#include "tests/sim/kv_command.h"

#include "common/assert.h"

namespace raftsim {

namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_bytes(std::string& out, const std::string& s) {
  put_varint(out, s.size());
  out += s;
}

// Reads the payload front to back; any overrun or bad length sets !ok.
struct Reader {
  const std::string& in;
  size_t pos = 0;
  bool ok = true;

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && ok; shift += 7) {
      if (pos >= in.size()) break;
      auto byte = static_cast<uint8_t>(in[pos++]);
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    ok = false;
    return 0;
  }
  uint8_t byte() {
    if (pos >= in.size()) {
      ok = false;
      return 0;
    }
    return static_cast<uint8_t>(in[pos++]);
  }
  std::string bytes() {
    uint64_t n = varint();
    if (!ok || n > in.size() - pos) {
      ok = false;
      return {};
    }
    std::string s = in.substr(pos, n);
    pos += n;
    return s;
  }
};

// Entry sizes are bounded by raftlog; this only stops a corrupt count from
// allocating without bound before the reader notices the overrun.
constexpr uint64_t kItemsMax = 1024;

}  // namespace

std::string encode_plain(uint64_t client_id) {
  CA_ASSERT(client_id != 0);
  return "p" + std::to_string(client_id);
}

std::string encode_kv(uint64_t client_id, const state::Command& cmd) {
  CA_ASSERT(client_id != 0);
  std::string out = "k";
  put_varint(out, client_id);
  put_varint(out, cmd.compares.size());
  for (const auto& c : cmd.compares) {
    put_bytes(out, c.key);
    put_varint(out, c.mod_revision);
  }
  put_varint(out, cmd.ops.size());
  for (const auto& op : cmd.ops) {
    out.push_back(static_cast<char>(op.del ? 1 : 0));
    put_bytes(out, op.key);
    put_bytes(out, op.value_json);
    put_varint(out, op.lease);
  }
  out.push_back(static_cast<char>(cmd.lease_grant_ttl_seconds ? 1 : 0));
  if (cmd.lease_grant_ttl_seconds) put_varint(out, *cmd.lease_grant_ttl_seconds);
  put_varint(out, cmd.lease_revoke);
  return out;
}

namespace {

std::optional<Payload> decode_plain(const std::string& data) {
  if (data.size() < 2) return std::nullopt;
  uint64_t id = 0;
  for (size_t i = 1; i < data.size(); i++) {
    char c = data[i];
    if (c < '0' || c > '9') return std::nullopt;
    id = id * 10 + static_cast<uint64_t>(c - '0');
  }
  if (id == 0) return std::nullopt;
  Payload p;
  p.client_id = id;
  return p;
}

std::optional<Payload> decode_kv(const std::string& data) {
  Reader r{data, 1};
  Payload p;
  p.kv = true;
  p.client_id = r.varint();
  uint64_t n = r.varint();
  if (n > kItemsMax) return std::nullopt;
  for (uint64_t i = 0; i < n && r.ok; i++) {
    state::Compare c;
    c.key = r.bytes();
    c.mod_revision = r.varint();
    p.cmd.compares.push_back(std::move(c));
  }
  n = r.varint();
  if (n > kItemsMax) return std::nullopt;
  for (uint64_t i = 0; i < n && r.ok; i++) {
    state::Op op;
    uint8_t flags = r.byte();
    if (flags > 1) return std::nullopt;
    op.del = flags == 1;
    op.key = r.bytes();
    op.value_json = r.bytes();
    op.lease = r.varint();
    p.cmd.ops.push_back(std::move(op));
  }
  uint8_t grant = r.byte();
  if (grant > 1) return std::nullopt;
  if (grant == 1) p.cmd.lease_grant_ttl_seconds = r.varint();
  p.cmd.lease_revoke = r.varint();
  if (!r.ok || r.pos != data.size() || p.client_id == 0) return std::nullopt;
  return p;
}

}  // namespace

std::optional<Payload> decode_payload(const std::string& data) {
  if (data.empty()) return std::nullopt;
  if (data[0] == 'p') return decode_plain(data);
  if (data[0] == 'k') return decode_kv(data);
  return std::nullopt;
}

std::string counter_key(uint64_t n) {
  return "c/" + std::to_string(n);
}

bool is_counter_key(const std::string& key) {
  return key.rfind("c/", 0) == 0;
}

std::string lease_key_prefix(uint64_t lease) {
  return "l/" + std::to_string(lease) + "/";
}

std::string lease_key(uint64_t lease, uint64_t n) {
  return lease_key_prefix(lease) + std::to_string(n);
}

std::string plain_key(uint64_t n) {
  return "o/" + std::to_string(n);
}

std::optional<uint64_t> parse_counter(const std::string& value_json) {
  if (value_json.empty() || value_json.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : value_json) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

state::Command counter_increment(const std::string& key, uint64_t mod_revision, uint64_t value) {
  CA_ASSERT(is_counter_key(key));
  state::Command cmd;
  cmd.compares.push_back(state::Compare{key, mod_revision});
  cmd.ops.push_back(state::Op{key, false, std::to_string(value + 1), 0});
  return cmd;
}

}  // namespace raftsim
