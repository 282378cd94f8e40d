// Cluster identity: a node of another cluster (another
// --initial-cluster-token) is refused by its would-be peers and never counts
// toward the quorum; a node refuses to start on a data dir it cannot use.
#include <sstream>

#include "tests/integration/test_util.h"

namespace integration {
namespace {

class IdentityTest : public ClusterTest {
 protected:
  // The lines of `text` that are not blank.
  static std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (line.find_first_not_of(" \t\r") != std::string::npos) out.push_back(line);
    }
    return out;
  }
};

TEST_F(IdentityTest, NodeWithAnotherClusterTokenCannotJoin) {
  cluster_ = std::make_unique<Cluster>(ClusterOptions{});
  const size_t foreign = 2;
  cluster_->node(foreign).token = "another-cluster";
  ASSERT_TRUE(ok(cluster_->start_all()));
  auto l = cluster_->wait_for_leader(Millis(10000));
  ASSERT_TRUE(ok(l));
  EXPECT_NE(*l, foreign);
  // The two of the same cluster work.
  for (size_t i = 0; i < 2; i++) {
    for (int k = 0; k < 5; k++) {
      EXPECT_TRUE(
          ok(cluster_->client(i)->post_change(change_of("{\"k\":" + std::to_string(k) + "}"))));
    }
  }
  // Its peers log why they refuse it.
  bool refused = false;
  for (auto deadline = Clock::now() + Millis(5000); !refused && Clock::now() < deadline;) {
    refused = true;
    for (size_t i = 0; i < 2; i++) {
      std::string log = cluster_->read_log(i);
      refused &= log.find("refusing peer connection") != std::string::npos &&
                 log.find("belongs to cluster") != std::string::npos;
    }
    if (!refused) std::this_thread::sleep_for(Millis(20));
  }
  EXPECT_TRUE(refused) << "n1 and n2 must log a refusal of " << cluster_->node(foreign).name;

  // It has no leader, nothing committed, an empty feed, another cluster id.
  auto fc = cluster_->client(foreign);
  auto d = fc->diagnostics();
  ASSERT_TRUE(ok(d));
  EXPECT_NE(d->state, "leader");
  EXPECT_EQ(d->leader, 0u);
  EXPECT_EQ(d->committed_index, 0u);
  auto feed = fc->get_feed(api::FeedRequest{});
  ASSERT_TRUE(ok(feed));
  EXPECT_TRUE(feed->changes.empty());
  auto mine = cluster_->client(*l)->cluster();
  auto theirs = fc->cluster();
  ASSERT_TRUE(ok(mine));
  ASSERT_TRUE(ok(theirs));
  EXPECT_NE(mine->cluster_id, theirs->cluster_id);
  // The leader sees it as an unconnected peer that matched nothing.
  auto ld = cluster_->client(*l)->diagnostics();
  ASSERT_TRUE(ok(ld));
  bool seen = false;
  for (const auto& p : ld->peers) {
    if (p.id != cluster_->node(foreign).id) continue;
    seen = true;
    EXPECT_FALSE(p.connected);
    EXPECT_EQ(p.match, 0u);
  }
  EXPECT_TRUE(seen) << "the leader lists every member of its own membership";
  // A write to it is refused within a bound, never hangs.
  auto t0 = Clock::now();
  auto r = fc->request("POST", "/changes", "{\"data\":\"foreign\"}");
  EXPECT_TRUE(is_json_error(r, 503, "unavailable"));
  EXPECT_LT(ms_since(t0), 6000);

  // It never counts toward the quorum: with the other member of its
  // cluster gone, the leader cannot commit although the foreign node is up.
  size_t other = *l == 0 ? 1 : 0;
  cluster_->kill9(other);
  t0 = Clock::now();
  auto lost = http(*cluster_, *l, "POST", "/changes", "{\"data\":\"no quorum\"}");
  ASSERT_TRUE(ok(lost));
  EXPECT_LT(ms_since(t0), 8000);
  EXPECT_TRUE(lost->status == 503 || lost->status == 504) << lost->status << " " << lost->body;
  ASSERT_TRUE(ok(cluster_->start(other)));
  ASSERT_TRUE(ok(cluster_->wait_for_leader(Millis(10000))));
  EXPECT_TRUE(ok(cluster_->client(other)->post_change(change_of("{\"back\":1}"))));
}

// Start-up refusals that need no cluster: exit code 1 and one line on
// stderr that says what to do.
TEST_F(IdentityTest, RefusesToStartWithoutAUsableCluster) {
  cluster_ = std::make_unique<Cluster>(ClusterOptions{1});
  std::string dir = cluster_->make_dir("empty.data");
  struct Case {
    const char* story;
    std::vector<std::string> args;
    const char* says;
  };
  std::vector<Case> cases = {
      {"empty data dir, no --initial-cluster",
       {"--name=n1", "--data-dir=" + dir, "--listen-client=127.0.0.1:0",
        "--listen-peer=127.0.0.1:0"},
       "--initial-cluster"},
      {"--initial-cluster without this node",
       {"--name=n1", "--data-dir=" + dir, "--listen-client=127.0.0.1:0",
        "--listen-peer=127.0.0.1:0", "--initial-cluster=n2=127.0.0.1:1,n3=127.0.0.1:2"},
       "n1"},
      {"no --data-dir", {"--name=n1"}, "--data-dir"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.story);
    auto r = cluster_->run_once(c.args, Millis(10000));
    ASSERT_TRUE(ok(r));
    EXPECT_FALSE(r->exit.signaled);
    EXPECT_NE(r->exit.code, 0);
    auto lines = lines_of(r->stderr_text);
    EXPECT_EQ(lines.size(), 1u) << r->stderr_text;
    EXPECT_NE(r->stderr_text.find(c.says), std::string::npos) << r->stderr_text;
  }
}

// Once a bug (FINDINGS.md "F1", fixed): the node adopted the identity of
// whatever data dir it was given.
TEST_F(IdentityTest, RefusesDataDirOfAnotherCluster) {
  ASSERT_NO_FATAL_FAILURE(start(ClusterOptions{1}));
  ASSERT_TRUE(ok(cluster_->client(0)->post_change(change_of("{\"a\":1}"))));
  auto e = cluster_->terminate(0, Millis(5000));
  ASSERT_TRUE(ok(e));
  const NodeSpec& n = cluster_->node(0);
  // The flags describe another cluster than the one in the data dir: another
  // token, and (second case) another member name too.
  std::vector<std::vector<std::string>> variants = {
      {"--name=n1", "--initial-cluster=n1=" + n.peer_address(),
       "--initial-cluster-token=another-cluster"},
      {"--name=n9", "--initial-cluster=n9=" + n.peer_address(),
       "--initial-cluster-token=another-cluster"},
  };
  for (auto args : variants) {
    SCOPED_TRACE(args[0]);
    args.push_back("--data-dir=" + n.data_dir);
    args.push_back("--listen-client=" + n.client_address());
    args.push_back("--listen-peer=" + n.peer_address());
    args.push_back("--tick-ms=10");
    auto r = cluster_->run_once(args, Millis(5000));
    ASSERT_TRUE(ok(r)) << "it must refuse at once, not serve";
    EXPECT_FALSE(r->exit.signaled);
    EXPECT_NE(r->exit.code, 0);
    auto lines = lines_of(r->stderr_text);
    EXPECT_EQ(lines.size(), 1u) << r->stderr_text;
    EXPECT_NE(r->stderr_text.find("cluster"), std::string::npos) << r->stderr_text;
  }
}

}  // namespace
}  // namespace integration
