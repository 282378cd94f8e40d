// The leader's side of catch-up snapshot streams (see snapshot_stream.h).
#include <boost/asio/post.hpp>

#include "api/snapshot_stream.h"
#include "proto/codec.h"

namespace api {

namespace asio = boost::asio;
using changeagent::peer::PeerFrame;
using Clock = std::chrono::steady_clock;
using raftlog::NodeId;

namespace {

constexpr uint64_t kChunkBytes = 1 << 20;
// Chunks sent and not yet acknowledged: the back-pressure window.
constexpr uint64_t kWindowChunks = 4;
// No ack for this long: re-send SnapshotBegin, which makes the follower say
// where it stands (after a disconnect, a lost frame, a restart).
constexpr auto kResumeAfter = std::chrono::seconds(5);
// No answer at all for this long: give the transfer up (the core probes
// again and starts a new one when the peer is back).
constexpr auto kSessionIdleMax = std::chrono::seconds(60);
constexpr auto kProgressLogEvery = std::chrono::seconds(5);

double mb(uint64_t bytes) {
  return static_cast<double>(bytes) / (1 << 20);
}

}  // namespace

struct SnapshotSender::Session {
  NodeId peer;
  raftlog::Term term;
  uint64_t id = 0;
  std::shared_ptr<storage::SnapshotSource> source;  // shared with the read job
  bool begun = false;  // the follower answered the latest SnapshotBegin
  uint64_t epoch = 0;  // bumped on each resume: older reads are dropped
  bool reading = false;
  bool all_read = false;
  storage::StreamPos pos;  // where the next read starts
  uint64_t next_seq = 0;   // seq of the next chunk to send
  uint64_t acked_seq = 0;  // chunks [0, acked_seq) are durable on the peer
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> unacked;  // seq -> (bytes, entries)
  uint64_t bytes_acked = 0;
  uint64_t entries_acked = 0;
  uint32_t resumes = 0;
  Clock::time_point started, last_heard, begin_sent, last_log;

  void account_acked(uint64_t next) {
    while (!unacked.empty() && unacked.begin()->first < next) {
      bytes_acked += unacked.begin()->second.first;
      entries_acked += unacked.begin()->second.second;
      unacked.erase(unacked.begin());
    }
    acked_seq = std::max(acked_seq, next);
  }
  double rate() const {
    double secs = std::chrono::duration<double>(Clock::now() - started).count();
    return secs > 0 ? static_cast<double>(bytes_acked) / secs : 0;
  }
};

SnapshotSender::SnapshotSender(asio::io_context& io, const storage::Store* store,
                               std::shared_ptr<spdlog::logger> log, Hooks hooks)
    : io_(io), store_(store), log_(std::move(log)), hooks_(std::move(hooks)) {}

SnapshotSender::~SnapshotSender() {
  stop();
}

void SnapshotSender::stop() {
  *alive_ = false;
  pool_.join();
  sessions_.clear();
}

void SnapshotSender::start(NodeId peer, raftlog::Term term) {
  if (!*alive_) return;
  if (auto it = sessions_.find(peer); it != sessions_.end()) {
    if (it->second->term == term) return;  // already on its way
    end(peer, false, "a new term began");
  }
  auto src = storage::SnapshotSource::open(*store_);
  if (!src.is_ok()) {
    log_->warn("snapshot to {:016x}: cannot read the store: {}", peer.value(),
               src.status().to_string());
    hooks_.finished(peer, false);
    return;
  }
  if ((*src)->head().meta.index == raftlog::Index(0)) {
    hooks_.finished(peer, false);  // nothing applied yet: nothing to send
    return;
  }
  auto s = std::make_unique<Session>();
  s->peer = peer;
  s->term = term;
  auto now = Clock::now();
  s->id = (static_cast<uint64_t>(now.time_since_epoch().count()) ^ peer.value()) | 1;
  s->source = std::move(src).value();
  s->started = s->last_heard = s->last_log = now;
  const storage::StreamHead& h = s->source->head();
  log_->info("snapshot to {:016x}: streaming index {} (log {}..{}, ~{:.1f} MB) in chunks of {} KB",
             peer.value(), h.meta.index.value(), h.base_index.value() + 1, h.meta.index.value(),
             mb(h.bytes_estimate), kChunkBytes >> 10);
  Session& ref = *s;
  sessions_[peer] = std::move(s);
  send_begin(ref);
}

void SnapshotSender::send_begin(Session& s) {
  const storage::StreamHead& h = s.source->head();
  PeerFrame f;
  auto* b = f.mutable_snapshot_begin();
  b->set_session(s.id);
  b->set_term(s.term.value());
  b->set_index(h.meta.index.value());
  b->set_index_term(h.meta.term.value());
  b->set_membership(raftpb::encode_members(h.meta.membership));
  b->set_base_index(h.base_index.value());
  b->set_base_term(h.base_term.value());
  b->set_bytes_estimate(h.bytes_estimate);
  s.begun = false;
  s.begin_sent = Clock::now();
  hooks_.send(s.peer, std::move(f));
}

void SnapshotSender::on_ack(NodeId peer, const changeagent::peer::SnapshotAck& ack) {
  auto it = sessions_.find(peer);
  if (it == sessions_.end() || it->second->id != ack.session()) return;
  Session& s = *it->second;
  s.last_heard = Clock::now();
  if (!ack.error().empty()) {
    end(peer, false, "the follower gave up: " + ack.error());
    return;
  }
  if (ack.done()) {
    s.account_acked(s.next_seq);
    end(peer, true, "installed");
    return;
  }
  if (ack.resume()) {
    // The follower says which chunks it holds; continue right after them.
    if (s.acked_seq > 0 || s.next_seq > 0) s.resumes++;
    s.account_acked(ack.next_seq());
    s.unacked.clear();
    s.begun = true;
    s.epoch++;
    s.reading = false;
    s.all_read = false;
    s.next_seq = ack.next_seq();
    s.acked_seq = ack.next_seq();
    s.pos = ack.next_seq() == 0 ? storage::StreamPos{}
                                : storage::StreamPos{ack.family(), ack.last_key(), false};
  } else {
    if (!s.begun) return;
    s.account_acked(ack.next_seq());
  }
  hooks_.alive(peer);
  pump(s);
}

void SnapshotSender::pump(Session& s) {
  if (!s.begun || s.reading || s.all_read || s.next_seq - s.acked_seq >= kWindowChunks) return;
  s.reading = true;
  auto job = [this, alive = alive_, src = s.source, pos = s.pos, peer = s.peer, id = s.id,
              epoch = s.epoch] {
    auto chunk = src->read(pos, kChunkBytes);
    asio::post(io_, [this, alive, peer, id, epoch, chunk = std::move(chunk)]() mutable {
      if (*alive) on_chunk_read(peer, id, epoch, std::move(chunk));
    });
  };
  asio::post(pool_, std::move(job));
}

void SnapshotSender::on_chunk_read(NodeId peer, uint64_t session, uint64_t epoch,
                                   Result<storage::StreamChunk> chunk) {
  auto it = sessions_.find(peer);
  if (it == sessions_.end() || it->second->id != session || it->second->epoch != epoch) return;
  Session& s = *it->second;
  s.reading = false;
  if (!chunk.is_ok()) {
    end(peer, false, "reading the store failed: " + chunk.status().to_string());
    return;
  }
  PeerFrame f;
  auto* c = f.mutable_snapshot_chunk();
  c->set_session(s.id);
  c->set_seq(s.next_seq);
  c->set_family(chunk->family);
  c->set_last(chunk->last);
  for (auto& [k, v] : chunk->rows) {
    c->add_keys(std::move(k));
    c->add_values(std::move(v));
  }
  s.unacked[s.next_seq] = {chunk->bytes, chunk->log_entries};
  s.next_seq++;
  s.pos = chunk->end;
  s.all_read = chunk->last;
  hooks_.send(peer, std::move(f));
  pump(s);
}

void SnapshotSender::end(NodeId peer, bool ok, const std::string& why) {
  auto it = sessions_.find(peer);
  if (it == sessions_.end()) return;
  Session& s = *it->second;
  double secs = std::chrono::duration<double>(Clock::now() - s.started).count();
  if (ok) {
    log_->info(
        "snapshot to {:016x}: {} after {:.1f} s: {:.1f} MB, {} entries ({:.1f} MB/s, {:.0f} "
        "entries/s), {} resumes",
        peer.value(), why, secs, mb(s.bytes_acked), s.entries_acked,
        secs > 0 ? mb(s.bytes_acked) / secs : 0.0,
        secs > 0 ? static_cast<double>(s.entries_acked) / secs : 0.0, s.resumes);
  } else {
    log_->warn("snapshot to {:016x}: abandoned after {:.1f} s ({:.1f} MB acknowledged): {}",
               peer.value(), secs, mb(s.bytes_acked), why);
  }
  sessions_.erase(it);
  hooks_.finished(peer, ok);
}

void SnapshotSender::tick() {
  auto now = Clock::now();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    Session& s = *it->second;
    NodeId peer = it->first;
    ++it;  // end() erases the current one
    if (!hooks_.wanted(peer)) {
      // The core moved on: the follower's core answered the install (often
      // before its done ack arrives), or we lost leadership.
      if (s.all_read && s.unacked.empty() && s.begun) {
        end(peer, true, "installed");
      } else {
        log_->info("snapshot to {:016x}: no longer needed", peer.value());
        sessions_.erase(peer);
      }
      continue;
    }
    if (now - s.last_heard > kSessionIdleMax) {
      end(peer, false, "no answer from the follower");
      continue;
    }
    hooks_.alive(peer);
    if (now - s.last_heard > kResumeAfter && now - s.begin_sent > kResumeAfter) send_begin(s);
    if (now - s.last_log >= kProgressLogEvery) {
      s.last_log = now;
      double rate = s.rate();
      uint64_t est = s.source->head().bytes_estimate;
      double eta = rate > 0 && est > s.bytes_acked ? (est - s.bytes_acked) / rate : 0;
      log_->info("snapshot to {:016x}: {:.1f} of ~{:.1f} MB, {} entries, {:.1f} MB/s, ETA {:.0f} s",
                 peer.value(), mb(s.bytes_acked), mb(est), s.entries_acked, mb(rate), eta);
    }
  }
}

void SnapshotSender::views(std::vector<SnapshotTransferView>& out) const {
  for (const auto& [peer, s] : sessions_) {
    SnapshotTransferView v;
    v.peer = peer.value();
    v.direction = "send";
    v.index = s->source->head().meta.index.value();
    v.bytes = s->bytes_acked;
    v.bytes_estimate = s->source->head().bytes_estimate;
    v.entries = s->entries_acked;
    v.bytes_per_second = s->rate();
    if (v.bytes_per_second > 0 && v.bytes_estimate >= v.bytes) {
      v.eta_seconds = static_cast<double>(v.bytes_estimate - v.bytes) / v.bytes_per_second;
    }
    out.push_back(v);
  }
}

}  // namespace api
