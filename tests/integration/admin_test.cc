// changeagent-admin against real clusters (issue 8): a live dump under
// writes loaded into a new 3-node cluster whose feeds and keys match the
// source up to the dump's index; damaged dumps refused with offsets; a
// majority lost for good, then recover --force-new-cluster on the survivor
// and two fresh nodes: every change acknowledged before the loss is there.
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/integration/test_util.h"
#include "tests/unit/storage/raw_db.h"

namespace integration {
namespace {

namespace fs = std::filesystem;

struct ToolRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs changeagent-admin to completion (it bounds its own waits).
ToolRun admin_tool(const std::string& args) {
  ToolRun out;
  std::string cmd = std::string(CHANGEAGENT_ADMIN_BIN) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.output.append(buf, n);
  int st = ::pclose(p);
  out.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return out;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Writes keys k<seq> (each once) with value {"seq":n} until stopped.
class KeyWriter {
 public:
  explicit KeyWriter(std::vector<std::string> endpoints) : endpoints_(std::move(endpoints)) {}
  ~KeyWriter() { stop(); }
  void start() {
    thread_ = std::thread([this] {
      api::ClientOptions o;
      o.endpoints = endpoints_;
      o.request_timeout = Millis(3000);
      auto c = api::Client::create(o);
      if (!c.is_ok()) return;
      for (uint64_t seq = 1; !stop_; seq++) {
        auto r = (*c)->put_key("k" + std::to_string(seq), "{\"seq\":" + std::to_string(seq) + "}");
        if (r.is_ok() && r->succeeded) acked_++;
      }
    });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t acked() const { return acked_; }

 private:
  std::vector<std::string> endpoints_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> acked_{0};
  std::thread thread_;
};

// Every key with its value and revision, from one node.
std::map<std::string, std::pair<std::string, uint64_t>> all_keys(api::Client& c) {
  std::map<std::string, std::pair<std::string, uint64_t>> out;
  std::string after;
  for (int i = 0; i < 1000; i++) {
    auto page = c.list_keys("", after, 1000);
    if (!page.is_ok()) {
      ADD_FAILURE() << page.status().to_string();
      return out;
    }
    for (const auto& kv : page->keys) out[kv.key] = {kv.value_json, kv.mod_revision};
    if (!page->more || page->keys.empty()) break;
    after = page->keys.back().key;
  }
  return out;
}

std::string describe(const api::Change& c) {
  std::string s = std::to_string(c.id) + " ts=" + std::to_string(c.ts_ns) +
                  " type=" + std::to_string(c.type) + " data=" + c.data_json + " tags=";
  for (const auto& t : c.tags) s += t + ",";
  for (const auto& op : c.ops) s += " op:" + op.key + (op.del ? "(del)" : "");
  return s;
}

std::vector<std::string> endpoints_of(Cluster& c) {
  std::vector<std::string> out;
  for (size_t i = 0; i < c.size(); i++) {
    if (c.running(i)) out.push_back(c.node(i).client_address());
  }
  return out;
}

class AdminTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (Cluster* c : {source_.get(), target_.get()}) report_on_failure(c);
  }
  std::unique_ptr<Cluster> source_, target_;
};

TEST_F(AdminTest, LiveDumpUnderWritesLoadsIntoANewClusterWithTheSameFeedAndKeys) {
  source_ = std::make_unique<Cluster>(ClusterOptions{});
  ASSERT_TRUE(ok(source_->start_all()));
  auto leader = source_->wait_for_leader(Millis(10000));
  ASSERT_TRUE(ok(leader));
  Writer writer(endpoints_of(*source_), "w", Millis(3000));
  KeyWriter keys(endpoints_of(*source_));
  writer.start();
  keys.start();
  ASSERT_TRUE(writer.wait_acked(400, Millis(30000)));

  // Dump from a follower while both writers keep going.
  size_t from = source_->followers(*leader).front();
  std::string dump = source_->make_dir("dumps") + "/live.dump";
  ToolRun d =
      admin_tool("dump --url http://" + source_->node(from).client_address() + " --out " + dump);
  size_t acked_during = writer.acked_count();
  ASSERT_TRUE(writer.wait_acked(acked_during + 50, Millis(20000)));  // writes went on
  writer.stop();
  keys.stop();
  ASSERT_EQ(d.exit_code, 0) << d.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(d.output, m, std::regex("entries 1\\.\\.([0-9]+)"))) << d.output;
  const uint64_t last = std::stoull(m[1]);
  ASSERT_GT(last, 400u);
  ASSERT_TRUE(ok(source_->wait_converged(Millis(20000))));

  // The source's feed and keys as of `last`.
  auto src_client = source_->client(from);
  auto src_feed = full_feed(*src_client);
  ASSERT_TRUE(ok(src_feed));
  std::vector<api::Change> expected;
  for (const auto& c : *src_feed) {
    if (c.id <= last) expected.push_back(c);
  }
  ASSERT_GT(expected.back().id, src_feed->front().id);
  ASSERT_LT(expected.size(), src_feed->size()) << "the writers should have gone past the dump";
  std::map<std::string, std::pair<std::string, uint64_t>> expected_keys;
  for (const auto& [k, v] : all_keys(*src_client)) {
    if (v.second <= last) expected_keys[k] = v;
  }
  ASSERT_GT(expected_keys.size(), 10u);

  // Damaged copies are refused with the offset and the reason; nothing is made.
  {
    std::string cut = source_->make_dir("dumps") + "/cut.dump";
    fs::copy_file(dump, cut);
    fs::resize_file(cut, fs::file_size(dump) / 2);
    std::string dir = source_->make_dir("dumps") + "/never";
    fs::remove_all(dir);
    ToolRun r =
        admin_tool("load " + cut + " --data-dir " + dir + " --name x --advertise-peer 127.0.0.1:1");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(contains(r.output, "truncated")) << r.output;
    EXPECT_TRUE(contains(r.output, ": byte ")) << r.output;
    EXPECT_FALSE(fs::exists(dir));
    std::string flipped = source_->make_dir("dumps") + "/flipped.dump";
    fs::copy_file(dump, flipped);
    {
      std::fstream f(flipped, std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(static_cast<std::streamoff>(fs::file_size(dump) / 3));
      char c = 0;
      f.get(c);
      f.seekp(static_cast<std::streamoff>(fs::file_size(dump) / 3));
      f.put(static_cast<char>(c ^ 0x04));
    }
    // A flipped payload bit fails its record's CRC; a flipped length bit
    // makes the frame run past its end: either way, the offset and why.
    auto damaged = [](const std::string& out) {
      return contains(out, ": byte ") &&
             (contains(out, "checksum mismatch") || contains(out, "length field"));
    };
    r = admin_tool("verify " + flipped);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(damaged(r.output)) << r.output;
    r = admin_tool("load " + flipped + " --data-dir " + dir +
                   " --name x --advertise-peer 127.0.0.1:1");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(damaged(r.output)) << r.output;
    EXPECT_FALSE(fs::exists(dir));
  }

  // The new cluster: n1 from the dump (its ports picked by a first empty
  // start), then two nodes joining it.
  ClusterOptions topts;
  topts.nodes = 1;
  topts.token = "loaded";
  target_ = std::make_unique<Cluster>(topts);
  ASSERT_TRUE(ok(target_->start_all()));
  target_->kill9(0);
  {
    // A non-empty data dir is never overwritten without --force.
    ToolRun r = admin_tool("load " + dump + " --data-dir " + target_->node(0).data_dir +
                           " --name n1 --advertise-peer " + target_->node(0).peer_address());
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_TRUE(contains(r.output, "not empty")) << r.output;
  }
  ToolRun l = admin_tool("load " + dump + " --force --data-dir " + target_->node(0).data_dir +
                         " --name n1 --advertise-peer " + target_->node(0).peer_address() +
                         " --advertise-client http://" + target_->node(0).client_address() +
                         " --initial-cluster-token loaded");
  ASSERT_EQ(l.exit_code, 0) << l.output;
  ASSERT_TRUE(ok(target_->start(0)));
  ASSERT_TRUE(ok(target_->wait_for_leader(Millis(10000))));
  for (int k = 0; k < 2; k++) {
    auto j = target_->add_joining_node(Millis(20000));
    ASSERT_TRUE(ok(j));
  }
  ASSERT_TRUE(ok(target_->wait_converged(Millis(60000), last)));
  auto src_cluster = src_client->cluster();
  auto dst_cluster = target_->client(0)->cluster();
  ASSERT_TRUE(ok(src_cluster));
  ASSERT_TRUE(ok(dst_cluster));
  EXPECT_NE(src_cluster->cluster_id, dst_cluster->cluster_id);
  EXPECT_EQ(dst_cluster->members.size(), 3u);

  for (size_t i = 0; i < target_->size(); i++) {
    auto c = target_->client(i);
    auto feed = full_feed(*c);
    ASSERT_TRUE(ok(feed));
    ASSERT_EQ(feed->size(), expected.size()) << "node " << i;
    for (size_t k = 0; k < expected.size(); k++) {
      ASSERT_EQ(describe((*feed)[k]), describe(expected[k])) << "node " << i << " change " << k;
    }
    EXPECT_EQ(all_keys(*c), expected_keys) << "node " << i;
  }
  // The loaded cluster takes writes after the dump's last index.
  auto w = target_->client_all()->post_change(change_of("{\"after\":\"load\"}"));
  ASSERT_TRUE(ok(w));
  EXPECT_GT(w->id, last);
}

TEST_F(AdminTest, MajorityLostForGoodThenRecoverForceNewClusterKeepsEveryAcknowledgedChange) {
  source_ = std::make_unique<Cluster>(ClusterOptions{});
  ASSERT_TRUE(ok(source_->start_all()));
  auto leader = source_->wait_for_leader(Millis(10000));
  ASSERT_TRUE(ok(leader));
  // Writes go through the survivor (a follower): it answers 201 only once it
  // applied the change itself, so every acknowledged change is on its disk.
  size_t survivor = source_->followers(*leader).front();
  Writer writer({source_->node(survivor).client_address()}, "r", Millis(3000));
  writer.start();
  ASSERT_TRUE(writer.wait_acked(300, Millis(30000)));
  auto kc = source_->client(survivor);
  for (int k = 0; k < 20; k++) {
    auto r = kc->put_key("lost/" + std::to_string(k), "{\"k\":" + std::to_string(k) + "}");
    ASSERT_TRUE(ok(r));
  }
  // The majority dies mid-write and its disks are gone.
  for (size_t i = 0; i < source_->size(); i++) {
    if (i == survivor) continue;
    source_->kill9(i);
    fs::remove_all(source_->node(i).data_dir);
    source_->retire(i);
  }
  writer.stop();
  std::vector<Acked> acked = writer.acked();
  source_->kill9(survivor);

  const std::string dir = source_->node(survivor).data_dir;
  ToolRun no_flag = admin_tool("recover --data-dir " + dir);
  EXPECT_EQ(no_flag.exit_code, 2) << no_flag.output;
  EXPECT_TRUE(contains(no_flag.output, "--force-new-cluster")) << no_flag.output;
  ToolRun r = admin_tool("recover --force-new-cluster --data-dir " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "WARNING")) << r.output;
  EXPECT_TRUE(contains(r.output, "only member")) << r.output;
  ToolRun v = admin_tool("verify --data-dir " + dir);
  EXPECT_EQ(v.exit_code, 0) << v.output;

  ASSERT_TRUE(ok(source_->start(survivor)));
  ASSERT_TRUE(ok(source_->wait_for_leader(Millis(10000))));
  for (int k = 0; k < 2; k++) ASSERT_TRUE(ok(source_->add_joining_node(Millis(20000))));
  ASSERT_TRUE(ok(source_->wait_converged(Millis(60000))));
  auto cluster = source_->client(survivor)->cluster();
  ASSERT_TRUE(ok(cluster));
  EXPECT_EQ(cluster->members.size(), 3u);

  for (size_t i = 0; i < source_->size(); i++) {
    if (!source_->running(i)) continue;
    auto c = source_->client(i);
    auto feed = full_feed(*c);
    ASSERT_TRUE(ok(feed));
    std::map<uint64_t, std::string> by_id;
    for (const auto& ch : *feed) by_id[ch.id] = ch.data_json;
    for (const auto& a : acked) {
      auto it = by_id.find(a.id);
      ASSERT_NE(it, by_id.end()) << "acknowledged change " << a.id << " lost on node " << i;
      EXPECT_TRUE(contains(it->second, "\"seq\":" + std::to_string(a.seq))) << it->second;
    }
    auto keys = all_keys(*c);
    for (int k = 0; k < 20; k++) EXPECT_EQ(keys.count("lost/" + std::to_string(k)), 1u) << i;
  }
  // And it takes writes again, with a quorum of the new members.
  auto w = source_->client_all()->post_change(change_of("{\"after\":\"recover\"}"));
  EXPECT_TRUE(ok(w));
}

// A store written by a format this binary does not know: changeagent
// refuses to start, changes nothing, and names the migration tool.
TEST_F(AdminTest, UnknownStoreFormatIsRefusedNamingTheMigrationTool) {
  ClusterOptions o;
  o.nodes = 1;
  source_ = std::make_unique<Cluster>(o);
  ASSERT_TRUE(ok(source_->start_all()));
  source_->kill9(0);
  const NodeSpec& n = source_->node(0);
  storage::testing::RawDb(n.data_dir)
      .put(storage::keys::kMetaFamily, storage::keys::kFormatVersion, storage::keys::be64(99));
  auto r = source_->run_once(
      {"--name=" + n.name, "--data-dir=" + n.data_dir, "--listen-client=" + n.client_address(),
       "--listen-peer=" + n.peer_address(), "--initial-cluster=" + source_->initial_cluster(),
       "--initial-cluster-token=" + n.token},
      Millis(10000));
  ASSERT_TRUE(ok(r));
  EXPECT_FALSE(r->exit.signaled);
  EXPECT_NE(r->exit.code, 0);
  EXPECT_TRUE(contains(r->stderr_text, "format version 99")) << r->stderr_text;
  EXPECT_TRUE(contains(r->stderr_text, "changeagent-admin dump")) << r->stderr_text;
  EXPECT_FALSE(contains(r->stderr_text, "describe another node")) << r->stderr_text;
  ToolRun v = admin_tool("verify --data-dir " + n.data_dir);
  EXPECT_EQ(v.exit_code, 1) << v.output;
  EXPECT_TRUE(contains(v.output, "format version 99")) << v.output;
}

}  // namespace
}  // namespace integration
