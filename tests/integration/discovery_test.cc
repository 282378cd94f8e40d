// Discovery with real changeagent processes: a 3-node cluster bootstrapped
// from DNS SRV records served by a real dnsmasq, and one from a file that
// starts empty and is filled in later. Afterwards a changed source only
// produces a logged proposal (with its changectl command, in /diagnostics
// and /metrics) and never a membership change; NXDOMAIN, garbage records
// and a dead DNS server never crash a node or shrink the cluster. A
// request with another cluster's X-Cluster-Id is refused with 409 and
// writes nothing.
#include <filesystem>
#include <fstream>

#include "tests/integration/test_util.h"
#include "tests/unit/discovery/dnsmasq.h"

namespace integration {
namespace {

namespace fs = std::filesystem;
using discovery::test::Dnsmasq;

constexpr Millis kStartTimeout{15000};
constexpr Millis kProposalTimeout{10000};

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    n++;
  }
  return n;
}

class DiscoveryTest : public ClusterTest {
 protected:
  // Waits until every running node's log (after `from[i]` bytes) contains
  // each needle.
  bool wait_logged(const std::vector<std::string>& needles, Millis timeout,
                   const std::vector<size_t>& from = {}) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      bool all = true;
      for (size_t i = 0; i < cluster_->size() && all; i++) {
        if (!cluster_->running(i)) continue;
        std::string log = cluster_->read_log(i).substr(from.empty() ? 0 : from[i]);
        for (const auto& n : needles) all &= log.find(n) != std::string::npos;
      }
      if (all) return true;
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(Millis(50));
    }
  }
  std::vector<size_t> log_sizes() {
    std::vector<size_t> out;
    for (size_t i = 0; i < cluster_->size(); i++) out.push_back(cluster_->read_log(i).size());
    return out;
  }
  void expect_members(const std::vector<std::string>& names) {
    for (size_t i = 0; i < cluster_->size(); i++) {
      if (!cluster_->running(i)) continue;
      auto view = cluster_->client(i)->cluster();
      ASSERT_TRUE(ok(view));
      std::vector<std::string> got;
      for (const auto& m : view->members) got.push_back(m.name);
      std::sort(got.begin(), got.end());
      EXPECT_EQ(got, names) << "membership seen by " << cluster_->node(i).name;
    }
  }
  void expect_all_running() {
    for (size_t i = 0; i < cluster_->size(); i++) {
      EXPECT_FALSE(cluster_->poll_exit(i).has_value()) << cluster_->node(i).name << " exited";
    }
  }
  // GET /diagnostics -> "discovery" object of node i.
  std::optional<boost::json::object> discovery_report(size_t i) {
    auto r = cluster_->client(i)->request("GET", "/diagnostics");
    if (!r.is_ok() || r->status != 200) return std::nullopt;
    auto v = parse_json(r->body);
    if (!v || !v->is_object()) return std::nullopt;
    auto* d = v->as_object().if_contains("discovery");
    if (d == nullptr || !d->is_object()) return std::nullopt;
    return d->as_object();
  }
  // Starts every node (they wait for discovery), lets `fill` complete the
  // source, then waits for them all and a leader.
  void start_discovering(const std::function<void()>& fill) {
    for (size_t i = 0; i < cluster_->size(); i++) ASSERT_TRUE(ok(cluster_->launch(i)));
    fill();
    for (size_t i = 0; i < cluster_->size(); i++) {
      ASSERT_TRUE(ok(cluster_->wait_answering(i, kStartTimeout)));
    }
    auto l = cluster_->wait_for_leader(Millis(10000));
    ASSERT_TRUE(ok(l));
    leader_ = *l;
  }
};

TEST_F(DiscoveryTest, SrvBootstrapThenChangesAreOnlyProposedAndBadDnsIsSurvived) {
  if (discovery::test::dnsmasq_path() == nullptr) GTEST_SKIP() << "dnsmasq not installed";
  cluster_ = std::make_unique<Cluster>(ClusterOptions{});
  ASSERT_TRUE(ok(cluster_->assign_ports()));
  Dnsmasq dns("ca.test");
  std::string error;
  ASSERT_TRUE(dns.start(error)) << error;  // no records yet: NXDOMAIN
  const std::string srv = "_changeagent._tcp.ca.test";
  for (size_t i = 0; i < cluster_->size(); i++) {
    auto& n = cluster_->node(i);
    n.name = "n" + std::to_string(i + 1) + ".ca.test";  // the SRV target is the member name
    n.bootstrap_args = {"--discovery-srv=ca.test", "--dns-server=" + dns.server(),
                        "--discovery-interval=200ms", "--initial-cluster-size=3"};
    dns.hosts.push_back({n.name, "127.0.0.1"});
  }
  ASSERT_NO_FATAL_FAILURE(start_discovering([&] {
    ASSERT_TRUE(wait_logged({"NXDOMAIN", "waiting to bootstrap a cluster of 3"}, kStartTimeout));
    for (size_t i = 0; i < cluster_->size(); i++) {
      EXPECT_TRUE(cluster_->running(i)) << "a node waits for its peers; it does not give up";
      EXPECT_FALSE(cluster_->wait_answering(i, Millis(10)).is_ok()) << "no HTTP before bootstrap";
    }
    for (size_t i = 0; i < cluster_->size(); i++) {
      dns.srv.push_back({srv, cluster_->node(i).name, cluster_->node(i).peer_port});
    }
    ASSERT_TRUE(dns.start(error)) << error;
  }));
  // One cluster: the same id everywhere, the discovered names, writes commit.
  std::string cluster_id;
  for (size_t i = 0; i < cluster_->size(); i++) {
    auto v = cluster_->client(i)->cluster();
    ASSERT_TRUE(ok(v));
    if (cluster_id.empty()) cluster_id = v->cluster_id;
    EXPECT_EQ(v->cluster_id, cluster_id);
  }
  ASSERT_NO_FATAL_FAILURE(expect_members({"n1.ca.test", "n2.ca.test", "n3.ca.test"}));
  auto c = cluster_->client_all();
  ASSERT_TRUE(ok(c->post_change(change_of("{\"srv\":1}"))));
  EXPECT_EQ(count_of(cluster_->read_log(0), "proposed membership change"), 0u);

  // DNS now lists n4 and no longer n3: proposed (add, remove), not applied.
  auto n4_port = Cluster::free_port();
  ASSERT_TRUE(ok(n4_port));
  auto before = log_sizes();
  dns.srv.pop_back();
  dns.srv.push_back({srv, "n4.ca.test", *n4_port});
  dns.hosts.push_back({"n4.ca.test", "127.0.0.1"});
  ASSERT_TRUE(dns.start(error)) << error;
  std::string add = "cluster add n4.ca.test 127.0.0.1:" + std::to_string(*n4_port);
  ASSERT_TRUE(wait_logged({add, "cluster remove n3.ca.test", "--cluster-id " + cluster_id},
                          kProposalTimeout, before))
      << cluster_->log_tails(10);
  std::this_thread::sleep_for(Millis(1000));  // five more polls
  for (size_t i = 0; i < cluster_->size(); i++) {
    std::string log = cluster_->read_log(i).substr(before[i]);
    EXPECT_EQ(count_of(log, add), 1u) << "a proposal is logged once, not every poll";
    auto report = discovery_report(i);
    ASSERT_TRUE(report.has_value());
    EXPECT_EQ(report->at("state").as_string(), "ok");
    EXPECT_EQ(report->at("proposals").as_array().size(), 2u) << boost::json::serialize(*report);
    auto m = cluster_->client(i)->request("GET", "/metrics");
    ASSERT_TRUE(ok(m));
    EXPECT_NE(m->body.find("changeagent_discovery_proposals 2"), std::string::npos);
  }
  ASSERT_NO_FATAL_FAILURE(expect_members({"n1.ca.test", "n2.ca.test", "n3.ca.test"}));

  // Garbage: a '.' target, port 0, an invalid name, a target that does not
  // resolve, a target with two ports. Logged, left out; nothing shrinks.
  before = log_sizes();
  dns.srv = {{srv, "", 0}};
  ASSERT_TRUE(dns.start(error)) << error;
  ASSERT_TRUE(wait_logged({"target '.'"}, kProposalTimeout, before));
  dns.srv = {{srv, "n1.ca.test", 0},
             {srv, "ghost.ca.test", 2390},
             {srv, "n2.ca.test", cluster_->node(1).peer_port},
             {srv, "n2.ca.test", 1}};
  before = log_sizes();
  ASSERT_TRUE(dns.start(error)) << error;
  ASSERT_TRUE(wait_logged(
      {"has no usable port", "'ghost.ca.test' does not resolve", "listed with several ports"},
      kProposalTimeout, before))
      << cluster_->log_tails(10);
  // NXDOMAIN, then no DNS server at all.
  dns.srv.clear();
  before = log_sizes();
  ASSERT_TRUE(dns.start(error)) << error;
  ASSERT_TRUE(wait_logged({"NXDOMAIN (no such name); keeping the last good set"}, kProposalTimeout,
                          before));
  std::this_thread::sleep_for(Millis(1000));
  for (size_t i = 0; i < cluster_->size(); i++) {
    EXPECT_EQ(count_of(cluster_->read_log(i).substr(before[i]), "NXDOMAIN"), 1u)
        << "logged once per state change, not per poll";
  }
  dns.stop();
  before = log_sizes();
  ASSERT_TRUE(wait_logged({"failed:"}, kProposalTimeout, before));
  std::this_thread::sleep_for(Millis(500));
  expect_all_running();
  ASSERT_NO_FATAL_FAILURE(expect_members({"n1.ca.test", "n2.ca.test", "n3.ca.test"}));
  ASSERT_TRUE(ok(c->post_change(change_of("{\"srv\":2}"))));
  auto report = discovery_report(0);
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->at("state").as_string(), "failing");
  EXPECT_EQ(report->at("peers").as_array().size(), 3u) << "the last good set is kept";
}

TEST_F(DiscoveryTest, FileThatStartsEmptyThenProposalsAndWrongClusterId) {
  cluster_ = std::make_unique<Cluster>(ClusterOptions{});
  ASSERT_TRUE(ok(cluster_->assign_ports()));
  std::string file = cluster_->make_dir("discovery") + "/peers";
  std::ofstream(file) << "";
  auto write_file = [&](const std::string& text) {
    std::ofstream(file + ".tmp") << text;
    fs::rename(file + ".tmp", file);
  };
  for (size_t i = 0; i < cluster_->size(); i++) {
    cluster_->node(i).bootstrap_args = {"--discovery-file=" + file, "--discovery-interval=200ms",
                                        "--initial-cluster-size=3"};
  }
  auto line = [&](size_t i) {
    return cluster_->node(i).name + "=" + cluster_->node(i).peer_address() + "\n";
  };
  ASSERT_NO_FATAL_FAILURE(start_discovering([&] {
    ASSERT_TRUE(wait_logged({"found 0 of 3 peers"}, kStartTimeout));
    write_file("# changeagent peers\n" + line(0) + line(1));
    ASSERT_TRUE(wait_logged({"found 2 of 3 peers"}, kStartTimeout));
    for (size_t i = 0; i < cluster_->size(); i++) EXPECT_TRUE(cluster_->running(i));
    write_file("# changeagent peers\n" + line(0) + line(1) + line(2));
  }));
  ASSERT_NO_FATAL_FAILURE(expect_members({"n1", "n2", "n3"}));
  auto c = cluster_->client_all();
  auto first = c->post_change(change_of("{\"file\":1}"));
  ASSERT_TRUE(ok(first));

  // A new line is a proposal only; applying it by hand clears it.
  auto before = log_sizes();
  write_file(line(0) + line(1) + line(2) + "n4=127.0.0.1:9\n");
  ASSERT_TRUE(wait_logged({"cluster add n4 127.0.0.1:9"}, kProposalTimeout, before));
  ASSERT_NO_FATAL_FAILURE(expect_members({"n1", "n2", "n3"}));
  auto members = cluster_->client_all();
  ASSERT_TRUE(ok(members->add_member({"n4", "127.0.0.1:9", "", false})));
  ASSERT_TRUE(wait_logged({"membership matches file"}, kProposalTimeout, before));
  auto report = discovery_report(leader_);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->at("proposals").as_array().empty()) << boost::json::serialize(*report);
  // An emptied file proposes nothing (never "remove everyone").
  write_file("");
  std::this_thread::sleep_for(Millis(1000));
  report = discovery_report(leader_);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->at("proposals").as_array().empty()) << boost::json::serialize(*report);

  // Another cluster's id: 409 wrong_cluster, and nothing is written.
  auto feed = full_feed(*c);
  ASSERT_TRUE(ok(feed));
  api::ClientOptions o;
  o.endpoints = {cluster_->node(leader_).client_address()};
  o.cluster_id_hex = "0123456789abcdef";
  auto other = api::Client::create(o);
  ASSERT_TRUE(ok(other));
  auto r = (*other)->request("POST", "/changes", "{\"data\":\"misdirected\"}");
  EXPECT_TRUE(is_json_error(r, 409, "wrong_cluster"));
  auto after = full_feed(*c);
  ASSERT_TRUE(ok(after));
  EXPECT_EQ(after->size(), feed->size()) << "a refused POST wrote nothing";
  // The right id (learnt from an answer's X-Cluster-Id) is accepted.
  o.cluster_id_hex.clear();
  o.learn_cluster_id = true;
  auto learner = api::Client::create(o);
  ASSERT_TRUE(ok(learner));
  ASSERT_TRUE(ok((*learner)->cluster()));
  auto view = c->cluster();
  ASSERT_TRUE(ok(view));
  EXPECT_EQ((*learner)->cluster_id(), view->cluster_id);
  EXPECT_TRUE(ok((*learner)->post_change(change_of("{\"file\":2}"))));
}

TEST_F(DiscoveryTest, BadFlagsAreRefusedWithOneLine) {
  ClusterOptions one;
  one.nodes = 1;
  cluster_ = std::make_unique<Cluster>(one);
  std::string dir = cluster_->make_dir("flags");
  struct Case {
    std::vector<std::string> args;
    const char* says;
  } cases[] = {
      {{"--discovery-file=" + dir + "/p", "--discovery-srv=ca.test", "--initial-cluster-size=1"},
       "exclude each other"},
      {{"--discovery-file=" + dir + "/p"}, "--initial-cluster-size is required"},
      {{"--discovery-srv=ca.test", "--dns-server=dns.example:53", "--initial-cluster-size=1"},
       "--dns-server"},
      {{"--discovery-file=" + dir + "/p", "--discovery-interval=soon"}, "--discovery-interval"},
      {{"--discovery-file=" + dir + "/p", "--initial-cluster=n1=127.0.0.1:1"}, "exclude"},
  };
  for (const auto& k : cases) {
    std::vector<std::string> args = {"--name=n1", "--data-dir=" + dir + "/d",
                                     "--listen-client=127.0.0.1:0", "--listen-peer=127.0.0.1:0"};
    args.insert(args.end(), k.args.begin(), k.args.end());
    auto r = cluster_->run_once(args, Millis(5000));
    ASSERT_TRUE(ok(r));
    EXPECT_EQ(r->exit.code, 1) << r->stderr_text;
    EXPECT_NE(r->stderr_text.find(k.says), std::string::npos) << r->stderr_text;
  }
}

}  // namespace
}  // namespace integration
