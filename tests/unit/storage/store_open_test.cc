// Opening a store: identity adoption and checks, format version, foreign
// and damaged databases. Every refusal must leave the directory untouched
// and the right identity must still open it afterwards.
#include <gtest/gtest.h>

#include "proto/codec.h"
#include "storage/keys.h"
#include "tests/unit/storage/raw_db.h"
#include "tests/unit/storage/test_util.h"

namespace storage::testing {
namespace {

using common::Code;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A store of cluster 7, node 1, with a few entries and a hard state.
void make_store(const TempDir& dir) {
  auto s = open_ok(open_options(dir, 7, 1));
  ASSERT_TRUE(s);
  PersistBatch b = append_batch(run(1, 3, 1));
  b.hard_state = raftlog::HardState{Term(1), NodeId(1), Index(2)};
  ASSERT_TRUE(s->write(b).is_ok());
}

void expect_intact(const TempDir& dir) {
  auto s = open_ok(open_options(dir, 7, 1));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->last_index(), Index(3));
  auto boot = s->load_boot();
  ASSERT_TRUE(boot.is_ok());
  EXPECT_EQ(boot->hard_state.commit, Index(2));
}

TEST(StoreOpen, MissingStoreWithoutCreate) {
  TempDir dir;
  OpenOptions o = open_options(dir);
  o.create_if_missing = false;
  auto s = Store::open(o);
  EXPECT_EQ(s.status().code(), Code::kNotFound);
  EXPECT_TRUE(contains(s.status().message(), dir.db())) << s.status().message();
}

TEST(StoreOpen, AdoptsAndLaterInitialisesIdentity) {
  TempDir dir;
  {
    auto s = open_ok(open_options(dir, 0, 0));  // joining: identity not known yet
    EXPECT_EQ(s->cluster_id(), raftlog::ClusterId(0));
  }
  {
    auto s = open_ok(open_options(dir, 7, 1));  // now it is: stored
    EXPECT_EQ(s->cluster_id(), raftlog::ClusterId(7));
  }
  auto s = open_ok(open_options(dir, 0, 0));
  EXPECT_EQ(s->cluster_id(), raftlog::ClusterId(7));
  EXPECT_EQ(s->node_id(), NodeId(1));
}

TEST(StoreOpen, ClusterIdMismatchRefusedUntouched) {
  TempDir dir;
  make_store(dir);
  auto before = dir_contents(dir.db());
  auto s = Store::open(open_options(dir, 8, 1));
  ASSERT_EQ(s.status().code(), Code::kFailedPrecondition);
  const std::string& msg = s.status().message();
  EXPECT_TRUE(contains(msg, "cluster id 7") && contains(msg, "cluster id 8")) << msg;
  EXPECT_TRUE(contains(msg, dir.db())) << msg;
  EXPECT_EQ(dir_contents(dir.db()), before);
  expect_intact(dir);
}

TEST(StoreOpen, NodeIdMismatchRefusedUntouched) {
  TempDir dir;
  make_store(dir);
  auto before = dir_contents(dir.db());
  auto s = Store::open(open_options(dir, 7, 2));
  ASSERT_EQ(s.status().code(), Code::kFailedPrecondition);
  const std::string& msg = s.status().message();
  EXPECT_TRUE(contains(msg, "node id 1") && contains(msg, "node id 2")) << msg;
  EXPECT_TRUE(contains(msg, dir.db())) << msg;
  EXPECT_EQ(dir_contents(dir.db()), before);
  expect_intact(dir);
}

TEST(StoreOpen, OtherFormatVersionRefusedUntouched) {
  TempDir dir;
  make_store(dir);
  RawDb(dir.db()).put(keys::kMetaFamily, keys::kFormatVersion, keys::be64(kFormatVersion + 1));
  auto before = dir_contents(dir.db());
  auto s = Store::open(open_options(dir, 7, 1));
  ASSERT_EQ(s.status().code(), Code::kFailedPrecondition);
  const std::string& msg = s.status().message();
  EXPECT_TRUE(contains(msg, "format version " + std::to_string(kFormatVersion + 1))) << msg;
  EXPECT_TRUE(contains(msg, "reads format version " + std::to_string(kFormatVersion))) << msg;
  EXPECT_TRUE(contains(msg, "Nothing was changed")) << msg;
  // It names the tool that migrates a store between format versions.
  EXPECT_TRUE(contains(msg, "changeagent-admin dump")) << msg;
  EXPECT_TRUE(contains(msg, "changeagent-admin load")) << msg;
  EXPECT_EQ(dir_contents(dir.db()), before);
  RawDb(dir.db()).put(keys::kMetaFamily, keys::kFormatVersion, keys::be64(kFormatVersion));
  expect_intact(dir);
}

TEST(StoreOpen, ForeignRocksDbRefused) {
  TempDir dir;
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir.db(), &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "k", "v").ok());
    delete db;
  }
  auto before = dir_contents(dir.db());
  auto s = Store::open(open_options(dir));
  EXPECT_EQ(s.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(contains(s.status().message(), "not a changeagent store")) << s.status().message();
  EXPECT_EQ(dir_contents(dir.db()), before);
}

// Each meta value damaged on its own: the store says kCorruption (at open or
// at the read that needs the value), names the key, and never misreads.
TEST(StoreOpen, CorruptMetaValuesAreCorruption) {
  struct Case {
    std::string key;
    std::string value;
    bool fails_at_open;  // else at load_boot
  };
  const std::string garbage("\xff\xff\xff", 3);
  for (const Case& c : {Case{std::string(keys::kClusterId), "abc", true},
                        Case{std::string(keys::kNodeId), "", true},
                        Case{std::string(keys::kFormatVersion), "x", true},
                        Case{std::string(keys::kSnapshotMeta), garbage, true},
                        Case{std::string(keys::kLogBase), "short", true},
                        Case{std::string(keys::kHardState), garbage, false},
                        Case{std::string(keys::kApplied), "1234", false},
                        Case{keys::conf_key(2), garbage, false}}) {
    TempDir dir;
    make_store(dir);
    RawDb(dir.db()).put(keys::kMetaFamily, c.key, c.value);
    auto s = Store::open(open_options(dir, 7, 1));
    Status st = s.status();
    if (!c.fails_at_open) {
      ASSERT_TRUE(s.is_ok()) << c.key << ": " << st.to_string();
      st = (*s)->load_boot().status();
    }
    EXPECT_EQ(st.code(), Code::kCorruption) << c.key << ": " << st.to_string();
    EXPECT_TRUE(contains(st.message(), dir.db())) << st.message();
  }
}

TEST(StoreOpen, CorruptLogEntryIsCorruption) {
  TempDir dir;
  make_store(dir);
  RawDb(dir.db()).put(keys::kLogFamily, keys::log_key(2), "\xff\xff");
  auto s = open_ok(open_options(dir, 7, 1));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->entries(Index(1), Index(4), UINT64_MAX).status().code(), Code::kCorruption);
  EXPECT_EQ(s->term(Index(2)).status().code(), Code::kCorruption);
  // An entry stored under another index's key is caught by the paired check.
  s.reset();
  RawDb(dir.db()).put(keys::kLogFamily, keys::log_key(2), raftpb::encode_entry(entry(5, 1)));
  s = open_ok(open_options(dir, 7, 1));
  ASSERT_TRUE(s);
  Status st = s->term(Index(2)).status();
  EXPECT_EQ(st.code(), Code::kCorruption);
  EXPECT_TRUE(contains(st.message(), "claims index 5")) << st.message();
}

}  // namespace
}  // namespace storage::testing
