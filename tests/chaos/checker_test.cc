// The checker must fail: each case below breaks one invariant of a clean
// run and asserts that exactly that invariant is reported. The clean run
// itself must pass, and survive a round trip through the file formats.
#include <gtest/gtest.h>

#include <sstream>

#include "tests/chaos/checker.h"

namespace chaos {
namespace {

// A small clean run: client 1 appends p1..p3 in sequence (ids 2, 3, 5: 1
// and 4 are raft no-ops), client 2 increments ctr twice (ids 6, 7) and
// reads once at index 7; one append timed out and one failed.
struct Scenario {
  std::vector<Op> history;
  std::vector<NodeLog> logs;
};

Op append(uint64_t n, uint32_t client, int64_t t0, int64_t t1, std::string payload, uint64_t id,
          Outcome outcome = Outcome::kOk) {
  Op op;
  op.op = n;
  op.client = client;
  op.kind = OpKind::kAppend;
  op.invoke_ns = t0;
  op.complete_ns = t1;
  op.outcome = outcome;
  op.payload = std::move(payload);
  op.id = outcome == Outcome::kOk ? id : 0;
  return op;
}

Op cas(uint64_t n, int64_t t0, int64_t t1, std::string payload, uint64_t id, int64_t value,
       Outcome outcome = Outcome::kOk) {
  Op op = append(n, 2, t0, t1, std::move(payload), id, outcome);
  op.kind = OpKind::kCas;
  op.key = "ctr";
  op.value = value;
  return op;
}

Op read(uint64_t n, uint32_t client, int64_t t0, int64_t t1, uint64_t index,
        std::vector<uint64_t> ids) {
  Op op;
  op.op = n;
  op.client = client;
  op.kind = OpKind::kRead;
  op.invoke_ns = t0;
  op.complete_ns = t1;
  op.outcome = Outcome::kOk;
  op.read_index = index;
  op.read_ids = std::move(ids);
  return op;
}

Scenario clean_run() {
  Scenario r;
  r.history = {append(1, 1, 10, 20, "p1", 2),
               append(2, 1, 30, 40, "p2", 3),
               append(3, 1, 50, 60, "p3", 5),
               cas(4, 61, 70, "c1", 6, 1),
               cas(5, 71, 80, "c2", 7, 2),
               read(6, 2, 81, 90, 7, {6, 7}),
               append(7, 3, 15, 500, "u1", 0, Outcome::kUnknown),
               append(8, 3, 510, 520, "f1", 0, Outcome::kFailed),
               cas(9, 81, 85, "cf", 0, 3, Outcome::kFailed)};
  NodeLog log;
  log.first_index = 1;
  log.last_index = 7;
  log.gaps_probed = true;
  log.entries = {{2, "p1", "", false},
                 {3, "p2", "", false},
                 {5, "p3", "", false},
                 {6, "c1", "ctr", false},
                 {7, "c2", "ctr", false}};
  log.gaps = {{1, "internal"}, {4, "internal"}};
  log.keys = {{"ctr", 2}};
  for (const char* name : {"n1", "n2", "n3"}) {
    log.node = name;
    r.logs.push_back(log);
  }
  return r;
}

// Asserts that `inv` and nothing else is reported.
void expect_only(const Scenario& r, const std::string& inv) {
  Report rep = check(r.history, r.logs);
  ASSERT_FALSE(rep.clean()) << "expected " << inv << " to be reported";
  EXPECT_TRUE(rep.counts.count(inv)) << rep.summary();
  EXPECT_EQ(rep.counts.size(), 1u) << rep.summary();
}

// Applies `edit` to every node's log.
template <typename F>
void on_all_logs(Scenario& r, F edit) {
  for (auto& log : r.logs) edit(log);
}

TEST(ChaosChecker, CleanRunPasses) {
  Scenario r = clean_run();
  Report rep = check(r.history, r.logs);
  EXPECT_TRUE(rep.clean()) << rep.summary();
  EXPECT_EQ(rep.ops_ok, 6u);
  EXPECT_EQ(rep.ops_failed, 2u);
  EXPECT_EQ(rep.ops_unknown, 1u);
  EXPECT_EQ(rep.appends_acked, 3u);
}

TEST(ChaosChecker, UnknownAppendPresentOncePasses) {
  Scenario r = clean_run();
  on_all_logs(r, [](NodeLog& l) {
    l.entries.push_back({8, "u1", "", false});
    l.last_index = 8;
  });
  Report rep = check(r.history, r.logs);
  EXPECT_TRUE(rep.clean()) << rep.summary();
}

TEST(ChaosChecker, RoundTripThroughFiles) {
  Scenario r = clean_run();
  std::stringstream h;
  for (const auto& op : r.history) h << render_op(op) << "\n";
  auto history = parse_history(h);
  ASSERT_TRUE(history.is_ok()) << history.status().message();
  std::vector<NodeLog> logs;
  for (const auto& log : r.logs) {
    std::stringstream f;
    write_node_log(f, log);
    auto back = parse_node_log(f);
    ASSERT_TRUE(back.is_ok()) << back.status().message();
    logs.push_back(std::move(back.value()));
  }
  EXPECT_TRUE(check(*history, logs).clean());
  // Breaking the parsed copy is still caught: the formats carry the facts.
  logs[0].entries[0].payload = "zz";
  EXPECT_FALSE(check(*history, logs).clean());
}

TEST(ChaosChecker, BadLinesAreErrorsNotSkipped) {
  std::stringstream h("{\"op\":1,\"kind\":\"append\",\"outcome\":\"ok\"}\n");
  EXPECT_FALSE(parse_history(h).is_ok());  // no payload
  std::stringstream g("not json\n");
  EXPECT_FALSE(parse_history(g).is_ok());
  std::stringstream l("{\"id\":1}\n");
  EXPECT_FALSE(parse_node_log(l).is_ok());  // no header
}

TEST(ChaosChecker, I1DifferentValuesAtOneIndex) {
  Scenario r = clean_run();
  // n3 holds an unacknowledged change at index 8 where n1 and n2 hold another
  // requested one: both requested, each once per node, yet they disagree.
  r.history.push_back(append(10, 4, 600, 700, "u2", 0, Outcome::kUnknown));
  for (size_t n = 0; n < 3; n++) {
    r.logs[n].entries.push_back({8, n == 2 ? "u2" : "u1", "", false});
    r.logs[n].last_index = 8;
  }
  Report rep = check(r.history, r.logs);
  EXPECT_TRUE(rep.counts.count("I1")) << rep.summary();
}

TEST(ChaosChecker, I2ChangeTwice) {
  Scenario r = clean_run();
  on_all_logs(r, [](NodeLog& l) {
    l.entries.push_back({8, "p2", "", false});
    l.last_index = 8;
  });
  expect_only(r, "I2");
}

TEST(ChaosChecker, I3Phantom) {
  Scenario r = clean_run();
  on_all_logs(r, [](NodeLog& l) {
    l.entries.push_back({8, "nobody-asked", "", false});
    l.last_index = 8;
  });
  expect_only(r, "I3");
}

TEST(ChaosChecker, I3FailedAppendPresent) {
  Scenario r = clean_run();
  on_all_logs(r, [](NodeLog& l) {
    l.entries.push_back({8, "f1", "", false});
    l.last_index = 8;
  });
  expect_only(r, "I3");
}

TEST(ChaosChecker, I4AcknowledgedAppendLost) {
  Scenario r = clean_run();
  // p3 at index 5 vanished on every node; 5 now reads as a no-op.
  on_all_logs(r, [](NodeLog& l) {
    l.entries.erase(l.entries.begin() + 2);
    l.gaps[5] = "internal";
  });
  expect_only(r, "I4");
}

TEST(ChaosChecker, I4ReadSawLostChange) {
  Scenario r = clean_run();
  r.history.push_back(read(11, 1, 100, 110, 7, {8}));
  expect_only(r, "I4");
}

TEST(ChaosChecker, I5Hole) {
  Scenario r = clean_run();
  on_all_logs(r, [](NodeLog& l) { l.gaps[4] = "missing"; });
  expect_only(r, "I5");
  on_all_logs(r, [](NodeLog& l) { l.gaps.erase(4); });
  expect_only(r, "I5");
}

TEST(ChaosChecker, I5OutOfOrder) {
  Scenario r = clean_run();
  on_all_logs(r, [](NodeLog& l) { std::swap(l.entries[0], l.entries[1]); });
  expect_only(r, "I5");
}

TEST(ChaosChecker, I6Diverged) {
  Scenario r = clean_run();
  r.history.push_back(append(12, 4, 600, 700, "u3", 0, Outcome::kUnknown));
  r.logs[1].entries.push_back({8, "u3", "", false});
  r.logs[1].last_index = 8;
  expect_only(r, "I6");
}

TEST(ChaosChecker, I7AppendOrderAgainstRealTime) {
  Scenario r = clean_run();
  // p3 (ids 5) was acknowledged at 60; swap so the later p3 holds id 3.
  r.history[1].id = 5;
  r.history[2].id = 3;
  on_all_logs(r, [](NodeLog& l) {
    l.entries[1].payload = "p3";
    l.entries[2].payload = "p2";
  });
  expect_only(r, "I7");
}

TEST(ChaosChecker, I7StaleRead) {
  Scenario r = clean_run();
  // A read invoked after c2 (id 7) was acknowledged sees only index 6.
  r.history.push_back(read(13, 1, 81, 95, 6, {}));
  expect_only(r, "I7");
}

TEST(ChaosChecker, I7ReadGoesBackwards) {
  Scenario r = clean_run();
  // Both reads overlap every write, so only the per-client order trips.
  r.history.push_back(read(14, 5, 1, 200, 7, {}));
  r.history.push_back(read(15, 5, 2, 201, 6, {}));
  expect_only(r, "I7");
}

TEST(ChaosChecker, I8UnknownAppendTwice) {
  Scenario r = clean_run();
  on_all_logs(r, [](NodeLog& l) {
    l.entries.push_back({8, "u1", "", false});
    l.entries.push_back({9, "u1", "", false});
    l.last_index = 9;
  });
  expect_only(r, "I8");
}

TEST(ChaosChecker, CasCounterTooHigh) {
  Scenario r = clean_run();
  on_all_logs(r, [](NodeLog& l) { l.keys["ctr"] = 3; });
  expect_only(r, "CAS");
}

TEST(ChaosChecker, CasCounterLostIncrement) {
  Scenario r = clean_run();
  on_all_logs(r, [](NodeLog& l) { l.keys["ctr"] = 1; });
  expect_only(r, "CAS");
}

Op key_read(uint64_t n, int64_t t0, int64_t t1, int64_t value) {
  Op op;
  op.op = n;
  op.client = 4;
  op.kind = OpKind::kKeyRead;
  op.key = "ctr";
  op.invoke_ns = t0;
  op.complete_ns = t1;
  op.outcome = Outcome::kOk;
  op.value = value;
  return op;
}

TEST(ChaosChecker, LinCounterReadsInOrderPass) {
  Scenario r = clean_run();
  r.history.push_back(key_read(20, 62, 69, 1));  // concurrent with the first increment
  r.history.push_back(key_read(21, 86, 95, 2));
  Report rep = check(r.history, r.logs);
  EXPECT_TRUE(rep.clean()) << rep.summary();
  EXPECT_EQ(rep.lin_keys_checked, 1u);
}

TEST(ChaosChecker, LinStaleCounterRead) {
  Scenario r = clean_run();
  // Invoked after the second increment was acknowledged, yet sees the first.
  r.history.push_back(key_read(20, 86, 95, 1));
  expect_only(r, "LIN");
}

TEST(ChaosChecker, KeyReadRoundTripsThroughFiles) {
  Op op = key_read(20, 86, 95, 7);
  std::istringstream in(render_op(op) + "\n");
  auto parsed = parse_history(in);
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().message();
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].kind, OpKind::kKeyRead);
  EXPECT_EQ((*parsed)[0].key, "ctr");
  EXPECT_EQ((*parsed)[0].value, 7);
}

}  // namespace
}  // namespace chaos
