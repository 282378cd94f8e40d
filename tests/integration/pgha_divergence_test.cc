// A replica whose history forked from the primary's is found while it runs
// and rewound: with its agent gone, a replica's PostgreSQL is promoted on
// its own (timeline 2), takes a write the primary never sees, and is
// restarted as a standby. PostgreSQL alone would retry streaming forever
// ("highest timeline 1 of the primary is behind recovery timeline 2").
// Once its agent is back, its observation (timeline, history) shows the
// fork, the coordinator orders a rewind, and it streams from the primary
// again without the stray write. Real PostgreSQL 15, real 3-node store.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <thread>

#include "tests/integration/pgha_test.h"

namespace integration::pgha {
namespace {

class PghaDivergenceTest : public PghaTest {};

TEST_F(PghaDivergenceTest, ForkedReplicaIsDetectedAndRewound) {
  const size_t p = bootstrap(BootstrapSpec::with_primary(0, ::pgha::ReplicationMode::kAsync), {},
                             milliseconds(90000));
  ASSERT_FALSE(HasFailure());
  PghaCluster& c = *c_;
  const size_t r = (p + 2) % c.size();
  const uint16_t pport = c.agent(p).pg_port;
  const uint16_t rport = c.agent(r).pg_port;
  ASSERT_TRUE(ok(psql(pport, "CREATE TABLE t (n int)").status()));
  ASSERT_TRUE(ok(psql(pport, "INSERT INTO t VALUES (1)").status()));

  // The fork, behind pgha's back.
  c.kill9_agent(r);
  ASSERT_TRUE(ok(psql(rport, "SELECT pg_promote(true, 30)").status()));
  ASSERT_TRUE(ok(psql(rport, "CREATE TABLE stray (n int)").status()));
  ASSERT_TRUE(ok(psql(rport, "INSERT INTO stray VALUES (42)").status()));
  ASSERT_TRUE(ok(psql(rport, "CHECKPOINT").status()));
  auto tl = psql(rport, "SELECT timeline_id FROM pg_control_checkpoint()");
  ASSERT_TRUE(ok(tl.status()));
  ASSERT_EQ(tl->at(0), "2") << "the replica was promoted on its own";
  // Back to a standby (of the primary: its primary_conninfo is still set),
  // but on the forked timeline.
  c.kill9_postgres(r);
  {
    std::string signal = c.agent(r).data_dir + "/standby.signal";
    std::ofstream(signal).flush();
    give_to_pg_user(signal);
  }
  std::this_thread::sleep_for(milliseconds(500));  // the postmaster's children go down
  ASSERT_TRUE(ok(psql(pport, "INSERT INTO t VALUES (2)").status()));

  auto t_back = Clock::now();
  ASSERT_TRUE(ok(c.start_agent(r)));
  // Detected, rewound, streaming again: /replica answers 200 only for a
  // replica streaming within the lag limit.
  bool rejoined = false;
  std::vector<::pgha::Event> h;
  while (Clock::now() - t_back < milliseconds(90000)) {
    auto hist = c.history();
    if (hist.is_ok()) h = *hist;
    bool rewound = std::any_of(h.begin(), h.end(), [&](const ::pgha::Event& e) {
      return e.member == c.agent(r).name && e.kind == "rewind" &&
             e.message.find("rewound from") != std::string::npos;
    });
    if (rewound && c.agent_get(r, "/replica") == 200) {
      rejoined = true;
      break;
    }
    std::this_thread::sleep_for(milliseconds(250));
  }
  ASSERT_TRUE(rejoined) << "the forked replica did not rejoin";
  std::cout << "forked replica detected, rewound and streaming: "
            << std::chrono::duration_cast<milliseconds>(Clock::now() - t_back).count()
            << " ms after its agent came back\n";
  // The coordinator said why.
  EXPECT_TRUE(std::any_of(h.begin(), h.end(), [&](const ::pgha::Event& e) {
    return e.member == c.agent(r).name && e.kind == "rewind" &&
           e.message.find("diverged") != std::string::npos &&
           e.message.find("timeline 2") != std::string::npos;
  })) << "no rewind order naming the fork in the history";
  // Its data is the primary's: the stray write is gone, the primary's is there.
  EXPECT_FALSE(psql(rport, "SELECT n FROM stray").is_ok()) << "the stray table survived";
  bool caught_up = false;
  for (int i = 0; i < 40 && !caught_up; ++i) {
    auto rows = psql(rport, "SELECT count(*) FROM t");
    caught_up = rows.is_ok() && rows->at(0) == "2";
    if (!caught_up) std::this_thread::sleep_for(milliseconds(250));
  }
  EXPECT_TRUE(caught_up) << "the rewound replica has the primary's rows";
  EXPECT_EQ(c.primaries(), std::vector<size_t>{p}) << "the primary never moved";
}

}  // namespace
}  // namespace integration::pgha

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
