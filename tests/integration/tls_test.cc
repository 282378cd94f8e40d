// TLS on real processes (docs/SECURITY.md "TLS"): HTTPS round trips with
// long-poll and SSE, client certificates required, a plain HTTP client on
// the HTTPS port, changectl over HTTPS, a peer whose certificate another
// CA signed, certificate reload on SIGHUP, and bad certificate files at
// start-up. Certificates come from tools/gen-test-certs at test time.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/integration/shell_util.h"
#include "tests/integration/test_util.h"

namespace integration {
namespace {

namespace fs = std::filesystem;

const std::string& certs() {
  return test_certs_dir(GEN_TEST_CERTS);
}

std::string cert(const std::string& name) {
  return certs() + "/" + name;
}

std::string client_tls_args() {
  return " --cacert " + cert("ca.crt") + " --cert " + cert("client.crt") + " --key " +
         cert("client.key");
}

// The subject of the certificate the HTTPS API at `port` presents now (a
// new connection).
std::string served_subject(uint16_t port) {
  auto [out, code] =
      run_shell("openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " -CAfile " +
                cert("ca.crt") + " -cert " + cert("client.crt") + " -key " + cert("client.key") +
                " </dev/null 2>/dev/null | openssl x509 -noout -subject");
  return out;
}

// Node flags: HTTPS with client certificates required, and peer mTLS.
std::vector<std::string> tls_flags(const std::string& dir) {
  return {"--cert=" + dir + "/server.crt",    "--key=" + dir + "/server.key",
          "--ca=" + cert("ca.crt"),           "--client-cert-auth",
          "--peer-cert=" + dir + "/peer.crt", "--peer-key=" + dir + "/peer.key",
          "--peer-ca=" + cert("ca.crt")};
}

ClusterOptions tls_options() {
  ClusterOptions o;
  o.https = true;
  o.client_ca = cert("ca.crt");
  o.client_cert = cert("client.crt");
  o.client_key = cert("client.key");
  o.extra_args = tls_flags(certs());
  return o;
}

api::ChangeInput change(std::string data_json) {
  api::ChangeInput in;
  in.data_json = std::move(data_json);
  return in;
}

// A long-poll of up to 10 s for changes after `id`.
api::FeedRequest feed_after(uint64_t id) {
  api::FeedRequest r;
  r.since = id;
  r.block_seconds = 10;
  return r;
}

ClusterOptions one_node() {
  ClusterOptions o;
  o.nodes = 1;
  return o;
}

bool log_has(const Cluster& c, size_t i, const std::string& needle) {
  return c.read_log(i).find(needle) != std::string::npos;
}

bool wait_for_log(const Cluster& c, size_t i, const std::string& needle, Millis timeout) {
  for (auto deadline = Clock::now() + timeout; Clock::now() < deadline;) {
    if (log_has(c, i, needle)) return true;
    std::this_thread::sleep_for(Millis(20));
  }
  return log_has(c, i, needle);
}

// One HTTPS cluster shared by the tests that only add changes.
class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (certs().empty()) return;
    cluster_ = new Cluster(tls_options());
    start_ = cluster_->start_all();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_FALSE(certs().empty()) << "tools/gen-test-certs failed";
    ASSERT_TRUE(ok(start_));
    auto l = cluster_->wait_for_leader(Millis(10000));
    ASSERT_TRUE(ok(l));
    leader_ = *l;
    follower_ = cluster_->followers(leader_).front();
  }
  void TearDown() override { report_on_failure(cluster_); }
  Cluster& cluster() { return *cluster_; }

  static inline Cluster* cluster_ = nullptr;
  static inline Status start_ = Status::ok();
  size_t leader_ = 0;
  size_t follower_ = 0;
};

TEST_F(TlsTest, PostGetLongPollAndSseOverHttps) {
  auto writer = cluster().client_all();
  ASSERT_TRUE(writer);
  auto a = writer->post_change(change("{\"over\":\"tls\"}"));
  ASSERT_TRUE(ok(a));
  // Read back from a follower (forwarded write, then a consistent read).
  auto reader = cluster().client(follower_);
  auto got = reader->get_change(a->id, /*consistent=*/true);
  ASSERT_TRUE(ok(got));
  EXPECT_EQ(got->data_json, "{\"over\":\"tls\"}");

  // A long-poll on the follower, woken by a write through the leader.
  Result<api::FeedPage> polled = Status(common::Code::kInternal, "not run");
  auto started = Clock::now();
  std::thread poller([&] {
    auto c = cluster().client(follower_, Millis(15000));
    polled = c->get_feed(feed_after(a->id));
  });
  std::this_thread::sleep_for(Millis(300));
  auto b = cluster().client(leader_)->post_change(change("{\"n\":2}"));
  poller.join();
  ASSERT_TRUE(ok(b));
  ASSERT_TRUE(ok(polled));
  ASSERT_FALSE(polled->changes.empty());
  EXPECT_EQ(polled->changes.front().id, b->id);
  EXPECT_LT(ms_since(started), 9000) << "the write should end the long-poll, not its timeout";

  // SSE over TLS: both changes arrive as events on a stream from 0.
  auto [sse, code] = run_shell("curl -sSN --max-time 3" + client_tls_args() + " '" +
                               cluster().client_url(follower_) + "/changes/stream?since=0'");
  auto events = parse_sse(sse);
  bool saw_a = false, saw_b = false;
  for (const auto& e : events) {
    saw_a |= e.event == "change" && e.id == std::to_string(a->id);
    saw_b |= e.event == "change" && e.id == std::to_string(b->id);
  }
  EXPECT_TRUE(saw_a && saw_b) << "curl exit " << code << ", stream:\n" << sse;
}

TEST_F(TlsTest, ClientWithoutAGoodCertificateIsRefused) {
  auto try_health = [&](api::ClientOptions o) {
    o.endpoints = {cluster().client_url(leader_)};
    o.connect_timeout = Millis(2000);
    o.request_timeout = Millis(2000);
    auto c = api::Client::create(o);
    if (!c.is_ok()) return c.status();
    return (*c)->health();
  };
  api::ClientOptions good = cluster().client_options();
  EXPECT_TRUE(ok(try_health(good)));

  api::ClientOptions no_cert;
  no_cert.ca_file = cert("ca.crt");
  Status s = try_health(no_cert);
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), common::Code::kUnavailable) << s.to_string();

  api::ClientOptions wrong_ca = good;
  wrong_ca.cert_file = cert("wrong-client.crt");
  wrong_ca.key_file = cert("wrong-client.key");
  s = try_health(wrong_ca);
  EXPECT_FALSE(s.is_ok()) << "a client certificate of another CA must not pass";

  // The client side verifies the server too: the wrong CA refuses it.
  api::ClientOptions distrust = good;
  distrust.ca_file = cert("wrong-ca.crt");
  s = try_health(distrust);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("certificate verify failed"), std::string::npos) << s.to_string();

  // curl as an operator would: without a certificate, no answer.
  auto [body, code] = run_shell("curl -s --max-time 5 --cacert " + cert("ca.crt") + " " +
                                cluster().client_url(leader_) + "/health");
  EXPECT_NE(code, 0) << body;
  std::tie(body, code) = run_shell("curl -s --max-time 5" + client_tls_args() + " " +
                                   cluster().client_url(leader_) + "/health");
  EXPECT_EQ(code, 0) << body;
}

TEST_F(TlsTest, PlainHttpOnTheHttpsPortGetsA400) {
  auto conn = RawConnection::connect(cluster().node(leader_).client_port, Millis(2000));
  ASSERT_TRUE(ok(conn));
  ASSERT_TRUE(ok((*conn)->send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")));
  EXPECT_TRUE((*conn)->read_until("}", Clock::now() + Millis(3000))) << (*conn)->received();
  const std::string& got = (*conn)->received();
  EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << got;
  EXPECT_NE(got.find("https://"), std::string::npos) << got;

  // The client library with an http:// URL sees the same answer.
  api::ClientOptions o;
  o.endpoints = {"http://" + cluster().node(leader_).client_address()};
  auto c = api::Client::create(o);
  ASSERT_TRUE(ok(c));
  auto r = (*c)->request("GET", "/health");
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(r->status, 400) << r->body;
}

TEST_F(TlsTest, ChangectlOverHttps) {
  std::string base = std::string(CHANGECTL_BIN) + " --endpoints " + cluster().client_url(leader_) +
                     "," + cluster().client_url(follower_);
  auto [out, code] = run_shell("CHANGECTL_CA=" + cert("ca.crt") + " " + base + " --cert " +
                               cert("client.crt") + " --key " + cert("client.key") +
                               " -o json changes post '{\"via\":\"changectl\"}' 2>&1");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("\"_id\""), std::string::npos) << out;
  std::tie(out, code) = run_shell(base + " --ca " + cert("ca.crt") + " health 2>&1");
  EXPECT_NE(code, 0) << "no client certificate: refused\n" << out;
  std::tie(out, code) = run_shell(base + " --ca /nonexistent/ca.pem health 2>&1");
  EXPECT_NE(code, 0);
  EXPECT_NE(out.find("/nonexistent/ca.pem: cannot read"), std::string::npos) << out;
}

class TlsClusterTest : public ClusterTest {
 protected:
  void SetUp() override { ASSERT_FALSE(certs().empty()) << "tools/gen-test-certs failed"; }
};

// n3 presents a peer certificate of another CA: n1 and n2 refuse it, elect
// a leader and commit without it, and say why in their logs.
TEST_F(TlsClusterTest, PeerWithACertificateOfAnotherCaNeverJoins) {
  ClusterOptions o;
  o.extra_args = {"--peer-ca=" + cert("ca.crt")};
  cluster_ = std::make_unique<Cluster>(o);
  for (size_t i : {size_t(0), size_t(1)}) {
    cluster_->node(i).extra_args = {"--peer-cert=" + cert("peer.crt"),
                                    "--peer-key=" + cert("peer.key")};
  }
  cluster_->node(2).extra_args = {"--peer-cert=" + cert("wrong-peer.crt"),
                                  "--peer-key=" + cert("wrong-peer.key")};
  ASSERT_TRUE(ok(cluster_->start_all()));
  auto l = cluster_->wait_for_leader(Millis(10000));
  ASSERT_TRUE(ok(l));
  ASSERT_NE(*l, 2u) << "the refused node cannot lead";
  auto c = cluster_->client(*l);
  for (int i = 0; i < 5; i++) {
    ASSERT_TRUE(ok(c->post_change(change(std::to_string(i)))));
  }
  std::this_thread::sleep_for(cluster_->election_timeout_max() * 3);
  auto d = cluster_->client(2)->diagnostics();
  ASSERT_TRUE(ok(d));
  EXPECT_EQ(d->applied_index, 0u) << "n3 must receive nothing";
  EXPECT_EQ(d->leader, 0u) << "n3 must not know a leader";
  for (size_t i : {size_t(0), size_t(1)}) {
    EXPECT_TRUE(log_has(*cluster_, i, "refusing peer connection from 127.0.0.1"))
        << cluster_->node(i).name;
    EXPECT_TRUE(log_has(*cluster_, i, "certificate verify failed")) << cluster_->node(i).name;
  }
  // The leader's own dials to n3 fail on n3's certificate too.
  EXPECT_TRUE(log_has(*cluster_, *l, "TLS handshake failed: certificate verify failed"));
}

void copy(const std::string& from, const std::string& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

// New connections get the reloaded certificates, existing ones continue,
// the cluster keeps committing; a broken file keeps the previous ones.
TEST_F(TlsClusterTest, SighupReloadsCertificates) {
  ClusterOptions o = tls_options();
  o.extra_args.clear();  // the nodes' flags point at copies we replace
  cluster_ = std::make_unique<Cluster>(o);
  std::string live = cluster_->make_dir("live-certs");
  for (const char* f : {"server.crt", "server.key", "peer.crt", "peer.key"}) {
    copy(cert(f), live + "/" + f);
  }
  for (size_t i = 0; i < cluster_->size(); i++) cluster_->node(i).extra_args = tls_flags(live);
  ASSERT_TRUE(ok(cluster_->start_all()));
  auto l = cluster_->wait_for_leader(Millis(10000));
  ASSERT_TRUE(ok(l));
  auto writer = cluster_->client_all();
  ASSERT_TRUE(ok(writer->post_change(change("1"))));
  EXPECT_NE(served_subject(cluster_->node(0).client_port).find("changeagent server"),
            std::string::npos);

  // Swap the two identities (both name 127.0.0.1, both chain to the CA).
  copy(cert("peer.crt"), live + "/server.crt");
  copy(cert("peer.key"), live + "/server.key");
  copy(cert("server.crt"), live + "/peer.crt");
  copy(cert("server.key"), live + "/peer.key");
  for (size_t i = 0; i < cluster_->size(); i++) ::kill(cluster_->node(i).pid, SIGHUP);
  for (size_t i = 0; i < cluster_->size(); i++) {
    ASSERT_TRUE(wait_for_log(*cluster_, i, "SIGHUP: reloaded the peer certificate", Millis(5000)));
    EXPECT_TRUE(log_has(*cluster_, i, "SIGHUP: reloaded the client API certificate"));
    EXPECT_NE(served_subject(cluster_->node(i).client_port).find("changeagent peer"),
              std::string::npos)
        << cluster_->node(i).name;
  }
  // Still committing over the peer connections opened before the reload.
  ASSERT_TRUE(ok(writer->post_change(change("2"))));
  // New peer connections: a restarted follower is dialled with the
  // reloaded context and must catch up.
  auto l2 = cluster_->wait_for_leader(Millis(5000));
  ASSERT_TRUE(ok(l2));
  size_t f = cluster_->followers(*l2).front();
  cluster_->kill9(f);
  // (A fresh client: the writer's kept connection may be the killed node's.)
  auto to_leader = cluster_->client(*l2);
  ASSERT_TRUE(ok(to_leader->post_change(change("3"))));
  ASSERT_TRUE(ok(cluster_->start(f)));
  ASSERT_TRUE(ok(to_leader->post_change(change("4"))));
  EXPECT_TRUE(ok(cluster_->wait_converged(Millis(10000))));

  // A broken certificate file: the node keeps serving the previous one.
  { std::ofstream(live + "/server.crt") << "not a certificate\n"; }
  ::kill(cluster_->node(0).pid, SIGHUP);
  ASSERT_TRUE(
      wait_for_log(*cluster_, 0, "SIGHUP: kept the previous client API certificate", Millis(5000)));
  EXPECT_NE(served_subject(cluster_->node(0).client_port).find("changeagent peer"),
            std::string::npos);
  EXPECT_TRUE(ok(cluster_->client(0)->health()));
  EXPECT_TRUE(ok(to_leader->post_change(change("5"))));
}

// Bad TLS input at start-up: exit 1 with one line naming the file and why.
TEST_F(TlsClusterTest, BadCertificateFilesExitWithOneReadableLine) {
  cluster_ = std::make_unique<Cluster>(one_node());
  std::string data = cluster_->make_dir("bad-tls");
  std::string not_pem = data + "/not.pem";
  { std::ofstream(not_pem) << "hello\n"; }
  struct Case {
    std::vector<std::string> flags;
    std::string says;
  };
  const std::string https = "--listen-client-https=127.0.0.1:0";
  std::vector<Case> cases{
      {{https, "--cert=/nonexistent/s.crt", "--key=" + cert("server.key")},
       "--cert /nonexistent/s.crt: cannot read: No such file or directory"},
      {{https, "--cert=" + cert("server.crt"), "--key=" + cert("client.key")},
       "--key " + cert("client.key") + " does not match the certificate in --cert"},
      {{https, "--cert=" + not_pem, "--key=" + cert("server.key")},
       "--cert " + not_pem + ": no PEM certificate in it"},
      {{https, "--cert=" + cert("server.crt"), "--key=" + not_pem},
       "--key " + not_pem + ": no PEM private key in it"},
      {{https, "--cert=" + cert("server.crt"), "--key=" + cert("server.key"), "--ca=" + not_pem},
       "--ca " + not_pem + ": no usable PEM CA certificate"},
      {{https, "--cert=" + cert("server.crt"), "--key=" + cert("server.key"), "--client-cert-auth"},
       "--client-cert-auth needs --ca"},
      {{"--peer-cert=" + cert("peer.crt"), "--peer-key=" + cert("peer.key")},
       "peer TLS needs all of --peer-cert, --peer-key and --peer-ca"},
      {{"--peer-cert=" + cert("peer.crt"), "--peer-key=" + cert("server.key"),
        "--peer-ca=" + cert("ca.crt")},
       "--peer-key " + cert("server.key") + " does not match the certificate in --peer-cert"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args{"--name=bad", "--data-dir=" + data + "/d",
                                  "--listen-client=127.0.0.1:0", "--listen-peer=127.0.0.1:0"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    auto r = cluster_->run_once(args, Millis(10000));
    ASSERT_TRUE(ok(r));
    EXPECT_FALSE(r->exit.signaled);
    EXPECT_EQ(r->exit.code, 1) << r->stderr_text;
    EXPECT_NE(r->stderr_text.find(c.says), std::string::npos)
        << "wanted: " << c.says << "\ngot: " << r->stderr_text;
    EXPECT_EQ(std::count(r->stderr_text.begin(), r->stderr_text.end(), '\n'), 1) << r->stderr_text;
  }
  // Certificate flags without an HTTPS listener are a mistake, not ignored.
  auto r = cluster_->run_once({"--name=bad", "--data-dir=" + data + "/d",
                               "--cert=" + cert("server.crt"), "--key=" + cert("server.key")},
                              Millis(10000));
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(r->exit.code, 1);
  EXPECT_NE(r->stderr_text.find("give --listen-client-https"), std::string::npos) << r->stderr_text;
}

}  // namespace
}  // namespace integration
