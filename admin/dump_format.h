// The dump file: a portable copy of one node's store (docs/DESIGN.md "Dump
// format"). Layout, all integers little-endian:
//
//   bytes 0-7    magic "\x89CADUMP\n" (the high bit and the newline catch
//                7-bit and line-ending mangling in transit)
//   bytes 8-11   u32 dump format version (kDumpFormatVersion)
//   then frames  u32 payload length | u32 CRC32C(payload) | payload
//
// Each payload is one protobuf changeagent.dump.Record (admin/dump.proto),
// in this order:
//
//   header                        exactly one, first
//   snapshot_meta                 at most one: the source's stored snapshot
//   snapshot_data*                its opaque data in chunks, in order
//   conf*                         conf/ records at or below the log base
//   entry*                        base_index+1 .. last_index, contiguous
//   state_row*                    the state view at applied_index, key order
//   trailer                       counts + CRC32C of every byte before it
//
// and nothing after the trailer. A writer that fails halfway writes an
// `abort` record instead of the trailer. The per-frame CRC pinpoints a
// damaged record; the trailer's body CRC and counts catch a frame that was
// dropped or duplicated whole, and its absence catches truncation.
//
// Memory: the writer buffers one flush (kFlushBytes) and the reader one
// frame (at most kRecordBytesMax), so a dump of any size streams.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "admin/dump.pb.h"
#include "common/status.h"
#include "raftlog/types.h"

namespace admin {

using common::Result;
using common::Status;

inline constexpr std::string_view kDumpMagic{
    "\x89"
    "CADUMP\n",
    8};
inline constexpr uint32_t kDumpFormatVersion = 1;
// A frame's payload. Entries are bounded far below by the server's
// body_bytes_max; snapshot data travels in kSnapshotChunkBytes pieces.
inline constexpr uint32_t kRecordBytesMax = 64u << 20;
inline constexpr uint32_t kSnapshotChunkBytes = 1u << 20;
inline constexpr size_t kFlushBytes = 1u << 20;
inline constexpr size_t kFrameHeadBytes = 8;  // length + CRC
static_assert(kSnapshotChunkBytes + 64 < kRecordBytesMax);

// Receives the file's bytes in order. A non-OK status stops the writer.
using Sink = std::function<Status(std::string_view)>;

class DumpWriter {
 public:
  explicit DumpWriter(Sink sink) : sink_(std::move(sink)) {}
  DumpWriter(const DumpWriter&) = delete;
  DumpWriter& operator=(const DumpWriter&) = delete;

  Status begin(const changeagent::dump::Header& header);
  Status snapshot_meta(std::string_view encoded_meta);
  Status snapshot_data(std::string_view chunk);  // at most kSnapshotChunkBytes
  Status conf(uint64_t index, std::string_view encoded_members);
  Status entry(std::string_view stored_entry);
  Status state_row(std::string_view key, std::string_view value);
  // Trailer, then flush. Nothing may follow.
  Status finish();
  // Best effort: an abort record saying why, then flush (no trailer).
  void abort(std::string_view why);

  uint64_t bytes() const { return bytes_; }  // written so far, buffered included
  uint64_t entries() const { return entries_; }

 private:
  Status frame(const changeagent::dump::Record& r);
  Status flush();

  Sink sink_;
  std::string buf_;
  std::string scratch_;
  uint32_t body_crc_ = 0;
  uint64_t bytes_ = 0;
  uint64_t records_ = 0, entries_ = 0, state_rows_ = 0, snapshot_bytes_ = 0;
  bool failed_ = false;
};

// Reads up to n bytes into buf; 0 = end of input.
using Source = std::function<Result<size_t>(char* buf, size_t n)>;

// Frames, checksums and protobuf of a dump, read sequentially. Every error
// is kCorruption (kFailedPrecondition for an unknown format version) whose
// message starts with "<name>: byte <offset>: " and says what is wrong.
class DumpReader {
 public:
  // `name` labels errors (the path); `size` (if known) lets a damaged length
  // be told from a truncated file.
  DumpReader(std::string name, Source source, std::optional<uint64_t> size);
  static Result<std::unique_ptr<DumpReader>> open_file(const std::string& path);
  ~DumpReader();
  DumpReader(const DumpReader&) = delete;
  DumpReader& operator=(const DumpReader&) = delete;

  // Magic, version and the header record. Call once, first.
  Result<changeagent::dump::Header> header();
  // The next record after the header; nullopt once the trailer was read, its
  // CRC and counts matched and the input ended right after it. Records are
  // counted by kind here; the order is DumpChecker's business.
  Result<std::optional<changeagent::dump::Record>> next();

  uint64_t offset() const { return offset_; }                // bytes consumed so far
  uint64_t record_offset() const { return record_offset_; }  // start of the last record
  const std::string& name() const { return name_; }
  std::optional<uint64_t> size() const { return size_; }
  // "<name>: byte <at>: <why>"
  Status corrupt(uint64_t at, std::string_view why) const;

  struct File;

 private:
  // Appends up to n bytes to out; returns how many (short only at the end).
  Result<size_t> read(size_t n, std::string& out);

  std::string name_;
  Source source_;
  std::optional<uint64_t> size_;
  std::unique_ptr<File> file_;  // open_file() only
  std::string buf_;
  size_t buf_pos_ = 0;
  uint64_t offset_ = 0;
  uint64_t record_offset_ = 0;
  uint32_t body_crc_ = 0;
  uint64_t records_ = 0, entries_ = 0, state_rows_ = 0, snapshot_bytes_ = 0;
  bool done_ = false;
};

// The order and continuity of a dump's records against its header (the
// layout at the top of this file). Used by verify and load alike.
class DumpChecker {
 public:
  // Checks the header's own fields first.
  static Result<DumpChecker> create(const changeagent::dump::Header& h, const DumpReader& reader);

  // For an entry record, *decoded gets the entry (so callers decode once).
  Status check(const changeagent::dump::Record& r, raftlog::Entry* decoded);
  // After the last record: every promised entry arrived.
  Status finish() const;

  uint64_t next_index() const { return next_index_; }

 private:
  DumpChecker(const changeagent::dump::Header& h, const DumpReader& reader)
      : header_(h), reader_(&reader) {}
  enum Phase { kSnapMeta, kSnapData, kConf, kEntries, kState };

  changeagent::dump::Header header_;
  const DumpReader* reader_;
  Phase phase_ = kSnapMeta;
  bool have_snapshot_ = false;
  uint64_t next_index_ = 0;
  uint64_t last_term_ = 0;
  uint64_t last_conf_ = 0;
  std::string last_key_;
  bool any_key_ = false;
};

}  // namespace admin
