// Catch-up snapshot streams: the leader's reader and the follower's staging
// of chunks as SST files (see snapshot_stream.h).
#include "storage/snapshot_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <rocksdb/db.h>
#include <rocksdb/sst_file_writer.h>

#include "common/assert.h"
#include "proto/codec.h"
#include "storage/keys.h"
#include "storage/rocks.h"

namespace storage {

using common::Code;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kProgressMagic = "changeagent-snapshot-stream-1\n";

Status io_error(const std::string& what, const std::string& path) {
  return Status(Code::kIoError, "storage: " + what + " " + path);
}

// Writes `bytes` to path via a temp file, fsync and rename, then fsyncs the
// directory: after a crash the file is either the old one or the new one.
Status write_file_atomic(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot create", tmp);
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n <= 0) {
      ::close(fd);
      return io_error("cannot write", tmp);
    }
    off += static_cast<size_t>(n);
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return io_error("cannot fsync", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("cannot rename", tmp);
  int dfd = ::open(fs::path(path).parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::ok();
}

void put_u64(std::string& out, uint64_t v) {
  out += keys::be64(v);
}
void put_bytes(std::string& out, std::string_view b) {
  put_u64(out, b.size());
  out += b;
}

// Reads the fields put_u64/put_bytes wrote, refusing short input.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool u64(uint64_t* v) {
    if (in_.size() < 8) return false;
    keys::parse_be64(in_.substr(0, 8), v);
    in_.remove_prefix(8);
    return true;
  }
  bool bytes(std::string* out) {
    uint64_t n = 0;
    if (!u64(&n) || in_.size() < n) return false;
    out->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

std::string chunk_name(uint64_t seq, uint32_t family) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "chunk-%010llu-%u.sst", static_cast<unsigned long long>(seq),
                family);
  return buf;
}

}  // namespace

// ------------------------------------------------------------------ source

SnapshotSource::SnapshotSource(const Store& store, std::unique_ptr<rocksdb::ManagedSnapshot> snap)
    : store_(store), snap_(std::move(snap)) {}

SnapshotSource::~SnapshotSource() = default;

Result<std::unique_ptr<SnapshotSource>> SnapshotSource::open(const Store& store) {
  const RocksHandles& h = *store.handles_;
  auto snap = std::make_unique<rocksdb::ManagedSnapshot>(h.db.get());
  std::unique_ptr<SnapshotSource> src(new SnapshotSource(store, std::move(snap)));
  const rocksdb::Snapshot* at = src->snap_->snapshot();
  auto applied_bytes = store.get_meta(keys::kApplied, at);
  if (!applied_bytes.is_ok()) return applied_bytes.status();
  uint64_t applied = 0;
  if (*applied_bytes && !keys::parse_be64(**applied_bytes, &applied)) {
    return damaged("meta key 'applied'", store.dir(), "not 8 bytes");
  }
  auto base_bytes = store.get_meta(keys::kLogBase, at);
  if (!base_bytes.is_ok()) return base_bytes.status();
  uint64_t base = 0, base_term = 0;
  if (*base_bytes) {
    std::string_view v = **base_bytes;
    if (v.size() != 16 || !keys::parse_be64(v.substr(0, 8), &base) ||
        !keys::parse_be64(v.substr(8), &base_term)) {
      return damaged("meta key 'log_base'", store.dir(), "expected 16 bytes");
    }
  }
  if (applied < base) {
    return Status(Code::kFailedPrecondition, "storage: applied index " + std::to_string(applied) +
                                                 " is below the log base " + std::to_string(base));
  }
  StreamHead& head = src->head_;
  head.base_index = Index(base);
  head.base_term = Term(base_term);
  head.meta.index = Index(applied);
  head.meta.term = Term(base_term);
  if (applied > base) {
    std::string value;
    rocksdb::ReadOptions ro;
    ro.snapshot = at;
    rocksdb::Status s = h.db->Get(ro, h.log, keys::log_key(applied), &value);
    if (!s.ok()) return from_rocks(s, "read log entry " + std::to_string(applied), store.dir());
    auto e = raftpb::decode_entry(value);
    if (!e.is_ok())
      return damaged("log entry " + std::to_string(applied), store.dir(), "undecodable");
    head.meta.term = e->term;
  }
  auto members = store.membership_at(Index(applied));
  if (!members.is_ok()) return members.status();
  head.meta.membership = std::move(members).value();
  src->log_end_ = keys::log_key(applied + 1);

  // Sizes for progress and ETA: RocksDB's estimate of both ranges.
  std::string log_begin = keys::log_key(base + 1);
  rocksdb::Range log_range(log_begin, src->log_end_);
  rocksdb::Range state_range("", "\xff");
  rocksdb::SizeApproximationOptions so;
  so.include_memtables = true;
  uint64_t log_bytes = 0, state_bytes = 0;
  if (h.db->GetApproximateSizes(so, h.log, &log_range, 1, &log_bytes).ok() &&
      h.db->GetApproximateSizes(so, h.state, &state_range, 1, &state_bytes).ok()) {
    head.bytes_estimate = log_bytes + state_bytes;
  }
  return src;
}

Result<StreamChunk> SnapshotSource::read(const StreamPos& from, uint64_t bytes_max) const {
  const RocksHandles& h = *store_.handles_;
  StreamChunk out;
  StreamPos pos = from;
  // At most two passes: the rest of `state`, then (if it had nothing left)
  // the start of `log`.
  for (int pass = 0; pass < 2; pass++) {
    const bool log = pos.family == kStreamFamilyLog;
    rocksdb::ReadOptions ro;
    ro.snapshot = snap_->snapshot();
    ro.fill_cache = false;  // a one-off scan must not evict the hot set
    rocksdb::Slice upper(log_end_);
    if (log) ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(h.db->NewIterator(ro, log ? h.log : h.state));
    if (pos.at_start) {
      if (log) {
        it->Seek(keys::log_key(head_.base_index.value() + 1));
      } else {
        it->SeekToFirst();
      }
    } else {
      it->Seek(pos.key);
      if (it->Valid() && it->key() == rocksdb::Slice(pos.key)) it->Next();
    }
    out.family = pos.family;
    for (; it->Valid(); it->Next()) {
      out.rows.emplace_back(it->key().ToString(), it->value().ToString());
      out.bytes += it->key().size() + it->value().size();
      if (log) out.log_entries++;
      if (out.bytes >= bytes_max) break;
    }
    if (!it->status().ok()) return from_rocks(it->status(), "read snapshot chunk", store_.dir());
    bool family_done = !it->Valid();
    if (!out.rows.empty()) {
      out.end = StreamPos{pos.family, out.rows.back().first, false};
      // Valid() after break: more rows may follow; find out cheaply so the
      // last chunk says so and the follower need not wait for an empty one.
      if (!family_done) {
        it->Next();
        family_done = !it->Valid();
      }
      if (family_done && !log) {
        out.end = StreamPos{kStreamFamilyLog, {}, true};
      }
      out.last = family_done && log;
      return out;
    }
    if (log) {
      out.last = true;  // nothing at all left
      out.end = pos;
      return out;
    }
    pos = StreamPos{kStreamFamilyLog, {}, true};
  }
  CA_ASSERT(false);
  return out;
}

// ------------------------------------------------------------------ sink

Status SnapshotSink::save_progress() const {
  std::string out(kProgressMagic);
  put_u64(out, session_);
  put_u64(out, head_.meta.index.value());
  put_u64(out, head_.meta.term.value());
  put_bytes(out, raftpb::encode_members(head_.meta.membership));
  put_u64(out, head_.base_index.value());
  put_u64(out, head_.base_term.value());
  put_u64(out, head_.bytes_estimate);
  put_u64(out, next_seq_);
  put_u64(out, complete_ ? 1 : 0);
  put_u64(out, pos_.family);
  put_bytes(out, pos_.key);
  put_u64(out, pos_.at_start ? 1 : 0);
  return write_file_atomic(dir_ + "/progress", out);
}

Result<std::unique_ptr<SnapshotSink>> SnapshotSink::load(const std::string& dir) {
  std::ifstream in(dir + "/progress", std::ios::binary);
  if (!in) return Status(Code::kNotFound, "storage: no snapshot progress in " + dir);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto bad = [&](const char* why) { return damaged("snapshot staging progress", dir, why); };
  if (all.compare(0, kProgressMagic.size(), kProgressMagic) != 0) return bad("unknown format");
  Reader r(std::string_view(all).substr(kProgressMagic.size()));
  uint64_t session = 0, index = 0, term = 0, base = 0, base_term = 0, estimate = 0;
  uint64_t next = 0, complete = 0, family = 0, at_start = 0;
  std::string members, key;
  if (!r.u64(&session) || !r.u64(&index) || !r.u64(&term) || !r.bytes(&members) || !r.u64(&base) ||
      !r.u64(&base_term) || !r.u64(&estimate) || !r.u64(&next) || !r.u64(&complete) ||
      !r.u64(&family) || !r.bytes(&key) || !r.u64(&at_start) || !r.done()) {
    return bad("truncated");
  }
  auto m = raftpb::decode_members(members);
  if (!m.is_ok()) return bad("undecodable membership");
  StreamHead head{raftlog::SnapshotMeta{Index(index), Term(term), std::move(m).value()},
                  Index(base), Term(base_term), estimate};
  std::unique_ptr<SnapshotSink> sink(new SnapshotSink(dir, session, std::move(head)));
  sink->next_seq_ = next;
  sink->complete_ = complete != 0;
  sink->pos_ = StreamPos{static_cast<uint32_t>(family), std::move(key), at_start != 0};
  return sink;
}

Status SnapshotSink::remove(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return io_error("cannot remove (" + ec.message() + ")", dir);
  return Status::ok();
}

Result<std::unique_ptr<SnapshotSink>> SnapshotSink::open(const std::string& dir, uint64_t session,
                                                         const StreamHead& head) {
  auto existing = load(dir);
  if (existing.is_ok() && (*existing)->session_ == session && (*existing)->head_ == head) {
    return std::move(existing).value();
  }
  if (Status s = remove(dir); !s.is_ok()) return s;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return io_error("cannot create (" + ec.message() + ")", dir);
  std::unique_ptr<SnapshotSink> sink(new SnapshotSink(dir, session, head));
  if (Status s = sink->save_progress(); !s.is_ok()) return s;
  return sink;
}

Status SnapshotSink::add(uint64_t seq, uint32_t family,
                         const std::vector<std::pair<std::string, std::string>>& rows, bool last) {
  CA_ASSERT(seq == next_seq_);
  CA_ASSERT(!complete_);
  if (family != kStreamFamilyState && family != kStreamFamilyLog) {
    return Status(Code::kInvalidArgument,
                  "snapshot chunk of unknown family " + std::to_string(family));
  }
  for (size_t i = 1; i < rows.size(); i++) {
    if (!(rows[i - 1].first < rows[i].first)) {
      return Status(Code::kInvalidArgument,
                    "snapshot chunk " + std::to_string(seq) + " has keys out of order");
    }
  }
  if (!rows.empty()) {
    std::string path = dir_ + "/" + chunk_name(seq, family);
    rocksdb::Options options;
    rocksdb::SstFileWriter w(rocksdb::EnvOptions(), options);
    rocksdb::Status s = w.Open(path);
    for (size_t i = 0; s.ok() && i < rows.size(); i++) s = w.Put(rows[i].first, rows[i].second);
    if (s.ok()) s = w.Finish();
    if (!s.ok()) return from_rocks(s, "write snapshot chunk " + std::to_string(seq), dir_);
    pos_ = StreamPos{family, rows.back().first, false};
  }
  next_seq_ = seq + 1;
  complete_ = last;
  return save_progress();
}

StreamedSnapshot SnapshotSink::result() const {
  StreamedSnapshot out;
  out.head = head_;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    unsigned long long seq = 0;
    unsigned family = 0;
    if (std::sscanf(name.c_str(), "chunk-%llu-%u.sst", &seq, &family) != 2) continue;
    if (seq >= next_seq_) continue;  // written, but its progress never recorded
    (family == kStreamFamilyLog ? out.log_files : out.state_files).push_back(e.path().string());
  }
  std::sort(out.state_files.begin(), out.state_files.end());
  std::sort(out.log_files.begin(), out.log_files.end());
  return out;
}

Result<StreamedSnapshot> SnapshotSink::load_complete(const std::string& dir) {
  auto sink = load(dir);
  if (!sink.is_ok()) return sink.status();
  if (!(*sink)->complete()) return damaged("snapshot staging", dir, "the transfer is incomplete");
  return (*sink)->result();
}

}  // namespace storage
