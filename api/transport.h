// Peer transport: one persistent TCP connection per ordered pair of nodes
// (A dials B to send to B), carrying length-prefixed PeerFrames. The first
// frame each way is a Handshake; a cluster id or protocol mismatch closes
// the connection with one log line on each side. With TLS the handshake
// frames travel inside a mutually authenticated TLS session; a peer whose
// certificate does not chain to the peer CA never gets that far. Dropped connections are
// redialled with capped exponential backoff.
//
// Raft tolerates loss, so the transport never blocks the caller: frames for
// a peer queue up to frames_queued_max and are dropped beyond that (the
// core is told the peer is unreachable and probes again).
//
// Threading: everything runs on the io_context passed in (one thread);
// handlers are called on it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/peer.pb.h"
#include "common/status.h"
#include "raftlog/types.h"

namespace api {

class TlsContext;  // api/tls.h

inline constexpr uint32_t kPeerProtocolVersion = 1;

struct TransportOptions {
  raftlog::ClusterId cluster_id;
  raftlog::NodeId self;
  std::string self_name;
  std::string self_client_url;    // told to peers in the handshake
  std::string self_peer_address;  // host:port peers dial us at, told likewise
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;             // 0 = ephemeral (tests)
  uint32_t frame_bytes_max = 64 << 20;  // larger frames close the connection
  uint32_t frames_queued_max = 4096;    // per peer
  // Also per peer: what is queued is sent before any newer heartbeat or
  // answer, so the queue must stay well under an election timeout's worth
  // of sending (tests/chaos/FINDINGS.md #4). One frame over it is queued
  // alone.
  uint64_t bytes_queued_max = 16 << 20;
  std::chrono::milliseconds backoff_min{50};
  std::chrono::milliseconds backoff_max{2000};
  // Mutual TLS with the peer CA when set (api/peer_stream.h); plain TCP when
  // null. A new connection uses the context current when it starts.
  std::shared_ptr<TlsContext> tls{};
};

struct TransportHandlers {
  // A frame (other than the handshake) from an authenticated peer.
  std::function<void(raftlog::NodeId from, changeagent::peer::PeerFrame frame)> on_frame;
  // A peer introduced itself (inbound handshake): its name and client URL.
  std::function<void(raftlog::NodeId peer, const std::string& name, const std::string& client_url)>
      on_hello;
  // Frames to `peer` were dropped (queue full or connection lost).
  std::function<void(raftlog::NodeId peer)> on_unreachable;
};

// What one peer connection is doing, for /diagnostics/raft: a connection
// parked in one stage for long is where a stalled peer link shows
// (tests/chaos/FINDINGS.md #4).
struct ConnectionState {
  bool inbound = false;                            // the peer dialled us (we read its frames)
  raftlog::NodeId peer;                            // 0 while an inbound handshake is unread
  std::string remote;                              // host:port of the other end
  std::string stage;                               // e.g. "reading frame header", "writing", "idle"
  std::chrono::steady_clock::duration in_stage{};  // time since the stage began
  uint64_t frames = 0;                             // frames read (inbound) or written (outbound)
  uint64_t queued = 0;                             // outbound: frames waiting to be written
};

class Transport {
 public:
  static common::Result<std::unique_ptr<Transport>> start(boost::asio::io_context& io,
                                                          TransportOptions options,
                                                          TransportHandlers handlers);
  ~Transport();

  uint16_t port() const;
  // Adds or re-addresses a peer ("host:port"); dials lazily on first send.
  void set_peer(raftlog::NodeId id, const std::string& host_port);
  void remove_peer(raftlog::NodeId id);
  void send(raftlog::NodeId to, changeagent::peer::PeerFrame frame);
  bool connected(raftlog::NodeId id) const;
  // Every inbound connection and every peer's outbound link.
  std::vector<ConnectionState> connections() const;
  void stop();

  struct Impl;

 private:
  explicit Transport(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace api
