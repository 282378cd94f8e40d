// Catch-up by a chunked snapshot stream, the node driver's side (the core
// only decides that a peer needs a snapshot: raftlog Config
// snapshot_lag_entries, and compaction).
//
// Leader (SnapshotSender): when the core emits a kSnapshot message for a
// peer, the sender opens a storage::SnapshotSource (one RocksDB snapshot)
// and streams SnapshotChunk frames of ~1 MB over the peer connection, at
// most kWindowChunks unacknowledged (back-pressure). Chunks are read on a
// worker thread, never on the io_context thread, so the leader keeps
// serving writes. A session survives a disconnect: the sender re-sends
// SnapshotBegin when acks stall, the follower answers with the last chunk
// it made durable, and the stream resumes after it. Each ack tells the
// core the transfer is alive (report_snapshot_progress).
//
// Follower (SnapshotReceiver): writes each chunk as an SST file in the
// staging dir (storage::SnapshotSink, on a worker thread), acknowledges it,
// and once the last one is in hands the core a kSnapshot message whose
// install (the next Ready) ingests the files (Store::install_streamed).
// Then the Raft log tail follows by ordinary appends.
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "api/peer.pb.h"
#include "api/service.h"
#include "raftlog/types.h"
#include "storage/snapshot_stream.h"
#include "storage/store.h"

namespace api {

class SnapshotSender {
 public:
  struct Hooks {
    std::function<void(raftlog::NodeId, changeagent::peer::PeerFrame)> send;
    // The transfer to the peer is alive (core->report_snapshot_progress).
    std::function<void(raftlog::NodeId)> alive;
    // The transfer ended (core->report_snapshot).
    std::function<void(raftlog::NodeId, bool ok)> finished;
    // Whether the core still wants a snapshot sent to the peer.
    std::function<bool(raftlog::NodeId)> wanted;
  };
  SnapshotSender(boost::asio::io_context& io, const storage::Store* store,
                 std::shared_ptr<spdlog::logger> log, Hooks hooks);
  ~SnapshotSender();

  // The core asked for a snapshot to `peer` in `term`. Starts a transfer,
  // or keeps the one already running to that peer.
  void start(raftlog::NodeId peer, raftlog::Term term);
  void on_ack(raftlog::NodeId peer, const changeagent::peer::SnapshotAck& ack);
  // Once per tick: keep the core waiting, resume stalled transfers, drop
  // dead ones, log progress every few seconds.
  void tick();
  void stop();
  void views(std::vector<SnapshotTransferView>& out) const;

 private:
  struct Session;
  void pump(Session& s);
  void on_chunk_read(raftlog::NodeId peer, uint64_t session, uint64_t epoch,
                     Result<storage::StreamChunk> chunk);
  void send_begin(Session& s);
  void end(raftlog::NodeId peer, bool ok, const std::string& why);

  boost::asio::io_context& io_;
  const storage::Store* store_;
  std::shared_ptr<spdlog::logger> log_;
  Hooks hooks_;
  std::map<raftlog::NodeId, std::unique_ptr<Session>> sessions_;
  boost::asio::thread_pool pool_{1};  // chunk reads, off the io thread
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

class SnapshotReceiver {
 public:
  struct Hooks {
    std::function<void(raftlog::NodeId, changeagent::peer::PeerFrame)> send;
    // Every chunk is durable: install (step a kSnapshot into the core).
    std::function<void(raftlog::NodeId leader, raftlog::Term term, const storage::StreamHead&)>
        complete;
  };
  SnapshotReceiver(boost::asio::io_context& io, std::string staging_dir,
                   std::shared_ptr<spdlog::logger> log, Hooks hooks);
  ~SnapshotReceiver();

  void on_begin(raftlog::NodeId from, const changeagent::peer::SnapshotBegin& b);
  void on_chunk(raftlog::NodeId from, changeagent::peer::SnapshotChunk c);
  // The staged snapshot to install with `data` (the marker the complete
  // hook's kSnapshot message carries); null if `data` is not ours.
  std::shared_ptr<const storage::StreamedSnapshot> staged_for(
      const std::shared_ptr<const std::string>& data) const;
  const std::shared_ptr<const std::string>& marker() const { return marker_; }
  const std::string& staging_dir() const { return dir_; }
  // The install is durable: tell the leader and clear the staging dir.
  void installed();
  void tick();
  void stop();
  void views(std::vector<SnapshotTransferView>& out) const;

 private:
  struct Transfer;
  void ack(Transfer& t, bool resume);

  boost::asio::io_context& io_;
  std::string dir_;
  std::shared_ptr<spdlog::logger> log_;
  Hooks hooks_;
  std::unique_ptr<Transfer> transfer_;  // at most one at a time
  std::shared_ptr<const std::string> marker_ =
      std::make_shared<const std::string>("streamed snapshot");
  boost::asio::thread_pool pool_{1};  // SST writes, off the io thread
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace api
