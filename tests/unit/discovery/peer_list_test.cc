// The textual peer lists: --initial-cluster and discovery files.
#include <gtest/gtest.h>

#include "discovery/peer_list.h"

namespace discovery {
namespace {

struct FileCase {
  const char* story;
  const char* text;
  const char* want;  // describe() of the peers, or "error: <substring>"
};

TEST(PeerFile, Table) {
  const FileCase cases[] = {
      {"empty file: no peers yet", "", "(none)"},
      {"only comments and blanks", "# peers\n\n   \n\t# more\n", "(none)"},
      {"bare URLs are named by address", "http://10.0.0.2:2380\n10.0.0.1:2380\n",
       "10.0.0.1:2380=10.0.0.1:2380,10.0.0.2:2380=10.0.0.2:2380"},
      {"name=url, sorted, trailing comment, CRLF, no final newline",
       "n2=http://b.example:2380/  # second\r\nn1=a.example:2380",
       "n1=a.example:2380,n2=b.example:2380"},
      {"https and IPv6", "n1=https://[::1]:2380\n", "n1=[::1]:2380"},
      {"missing port", "n1=10.0.0.1\n", "error: line 1: peer URL '10.0.0.1' has no port"},
      {"port 0", "n1=10.0.0.1:0\n", "error: no port in 1..65535"},
      {"port too big", "\nn1=10.0.0.1:65536\n", "error: line 2:"},
      {"half-written port", "n1=10.0.0.1:\n", "error: line 1:"},
      {"garbage host", "n1=bad_host!:2380\n", "error: no valid host"},
      {"empty name", "=10.0.0.1:2380\n", "error: empty name"},
      {"two entries on a line", "n1=a:1 n2=b:2\n", "error: more than one entry"},
      {"comma list is not a file", "n1=a:1,n2=b:2\n", "error: more than one entry"},
      {"other scheme", "n1=ftp://a:1\n", "error: scheme"},
      {"a path", "n1=http://a:1/peers\n", "error: has a path"},
      {"duplicate name", "n1=a:1\nn1=b:2\n", "error: names 'n1' twice"},
      {"duplicate address", "n1=a:1\nn2=a:1\n", "error: gives a:1 to both"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.story);
    auto r = parse_peer_file(c.text);
    std::string want = c.want;
    if (want.starts_with("error: ")) {
      ASSERT_FALSE(r.is_ok()) << describe(*r);
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
      EXPECT_NE(r.status().message().find(want.substr(7)), std::string::npos)
          << r.status().message();
    } else {
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
      EXPECT_EQ(describe(*r), want);
    }
  }
}

TEST(InitialCluster, ParsesSortsAndRefuses) {
  auto r = parse_initial_cluster("n2=http://127.0.0.1:2381,n1=127.0.0.1:2380");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(describe(*r), "n1=127.0.0.1:2380,n2=127.0.0.1:2381");
  for (const char* bad : {"n1", "n1=", "=a:1", "n1=a:1,n1=b:2", "n1=a", "n1=a:1,,n2=b:2"}) {
    auto e = parse_initial_cluster(bad);
    EXPECT_FALSE(e.is_ok()) << bad;
    EXPECT_NE(e.status().message().find("--initial-cluster"), std::string::npos)
        << e.status().message();
  }
}

TEST(PeerAddress, HostRules) {
  EXPECT_TRUE(valid_host("n1.ca.test"));
  EXPECT_TRUE(valid_host("127.0.0.1"));
  EXPECT_TRUE(valid_host("[fe80::1]"));
  EXPECT_FALSE(valid_host(""));
  EXPECT_FALSE(valid_host("a..b"));
  EXPECT_FALSE(valid_host("-a.b"));
  EXPECT_FALSE(valid_host("a_b.c"));
  EXPECT_FALSE(valid_host(std::string(64, 'a') + ".b"));
  EXPECT_FALSE(valid_host(std::string(254, 'a')));
  EXPECT_FALSE(valid_host("[not-v6]"));
}

}  // namespace
}  // namespace discovery
