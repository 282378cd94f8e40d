// changectl end to end: the real binary against a real HttpServer over the
// FakeService test double. Checks output shapes and the exit codes scripts
// rely on (0 ok, 1 failed, 2 usage, 3 not found).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <cstdio>

#include "tests/unit/api/test_server.h"

namespace api::test {
namespace {

struct CtlResult {
  int exit_code = -1;
  std::string out;
};

CtlResult changectl(const std::string& args) {
  std::string cmd = std::string(CHANGECTL_PATH) + " " + args + " 2>/dev/null";
  CtlResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(Changectl, PostGetClusterAndExitCodes) {
  TestServer ts;
  std::string ep = "--endpoints " + ts.endpoint();

  CtlResult post = changectl(ep + " -o json changes post --tag a --tag b '{\"k\":1}'");
  ASSERT_EQ(post.exit_code, 0) << post.out;
  EXPECT_EQ(boost::json::parse(post.out).at("_id").as_int64(), 1);

  CtlResult get = changectl(ep + " changes get --since 0 --tag a");
  ASSERT_EQ(get.exit_code, 0);
  EXPECT_NE(get.out.find("ID"), std::string::npos);
  EXPECT_NE(get.out.find("a,b"), std::string::npos);
  EXPECT_NE(get.out.find("{\"k\":1}"), std::string::npos);

  CtlResult json = changectl(ep + " -o json changes get");
  ASSERT_EQ(json.exit_code, 0);
  EXPECT_EQ(boost::json::parse(json.out).at("changes").as_array().size(), 1u);

  EXPECT_EQ(changectl(ep + " changes get 1").exit_code, 0);
  EXPECT_EQ(changectl(ep + " changes get 42").exit_code, 3);
  EXPECT_EQ(changectl(ep + " changes post '{bad'").exit_code, 2);
  EXPECT_EQ(changectl(ep + " changes frobnicate").exit_code, 2);
  EXPECT_EQ(changectl(ep + " changes get --limit").exit_code, 2);
  EXPECT_EQ(changectl("--endpoints 127.0.0.1:1 changes get").exit_code, 1);

  CtlResult status = changectl(ep + " cluster status");
  ASSERT_EQ(status.exit_code, 0);
  EXPECT_NE(status.out.find("00000000000000aa"), std::string::npos);
  EXPECT_NE(status.out.find("leader"), std::string::npos);
  CtlResult members = changectl(ep + " -o json cluster members");
  ASSERT_EQ(members.exit_code, 0);
  EXPECT_EQ(boost::json::parse(members.out).at("2").as_string(), "127.0.0.1:9002");
}

}  // namespace
}  // namespace api::test
