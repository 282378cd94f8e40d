// The payload encoding of simulator log entries. Every kNormal entry the
// simulator proposes is one of two kinds, told apart by its first byte:
//
//   'p' <client id, decimal ASCII>      a plain payload; it applies to the
//                                       StateView as a Command with no ops
//   'k' <client id> <command>           a state::Command (binary, below)
//
//   command  := compares ops grant revoke
//   compares := n { key mod_revision }*n
//   ops      := n { flags key value lease }*n     flags: u8, bit 0 = delete
//   grant    := u8 (0 = none, 1 = grant) [ttl_seconds]
//   revoke   := lease id (0 = none)
//   n, client id, mod_revision, lease, ttl_seconds := unsigned LEB128 varint
//   key, value := varint length, then the bytes
//
// Client ids are unique per run and never 0, so an entry's client id names
// the request that produced it (the checker's "acknowledged write" key).
// The simulator never crosses machines, but the format is byte-exact anyway
// so snapshots and traces stay independent of struct layout.
//
// Key conventions of the KV workload (the checker relies on them):
//   "c/<n>"         CAS counters: only written by a compare-and-set on the
//                   key itself with value = previous value + 1;
//   "l/<lease>/<n>" keys attached to lease <lease>, and only to it;
//   "o/<n>"         plain puts and deletes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "state/state_view.h"

namespace raftsim {

// A decoded sim entry payload. client_id == 0: not a client entry (no-ops,
// membership, empty data).
struct Payload {
  uint64_t client_id = 0;
  bool kv = false;     // true: `cmd` came from a 'k' payload
  state::Command cmd;  // empty for plain payloads
};

std::string encode_plain(uint64_t client_id);
std::string encode_kv(uint64_t client_id, const state::Command& cmd);
// nullopt when the data is neither a plain nor a well-formed KV payload.
std::optional<Payload> decode_payload(const std::string& data);

// Key naming of the KV workload.
std::string counter_key(uint64_t n);
bool is_counter_key(const std::string& key);
std::string lease_key_prefix(uint64_t lease);  // "l/<lease>/"
std::string lease_key(uint64_t lease, uint64_t n);
std::string plain_key(uint64_t n);

// A counter value as stored ("17"); nullopt when it is not a decimal number.
std::optional<uint64_t> parse_counter(const std::string& value_json);
// The CAS increment of a counter read at (mod_revision, value): compare the
// revision read (0 = absent), put value + 1.
state::Command counter_increment(const std::string& key, uint64_t mod_revision, uint64_t value);

}  // namespace raftsim
