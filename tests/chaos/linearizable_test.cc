// The register search must accept every history a correct register can
// produce and refuse the classic anomalies: a stale read, a lost update, a
// read of a value never written. Unknown operations may count or not.
#include "tests/chaos/linearizable.h"

#include <gtest/gtest.h>

#include <random>

namespace chaos {
namespace {

RegisterOp cas_op(uint64_t n, int64_t t0, int64_t t1, int64_t to, bool unknown = false) {
  return RegisterOp{n, t0, t1, unknown, false, to};
}

RegisterOp read_op(uint64_t n, int64_t t0, int64_t t1, int64_t value) {
  return RegisterOp{n, t0, t1, false, true, value};
}

LinVerdict verdict(const std::vector<RegisterOp>& ops) {
  return check_register(ops, 0).verdict;
}

TEST(Linearizable, EmptyAndSequentialHistoriesPass) {
  EXPECT_EQ(verdict({}), LinVerdict::kLinearizable);
  EXPECT_EQ(verdict({read_op(1, 0, 1, 0), cas_op(2, 2, 3, 1), read_op(3, 4, 5, 1),
                     cas_op(4, 6, 7, 2), read_op(5, 8, 9, 2)}),
            LinVerdict::kLinearizable);
}

TEST(Linearizable, ConcurrentReadMaySeeEitherValue) {
  EXPECT_EQ(verdict({cas_op(1, 0, 10, 1), read_op(2, 5, 6, 0)}), LinVerdict::kLinearizable);
  EXPECT_EQ(verdict({cas_op(1, 0, 10, 1), read_op(2, 5, 6, 1)}), LinVerdict::kLinearizable);
}

TEST(Linearizable, StaleReadIsRefused) {
  auto r = check_register({cas_op(1, 0, 10, 1), read_op(2, 11, 12, 0)}, 0);
  EXPECT_EQ(r.verdict, LinVerdict::kViolation);
  EXPECT_NE(r.detail.find("op 2"), std::string::npos) << r.detail;
}

TEST(Linearizable, ReadGoingBackwardsIsRefused) {
  // Two reads concurrent with the write, but the later one sees the older value.
  EXPECT_EQ(verdict({cas_op(1, 0, 100, 1), read_op(2, 10, 20, 1), read_op(3, 30, 40, 0)}),
            LinVerdict::kViolation);
}

TEST(Linearizable, LostUpdateIsRefused) {
  // Two acknowledged increments both from 0 to 1: one of them cannot be.
  EXPECT_EQ(verdict({cas_op(1, 0, 10, 1), cas_op(2, 0, 10, 1)}), LinVerdict::kViolation);
}

TEST(Linearizable, ReadOfUnwrittenValueIsRefused) {
  EXPECT_EQ(verdict({cas_op(1, 0, 10, 1), read_op(2, 20, 30, 7)}), LinVerdict::kViolation);
}

TEST(Linearizable, UnknownWriteMayOrMayNotHaveHappened) {
  EXPECT_EQ(verdict({cas_op(1, 0, 10, 1, true), read_op(2, 20, 30, 1)}), LinVerdict::kLinearizable);
  EXPECT_EQ(verdict({cas_op(1, 0, 10, 1, true), read_op(2, 20, 30, 0)}), LinVerdict::kLinearizable);
  // ... but once seen, it stays: a later read cannot go back to 0.
  EXPECT_EQ(verdict({cas_op(1, 0, 10, 1, true), read_op(2, 20, 30, 1), read_op(3, 40, 50, 0)}),
            LinVerdict::kViolation);
  // An unknown write may land long after its client gave up.
  EXPECT_EQ(verdict({cas_op(1, 0, 10, 1, true), read_op(2, 20, 30, 0), read_op(3, 40, 50, 1)}),
            LinVerdict::kLinearizable);
}

TEST(Linearizable, StepBoundGivesInconclusiveNotAVerdict) {
  std::vector<RegisterOp> ops;
  for (uint64_t i = 0; i < 20; i++) ops.push_back(read_op(i, 0, 100, 0));
  ops.push_back(cas_op(99, 0, 100, 1));
  auto r = check_register(ops, 0, 3);
  EXPECT_EQ(r.verdict, LinVerdict::kInconclusive);
}

// A long history from a real register under random overlap must pass, and
// the same history with one read corrupted must not: the search is sound
// both ways at the size the chaos runs produce.
TEST(Linearizable, LongRandomHistoryFromARealRegister) {
  std::mt19937_64 rng(42);
  std::vector<RegisterOp> ops;
  int64_t value = 0, t = 0;
  // Clients overlap: each op's interval spans its linearization point at
  // time t with random slack on both sides.
  for (uint64_t n = 1; n <= 3000; n++) {
    t += 10;
    int64_t before = static_cast<int64_t>(rng() % 25), after = static_cast<int64_t>(rng() % 25);
    bool write = rng() % 3 == 0;
    if (write) value++;
    bool unknown = write && rng() % 20 == 0;
    ops.push_back(RegisterOp{n, t - before, t + after, unknown, !write, value});
  }
  auto ok = check_register(ops, 0);
  EXPECT_EQ(ok.verdict, LinVerdict::kLinearizable) << ok.detail;
  for (auto& op : ops) {
    if (op.is_read && op.op > 1500 && op.value > 10) {
      op.value -= 10;  // a read ten writes in the past: no overlap explains it
      break;
    }
  }
  EXPECT_EQ(check_register(ops, 0).verdict, LinVerdict::kViolation);
}

}  // namespace
}  // namespace chaos
