// The pure rules of discovery: SRV answer checks, when to bootstrap, and
// which membership changes a discovered set proposes.
#include <gtest/gtest.h>

#include "discovery/bootstrap.h"
#include "discovery/proposals.h"
#include "discovery/report.h"
#include "discovery/srv_answer.h"

namespace discovery {
namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

TEST(SrvAnswer, GoodRecordsNormalizedAndSorted) {
  auto c = check_srv_records({{"N2.CA.test.", 2381, 0, 0}, {"n1.ca.test.", 2380, 10, 5}});
  EXPECT_TRUE(c.issues.empty()) << joined(c.issues);
  ASSERT_EQ(c.targets.size(), 2u);
  EXPECT_EQ(c.targets.at("n1.ca.test"), 2380u);
  EXPECT_EQ(c.targets.at("n2.ca.test"), 2381u);
}

struct BadCase {
  const char* story;
  std::vector<SrvRecord> records;
  size_t usable;
  const char* issue;  // substring of one issue
};

TEST(SrvAnswer, BadRecordsAreLeftOutWithAReason) {
  const BadCase cases[] = {
      {"'.': the service is declared unavailable", {{".", 2380}, {"n1.ca.test", 2380}}, 1, "'.'"},
      {"port 0", {{"n1.ca.test", 0}}, 0, "no usable port"},
      {"garbage target", {{"bad_host!.ca.test", 2380}}, 0, "not a valid host name"},
      {"overlong label", {{std::string(70, 'x') + ".test", 1}}, 0, "not a valid host name"},
      {"exact repeat counted once", {{"n1.ca.test", 1}, {"n1.ca.test.", 1}}, 1, "listed twice"},
      {"one name, two ports: neither",
       {{"n1.ca.test", 1}, {"n1.ca.test", 2}, {"n2.ca.test", 1}},
       1,
       "several ports"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.story);
    auto r = check_srv_records(c.records);
    EXPECT_EQ(r.targets.size(), c.usable);
    EXPECT_NE(joined(r.issues).find(c.issue), std::string::npos) << joined(r.issues);
  }
}

TEST(SrvAnswer, PeersFromResolvedTargets) {
  auto c = check_srv_records(
      {{"n1.ca.test", 2380}, {"n2.ca.test", 2381}, {"gone.ca.test", 1}, {"twin.ca.test", 2380}});
  std::map<std::string, Result<std::string>> addresses;
  addresses.emplace("n1.ca.test", std::string("10.0.0.1"));
  addresses.emplace("n2.ca.test", std::string("10.0.0.2"));
  addresses.emplace("gone.ca.test", Status(Code::kNotFound, "NXDOMAIN"));
  addresses.emplace("twin.ca.test", std::string("10.0.0.1"));  // same ip:port as n1
  std::vector<std::string> issues;
  auto peers = srv_peers(c, addresses, issues);
  EXPECT_EQ(describe(peers), "n2.ca.test=10.0.0.2:2381");
  std::string all = joined(issues);
  EXPECT_NE(all.find("'gone.ca.test' does not resolve (NXDOMAIN)"), std::string::npos) << all;
  EXPECT_NE(all.find("both resolve to 10.0.0.1:2380"), std::string::npos) << all;
}

TEST(SrvAnswer, NamesWithTls) {
  EXPECT_EQ(srv_names("Example.COM.", false),
            std::vector<std::string>{"_changeagent._tcp.example.com"});
  EXPECT_EQ(srv_names("example.com", true),
            (std::vector<std::string>{"_changeagent-ssl._tcp.example.com",
                                      "_changeagent._tcp.example.com"}));
}

Lookup lookup_of(std::vector<Peer> peers) {
  Lookup l;
  l.peers = std::move(peers);
  return l;
}

TEST(Bootstrap, Table) {
  using Kind = BootstrapDecision::Kind;
  const Peer a{"a", "10.0.0.1:1"}, b{"b", "10.0.0.2:1"}, c{"c", "10.0.0.3:1"}, d{"d", "10.0.0.4:1"};
  Lookup failed;
  failed.status = Status(Code::kNotFound, "NXDOMAIN");
  struct Case {
    const char* story;
    Lookup lookup;
    std::string self;
    Kind want;
    const char* reason;
  } cases[] = {
      {"source unreadable", failed, "a", Kind::kWait, "NXDOMAIN"},
      {"empty so far", lookup_of({}), "a", Kind::kWait, "found 0 of 3"},
      {"two of three", lookup_of({a, b}), "a", Kind::kWait, "found 2 of 3 peers (a=10.0.0.1:1"},
      {"all three with us", lookup_of({a, b, c}), "b", Kind::kReady, ""},
      {"four for three waits", lookup_of({a, b, c, d}), "a", Kind::kWait, "more than"},
      {"three without us", lookup_of({a, b, c}), "z", Kind::kFail, "use --join"},
      {"three, our address named otherwise", lookup_of({a, b, c}), "x", Kind::kFail,
       "start with --name c"},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.story);
    auto d2 = decide_bootstrap(k.lookup, k.self, k.self == "x" ? "10.0.0.3:1" : "10.9.9.9:1", 3);
    EXPECT_EQ(d2.kind, k.want) << d2.reason;
    EXPECT_NE(d2.reason.find(k.reason), std::string::npos) << d2.reason;
    if (k.want == Kind::kReady) {
      EXPECT_EQ(describe(d2.peers), describe(k.lookup.peers));
    }
  }
}

TEST(Proposals, Table) {
  const CommandTarget t{"http://127.0.0.1:8080", "00000000000000aa"};
  const std::vector<Member> members = {
      {11, "a", "10.0.0.1:1"}, {12, "b", "10.0.0.2:1"}, {13, "c", "10.0.0.3:1"}};
  const std::string ctl =
      "changectl --endpoints http://127.0.0.1:8080 --cluster-id 00000000000000aa cluster ";
  struct Case {
    const char* story;
    std::vector<Peer> discovered;
    bool complete;
    std::vector<std::string> commands;
  } cases[] = {
      {"same set: nothing",
       {{"a", "10.0.0.1:1"}, {"b", "10.0.0.2:1"}, {"c", "10.0.0.3:1"}},
       true,
       {}},
      {"a new peer: add",
       {{"a", "10.0.0.1:1"}, {"b", "10.0.0.2:1"}, {"c", "10.0.0.3:1"}, {"d", "10.0.0.4:1"}},
       true,
       {ctl + "add d 10.0.0.4:1"}},
      {"a moved peer: update",
       {{"a", "10.0.0.1:1"}, {"b", "10.0.0.9:1"}, {"c", "10.0.0.3:1"}},
       true,
       {ctl + "update b 10.0.0.9:1"}},
      {"a vanished peer: remove",
       {{"a", "10.0.0.1:1"}, {"b", "10.0.0.2:1"}},
       true,
       {ctl + "remove c"}},
      {"vanished, but the answer was partial: no remove", {{"a", "10.0.0.1:1"}}, false, {}},
      {"empty set never proposes removing everyone", {}, true, {}},
      {"add and remove together, adds first",
       {{"a", "10.0.0.1:1"}, {"b", "10.0.0.2:1"}, {"e", "10.0.0.5:1"}},
       true,
       {ctl + "add e 10.0.0.5:1", ctl + "remove c"}},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.story);
    auto props = propose(k.discovered, k.complete, members, t);
    std::vector<std::string> got;
    for (const auto& p : props) got.push_back(p.command);
    EXPECT_EQ(got, k.commands);
  }
  // A discovered name whose address a member of another name holds.
  auto props =
      propose({{"a", "10.0.0.1:1"}, {"b", "10.0.0.2:1"}, {"x", "10.0.0.3:1"}}, true, members, t);
  ASSERT_EQ(props.size(), 2u);
  EXPECT_EQ(props[0].action, Proposal::Action::kAdd);
  EXPECT_NE(props[0].reason.find("member c has that address"), std::string::npos)
      << props[0].reason;
  EXPECT_EQ(props[1].action, Proposal::Action::kRemove);
  EXPECT_EQ(props[1].id, 13u);
}

TEST(Report, IntervalFlag) {
  EXPECT_EQ(parse_interval("500ms", "--x")->count(), 500);
  EXPECT_EQ(parse_interval("2s", "--x")->count(), 2000);
  EXPECT_EQ(parse_interval("3", "--x")->count(), 3000);
  EXPECT_EQ(parse_interval("1m", "--x")->count(), 60000);
  EXPECT_EQ(parse_interval("0.5s", "--x")->count(), 500);
  for (const char* bad : {"", "0", "-1s", "10h", "s", "0.1ms"}) {
    auto r = parse_interval(bad, "--discovery-interval");
    EXPECT_FALSE(r.is_ok()) << bad;
    EXPECT_NE(r.status().message().find("--discovery-interval"), std::string::npos);
  }
}

}  // namespace
}  // namespace discovery
