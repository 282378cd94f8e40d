// The PostgreSQL executor against real PostgreSQL 15: initdb, clone,
// observe, fence, a hand-driven switchover (stop, promote, rejoin by
// pg_rewind) and a crashed old primary rejoining by rewind. The agent tests
// (pgha_agent_test) drive the same calls through the reconciler.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "pgha/pg/executor.h"
#include "tests/integration/pgha_harness.h"

namespace integration::pgha {
namespace {

using ::pgha::pg::Executor;
using ::pgha::pg::ExecutorConfig;
using ::pgha::pg::Observation;
using ::pgha::pg::PgAddress;
using ::pgha::pg::PgRole;
using ::pgha::pg::Reach;
using Clock = std::chrono::steady_clock;

::testing::AssertionResult ok(const common::Status& s) {
  if (s.is_ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << s.to_string();
}

class PgExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; i++) {
      ExecutorConfig cfg;
      cfg.bin_dir = kPgBinDir;
      cfg.data_dir = dir_.path() + "/pg" + std::to_string(i + 1);
      cfg.port = free_port();
      cfg.node_name = "n" + std::to_string(i + 1);
      register_data_dir(cfg.data_dir);
      ex_.emplace_back(cfg);
    }
  }
  void TearDown() override {
    if (HasFailure()) dir_.keep();
  }
  PgAddress addr(int i) const { return {"127.0.0.1", ex_[i].config().port}; }
  // Polls observe() until pred holds; the last observation.
  Observation wait_for(int i, const std::function<bool(const Observation&)>& pred,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(20000)) {
    auto deadline = Clock::now() + timeout;
    Observation o;
    do {
      o = ex_[i].observe();
      if (pred(o)) return o;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (Clock::now() < deadline);
    return o;
  }
  TempDir dir_;
  std::vector<Executor> ex_;
};

TEST_F(PgExecutorTest, ObservesAbsentAndStoppedClusters) {
  EXPECT_EQ(ex_[0].observe().reach, Reach::kNoDataDir);
  ASSERT_TRUE(ok(ex_[0].initdb()));
  EXPECT_EQ(ex_[0].observe().reach, Reach::kStopped);
  // initdb refuses to overwrite.
  EXPECT_FALSE(ex_[0].initdb().is_ok());
  ASSERT_TRUE(ok(ex_[0].start()));
  Observation o = ex_[0].observe();
  EXPECT_EQ(o.reach, Reach::kOk) << o.error;
  EXPECT_EQ(o.role, PgRole::kPrimary);
  EXPECT_EQ(o.timeline, 1u);
  EXPECT_GT(o.flush_lsn, 0u);
  // The operator's postgresql.conf only gained the include_dir line.
  auto port = psql(ex_[0].config().port, "SHOW port");
  ASSERT_TRUE(ok(port.status()));
  EXPECT_EQ((*port)[0], std::to_string(ex_[0].config().port));
}

TEST_F(PgExecutorTest, CloneFenceSwitchoverAndRewind) {
  ASSERT_TRUE(ok(ex_[0].initdb()));
  ASSERT_TRUE(ok(ex_[0].start()));
  uint16_t p1 = ex_[0].config().port, p2 = ex_[1].config().port;
  ASSERT_TRUE(ok(psql(p1, "CREATE TABLE t (n int primary key)").status()));
  ASSERT_TRUE(ok(psql(p1, "INSERT INTO t VALUES (1)").status()));

  ASSERT_TRUE(ok(ex_[1].clone_from(addr(0), false)));
  ASSERT_TRUE(ok(ex_[1].start()));
  Observation r = wait_for(1, [](const Observation& o) { return o.streaming; });
  ASSERT_EQ(r.reach, Reach::kOk) << r.error;
  EXPECT_EQ(r.role, PgRole::kReplica);
  EXPECT_TRUE(r.streaming);
  EXPECT_EQ(r.upstream, "127.0.0.1:" + std::to_string(p1));
  Observation p = wait_for(0, [](const Observation& o) { return !o.standbys.empty(); });
  ASSERT_EQ(p.standbys.size(), 1u);
  EXPECT_EQ(p.standbys[0].application_name, "n2");

  // Sync standby by name: a commit waits for n2.
  ASSERT_TRUE(ok(ex_[0].set_synchronous_standby_names("FIRST 1 (n2)")));
  p = wait_for(0, [](const Observation& o) {
    return !o.standbys.empty() && o.standbys[0].sync_state == "sync";
  });
  ASSERT_EQ(p.standbys.size(), 1u);
  EXPECT_EQ(p.standbys[0].sync_state, "sync");
  ASSERT_TRUE(ok(psql(p1, "INSERT INTO t VALUES (2)").status()));

  // The fence: reads work, writes are refused, the session is gone.
  ASSERT_TRUE(ok(ex_[0].fence()));
  EXPECT_TRUE(ex_[0].observe().read_only);
  auto w = psql(p1, "INSERT INTO t VALUES (3)");
  EXPECT_FALSE(w.is_ok());
  EXPECT_NE(w.status().message().find("read-only"), std::string::npos) << w.status().message();
  ASSERT_TRUE(ok(psql(p1, "SELECT count(*) FROM t").status()));

  // Switchover by hand: stop the fenced primary cleanly (it sends all its
  // WAL), promote n2, make n1 its standby through pg_rewind.
  ASSERT_TRUE(ok(ex_[0].stop("fast")));
  ASSERT_TRUE(ok(ex_[1].promote("")));
  Observation np = ex_[1].observe();
  EXPECT_EQ(np.role, PgRole::kPrimary);
  EXPECT_EQ(np.timeline, 2u);
  EXPECT_FALSE(np.read_only);
  auto count = psql(p2, "SELECT count(*) FROM t");
  ASSERT_TRUE(ok(count.status()));
  EXPECT_EQ((*count)[0], "2");
  ASSERT_TRUE(ok(psql(p2, "INSERT INTO t VALUES (3)").status()));

  ASSERT_TRUE(ok(ex_[0].rewind_from(addr(1))));
  ASSERT_TRUE(ok(ex_[0].start()));
  // It streams the old timeline's end first, then follows the new one.
  Observation op = wait_for(0, [](const Observation& o) { return o.streaming && o.timeline == 2; });
  EXPECT_EQ(op.role, PgRole::kReplica);
  EXPECT_TRUE(op.streaming) << op.error;
  EXPECT_EQ(op.timeline, 2u);

  // Crash of the new primary after writes its standby has not seen: n1 is
  // promoted (timeline 3), and n2 rejoins through a real rewind.
  ASSERT_TRUE(ok(psql(p2, "INSERT INTO t VALUES (4)").status()));
  ASSERT_TRUE(ok(ex_[1].stop("immediate")));
  ASSERT_TRUE(ok(ex_[0].promote("")));
  EXPECT_EQ(ex_[0].observe().timeline, 3u);
  ASSERT_TRUE(ok(psql(p1, "INSERT INTO t VALUES (5)").status()));
  ASSERT_TRUE(ok(ex_[1].rewind_from(addr(0))));
  ASSERT_TRUE(ok(ex_[1].start()));
  Observation rr = wait_for(1, [](const Observation& o) { return o.streaming && o.timeline == 3; });
  EXPECT_TRUE(rr.streaming) << rr.error;
  EXPECT_EQ(rr.timeline, 3u);
  wait_for(1, [&](const Observation&) {
    auto c = psql(p2, "SELECT count(*) FROM t WHERE n = 5");
    return c.is_ok() && (*c)[0] == "1";
  });
  auto five = psql(p2, "SELECT count(*) FROM t WHERE n = 5");
  ASSERT_TRUE(ok(five.status()));
  EXPECT_EQ((*five)[0], "1");
}

TEST_F(PgExecutorTest, RemoteFenceAndQueryFailureIsNotUnreachable) {
  ASSERT_TRUE(ok(ex_[0].initdb()));
  ASSERT_TRUE(ok(ex_[0].start()));
  ASSERT_TRUE(ok(ex_[1].fence_remote(addr(0))));
  EXPECT_FALSE(psql(ex_[0].config().port, "CREATE TABLE x (a int)").is_ok());
  ASSERT_TRUE(ok(ex_[0].unfence()));
  EXPECT_TRUE(psql(ex_[0].config().port, "CREATE TABLE x (a int)").is_ok());
  // Nothing listens on n2's port, but its data dir is absent: no_data_dir.
  EXPECT_EQ(ex_[1].observe().reach, Reach::kNoDataDir);
  auto s = ex_[1].fence_remote(addr(1));
  EXPECT_EQ(s.code(), common::Code::kUnavailable) << s.to_string();
}

}  // namespace
}  // namespace integration::pgha

int main(int argc, char** argv) {
  integration::pgha::drop_root_to_postgres();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
