// changectl end to end: the real binary against a real HttpServer over the
// FakeService test double. Checks output shapes and the exit codes scripts
// rely on (0 ok, 1 failed, 2 usage, 3 not found, 4 revision mismatch).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <thread>

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

TEST(Changectl, ClusterMembershipCommands) {
  TestServer ts;
  std::string ep = "--endpoints " + ts.endpoint();

  CtlResult add = changectl(ep +
                            " -o json cluster add n3 http://127.0.0.1:9003 --client-url "
                            "http://127.0.0.1:8003 --learner");
  ASSERT_EQ(add.exit_code, 0) << add.out;
  auto added = boost::json::parse(add.out);
  uint64_t id = added.at("id").to_number<uint64_t>();
  EXPECT_EQ(added.at("name").as_string(), "n3");
  EXPECT_EQ(added.at("peerURL").as_string(), "127.0.0.1:9003");  // the server strips the scheme
  EXPECT_EQ(added.at("clientURL").as_string(), "http://127.0.0.1:8003");
  EXPECT_TRUE(added.at("learner").as_bool());
  CtlResult table = changectl(ep + " cluster add n4 127.0.0.1:9004");
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("ROLE"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("learner"), std::string::npos) << table.out;
  EXPECT_EQ(changectl(ep + " cluster add n3 127.0.0.1:9005").exit_code, 1);  // name taken

  // By name and by id; the table names the member.
  CtlResult promote = changectl(ep + " cluster promote n3");
  ASSERT_EQ(promote.exit_code, 0);
  EXPECT_NE(promote.out.find("(n3) is a voter"), std::string::npos) << promote.out;
  CtlResult status = changectl(ep + " -o json cluster status");
  bool n3_learner = true;
  auto details = boost::json::parse(status.out);
  for (const auto& m : details.at("details").as_array()) {
    if (m.at("name").as_string() == "n3") n3_learner = m.at("learner").as_bool();
  }
  EXPECT_FALSE(n3_learner);
  CtlResult update =
      changectl(ep + " -o json cluster update " + std::to_string(id) + " 127.0.0.1:9103");
  ASSERT_EQ(update.exit_code, 0);
  EXPECT_EQ(boost::json::parse(update.out).at("peerURL").as_string(), "127.0.0.1:9103");
  CtlResult moved = changectl(ep + " -o json cluster move-leader n2");
  ASSERT_EQ(moved.exit_code, 0);
  EXPECT_EQ(boost::json::parse(moved.out).at("leader").as_int64(), 2);
  EXPECT_NE(changectl(ep + " cluster status").out.find("leader 2"), std::string::npos);

  // A refused removal fails (1) unless forced; unknown members are 3.
  ts.svc.on_io([&] { ts.svc.refuse_removal_without_force = true; });
  EXPECT_EQ(changectl(ep + " cluster remove n3").exit_code, 1);
  CtlResult removed = changectl(ep + " -o json cluster remove n3 --force");
  ASSERT_EQ(removed.exit_code, 0) << removed.out;
  EXPECT_EQ(boost::json::parse(removed.out).at("id").to_number<uint64_t>(), id);
  EXPECT_TRUE(boost::json::parse(removed.out).at("removed").as_bool());
  EXPECT_EQ(changectl(ep + " cluster remove n3").exit_code, 3);
  EXPECT_EQ(changectl(ep + " cluster promote 999").exit_code, 3);
  EXPECT_EQ(changectl(ep + " cluster move-leader nobody").exit_code, 3);

  // Not the leader: the 503 not_leader is a failure (1).
  ts.svc.on_io([&] { ts.svc.member_error = Status(Code::kNotLeader, "ask n1"); });
  EXPECT_EQ(changectl(ep + " cluster promote n2").exit_code, 1);
  EXPECT_EQ(changectl(ep + " cluster add n9 127.0.0.1:9009").exit_code, 1);

  // Usage errors.
  EXPECT_EQ(changectl(ep + " cluster add n5").exit_code, 2);
  EXPECT_EQ(changectl(ep + " cluster remove").exit_code, 2);
  EXPECT_EQ(changectl(ep + " cluster update n2").exit_code, 2);
  EXPECT_EQ(changectl(ep + " cluster promote 0").exit_code, 2);
  EXPECT_EQ(changectl(ep + " cluster frob n2").exit_code, 2);
  EXPECT_NE(changectl("--help").out.find("cluster move-leader"), std::string::npos);
}

TEST(Changectl, KeysCommandsAndExitCodes) {
  TestServer ts;
  std::string ep = "--endpoints " + ts.endpoint();
  CtlResult put =
      changectl(ep + " -o json keys put pgha/c1/leader '{\"node\":\"n1\"}' --if-revision 0");
  ASSERT_EQ(put.exit_code, 0) << put.out;
  EXPECT_EQ(boost::json::parse(put.out).at("revision").as_int64(), 1);

  CtlResult lost =
      changectl(ep + " -o json keys put pgha/c1/leader '{\"node\":\"n2\"}' --if-revision 0");
  EXPECT_EQ(lost.exit_code, 4);
  auto mismatch = boost::json::parse(lost.out);
  EXPECT_FALSE(mismatch.at("succeeded").as_bool());
  EXPECT_EQ(mismatch.at("current").at(0).at("revision").as_int64(), 1);
  EXPECT_EQ(changectl(ep + " keys put pgha/c1/leader 2 --if-revision 1").exit_code, 0);

  CtlResult get = changectl(ep + " keys get pgha/c1/leader");
  ASSERT_EQ(get.exit_code, 0);
  EXPECT_NE(get.out.find("REVISION"), std::string::npos);
  EXPECT_NE(get.out.find("pgha/c1/leader"), std::string::npos);
  CtlResult get_json = changectl(ep + " -o json keys get pgha/c1/leader --consistent");
  ASSERT_EQ(get_json.exit_code, 0);
  EXPECT_EQ(boost::json::parse(get_json.out).at("modRevision").as_int64(), 2);
  EXPECT_EQ(boost::json::parse(get_json.out).at("version").as_int64(), 2);

  ASSERT_EQ(changectl(ep + " keys put pgha/c1/members/n1 '{\"up\":true}'").exit_code, 0);
  ASSERT_EQ(changectl(ep + " keys put other 1").exit_code, 0);
  CtlResult list = changectl(ep + " -o json keys list --prefix pgha/");
  ASSERT_EQ(list.exit_code, 0);
  EXPECT_EQ(boost::json::parse(list.out).at("keys").as_array().size(), 2u);
  CtlResult table = changectl(ep + " keys list --limit 1");
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("--after"), std::string::npos) << table.out;

  EXPECT_EQ(changectl(ep + " keys del pgha/c1/leader --if-revision 9").exit_code, 4);
  EXPECT_EQ(changectl(ep + " keys del pgha/c1/leader --if-revision 2").exit_code, 0);
  EXPECT_EQ(changectl(ep + " keys get pgha/c1/leader").exit_code, 3);
  EXPECT_EQ(changectl(ep + " keys del nope").exit_code, 3);

  EXPECT_EQ(changectl(ep + " keys put k '{bad'").exit_code, 2);
  EXPECT_EQ(changectl(ep + " keys put k 1 --if-revision x").exit_code, 2);
  EXPECT_EQ(changectl(ep + " keys put k 1 --if-revision -1").exit_code, 2);
  EXPECT_EQ(changectl(ep + " keys put k").exit_code, 2);
  EXPECT_EQ(changectl(ep + " keys get").exit_code, 2);
  EXPECT_EQ(changectl(ep + " keys frob").exit_code, 2);
  EXPECT_EQ(changectl(ep + " keys list --limit 0").exit_code, 2);
  CtlResult help = changectl("--help");
  EXPECT_NE(help.out.find("4 revision mismatch"), std::string::npos);
}

TEST(Changectl, KeysWatchFollowsAPrefix) {
  TestServer ts;
  std::string ep = "--endpoints " + ts.endpoint();
  auto c = ts.client();
  ASSERT_TRUE(c->put_key("w/a", "1").is_ok());
  // The shell stops the follower after 2 s; its output is what we check.
  auto watch = std::async(std::launch::async, [&] {
    return changectl("-o json " + ep + " keys watch w/ & sleep 2; kill $!");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(c->put_key("x/b", "2").is_ok());
  ASSERT_TRUE(c->delete_key("w/a").is_ok());
  CtlResult r = watch.get();
  std::vector<std::string> lines;
  for (size_t at = 0, nl; (nl = r.out.find('\n', at)) != std::string::npos; at = nl + 1) {
    lines.push_back(r.out.substr(at, nl - at));
  }
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_EQ(boost::json::parse(lines[0]).at("key").as_string(), "w/a");
  EXPECT_TRUE(boost::json::parse(lines[1]).at("delete").as_bool());
}

TEST(Changectl, LeaseCommandsAndExitCodes) {
  TestServer ts;
  std::string ep = "--endpoints " + ts.endpoint();
  CtlResult grant = changectl(ep + " -o json lease grant 10");
  ASSERT_EQ(grant.exit_code, 0) << grant.out;
  int64_t id = boost::json::parse(grant.out).at("id").as_int64();
  std::string ids = std::to_string(id);
  EXPECT_EQ(boost::json::parse(grant.out).at("ttl").as_int64(), 10);
  ASSERT_EQ(changectl(ep + " keys put eph 1 --lease " + ids).exit_code, 0);

  CtlResult get = changectl(ep + " lease get " + ids);
  ASSERT_EQ(get.exit_code, 0);
  EXPECT_NE(get.out.find("REMAINING"), std::string::npos);
  EXPECT_NE(get.out.find("eph"), std::string::npos);
  CtlResult kept = changectl(ep + " -o json lease keepalive " + ids);
  ASSERT_EQ(kept.exit_code, 0);
  EXPECT_GT(boost::json::parse(kept.out).at("remainingMs").as_int64(), 9000);
  ASSERT_EQ(changectl(ep + " lease revoke " + ids).exit_code, 0);
  EXPECT_EQ(changectl(ep + " keys get eph").exit_code, 3);
  EXPECT_EQ(changectl(ep + " lease get " + ids).exit_code, 3);
  EXPECT_EQ(changectl(ep + " lease keepalive " + ids).exit_code, 3);
  EXPECT_EQ(changectl(ep + " lease revoke " + ids).exit_code, 3);
  EXPECT_EQ(changectl(ep + " lease grant 0").exit_code, 2);
  EXPECT_EQ(changectl(ep + " lease grant 86401").exit_code, 2);
  EXPECT_EQ(changectl(ep + " lease get x").exit_code, 2);
  EXPECT_EQ(changectl(ep + " lease frob 1").exit_code, 2);
}

TEST(Changectl, LeaseKeepaliveFollowRenewsUntilInterruptedOrLost) {
  TestServer ts;
  std::string ep = "--endpoints " + ts.endpoint();
  auto c = ts.client();
  auto lease = c->lease_grant(1);
  ASSERT_TRUE(lease.is_ok());
  std::string ids = std::to_string(lease->id);
  // Ctrl-C after 1.5 ttls: exit 0, and the lease was kept alive meanwhile.
  CtlResult followed = changectl("-o json " + ep + " lease keepalive " + ids +
                                 " --follow & sleep 1.5; kill -INT $!; wait $!");
  EXPECT_EQ(followed.exit_code, 0) << followed.out;
  EXPECT_GE(std::count(followed.out.begin(), followed.out.end(), '\n'), 4);
  EXPECT_TRUE(c->lease_get(lease->id).is_ok());
  // A revoked lease ends the follower with exit 3.
  auto lost = std::async(std::launch::async,
                         [&] { return changectl(ep + " lease keepalive " + ids + " --follow"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(c->lease_revoke(lease->id).is_ok());
  ASSERT_EQ(lost.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(lost.get().exit_code, 3);
}

}  // namespace
}  // namespace api::test
