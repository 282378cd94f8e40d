// Writing and reading the dump framing (layout in dump_format.h).
#include "admin/dump_format.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "admin/crc32c.h"
#include "proto/codec.h"

namespace admin {

using common::Code;
namespace pb = changeagent::dump;

namespace {

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; i++) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t get_u32(std::string_view b) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | static_cast<uint8_t>(b[static_cast<size_t>(i)]);
  return v;
}

const char* kind_name(pb::Record::KindCase k) {
  switch (k) {
    case pb::Record::kHeader:
      return "header";
    case pb::Record::kEntry:
      return "entry";
    case pb::Record::kStateRow:
      return "state row";
    case pb::Record::kSnapshotMeta:
      return "snapshot meta";
    case pb::Record::kSnapshotData:
      return "snapshot data";
    case pb::Record::kConf:
      return "conf record";
    case pb::Record::kTrailer:
      return "trailer";
    case pb::Record::kAbort:
      return "abort";
    default:
      return "empty record";
  }
}

}  // namespace

// ------------------------------------------------------------------ writer

Status DumpWriter::frame(const pb::Record& r) {
  if (failed_) return Status(Code::kInternal, "dump writer: used after a failure");
  scratch_.clear();
  r.SerializeToString(&scratch_);
  if (scratch_.size() > kRecordBytesMax) {
    failed_ = true;
    return Status(Code::kTooLarge, "dump writer: a " + std::string(kind_name(r.kind_case())) +
                                       " record of " + std::to_string(scratch_.size()) +
                                       " bytes is over the " + std::to_string(kRecordBytesMax) +
                                       "-byte record limit");
  }
  size_t start = buf_.size();
  put_u32(buf_, static_cast<uint32_t>(scratch_.size()));
  put_u32(buf_, crc32c(scratch_));
  buf_ += scratch_;
  if (r.kind_case() != pb::Record::kTrailer) {
    body_crc_ = crc32c_extend(body_crc_, std::string_view(buf_).substr(start));
  }
  bytes_ += buf_.size() - start;
  records_++;
  if (buf_.size() >= kFlushBytes) return flush();
  return Status::ok();
}

Status DumpWriter::flush() {
  if (buf_.empty()) return Status::ok();
  Status s = sink_(buf_);
  buf_.clear();
  if (!s.is_ok()) failed_ = true;
  return s;
}

Status DumpWriter::begin(const pb::Header& header) {
  std::string head(kDumpMagic);
  put_u32(head, kDumpFormatVersion);
  buf_ += head;
  body_crc_ = crc32c_extend(body_crc_, head);
  bytes_ += head.size();
  pb::Record r;
  *r.mutable_header() = header;
  r.mutable_header()->set_dump_format(kDumpFormatVersion);
  return frame(r);
}

Status DumpWriter::snapshot_meta(std::string_view encoded_meta) {
  pb::Record r;
  r.set_snapshot_meta(std::string(encoded_meta));
  return frame(r);
}

Status DumpWriter::snapshot_data(std::string_view chunk) {
  pb::Record r;
  r.set_snapshot_data(std::string(chunk));
  snapshot_bytes_ += chunk.size();
  return frame(r);
}

Status DumpWriter::conf(uint64_t index, std::string_view encoded_members) {
  pb::Record r;
  r.mutable_conf()->set_index(index);
  r.mutable_conf()->set_members(std::string(encoded_members));
  return frame(r);
}

Status DumpWriter::entry(std::string_view stored_entry) {
  pb::Record r;
  r.set_entry(std::string(stored_entry));
  entries_++;
  return frame(r);
}

Status DumpWriter::state_row(std::string_view key, std::string_view value) {
  pb::Record r;
  r.mutable_state_row()->set_key(std::string(key));
  r.mutable_state_row()->set_value(std::string(value));
  state_rows_++;
  return frame(r);
}

Status DumpWriter::finish() {
  pb::Record r;
  pb::Trailer* t = r.mutable_trailer();
  t->set_records(records_);
  t->set_entries(entries_);
  t->set_state_rows(state_rows_);
  t->set_snapshot_bytes(snapshot_bytes_);
  t->set_body_crc32c(body_crc_);
  t->set_body_bytes(bytes_);
  if (Status s = frame(r); !s.is_ok()) return s;
  return flush();
}

void DumpWriter::abort(std::string_view why) {
  if (failed_) return;
  pb::Record r;
  r.set_abort(std::string(why.substr(0, 4096)));
  if (frame(r).is_ok()) (void)flush();
}

// ------------------------------------------------------------------ reader

struct DumpReader::File {
  int fd = -1;
  ~File() {
    if (fd >= 0) ::close(fd);
  }
};

DumpReader::DumpReader(std::string name, Source source, std::optional<uint64_t> size)
    : name_(std::move(name)), source_(std::move(source)), size_(size) {}

DumpReader::~DumpReader() = default;

Result<std::unique_ptr<DumpReader>> DumpReader::open_file(const std::string& path) {
  auto file = std::make_unique<File>();
  file->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file->fd < 0) {
    return Status(errno == ENOENT ? Code::kNotFound : Code::kIoError,
                  "cannot open dump " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(file->fd, &st) != 0) {
    return Status(Code::kIoError, "cannot stat dump " + path + ": " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    return Status(Code::kInvalidArgument, path + " is a directory, not a dump file");
  }
  std::optional<uint64_t> size;
  if (S_ISREG(st.st_mode)) size = static_cast<uint64_t>(st.st_size);
  int fd = file->fd;
  auto reader = std::make_unique<DumpReader>(
      path,
      [fd, path](char* buf, size_t n) -> Result<size_t> {
        for (;;) {
          ssize_t got = ::read(fd, buf, n);
          if (got >= 0) return static_cast<size_t>(got);
          if (errno == EINTR) continue;
          return Status(Code::kIoError, "reading dump " + path + ": " + std::strerror(errno));
        }
      },
      size);
  reader->file_ = std::move(file);
  return reader;
}

Status DumpReader::corrupt(uint64_t at, std::string_view why) const {
  return Status(Code::kCorruption,
                name_ + ": byte " + std::to_string(at) + ": " + std::string(why));
}

Result<size_t> DumpReader::read(size_t n, std::string& out) {
  size_t got = 0;
  while (got < n) {
    if (buf_pos_ == buf_.size()) {
      buf_.resize(kFlushBytes);
      buf_pos_ = 0;
      auto r = source_(buf_.data(), buf_.size());
      if (!r.is_ok()) {
        buf_.clear();
        return r.status();
      }
      buf_.resize(*r);
      if (*r == 0) break;
    }
    size_t take = std::min(n - got, buf_.size() - buf_pos_);
    out.append(buf_, buf_pos_, take);
    buf_pos_ += take;
    got += take;
  }
  offset_ += got;
  return got;
}

Result<pb::Header> DumpReader::header() {
  std::string head;
  auto got = read(kDumpMagic.size() + 4, head);
  if (!got.is_ok()) return got.status();
  if (*got < kDumpMagic.size() ||
      std::string_view(head).substr(0, kDumpMagic.size()) != kDumpMagic) {
    if (*got == 0) return corrupt(0, "the file is empty, not a changeagent dump");
    return corrupt(0, "not a changeagent dump (the magic bytes at the start are wrong)");
  }
  if (*got < kDumpMagic.size() + 4) {
    return corrupt(*got, "truncated: the file ends inside the format version word");
  }
  uint32_t version = get_u32(std::string_view(head).substr(kDumpMagic.size()));
  if (version != kDumpFormatVersion) {
    return Status(Code::kFailedPrecondition, name_ + ": byte 8: dump format version " +
                                                 std::to_string(version) +
                                                 ", but this changeagent-admin reads version " +
                                                 std::to_string(kDumpFormatVersion) +
                                                 " only; use the changeagent-admin that wrote it");
  }
  body_crc_ = crc32c_extend(body_crc_, head);
  auto r = next();
  if (!r.is_ok()) return r.status();
  if (!*r || !(*r)->has_header()) {
    return corrupt(record_offset_, "the first record is not the header");
  }
  return (*r)->header();
}

Result<std::optional<pb::Record>> DumpReader::next() {
  using R = Result<std::optional<pb::Record>>;
  if (done_) return R(std::optional<pb::Record>());
  record_offset_ = offset_;
  std::string head;
  auto got = read(kFrameHeadBytes, head);
  if (!got.is_ok()) return R(got.status());
  if (*got == 0) {
    return R(corrupt(offset_, "truncated: the file ends after " + std::to_string(records_) +
                                  " complete records without a trailer (the dump was cut short)"));
  }
  if (*got < kFrameHeadBytes) {
    return R(corrupt(offset_, "truncated: the file ends inside the frame head of record " +
                                  std::to_string(records_ + 1) + " (which starts at byte " +
                                  std::to_string(record_offset_) + ")"));
  }
  uint32_t len = get_u32(head);
  uint32_t crc = get_u32(std::string_view(head).substr(4));
  if (len > kRecordBytesMax) {
    return R(corrupt(record_offset_, "record " + std::to_string(records_ + 1) + " claims " +
                                         std::to_string(len) + " bytes, over the " +
                                         std::to_string(kRecordBytesMax) +
                                         "-byte limit: its length field is damaged"));
  }
  if (size_ && offset_ + len > *size_) {
    return R(corrupt(record_offset_, "record " + std::to_string(records_ + 1) + " claims " +
                                         std::to_string(len) + " bytes but the file ends at byte " +
                                         std::to_string(*size_) +
                                         ": truncated, or its length field is damaged"));
  }
  std::string payload;
  got = read(len, payload);
  if (!got.is_ok()) return R(got.status());
  if (*got < len) {
    return R(corrupt(offset_, "truncated: the file ends inside record " +
                                  std::to_string(records_ + 1) + " (which starts at byte " +
                                  std::to_string(record_offset_) + " and needs " +
                                  std::to_string(len) + " payload bytes, " + std::to_string(*got) +
                                  " present)"));
  }
  uint32_t actual = crc32c(payload);
  if (actual != crc) {
    char text[96];
    std::snprintf(text, sizeof text, " (stored %08x, computed %08x)", crc, actual);
    return R(corrupt(record_offset_, "record " + std::to_string(records_ + 1) +
                                         ": checksum mismatch" + text +
                                         ": the record or its length is damaged"));
  }
  pb::Record rec;
  if (!rec.ParseFromString(payload) || rec.kind_case() == pb::Record::KIND_NOT_SET) {
    return R(corrupt(record_offset_, "record " + std::to_string(records_ + 1) +
                                         " passes its checksum but is not a dump record "
                                         "(written by an incompatible tool?)"));
  }
  if (rec.has_abort()) {
    return R(corrupt(record_offset_,
                     "the writer aborted this dump: " + rec.abort() + " (the dump is incomplete)"));
  }
  if (rec.has_header() && records_ != 0) {
    return R(corrupt(record_offset_, "a second header record"));
  }
  if (!rec.has_trailer()) {
    body_crc_ = crc32c_extend(body_crc_, head);
    body_crc_ = crc32c_extend(body_crc_, payload);
    records_++;
    if (rec.has_entry()) entries_++;
    if (rec.has_state_row()) state_rows_++;
    if (rec.has_snapshot_data()) snapshot_bytes_ += rec.snapshot_data().size();
    return R(std::optional<pb::Record>(std::move(rec)));
  }
  const pb::Trailer& t = rec.trailer();
  auto mismatch = [&](const char* what, uint64_t stored, uint64_t counted) {
    return corrupt(record_offset_, std::string("the trailer counts ") + std::to_string(stored) +
                                       " " + what + " but the file holds " +
                                       std::to_string(counted) +
                                       ": records were lost or duplicated whole");
  };
  if (t.records() != records_) return R(mismatch("records", t.records(), records_));
  if (t.entries() != entries_) return R(mismatch("entries", t.entries(), entries_));
  if (t.state_rows() != state_rows_) return R(mismatch("state rows", t.state_rows(), state_rows_));
  if (t.snapshot_bytes() != snapshot_bytes_) {
    return R(mismatch("snapshot bytes", t.snapshot_bytes(), snapshot_bytes_));
  }
  if (t.body_bytes() != record_offset_ || t.body_crc32c() != body_crc_) {
    return R(corrupt(record_offset_, "the body checksum in the trailer does not match"));
  }
  std::string extra;
  got = read(1, extra);
  if (!got.is_ok()) return R(got.status());
  if (*got != 0) return R(corrupt(offset_ - 1, "bytes after the trailer"));
  done_ = true;
  return R(std::optional<pb::Record>());
}

// ------------------------------------------------------------------ checker

Result<DumpChecker> DumpChecker::create(const pb::Header& h, const DumpReader& reader) {
  auto bad = [&](const std::string& why) {
    return reader.corrupt(kDumpMagic.size() + 4, "header: " + why);
  };
  if (h.dump_format() != kDumpFormatVersion) {
    return bad("its format version " + std::to_string(h.dump_format()) +
               " disagrees with the file's " + std::to_string(kDumpFormatVersion));
  }
  if (h.cluster_id() == 0) return bad("cluster id 0");
  if (h.last_index() < h.base_index()) return bad("last index below the log base");
  if (h.applied_index() > h.last_index()) {
    return bad("applied index " + std::to_string(h.applied_index()) + " is beyond the last index " +
               std::to_string(h.last_index()));
  }
  if (h.snapshot_index() < h.base_index() || h.snapshot_index() > h.last_index()) {
    return bad("snapshot index " + std::to_string(h.snapshot_index()) + " outside [base " +
               std::to_string(h.base_index()) + ", last " + std::to_string(h.last_index()) + "]");
  }
  auto m = raftpb::decode_members(h.membership());
  if (!m.is_ok()) return bad("membership: " + m.status().message());
  if (m->members.empty()) return bad("no membership");
  if (h.membership_index() > h.last_index()) return bad("membership index beyond the last index");
  DumpChecker c(h, reader);
  c.next_index_ = h.base_index() + 1;
  c.last_term_ = h.base_term();
  return c;
}

Status DumpChecker::check(const pb::Record& r, raftlog::Entry* decoded) {
  auto bad = [&](const std::string& why) {
    return reader_->corrupt(reader_->record_offset(), why);
  };
  auto enter = [&](Phase p, const char* what) -> Status {
    if (phase_ > p) return bad(std::string("a ") + what + " record after later kinds of records");
    phase_ = p;
    return Status::ok();
  };
  switch (r.kind_case()) {
    case pb::Record::kSnapshotMeta: {
      if (have_snapshot_ || phase_ > kSnapMeta) return bad("a second or misplaced snapshot meta");
      auto m = raftpb::decode_snapshot_meta(r.snapshot_meta());
      if (!m.is_ok()) return bad("snapshot meta: " + m.status().message());
      if (m->index.value() != header_.snapshot_index()) {
        return bad("snapshot meta at index " + std::to_string(m->index.value()) +
                   ", but the header says " + std::to_string(header_.snapshot_index()));
      }
      have_snapshot_ = true;
      phase_ = kSnapData;
      return Status::ok();
    }
    case pb::Record::kSnapshotData:
      if (!have_snapshot_ || phase_ != kSnapData) return bad("snapshot data without its meta");
      return Status::ok();
    case pb::Record::kConf: {
      if (Status s = enter(kConf, "conf"); !s.is_ok()) return s;
      if (r.conf().index() > header_.base_index() ||
          (last_conf_ != 0 && r.conf().index() <= last_conf_)) {
        return bad("conf record at index " + std::to_string(r.conf().index()) +
                   " is above the log base or out of order");
      }
      auto m = raftpb::decode_members(r.conf().members());
      if (!m.is_ok()) return bad("conf record: " + m.status().message());
      last_conf_ = r.conf().index();
      return Status::ok();
    }
    case pb::Record::kEntry: {
      if (Status s = enter(kEntries, "log entry"); !s.is_ok()) return s;
      auto e = raftpb::decode_entry(r.entry());
      if (!e.is_ok())
        return bad("log entry " + std::to_string(next_index_) + ": " + e.status().message());
      if (e->index.value() != next_index_) {
        return bad("log entry " + std::to_string(e->index.value()) + " where entry " +
                   std::to_string(next_index_) + " belongs: the log has a gap or is out of order");
      }
      if (next_index_ > header_.last_index()) {
        return bad("log entry " + std::to_string(next_index_) + " beyond the header's last index " +
                   std::to_string(header_.last_index()));
      }
      if (e->term.value() < last_term_) {
        return bad("log entry " + std::to_string(next_index_) + " has term " +
                   std::to_string(e->term.value()) + ", below the term " +
                   std::to_string(last_term_) + " before it");
      }
      if (e->type == raftlog::EntryType::kMembership &&
          !raftlog::decode_membership(e->data).is_ok()) {
        return bad("log entry " + std::to_string(next_index_) + ": its membership does not decode");
      }
      last_term_ = e->term.value();
      next_index_++;
      if (decoded) *decoded = std::move(e).value();
      return Status::ok();
    }
    case pb::Record::kStateRow: {
      if (Status s = enter(kState, "state row"); !s.is_ok()) return s;
      if (next_index_ != header_.last_index() + 1) {
        return bad("state rows begin after entry " + std::to_string(next_index_ - 1) +
                   ", but the header promises entries up to " +
                   std::to_string(header_.last_index()));
      }
      const std::string& key = r.state_row().key();
      if (any_key_ && key <= last_key_) return bad("state rows out of key order");
      last_key_ = key;
      any_key_ = true;
      return Status::ok();
    }
    default:
      return bad(std::string("unexpected ") + kind_name(r.kind_case()) + " record");
  }
}

Status DumpChecker::finish() const {
  if (next_index_ != header_.last_index() + 1) {
    return reader_->corrupt(reader_->record_offset(),
                            "the dump ends its log at entry " + std::to_string(next_index_ - 1) +
                                " but the header promises entries up to " +
                                std::to_string(header_.last_index()));
  }
  if (header_.last_index() > header_.base_index() && last_term_ != header_.last_term()) {
    return reader_->corrupt(reader_->record_offset(),
                            "the last entry's term disagrees with the header");
  }
  return Status::ok();
}

}  // namespace admin
