// libFuzzer target: the decoders of what a node reads back from RocksDB
// (proto/codec.h): log entries, hard state, membership, snapshot meta; and
// inside an entry, what the node decodes from its data: a change payload
// (api/peer.proto Change) or the core's membership encoding. The first byte
// picks the record kind.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/peer.pb.h"
#include "proto/codec.h"
#include "raftlog/types.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: {
      auto e = raftpb::decode_entry(bytes);
      if (!e.is_ok()) break;
      auto again = raftpb::decode_entry(raftpb::encode_entry(*e));
      if (!again.is_ok()) __builtin_trap();
      if (e->type == raftlog::EntryType::kMembership) {
        (void)raftlog::decode_membership(e->data);
      } else {
        changeagent::peer::Change c;
        (void)c.ParseFromString(e->data);
      }
      break;
    }
    case 1:
      (void)raftpb::decode_hard_state(bytes);
      break;
    case 2:
      (void)raftpb::decode_members(bytes);
      break;
    case 3:
      (void)raftpb::decode_snapshot_meta(bytes);
      break;
    case 4:
      (void)raftlog::decode_membership(std::string(bytes));
      break;
  }
  return 0;
}
