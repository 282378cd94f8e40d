// The follower's side of catch-up snapshot streams (see snapshot_stream.h).
#include <boost/asio/post.hpp>

#include "api/snapshot_stream.h"
#include "proto/codec.h"

namespace api {

namespace asio = boost::asio;
using changeagent::peer::PeerFrame;
using Clock = std::chrono::steady_clock;
using raftlog::NodeId;

namespace {

constexpr auto kProgressLogEvery = std::chrono::seconds(5);

double mb(uint64_t bytes) {
  return static_cast<double>(bytes) / (1 << 20);
}

}  // namespace

struct SnapshotReceiver::Transfer {
  NodeId leader;
  raftlog::Term term;
  uint64_t session = 0;
  storage::StreamHead head;
  std::shared_ptr<storage::SnapshotSink> sink;  // touched only by pool jobs once open
  bool open = false;                            // the sink is open (chunks may be written)
  uint64_t next_seq = 0;                        // chunks [0, next_seq) are durable here
  uint64_t expect_seq = 0;                      // next chunk to hand to the writer
  storage::StreamPos pos;                       // where chunk next_seq - 1 ended
  bool complete = false;
  std::shared_ptr<const storage::StreamedSnapshot> staged;  // once complete
  uint64_t bytes = 0, entries = 0;
  Clock::time_point started, last_log;
};

SnapshotReceiver::SnapshotReceiver(asio::io_context& io, std::string staging_dir,
                                   std::shared_ptr<spdlog::logger> log, Hooks hooks)
    : io_(io), dir_(std::move(staging_dir)), log_(std::move(log)), hooks_(std::move(hooks)) {}

SnapshotReceiver::~SnapshotReceiver() {
  stop();
}

void SnapshotReceiver::stop() {
  *alive_ = false;
  pool_.join();
}

void SnapshotReceiver::ack(Transfer& t, bool resume) {
  PeerFrame f;
  auto* a = f.mutable_snapshot_ack();
  a->set_session(t.session);
  a->set_next_seq(t.next_seq);
  a->set_family(t.pos.family);
  a->set_last_key(t.pos.key);
  a->set_resume(resume);
  hooks_.send(t.leader, std::move(f));
}

void SnapshotReceiver::on_begin(NodeId from, const changeagent::peer::SnapshotBegin& b) {
  if (!*alive_) return;
  auto members = raftpb::decode_members(b.membership());
  if (!members.is_ok()) {
    log_->warn("snapshot from {:016x}: undecodable membership; ignored", from.value());
    return;
  }
  storage::StreamHead head{
      raftlog::SnapshotMeta{raftlog::Index(b.index()), raftlog::Term(b.index_term()), *members},
      raftlog::Index(b.base_index()), raftlog::Term(b.base_term()), b.bytes_estimate()};
  if (transfer_ && transfer_->session == b.session() && transfer_->head == head) {
    transfer_->leader = from;
    if (!transfer_->open) return;  // the answer comes when it opens
    ack(*transfer_, true);
    if (transfer_->complete && transfer_->staged) {
      hooks_.complete(transfer_->leader, transfer_->term, transfer_->head);
    }
    return;
  }
  auto t = std::make_unique<Transfer>();
  t->leader = from;
  t->term = raftlog::Term(b.term());
  t->session = b.session();
  t->head = head;
  t->started = t->last_log = Clock::now();
  transfer_ = std::move(t);
  uint64_t session = b.session();
  asio::post(pool_, [this, alive = alive_, dir = dir_, session, head] {
    auto sink = storage::SnapshotSink::open(dir, session, head);
    std::shared_ptr<const storage::StreamedSnapshot> staged;
    if (sink.is_ok() && (*sink)->complete()) {
      staged = std::make_shared<const storage::StreamedSnapshot>((*sink)->result());
    }
    asio::post(io_, [this, alive, session, sink = std::move(sink), staged]() mutable {
      if (!*alive || !transfer_ || transfer_->session != session) return;
      Transfer& t = *transfer_;
      if (!sink.is_ok()) {
        log_->error("snapshot from {:016x}: cannot stage in {}: {}", t.leader.value(), dir_,
                    sink.status().to_string());
        PeerFrame f;
        f.mutable_snapshot_ack()->set_session(session);
        f.mutable_snapshot_ack()->set_error(sink.status().message());
        hooks_.send(t.leader, std::move(f));
        transfer_.reset();
        return;
      }
      t.sink = std::shared_ptr<storage::SnapshotSink>(std::move(sink).value());
      t.open = true;
      t.next_seq = t.expect_seq = t.sink->next_seq();
      t.pos = t.sink->resume_pos();
      t.complete = t.sink->complete();
      t.staged = staged;
      if (t.next_seq > 0) {
        log_->info("snapshot from {:016x}: resuming index {} after chunk {}", t.leader.value(),
                   t.head.meta.index.value(), t.next_seq - 1);
      } else {
        log_->info("snapshot from {:016x}: receiving index {} (log {}..{}, ~{:.1f} MB)",
                   t.leader.value(), t.head.meta.index.value(), t.head.base_index.value() + 1,
                   t.head.meta.index.value(), mb(t.head.bytes_estimate));
      }
      ack(t, true);
      if (t.complete && t.staged) hooks_.complete(t.leader, t.term, t.head);
    });
  });
}

void SnapshotReceiver::on_chunk(NodeId from, changeagent::peer::SnapshotChunk c) {
  if (!*alive_ || !transfer_ || transfer_->session != c.session() || !transfer_->open) return;
  Transfer& t = *transfer_;
  t.leader = from;
  if (t.complete) return;
  if (c.seq() < t.expect_seq) {
    if (c.seq() < t.next_seq) ack(t, false);  // a resend of what we hold
    return;
  }
  if (c.seq() > t.expect_seq || c.keys_size() != c.values_size()) return;  // a gap: resume fixes it
  t.expect_seq++;
  auto job = [this, alive = alive_, sink = t.sink, session = t.session, c = std::move(c)] {
    std::vector<std::pair<std::string, std::string>> rows;
    rows.reserve(static_cast<size_t>(c.keys_size()));
    uint64_t bytes = 0;
    for (int i = 0; i < c.keys_size(); i++) {
      bytes += c.keys(i).size() + c.values(i).size();
      rows.emplace_back(c.keys(i), c.values(i));
    }
    Status st = sink->add(c.seq(), c.family(), rows, c.last());
    std::shared_ptr<const storage::StreamedSnapshot> staged;
    if (st.is_ok() && c.last()) {
      staged = std::make_shared<const storage::StreamedSnapshot>(sink->result());
    }
    uint64_t entries = c.family() == storage::kStreamFamilyLog ? rows.size() : 0;
    asio::post(io_, [this, alive, session, st, staged, bytes, entries, seq = c.seq(),
                     pos = sink->resume_pos(), last = c.last()] {
      if (!*alive || !transfer_ || transfer_->session != session) return;
      Transfer& t = *transfer_;
      if (!st.is_ok()) {
        log_->error("snapshot from {:016x}: writing chunk {} failed: {}", t.leader.value(), seq,
                    st.to_string());
        PeerFrame f;
        f.mutable_snapshot_ack()->set_session(session);
        f.mutable_snapshot_ack()->set_error(st.message());
        hooks_.send(t.leader, std::move(f));
        transfer_.reset();
        return;
      }
      t.next_seq = seq + 1;
      t.pos = pos;
      t.bytes += bytes;
      t.entries += entries;
      ack(t, false);
      if (last) {
        t.complete = true;
        t.staged = staged;
        double secs = std::chrono::duration<double>(Clock::now() - t.started).count();
        log_->info(
            "snapshot from {:016x}: all {} chunks in after {:.1f} s ({:.1f} MB, {} entries); "
            "installing",
            t.leader.value(), t.next_seq, secs, mb(t.bytes), t.entries);
        hooks_.complete(t.leader, t.term, t.head);
      }
    });
  };
  asio::post(pool_, std::move(job));
}

std::shared_ptr<const storage::StreamedSnapshot> SnapshotReceiver::staged_for(
    const std::shared_ptr<const std::string>& data) const {
  if (!data || data != marker_ || !transfer_ || !transfer_->complete) return nullptr;
  return transfer_->staged;
}

void SnapshotReceiver::installed() {
  if (!transfer_) return;
  PeerFrame f;
  f.mutable_snapshot_ack()->set_session(transfer_->session);
  f.mutable_snapshot_ack()->set_next_seq(transfer_->next_seq);
  f.mutable_snapshot_ack()->set_done(true);
  hooks_.send(transfer_->leader, std::move(f));
  log_->info("snapshot from {:016x}: installed at index {}", transfer_->leader.value(),
             transfer_->head.meta.index.value());
  transfer_.reset();
  asio::post(pool_, [dir = dir_] { (void)storage::SnapshotSink::remove(dir); });
}

void SnapshotReceiver::tick() {
  if (!transfer_ || transfer_->complete) return;
  Transfer& t = *transfer_;
  auto now = Clock::now();
  if (now - t.last_log < kProgressLogEvery) return;
  t.last_log = now;
  double secs = std::chrono::duration<double>(now - t.started).count();
  double rate = secs > 0 ? t.bytes / secs : 0;
  double eta =
      rate > 0 && t.head.bytes_estimate > t.bytes ? (t.head.bytes_estimate - t.bytes) / rate : 0;
  log_->info("snapshot from {:016x}: {:.1f} of ~{:.1f} MB, {} entries, {:.1f} MB/s, ETA {:.0f} s",
             t.leader.value(), mb(t.bytes), mb(t.head.bytes_estimate), t.entries, mb(rate), eta);
}

void SnapshotReceiver::views(std::vector<SnapshotTransferView>& out) const {
  if (!transfer_) return;
  const Transfer& t = *transfer_;
  SnapshotTransferView v;
  v.peer = t.leader.value();
  v.direction = "receive";
  v.index = t.head.meta.index.value();
  v.bytes = t.bytes;
  v.bytes_estimate = t.head.bytes_estimate;
  v.entries = t.entries;
  double secs = std::chrono::duration<double>(Clock::now() - t.started).count();
  v.bytes_per_second = secs > 0 ? t.bytes / secs : 0;
  if (v.bytes_per_second > 0 && v.bytes_estimate >= v.bytes) {
    v.eta_seconds = static_cast<double>(v.bytes_estimate - v.bytes) / v.bytes_per_second;
  }
  out.push_back(v);
}

}  // namespace api
