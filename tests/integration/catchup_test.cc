// Catch-up of a big node (issue 5): a node joining a cluster whose log holds
// 200k changes catches up through the chunked snapshot stream (not 200k
// appends) and then serves the same feed as the leader; a joiner killed in
// the middle of the transfer resumes after its last durable chunk when it
// comes back; the leader keeps taking writes meanwhile; the joiner knows
// every member, the bootstrap ones included (sim FINDINGS #6).
#include <set>
#include <sstream>

#include "api/change_json.h"
#include "tests/integration/test_util.h"

namespace integration {
namespace {

constexpr uint64_t kChanges = 200000;
constexpr int kPerBatch = 1000;

// Fills the log with kChanges changes of ~300 bytes, `writers` clients in
// parallel; returns the last _id.
Result<uint64_t> fill(Cluster& c, size_t leader) {
  constexpr int kWriters = 4;
  std::atomic<uint64_t> last{0};
  std::atomic<bool> failed{false};
  std::string error;
  std::mutex mu;
  std::vector<std::thread> ts;
  for (int w = 0; w < kWriters; w++) {
    ts.emplace_back([&, w] {
      auto client = c.client(leader, Millis(30000));
      std::string pad(250, 'p');
      for (uint64_t b = 0; b < kChanges / kPerBatch / kWriters && !failed; b++) {
        std::vector<api::ChangeInput> in;
        for (int k = 0; k < kPerBatch; k++) {
          in.push_back(change_of("{\"w\":" + std::to_string(w) + ",\"b\":" + std::to_string(b) +
                                     ",\"k\":" + std::to_string(k) + ",\"pad\":\"" + pad + "\"}",
                                 {"fill"}));
        }
        // One request id per batch: the client resends it after a leader
        // change (503 or an unknown outcome) without duplicating it.
        for (auto& ch : in) ch.request_id = "fill-" + std::to_string(w) + "-" + std::to_string(b);
        auto r = client->post_changes(in);
        if (!r.is_ok()) {
          std::lock_guard lock(mu);
          error = r.status().to_string();
          failed = true;
          return;
        }
        uint64_t id = r->back().id;
        uint64_t prev = last.load();
        while (id > prev && !last.compare_exchange_weak(prev, id)) {
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  if (failed) return Status(common::Code::kInternal, "fill failed: " + error);
  return last.load();
}

// Polls node i's diagnostics until its applied index reaches `index`.
bool wait_applied(Cluster& c, size_t i, uint64_t index, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto d = c.client(i, Millis(2000))->diagnostics();
    if (d.is_ok() && d->applied_index >= index) return true;
    std::this_thread::sleep_for(Millis(50));
  }
  return false;
}

// The joiner's feed equals the leader's, change for change.
void expect_same_feed(Cluster& c, size_t a, size_t b, uint64_t until) {
  uint64_t compared = 0;
  ASSERT_NO_FATAL_FAILURE(expect_same_changes(*c.client(a, Millis(30000)),
                                              *c.client(b, Millis(30000)), 0, until, &compared));
  EXPECT_GE(compared, kChanges);
}

// The first line of node i's log since its last start that says which
// snapshot it gets from whom ("snapshot from <id>: receiving index N ..." or
// "... resuming index N ..."), polled until it appears.
std::optional<std::string> first_snapshot_line(Cluster& c, size_t i, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    std::string log = c.read_log(i);
    auto start = log.rfind("=== harness: starting");
    std::istringstream in(start == std::string::npos ? log : log.substr(start));
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("snapshot from ") != std::string::npos &&
          (line.find(": receiving index ") != std::string::npos ||
           line.find(": resuming index ") != std::string::npos)) {
        return line;
      }
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(Millis(20));
  }
}

// "snapshot from <id>" of such a line: the node that streams it.
std::string sender_of(const std::string& line) {
  auto at = line.find("snapshot from ");
  auto end = line.find(':', at);
  return line.substr(at, end - at);
}

// The highest term the bootstrap members (0..2) report.
uint64_t voters_term(Cluster& c) {
  uint64_t term = 0;
  for (size_t i = 0; i < 3; i++) {
    auto d = c.client(i, Millis(2000))->diagnostics();
    if (d.is_ok()) term = std::max(term, d->term);
  }
  return term;
}

class CatchupTest : public ClusterTest {};

TEST_F(CatchupTest, BigJoinerStreamsResumesAfterKillAndServesTheSameFeed) {
  // The fill writes 200k changes as fast as it can, on a CI machine that runs
  // other tests beside it: a commit may take longer than the default 3 s.
  ClusterOptions o;
  o.request_timeout_ms = 20000;
  ASSERT_NO_FATAL_FAILURE(start(std::move(o)));
  auto kv = cluster_->client(leader_);
  ASSERT_TRUE(ok(kv->put_key("catchup/key", R"({"v":"before"})")));
  auto t0 = Clock::now();
  auto last = fill(*cluster_, leader_);
  ASSERT_TRUE(ok(last));
  std::cout << "filled " << kChanges << " changes in " << ms_since(t0) << " ms\n";

  // n4 joins; it is killed as soon as the stream has delivered something,
  // and when it comes back the same sender must resume after its last
  // durable chunk. Only a different sender (leadership moved meanwhile, on
  // a loaded machine) may start over, with its own snapshot: then the kill
  // is repeated, up to three times, until a resume is seen.
  auto j = cluster_->add_joining_node(Millis(20000));
  ASSERT_TRUE(ok(j));
  size_t joiner = *j;
  bool resumed = false;
  for (int attempt = 1; attempt <= 3 && !resumed; attempt++) {
    auto before = first_snapshot_line(*cluster_, joiner, Millis(60000));
    ASSERT_TRUE(before.has_value()) << "the joiner never started receiving a snapshot";
    auto deadline = Clock::now() + Millis(60000);
    bool mid_transfer = false;
    while (Clock::now() < deadline && !mid_transfer) {
      auto d = cluster_->client(joiner, Millis(2000))->diagnostics();
      if (d.is_ok()) {
        for (const auto& t : d->snapshot_transfers) {
          mid_transfer |= t.direction == "receive" && t.bytes > 0 && t.bytes < t.bytes_estimate;
        }
      }
      if (!mid_transfer) std::this_thread::sleep_for(Millis(5));
    }
    ASSERT_TRUE(mid_transfer) << "never saw the joiner mid-transfer";
    cluster_->kill9(joiner);
    ASSERT_TRUE(ok(cluster_->start(joiner, Millis(20000))));
    auto after = first_snapshot_line(*cluster_, joiner, Millis(60000));
    ASSERT_TRUE(after.has_value()) << "no snapshot after the restart";
    resumed = after->find(": resuming index ") != std::string::npos;
    if (!resumed) {
      ASSERT_NE(sender_of(*after), sender_of(*before))
          << "the same sender started over instead of resuming: before the kill \"" << *before
          << "\", after \"" << *after << "\"";
      std::cout << "leadership moved during the transfer (" << sender_of(*before) << " -> "
                << sender_of(*after) << "); killing the joiner again\n";
    }
  }
  ASSERT_TRUE(resumed) << "the transfer never resumed (leadership moved at every kill)";

  // Writes continue while it catches up: every one is acknowledged, unless
  // an election came in between (a loaded machine), when a write in flight
  // may end 503 (no leader) or 504 (outcome unknown), as the API says; never
  // anything else.
  const uint64_t term_before = voters_term(*cluster_);
  Writer writer({cluster_->node(leader_).client_address()}, "during", Millis(5000));
  writer.start();
  ASSERT_TRUE(wait_applied(*cluster_, joiner, *last, Millis(90000)))
      << "the joiner did not catch up";
  writer.stop();
  EXPECT_GT(writer.acked_count(), 0u);
  const uint64_t term_after = voters_term(*cluster_);
  if (term_after == term_before) {
    EXPECT_EQ(writer.failures(), 0u);
  } else {
    std::cout << "term " << term_before << " -> " << term_after << " while the joiner caught up; "
              << writer.failures() << " writes failed\n";
    for (const auto& f : writer.failure_log()) {
      auto code = f.status.code();
      EXPECT_TRUE(code == common::Code::kUnavailable || code == common::Code::kNotLeader ||
                  code == common::Code::kTimeout)
          << f.status.to_string();
    }
  }
  ASSERT_TRUE(ok(cluster_->wait_converged(Millis(30000))));

  std::string jlog = cluster_->read_log(joiner);
  EXPECT_NE(jlog.find("installed snapshot at index"), std::string::npos);
  // Whichever node led at the end streamed it.
  std::string senders_logs;
  for (size_t i = 0; i < cluster_->size(); i++) {
    if (i != joiner) senders_logs += cluster_->read_log(i);
  }
  EXPECT_NE(senders_logs.find("installed after"), std::string::npos);

  // The joiner serves the same feed and the same keys, and knows the
  // bootstrap members by name (it learnt them from the snapshot).
  ASSERT_NO_FATAL_FAILURE(expect_same_feed(*cluster_, leader_, joiner, *last));
  auto k = cluster_->client(joiner)->get_key("catchup/key");
  ASSERT_TRUE(ok(k));
  EXPECT_EQ(k->value_json, R"({"v":"before"})");
  auto view = cluster_->client(joiner)->cluster();
  ASSERT_TRUE(ok(view));
  std::set<std::string> names;
  for (const auto& m : view->members) names.insert(m.name);
  EXPECT_EQ(names, (std::set<std::string>{"n1", "n2", "n3", "n4"}));
}

}  // namespace
}  // namespace integration
