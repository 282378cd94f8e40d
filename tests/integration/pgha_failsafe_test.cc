// pgha's failsafe against real PostgreSQL 15: the whole store goes away
// (two of three changeagent nodes SIGKILLed, so it has no quorum).
//   1. The primary's agent cannot renew its lease, asks its peers directly,
//      a majority confirms it: it keeps serving writes (Patroni without
//      failsafe would demote here).
//   2. Its peers' agents are then SIGSTOPped too: no majority confirms, so
//      it fences itself and no node accepts writes.
//   3. Everything comes back: the cluster has one writable primary again.
#include <gtest/gtest.h>

#include <iostream>

#include "tests/integration/pgha_test.h"

namespace integration::pgha {
namespace {

bool writable(uint16_t port) {
  return psql(port, "INSERT INTO probe (port) VALUES (" + std::to_string(port) + ")").is_ok();
}

class PghaFailsafeTest : public PghaTest {};

TEST_F(PghaFailsafeTest, StoreGoneMajorityKeepsPrimaryMinorityFencesIt) {
  size_t p = bootstrap(BootstrapSpec::agents_write_desired(), {}, milliseconds(120000));
  ASSERT_FALSE(HasFailure());
  PghaCluster& c = *c_;
  uint16_t pport = c.agent(p).pg_port;
  ASSERT_TRUE(ok(psql(pport, "CREATE TABLE seq (n bigint PRIMARY KEY)").status()));
  ASSERT_TRUE(
      ok(psql(pport, "CREATE TABLE probe (port int, at timestamptz DEFAULT now())").status()));
  SeqWriter writer(c.writable_conninfo());
  std::this_thread::sleep_for(milliseconds(1500));

  // ---- 1. the store loses its quorum; peers confirm the primary ----
  std::vector<size_t> killed;
  for (size_t i = 0; i < c.store().size() && killed.size() < 2; ++i) {
    c.store().kill9(i);
    killed.push_back(i);
  }
  // Well past the lease ttl (2 s) and the failsafe window (1.5 s).
  std::this_thread::sleep_for(milliseconds(7000));
  size_t before = writer.acked().size();
  std::this_thread::sleep_for(milliseconds(2000));
  EXPECT_GT(writer.acked().size(), before + 10) << "the confirmed primary keeps taking writes";
  EXPECT_TRUE(writable(pport));
  std::cout << "store without quorum: primary " << c.agent(p).name << " kept serving, "
            << writer.acked().size() - before << " rows in 2 s\n";

  // ---- 2. its peers stop answering: it must fence itself ----
  for (size_t i = 0; i < c.size(); ++i) {
    if (i != p) c.sigstop_agent(i);
  }
  auto t_isolated = Clock::now();
  bool fenced = false;
  while (ms_since(t_isolated) < 15000 && !fenced) {
    fenced = !writable(pport);
    if (!fenced) std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_TRUE(fenced) << "an unconfirmed primary without the store must stop taking writes";
  std::cout << "peers silent too: primary fenced itself after " << ms_since(t_isolated) << " ms\n";
  for (size_t i = 0; i < c.size(); ++i) {
    EXPECT_FALSE(writable(c.agent(i).pg_port)) << c.agent(i).name << " accepts writes";
  }

  // ---- 3. everything comes back ----
  for (size_t i = 0; i < c.size(); ++i) c.sigcont_agent(i);
  for (size_t i : killed) ASSERT_TRUE(ok(c.store().start(i)));
  auto again = c.wait_healthy(milliseconds(60000));
  ASSERT_TRUE(ok(again.status()));
  auto t_back = Clock::now();
  bool writes_back = false;
  while (ms_since(t_back) < 15000 && !writes_back) {
    writes_back = writable(c.agent(*again).pg_port);
    if (!writes_back) std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_TRUE(writes_back);
  writer.stop();

  auto h = c.history();
  ASSERT_TRUE(ok(h.status()));
  bool fence_event = false;
  for (const auto& e : *h) fence_event |= e.kind == "fence" && e.member == c.agent(p).name;
  EXPECT_TRUE(fence_event) << "the self-fencing is in the history";
}

}  // namespace
}  // namespace integration::pgha

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
