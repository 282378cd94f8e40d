// libFuzzer target: what a node decodes from a peer connection (before and
// after the handshake): [u32 big-endian length][PeerFrame protobuf], then,
// as api/node.cc does per frame kind, the Raft message (proto/codec.h
// decode_message) and the forwarded change payloads. A frame over
// frame_bytes_max is refused from its length, as api/transport.cc does.
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/peer.pb.h"
#include "proto/codec.h"

namespace {

constexpr uint32_t kFrameBytesMax = 64 << 20;  // api::TransportOptions default

void decode_payloads(const changeagent::peer::ForwardRequest& req) {
  for (const auto& p : req.payloads()) {
    changeagent::peer::Change c;
    (void)c.ParseFromString(p);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A stream of frames, as they would arrive on one connection.
  size_t pos = 0;
  while (size - pos >= 4) {
    uint32_t n = uint32_t(data[pos]) << 24 | uint32_t(data[pos + 1]) << 16 |
                 uint32_t(data[pos + 2]) << 8 | uint32_t(data[pos + 3]);
    pos += 4;
    if (n > kFrameBytesMax || n > size - pos) return 0;  // refused / truncated
    changeagent::peer::PeerFrame frame;
    if (!frame.ParseFromArray(data + pos, static_cast<int>(n))) return 0;
    pos += n;
    switch (frame.kind_case()) {
      case changeagent::peer::PeerFrame::kRaft: {
        auto m = raftpb::decode_message(frame.raft());
        if (m.is_ok()) {
          // Round trip: what decodes must encode and decode to the same.
          auto again = raftpb::decode_message(raftpb::encode_message(*m));
          if (!again.is_ok()) __builtin_trap();
        }
        break;
      }
      case changeagent::peer::PeerFrame::kForwardRequest:
        decode_payloads(frame.forward_request());
        break;
      default:
        break;  // the other kinds are plain fields, read as they are
    }
  }
  return 0;
}
