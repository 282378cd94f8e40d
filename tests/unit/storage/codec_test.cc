// Round trips of every codec, and refusal of bytes that are not ours.
#include <gtest/gtest.h>

#include "proto/codec.h"
#include "proto/raft.pb.h"
#include "tests/unit/storage/test_util.h"

namespace storage::testing {
namespace {

namespace pb = changeagent::raftpb;
using common::Code;

raftlog::SnapshotMeta sample_meta() {
  raftlog::SnapshotMeta meta{Index(120), Term(4), members({1, 2, 3})};
  meta.membership.members[NodeId(9)] = raftlog::Member{true, std::string("learner\0\xff", 9)};
  return meta;
}

TEST(Codec, EntryRoundTrip) {
  std::vector<Entry> cases = {
      entry(1, 1),
      Entry{Term(3), Index(77), EntryType::kNormal, ""},  // a new leader's no-op
      Entry{Term(5), Index(1ull << 40), EntryType::kNormal, std::string("\0\x01\xff", 3)},
      conf_entry(9, 2, members({1, 2})),
  };
  for (const Entry& e : cases) {
    auto back = raftpb::decode_entry(raftpb::encode_entry(e));
    ASSERT_TRUE(back.is_ok()) << back.status().to_string();
    EXPECT_EQ(*back, e);
  }
}

TEST(Codec, HardStateRoundTrip) {
  for (const raftlog::HardState& hs :
       {raftlog::HardState{}, raftlog::HardState{Term(9), NodeId(3), Index(1234567)}}) {
    auto back = raftpb::decode_hard_state(raftpb::encode_hard_state(hs));
    ASSERT_TRUE(back.is_ok()) << back.status().to_string();
    EXPECT_EQ(*back, hs);
  }
}

TEST(Codec, MembersAndSnapshotMetaRoundTrip) {
  raftlog::SnapshotMeta meta = sample_meta();
  auto m = raftpb::decode_members(raftpb::encode_members(meta.membership));
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ(*m, meta.membership);
  for (const auto& in : {raftlog::SnapshotMeta{}, meta}) {
    auto back = raftpb::decode_snapshot_meta(raftpb::encode_snapshot_meta(in));
    ASSERT_TRUE(back.is_ok()) << back.status().to_string();
    EXPECT_EQ(*back, in);
  }
}

void expect_same(const raftlog::Message& a, const raftlog::Message& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.cluster_id, b.cluster_id);
  EXPECT_EQ(a.from, b.from);
  EXPECT_EQ(a.to, b.to);
  EXPECT_EQ(a.term, b.term);
  EXPECT_EQ(a.log_term, b.log_term);
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.entries, b.entries);
  EXPECT_EQ(a.commit, b.commit);
  EXPECT_EQ(a.reject, b.reject);
  EXPECT_EQ(a.reject_hint, b.reject_hint);
  EXPECT_EQ(a.context, b.context);
  EXPECT_EQ(a.snapshot.meta, b.snapshot.meta);
}

TEST(Codec, MessageRoundTripEveryType) {
  for (int t = 0; t <= static_cast<int>(raftlog::MessageType::kReadIndexResp); t++) {
    raftlog::Message m;
    m.type = static_cast<raftlog::MessageType>(t);
    m.cluster_id = raftlog::ClusterId(0xfeedfacecafebeefull);
    m.from = NodeId(1);
    m.to = NodeId(2);
    m.term = Term(10 + t);
    m.log_term = Term(9);
    m.index = Index(100);
    m.entries = {entry(101, 9), conf_entry(102, 10, members({1, 2, 3}))};
    m.commit = Index(99);
    m.reject = (t % 2) == 1;
    m.reject_hint = Index(42);
    m.context = std::string("ctx\0\xfe", 5);
    auto back = raftpb::decode_message(raftpb::encode_message(m));
    ASSERT_TRUE(back.is_ok()) << back.status().to_string();
    expect_same(*back, m);
  }
}

TEST(Codec, MessageCarriesSnapshotMetaButNotData) {
  raftlog::Message m;
  m.type = raftlog::MessageType::kSnapshot;
  m.snapshot.meta = sample_meta();
  m.snapshot.data = std::make_shared<const std::string>(1000, 'x');
  std::string bytes = raftpb::encode_message(m);
  EXPECT_LT(bytes.size(), 200u);  // the 1000 data bytes stayed behind
  auto back = raftpb::decode_message(bytes);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->snapshot.meta, m.snapshot.meta);
  EXPECT_EQ(back->snapshot.data, nullptr);
}

std::string serialized(const google::protobuf::MessageLite& m) {
  return m.SerializeAsString();
}

TEST(Codec, BadBytesAreCorruption) {
  pb::Entry bad_type;
  bad_type.set_index(5);
  bad_type.set_type(static_cast<pb::EntryType>(7));
  pb::Membership id_zero;
  id_zero.add_members()->set_id(0);
  pb::Membership dup;
  dup.add_members()->set_id(3);
  dup.add_members()->set_id(3);
  pb::Message bad_msg_type;
  bad_msg_type.set_type(static_cast<pb::MessageType>(99));
  pb::Message bad_msg_entry;
  *bad_msg_entry.add_entries() = bad_type;
  pb::SnapshotMeta bad_meta;
  *bad_meta.mutable_membership() = dup;
  const std::string garbage("\xff\xff\xff\xff", 4);
  std::string truncated = raftpb::encode_entry(entry(3, 1, "0123456789"));
  truncated.resize(truncated.size() - 3);

  struct Case {
    const char* name;
    common::Status status;
    const char* want;  // in the message
  };
  std::vector<Case> cases = {
      {"garbage entry", raftpb::decode_entry(garbage).status(), "decode entry"},
      {"truncated entry", raftpb::decode_entry(truncated).status(), "not a protobuf Entry"},
      {"unknown entry type", raftpb::decode_entry(serialized(bad_type)).status(),
       "unknown entry type 7"},
      {"garbage hard state", raftpb::decode_hard_state(garbage).status(), "HardState"},
      {"member id 0", raftpb::decode_members(serialized(id_zero)).status(), "member id 0"},
      {"duplicate member", raftpb::decode_members(serialized(dup)).status(),
       "duplicate member id 3"},
      {"garbage members", raftpb::decode_members(garbage).status(), "Membership"},
      {"snapshot meta with bad members",
       raftpb::decode_snapshot_meta(serialized(bad_meta)).status(), "duplicate member id 3"},
      {"garbage snapshot meta", raftpb::decode_snapshot_meta(garbage).status(), "SnapshotMeta"},
      {"unknown message type", raftpb::decode_message(serialized(bad_msg_type)).status(),
       "unknown message type 99"},
      {"message with bad entry", raftpb::decode_message(serialized(bad_msg_entry)).status(),
       "unknown entry type 7"},
      {"garbage message", raftpb::decode_message(garbage).status(), "Message"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.code(), Code::kCorruption) << c.name << ": " << c.status.to_string();
    EXPECT_NE(c.status.message().find(c.want), std::string::npos)
        << c.name << ": " << c.status.message();
  }
}

}  // namespace
}  // namespace storage::testing
