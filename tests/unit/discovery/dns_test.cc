// SRV discovery through c-ares against a real dnsmasq on a loopback port:
// good answers, and every kind of bad one (NXDOMAIN, empty, timeout,
// refused, '.', port 0, garbage and duplicate targets, unresolvable
// targets), which must come back as clear errors or left-out entries.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "discovery/sources.h"
#include "tests/unit/discovery/dnsmasq.h"

namespace discovery {
namespace {

using test::Dnsmasq;

class DnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::dnsmasq_path() == nullptr) GTEST_SKIP() << "dnsmasq not installed (dnsmasq-base)";
  }
  void start(Dnsmasq& d) {
    std::string error;
    ASSERT_TRUE(d.start(error)) << error;
  }
  static DnsOptions fast(const std::string& server) {
    DnsOptions o;
    o.server = server;
    o.timeout = std::chrono::milliseconds(300);
    o.tries = 1;
    return o;
  }
  static std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += s + "\n";
    return out;
  }
};

TEST_F(DnsTest, SrvAnswerBecomesPeersNamedByTarget) {
  Dnsmasq d("ca.test");
  d.srv = {{"_changeagent._tcp.ca.test", "n1.ca.test", 2381},
           {"_changeagent._tcp.ca.test", "n2.ca.test", 2382},
           {"_changeagent._tcp.ca.test", "n3.ca.test", 2383}};
  d.hosts = {{"n1.ca.test", "127.0.0.1"}, {"n2.ca.test", "127.0.0.2"}, {"n3.ca.test", "127.0.0.3"}};
  start(d);
  auto src = SrvSource::create("ca.test", false, fast(d.server()));
  ASSERT_TRUE(src.is_ok()) << src.status().to_string();
  EXPECT_NE((*src)->describe().find("_changeagent._tcp.ca.test via " + d.server()),
            std::string::npos);
  Lookup l = (*src)->poll();
  ASSERT_TRUE(l.status.is_ok()) << l.status.to_string();
  EXPECT_TRUE(l.complete()) << joined(l.issues);
  EXPECT_EQ(describe(l.peers),
            "n1.ca.test=127.0.0.1:2381,n2.ca.test=127.0.0.2:2382,n3.ca.test=127.0.0.3:2383");
}

TEST_F(DnsTest, TlsAlsoAsksForTheSslNameAndMergesBoth) {
  Dnsmasq d("ca.test");
  d.srv = {{"_changeagent-ssl._tcp.ca.test", "n1.ca.test", 2381},
           {"_changeagent._tcp.ca.test", "n1.ca.test", 2381},
           {"_changeagent._tcp.ca.test", "n2.ca.test", 2382}};
  d.hosts = {{"n1.ca.test", "127.0.0.1"}, {"n2.ca.test", "127.0.0.2"}};
  start(d);
  auto tls = SrvSource::create("ca.test", true, fast(d.server()));
  ASSERT_TRUE(tls.is_ok());
  Lookup l = (*tls)->poll();
  ASSERT_TRUE(l.status.is_ok()) << l.status.to_string();
  EXPECT_TRUE(l.issues.empty()) << "a peer under both names is no duplicate: " << joined(l.issues);
  EXPECT_EQ(describe(l.peers), "n1.ca.test=127.0.0.1:2381,n2.ca.test=127.0.0.2:2382");
}

TEST_F(DnsTest, NxdomainAndEmptyAnswersAreClearErrors) {
  Dnsmasq d("ca.test");
  d.hosts = {{"n1.ca.test", "127.0.0.1"}};  // the name exists, without SRV records
  start(d);
  auto nx = SrvSource::create("nothing.ca.test", false, fast(d.server()));
  ASSERT_TRUE(nx.is_ok());
  Lookup l = (*nx)->poll();
  EXPECT_EQ(l.status.code(), Code::kNotFound);
  EXPECT_NE(l.status.message().find("NXDOMAIN"), std::string::npos) << l.status.message();
  EXPECT_NE(l.status.message().find("_changeagent._tcp.nothing.ca.test"), std::string::npos);
  EXPECT_TRUE(l.peers.empty());

  auto r = DnsResolver::create(fast(d.server()));
  ASSERT_TRUE(r.is_ok());
  auto empty = (*r)->srv("n1.ca.test");
  EXPECT_EQ(empty.status().code(), Code::kNotFound);
  EXPECT_NE(empty.status().message().find("no records"), std::string::npos)
      << empty.status().message();
}

TEST_F(DnsTest, BadRecordsAreLeftOutAndTheRestKept) {
  Dnsmasq d("ca.test");
  const std::string n = "_changeagent._tcp.ca.test";
  d.srv = {{n, "n1.ca.test", 2381}, {n, "n2.ca.test", 0},    {n, "gone.ca.test", 2383},
           {n, "n4.ca.test", 2384}, {n, "n4.ca.test", 2385}, {n, "n5.ca.test", 2386},
           {n, "n5.ca.test", 2386}};
  d.hosts = {{"n1.ca.test", "127.0.0.1"},
             {"n2.ca.test", "127.0.0.2"},
             {"n4.ca.test", "127.0.0.4"},
             {"n5.ca.test", "127.0.0.5"}};
  start(d);
  auto src = SrvSource::create("ca.test", false, fast(d.server()));
  ASSERT_TRUE(src.is_ok());
  Lookup l = (*src)->poll();
  ASSERT_TRUE(l.status.is_ok()) << l.status.to_string();
  EXPECT_FALSE(l.complete());
  EXPECT_EQ(describe(l.peers), "n1.ca.test=127.0.0.1:2381,n5.ca.test=127.0.0.5:2386");
  std::string all = joined(l.issues);
  EXPECT_NE(all.find("'n2.ca.test' port 0 has no usable port"), std::string::npos) << all;
  EXPECT_NE(all.find("'gone.ca.test' does not resolve"), std::string::npos) << all;
  EXPECT_NE(all.find("'n4.ca.test' is listed with several ports"), std::string::npos) << all;
}

TEST_F(DnsTest, UnavailableTargetIsLeftOut) {
  Dnsmasq d("ca.test");
  d.srv = {{"_changeagent._tcp.ca.test", "", 0}};  // target "."
  start(d);
  auto src = SrvSource::create("ca.test", false, fast(d.server()));
  ASSERT_TRUE(src.is_ok());
  Lookup l = (*src)->poll();
  ASSERT_TRUE(l.status.is_ok()) << l.status.to_string();
  EXPECT_TRUE(l.peers.empty());
  EXPECT_NE(joined(l.issues).find("target '.'"), std::string::npos) << joined(l.issues);
}

TEST_F(DnsTest, SilentServerTimesOutAndAbsentOneIsRefused) {
  // A UDP socket that never answers.
  int silent = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ::getsockname(silent, reinterpret_cast<sockaddr*>(&a), &len);
  std::string server = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  auto src = SrvSource::create("ca.test", false, fast(server));
  ASSERT_TRUE(src.is_ok());
  auto t0 = std::chrono::steady_clock::now();
  Lookup l = (*src)->poll();
  auto took = std::chrono::steady_clock::now() - t0;
  ::close(silent);
  EXPECT_EQ(l.status.code(), Code::kTimeout) << l.status.to_string();
  EXPECT_LT(took, std::chrono::seconds(3)) << "bounded by the resolver's timeout";

  // Nothing listens there now: ICMP port unreachable, or a timeout.
  Lookup gone = (*src)->poll();
  EXPECT_FALSE(gone.status.is_ok());
  EXPECT_TRUE(gone.status.code() == Code::kUnavailable || gone.status.code() == Code::kTimeout)
      << gone.status.to_string();
}

TEST(DnsOptionsTest, ServerMustBeAnIpAndPort) {
  DnsOptions o;
  o.server = "dns.example.com:53";
  auto r = DnsResolver::create(o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("--dns-server"), std::string::npos);
  EXPECT_FALSE(SrvSource::create("bad_domain!", false, DnsOptions{}).is_ok());
}

}  // namespace
}  // namespace discovery
