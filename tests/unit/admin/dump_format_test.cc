// The dump framing: a round trip keeps every record; truncation at any
// byte and a flipped bit anywhere are refused with the offset and reason.
#include <gtest/gtest.h>

#include <random>

#include "admin/crc32c.h"
#include "admin/dump_format.h"
#include "proto/codec.h"

namespace admin {
namespace {

namespace pb = changeagent::dump;
using raftlog::Index;
using raftlog::Term;

// CRC32C check value of "123456789" (RFC 3720 B.4).
TEST(Crc32c, KnownValue) {
  EXPECT_EQ(crc32c("123456789"), 0xe3069283u);
  EXPECT_EQ(crc32c_extend(crc32c("1234"), "56789"), 0xe3069283u);
  std::string big(100003, 'x');
  EXPECT_EQ(
      crc32c_extend(crc32c(std::string_view(big).substr(0, 7)), std::string_view(big).substr(7)),
      crc32c(big));
}

raftlog::Membership one_member() {
  raftlog::Membership m;
  m.members.emplace(raftlog::NodeId(7), raftlog::Member{false, "n1"});
  return m;
}

pb::Header header(uint64_t base, uint64_t last, uint64_t applied) {
  pb::Header h;
  h.set_cluster_id(42);
  h.set_node_id(7);
  h.set_base_index(base);
  h.set_base_term(base ? 1 : 0);
  h.set_last_index(last);
  h.set_last_term(last > base ? 2 : h.base_term());
  h.set_applied_index(applied);
  h.set_membership(raftpb::encode_members(one_member()));
  h.set_snapshot_index(base);
  return h;
}

// A dump of entries base+1..last (term 2), a snapshot at base and rows.
std::string make_dump(uint64_t base, uint64_t last, int rows) {
  std::string out;
  DumpWriter w([&](std::string_view b) {
    out.append(b);
    return common::Status::ok();
  });
  EXPECT_TRUE(w.begin(header(base, last, last)).is_ok());
  raftlog::SnapshotMeta meta{Index(base), Term(base ? 1 : 0), one_member()};
  EXPECT_TRUE(w.snapshot_meta(raftpb::encode_snapshot_meta(meta)).is_ok());
  EXPECT_TRUE(w.snapshot_data("opaque snapshot bytes").is_ok());
  for (uint64_t i = base + 1; i <= last; i++) {
    raftlog::Entry e{Term(2), Index(i), raftlog::EntryType::kNormal, "data " + std::to_string(i)};
    EXPECT_TRUE(w.entry(raftpb::encode_entry(e)).is_ok());
  }
  for (int r = 0; r < rows; r++) {
    char key[16];
    std::snprintf(key, sizeof key, "k%04d", r);
    EXPECT_TRUE(w.state_row(key, "v").is_ok());
  }
  EXPECT_TRUE(w.finish().is_ok());
  return out;
}

// Reads `bytes` fully; OK or the first error. Counts entries.
common::Status read_all(const std::string& bytes, uint64_t* entries = nullptr) {
  size_t pos = 0;
  DumpReader rd(
      "dump",
      [&](char* buf, size_t n) -> common::Result<size_t> {
        size_t take = std::min(n, bytes.size() - pos);
        std::memcpy(buf, bytes.data() + pos, take);
        pos += take;
        return take;
      },
      bytes.size());
  auto h = rd.header();
  if (!h.is_ok()) return h.status();
  auto checker = DumpChecker::create(*h, rd);
  if (!checker.is_ok()) return checker.status();
  for (;;) {
    auto r = rd.next();
    if (!r.is_ok()) return r.status();
    if (!*r) break;
    raftlog::Entry e;
    if (auto s = checker->check(**r, &e); !s.is_ok()) return s;
    if ((**r).has_entry() && entries) ++*entries;
  }
  return checker->finish();
}

TEST(DumpFormat, RoundTripKeepsEveryRecord) {
  std::string d = make_dump(10, 1500, 30);
  uint64_t entries = 0;
  auto s = read_all(d, &entries);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(entries, 1490u);
  EXPECT_EQ(d.substr(0, 8), std::string(kDumpMagic));
}

TEST(DumpFormat, EmptyLogRoundTrips) {
  auto s = read_all(make_dump(0, 0, 0));
  EXPECT_TRUE(s.is_ok()) << s.to_string();
}

// Cut at every byte: each prefix is refused, as truncated, with an offset.
TEST(DumpFormat, EveryTruncationIsRefusedWithItsOffset) {
  std::string d = make_dump(0, 40, 5);
  for (size_t cut = 0; cut < d.size(); cut++) {
    auto s = read_all(d.substr(0, cut));
    ASSERT_FALSE(s.is_ok()) << "a dump cut at byte " << cut << " was accepted";
    EXPECT_EQ(s.code(), common::Code::kCorruption) << s.to_string();
    EXPECT_NE(s.message().find("byte "), std::string::npos) << s.message();
    if (cut >= 12) {
      const bool says_why = s.message().find("truncated") != std::string::npos ||
                            s.message().find("file ends") != std::string::npos;
      EXPECT_TRUE(says_why) << "cut at " << cut << ": " << s.message();
    }
  }
}

// Flip each bit of a small dump: every flip is refused, and (past the magic
// and version) the offset named is the start of the damaged record.
TEST(DumpFormat, EveryBitFlipIsRefused) {
  std::string d = make_dump(0, 6, 2);
  for (size_t byte = 0; byte < d.size(); byte++) {
    for (int bit = 0; bit < 8; bit++) {
      std::string bad = d;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      auto s = read_all(bad);
      ASSERT_FALSE(s.is_ok()) << "bit " << bit << " of byte " << byte << " flipped was accepted";
    }
  }
}

TEST(DumpFormat, FlipInAnEntryNamesThatRecordsOffset) {
  std::string d = make_dump(0, 1000, 0);
  // Find where entry 500's frame starts by re-reading record offsets.
  size_t pos = 12;
  uint64_t record = 0, target_offset = 0;
  while (pos + 8 <= d.size()) {
    uint32_t len = 0;
    for (int i = 3; i >= 0; i--)
      len = (len << 8) | static_cast<uint8_t>(d[pos + static_cast<size_t>(i)]);
    if (record == 503) {  // header, snapshot meta, snapshot data, then entries 1..
      target_offset = pos;
      break;
    }
    pos += 8 + len;
    record++;
  }
  ASSERT_GT(target_offset, 0u);
  std::string bad = d;
  bad[target_offset + 8 + 5] ^= 0x10;
  auto s = read_all(bad);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("byte " + std::to_string(target_offset) + ":"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("checksum mismatch"), std::string::npos) << s.message();
}

TEST(DumpFormat, UnknownVersionAndForeignFilesAreRefused) {
  std::string d = make_dump(0, 3, 0);
  std::string v2 = d;
  v2[8] = 2;
  auto s = read_all(v2);
  EXPECT_EQ(s.code(), common::Code::kFailedPrecondition) << s.to_string();
  EXPECT_NE(s.message().find("format version 2"), std::string::npos) << s.message();
  s = read_all("PK\x03\x04 this is a zip file, not a dump");
  EXPECT_NE(s.message().find("not a changeagent dump"), std::string::npos) << s.message();
  s = read_all(d + "x");
  EXPECT_NE(s.message().find("after the trailer"), std::string::npos) << s.message();
}

// A record dropped whole (its frame is intact) breaks continuity or counts.
TEST(DumpFormat, DroppedRecordIsRefused) {
  std::string d = make_dump(0, 20, 0);
  size_t pos = 12;
  for (int r = 0; r < 10; r++) {
    uint32_t len = 0;
    for (int i = 3; i >= 0; i--)
      len = (len << 8) | static_cast<uint8_t>(d[pos + static_cast<size_t>(i)]);
    if (r == 9) {
      std::string bad = d.substr(0, pos) + d.substr(pos + 8 + len);
      auto s = read_all(bad);
      ASSERT_FALSE(s.is_ok());
      EXPECT_NE(s.message().find("gap"), std::string::npos) << s.message();
    }
    pos += 8 + len;
  }
}

TEST(DumpFormat, AbortRecordIsReportedWithItsReason) {
  std::string out;
  DumpWriter w([&](std::string_view b) {
    out.append(b);
    return common::Status::ok();
  });
  ASSERT_TRUE(w.begin(header(0, 5, 5)).is_ok());
  w.abort("disk read error at entry 3");
  auto s = read_all(out);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("aborted this dump: disk read error at entry 3"), std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace admin
