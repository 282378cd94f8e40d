// Store -> dump -> new store, on real RocksDB: the loaded store holds the
// same log, snapshot and state rows plus one membership entry naming the
// new node; refusals (non-empty target, damaged dump, store in use) change
// nothing; recover --force-new-cluster leaves one member and every entry.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "admin/data_dir.h"
#include "admin/dump_export.h"
#include "admin/load.h"
#include "admin/recover.h"
#include "admin/verify.h"
#include "api/node.h"
#include "api/node_impl.h"
#include "state/state_view.h"
#include "storage/store_export.h"

namespace admin {
namespace {

namespace fs = std::filesystem;
using raftlog::Index;
using raftlog::Term;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "admin_test.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

raftlog::Membership three_members() {
  raftlog::Membership m;
  for (int i = 1; i <= 3; i++) {
    std::string name = "n" + std::to_string(i);
    api::MemberAddress a{name, "127.0.0.1:" + std::to_string(7000 + i),
                         "http://127.0.0.1:" + std::to_string(8000 + i), false};
    m.members.emplace(api::node_id_for(name),
                      raftlog::Member{false, api::encode_member_address(a)});
  }
  return m;
}

struct Source {
  std::vector<raftlog::Entry> entries;
  std::map<std::string, std::string> rows;
};

// A store of node n1 in a 3-node cluster: entries 1..n (a membership entry
// at 5), keys written by every entry through the state view, commit
// `commit`, applied n... or commit when lower.
Source make_store(const std::string& dir, uint64_t n, uint64_t commit) {
  Source src;
  storage::OpenOptions o;
  o.dir = dir;
  o.create_if_missing = true;
  o.cluster_id = raftlog::ClusterId(42);
  o.node_id = api::node_id_for("n1");
  auto st = storage::Store::open(o);
  EXPECT_TRUE(st.is_ok()) << st.status().to_string();
  storage::PersistBatch boot;
  boot.snapshot =
      raftlog::Snapshot{raftlog::SnapshotMeta{Index(0), Term(0), three_members()}, nullptr};
  boot.sync = true;
  EXPECT_TRUE((*st)->write(boot).is_ok());
  state::StateView view;
  storage::PersistBatch b;
  for (uint64_t i = 1; i <= n; i++) {
    raftlog::Entry e{Term(1 + i / 50), Index(i), raftlog::EntryType::kNormal,
                     "payload " + std::to_string(i)};
    if (i == 5) {
      e.type = raftlog::EntryType::kMembership;
      e.data = raftlog::encode_membership(three_members());
    }
    b.entries.push_back(e);
    src.entries.push_back(e);
    if (i <= commit) {
      state::Command c;
      c.ops.push_back(
          state::Op{"key/" + std::to_string(i % 7), false, "\"v" + std::to_string(i) + "\"", 0});
      std::vector<state::Row> rows;
      view.apply(i, c, &rows);
      for (auto& r : rows) {
        if (r.value) src.rows[r.key] = *r.value;
        b.state_rows.emplace_back(r.key, r.value);
      }
    }
  }
  b.hard_state = raftlog::HardState{Term(1 + n / 50), raftlog::kNoNode, Index(commit)};
  b.applied = Index(commit);
  b.sync = true;
  EXPECT_TRUE((*st)->write(b).is_ok());
  return src;
}

Status dump_dir(const std::string& dir, const std::string& file) {
  auto store = open_offline(dir, true);
  if (!store.is_ok()) return store.status();
  auto view = (*store)->export_view();
  if (!view.is_ok()) return view.status();
  auto h = dump_header(**view, "dir:" + dir);
  if (!h.is_ok()) return h.status();
  std::ofstream out(file, std::ios::binary);
  DumpWriter w([&](std::string_view b) {
    out.write(b.data(), static_cast<std::streamsize>(b.size()));
    return Status::ok();
  });
  return write_dump(**view, *h, w, {});
}

LoadOptions load_options(const std::string& dump, const std::string& dir) {
  LoadOptions o;
  o.dump_path = dump;
  o.data_dir = dir;
  o.name = "n9";
  o.peer_address = "127.0.0.1:9009";
  o.client_url = "http://127.0.0.1:9090";
  o.token = "t";
  return o;
}

std::map<std::string, std::string> rows_of(storage::Store& s) {
  std::map<std::string, std::string> out;
  EXPECT_TRUE(s.scan_state([&](const std::string& k, const std::string& v) {
                 out[k] = v;
                 return Status::ok();
               }).is_ok());
  return out;
}

TEST(DumpLoad, RoundTripIntoANewOneNodeCluster) {
  TempDir t;
  Source src = make_store(t.sub("src"), 300, 290);
  ASSERT_TRUE(dump_dir(t.sub("src"), t.sub("d.dump")).is_ok());
  auto v = verify_dump(t.sub("d.dump"), {});
  ASSERT_TRUE(v.is_ok()) << v.status().to_string();
  EXPECT_NE(v->find("entries 1..290 (290)"), std::string::npos) << *v;  // only committed ones

  auto r = load_dump(load_options(t.sub("d.dump"), t.sub("new")));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->entries, 290u);
  EXPECT_EQ(r->cluster_id, api::cluster_id_for({api::PeerSpec{"n9", "127.0.0.1:9009"}}, "t"));
  auto vd = verify_data_dir(t.sub("new"), {});
  ASSERT_TRUE(vd.is_ok()) << vd.status().to_string();

  auto st = open_offline(t.sub("new"), true);
  ASSERT_TRUE(st.is_ok());
  EXPECT_EQ((*st)->node_id(), api::node_id_for("n9"));
  EXPECT_EQ((*st)->last_index(), Index(291));
  auto ents = (*st)->entries(Index(1), Index(291), 1u << 30);
  ASSERT_TRUE(ents.is_ok());
  ASSERT_EQ(ents->size(), 290u);
  for (size_t i = 0; i < ents->size(); i++) EXPECT_EQ((*ents)[i], src.entries[i]) << i;
  auto boot = (*st)->load_boot();
  ASSERT_TRUE(boot.is_ok());
  EXPECT_EQ(boot->hard_state.commit, Index(291));
  EXPECT_EQ(boot->applied, Index(290));
  ASSERT_EQ(boot->configs.size(), 1u);
  EXPECT_EQ(boot->configs[0].first, Index(291));
  ASSERT_EQ(boot->configs[0].second.members.size(), 1u);
  auto self = boot->configs[0].second.members.at(api::node_id_for("n9"));
  EXPECT_FALSE(self.learner);
  EXPECT_EQ(api::decode_member_address(self.address).peer, "127.0.0.1:9009");
  EXPECT_EQ(rows_of(**st), src.rows);
}

TEST(DumpLoad, KeepClusterIdKeepsIt) {
  TempDir t;
  make_store(t.sub("src"), 20, 20);
  ASSERT_TRUE(dump_dir(t.sub("src"), t.sub("d.dump")).is_ok());
  auto o = load_options(t.sub("d.dump"), t.sub("new"));
  o.keep_cluster_id = true;
  auto r = load_dump(o);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->cluster_id, raftlog::ClusterId(42));
}

// A log that starts above 1: the snapshot, its data and the log base travel.
TEST(DumpLoad, CompactedLogKeepsBaseSnapshotAndData) {
  TempDir t;
  Source src = make_store(t.sub("src"), 200, 200);
  {
    auto st = open_offline(t.sub("src"), false);
    ASSERT_TRUE(st.is_ok());
    auto term60 = (*st)->term(Index(160));
    ASSERT_TRUE(term60.is_ok());
    raftlog::Snapshot snap{raftlog::SnapshotMeta{Index(160), *term60, three_members()},
                           std::make_shared<const std::string>(std::string(3u << 20, 's'))};
    ASSERT_TRUE((*st)->save_snapshot(snap).is_ok());
    ASSERT_TRUE((*st)->compact(Index(101)).is_ok());
  }
  ASSERT_TRUE(dump_dir(t.sub("src"), t.sub("d.dump")).is_ok());
  auto v = verify_dump(t.sub("d.dump"), {});
  ASSERT_TRUE(v.is_ok()) << v.status().to_string();
  auto r = load_dump(load_options(t.sub("d.dump"), t.sub("new")));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  auto vd = verify_data_dir(t.sub("new"), {});
  ASSERT_TRUE(vd.is_ok()) << vd.status().to_string();
  auto st = open_offline(t.sub("new"), true);
  ASSERT_TRUE(st.is_ok());
  EXPECT_EQ((*st)->first_index(), Index(101));
  EXPECT_EQ((*st)->snapshot().index, Index(160));
  auto snap = (*st)->load_snapshot();
  ASSERT_TRUE(snap.is_ok());
  EXPECT_EQ(*snap->data, std::string(3u << 20, 's'));
  auto ents = (*st)->entries(Index(101), Index(201), 1u << 30);
  ASSERT_TRUE(ents.is_ok());
  ASSERT_EQ(ents->size(), 100u);
  EXPECT_EQ(ents->front(), src.entries[100]);
  EXPECT_EQ(rows_of(**st), src.rows);
}

TEST(DumpLoad, NeverOverwritesWithoutForce) {
  TempDir t;
  make_store(t.sub("src"), 10, 10);
  ASSERT_TRUE(dump_dir(t.sub("src"), t.sub("d.dump")).is_ok());
  fs::create_directories(t.sub("busy"));
  std::ofstream(t.sub("busy") + "/precious") << "keep me";
  auto r = load_dump(load_options(t.sub("d.dump"), t.sub("busy")));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), common::Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("--force"), std::string::npos) << r.status().message();
  EXPECT_TRUE(fs::exists(t.sub("busy") + "/precious"));

  auto o = load_options(t.sub("d.dump"), t.sub("busy"));
  o.force = true;
  auto forced = load_dump(o);
  ASSERT_TRUE(forced.is_ok()) << forced.status().to_string();
  EXPECT_FALSE(fs::exists(t.sub("busy") + "/precious"));
  EXPECT_TRUE(verify_data_dir(t.sub("busy"), {}).is_ok());
}

TEST(DumpLoad, DamagedDumpLeavesNoDataDir) {
  TempDir t;
  make_store(t.sub("src"), 100, 100);
  ASSERT_TRUE(dump_dir(t.sub("src"), t.sub("d.dump")).is_ok());
  {
    std::fstream f(t.sub("d.dump"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2000);
    f.put('\x55');
  }
  auto r = load_dump(load_options(t.sub("d.dump"), t.sub("new")));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), common::Code::kCorruption);
  EXPECT_NE(r.status().message().find(": byte "), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(t.sub("new")));
  for (const auto& e : fs::directory_iterator(t.sub(""))) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
  fs::resize_file(t.sub("d.dump"), 1500);
  r = load_dump(load_options(t.sub("d.dump"), t.sub("new")));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().message();
}

TEST(DumpLoad, StoreInUseIsRefused) {
  TempDir t;
  make_store(t.sub("src"), 10, 10);
  storage::OpenOptions o;
  o.dir = t.sub("src");
  auto running = storage::Store::open(o);  // holds the RocksDB lock, as a node does
  ASSERT_TRUE(running.is_ok());
  auto r = open_offline(t.sub("src"), true);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("in use"), std::string::npos) << r.status().message();
}

TEST(Recover, ForceNewClusterKeepsEveryEntryAndOneMember) {
  TempDir t;
  Source src = make_store(t.sub("src"), 100, 80);
  auto r = recover_force_new_cluster(RecoverOptions{t.sub("src"), ""});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->last_index, 100u);
  EXPECT_EQ(r->config_index, 101u);
  EXPECT_EQ(r->dropped.size(), 2u);
  EXPECT_EQ(r->peer_address, "127.0.0.1:7001");
  auto vd = verify_data_dir(t.sub("src"), {});
  ASSERT_TRUE(vd.is_ok()) << vd.status().to_string();
  auto st = open_offline(t.sub("src"), true);
  ASSERT_TRUE(st.is_ok());
  auto boot = (*st)->load_boot();
  ASSERT_TRUE(boot.is_ok());
  EXPECT_EQ(boot->hard_state.commit, Index(101));
  ASSERT_EQ(boot->configs.size(), 1u);
  EXPECT_EQ(boot->configs[0].second.members.size(), 1u);
  EXPECT_TRUE(boot->configs[0].second.is_voter(api::node_id_for("n1")));
  auto ents = (*st)->entries(Index(1), Index(101), 1u << 30);
  ASSERT_TRUE(ents.is_ok());
  for (size_t i = 0; i < ents->size(); i++) EXPECT_EQ((*ents)[i], src.entries[i]);
}

TEST(Recover, RefusesAMissingStore) {
  TempDir t;
  auto r = recover_force_new_cluster(RecoverOptions{t.sub("nothing"), ""});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), common::Code::kNotFound);
}

}  // namespace
}  // namespace admin
