// Crashes and restarts under a steady stream of acknowledged writes: a new
// leader within a few election timeouts, restarted nodes catch up, and no
// acknowledged change is ever lost, duplicated or reordered.
#include "tests/integration/test_util.h"

namespace integration {
namespace {

// A few election timeouts (each at most 2 * 10 ticks of 10 ms), with room
// for a 2-core machine shared with compilers.
constexpr Millis kNewLeaderMax{2000};
constexpr Millis kConvergeTimeout{20000};
constexpr Millis kAckTimeout{20000};

class FailoverTest : public ClusterTest {
 protected:
  std::unique_ptr<Writer> writer(const std::string& name) {
    std::vector<std::string> endpoints;
    for (size_t i = 0; i < cluster_->size(); i++) {
      endpoints.push_back(cluster_->node(i).client_address());
    }
    return std::make_unique<Writer>(endpoints, name, Millis(3000));
  }
  // A writer that talks to node i only: through a follower, every write is
  // forwarded to the leader, also while the leader dies.
  std::unique_ptr<Writer> pinned_writer(size_t i) {
    return std::make_unique<Writer>(std::vector<std::string>{cluster_->node(i).client_address()},
                                    "pin-" + cluster_->node(i).name, Millis(3000));
  }
};

TEST_F(FailoverTest, LeaderKill9NewLeaderAndNoAcknowledgedChangeLost) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto w = writer("kill9");
  w->start();
  std::vector<std::unique_ptr<Writer>> pinned;
  for (size_t i = 0; i < cluster_->size(); i++) {
    pinned.push_back(pinned_writer(i));
    pinned.back()->start();
  }
  ASSERT_TRUE(w->wait_acked(50, kAckTimeout)) << w->acked_count() << " acked";
  // Three rounds: each kills the leader of the moment, then brings it back.
  for (int round = 0; round < 3; round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto l0 = cluster_->wait_for_leader(Millis(10000));
    ASSERT_TRUE(ok(l0));
    size_t old = *l0;
    uint64_t old_id = cluster_->node(old).id;
    auto t0 = Clock::now();
    cluster_->kill9(old);
    auto l = cluster_->wait_for_leader(Millis(10000));
    int64_t took = ms_since(t0);
    ASSERT_TRUE(ok(l));
    EXPECT_NE(cluster_->node(*l).id, old_id);
    EXPECT_LE(took, kNewLeaderMax.count())
        << "new leader after " << took << " ms; election timeout max "
        << cluster_->election_timeout_max().count() << " ms";
    std::cerr << "[ info ] killed " << cluster_->node(old).name << ", new leader "
              << cluster_->node(*l).name << " after " << took << " ms\n";
    // Writes go on with the new leader, and after the old one is back.
    ASSERT_TRUE(w->wait_acked(w->acked_count() + 30, kAckTimeout)) << w->acked_count();
    ASSERT_TRUE(ok(cluster_->start(old)));
    ASSERT_TRUE(w->wait_acked(w->acked_count() + 20, kAckTimeout)) << w->acked_count();
  }
  w->stop();
  for (auto& p : pinned) p->stop();
  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout, w->acked().back().id)));
  EXPECT_TRUE(feeds_hold_acked(*cluster_, w->name(), w->acked()));
  std::cerr << "[ info ] " << w->acked_count() << " acked, " << w->failures() << " failed posts";
  for (auto& p : pinned) {
    EXPECT_GT(p->acked_count(), 0u) << p->name();
    EXPECT_TRUE(feeds_hold_acked(*cluster_, p->name(), p->acked())) << p->name();
    std::cerr << "; " << p->name() << " " << p->acked_count() << "/" << p->failures();
  }
  std::cerr << "\n";
}

TEST_F(FailoverTest, RestartedFollowerCatchesUp) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto w = writer("follower");
  w->start();
  ASSERT_TRUE(w->wait_acked(20, kAckTimeout));
  size_t f = cluster_->followers(leader_).front();
  cluster_->kill9(f);
  ASSERT_TRUE(w->wait_acked(w->acked_count() + 100, kAckTimeout));
  w->stop();
  uint64_t last = w->acked().back().id;
  ASSERT_TRUE(ok(cluster_->start(f)));
  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout, last)));
  // Its feed equals the leader's, change for change.
  auto mine = full_feed(*cluster_->client(f));
  auto theirs = full_feed(*cluster_->client(leader_));
  ASSERT_TRUE(ok(mine));
  ASSERT_TRUE(ok(theirs));
  ASSERT_EQ(mine->size(), theirs->size());
  for (size_t k = 0; k < mine->size(); k++) {
    ASSERT_TRUE(same_change((*mine)[k], (*theirs)[k])) << "at " << k;
  }
  EXPECT_TRUE(feeds_hold_acked(*cluster_, w->name(), w->acked()));
}

TEST_F(FailoverTest, WholeClusterKill9KeepsEveryAcknowledgedChange) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto w = writer("all");
  w->start();
  ASSERT_TRUE(w->wait_acked(100, kAckTimeout));
  cluster_->kill9_all();
  w->stop();  // its last post, if any, fails: outcome unknown, not acked
  auto acked = w->acked();
  for (size_t i = 0; i < cluster_->size(); i++) {
    EXPECT_FALSE(cluster_->running(i));
  }
  ASSERT_TRUE(ok(cluster_->start_all()));
  ASSERT_TRUE(ok(cluster_->wait_for_leader(Millis(10000))));
  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout, acked.back().id)));
  EXPECT_TRUE(feeds_hold_acked(*cluster_, w->name(), acked));
}

TEST_F(FailoverTest, GracefulSigtermOfLeaderMovesLeadershipAndLosesNothing) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto w = writer("term");
  w->start();
  std::vector<std::unique_ptr<Writer>> pinned;
  for (size_t f : cluster_->followers(leader_)) {
    pinned.push_back(pinned_writer(f));
    pinned.back()->start();
  }
  ASSERT_TRUE(w->wait_acked(50, kAckTimeout));
  size_t old = leader_;
  auto t0 = Clock::now();
  auto e = cluster_->terminate(old, Millis(5000));
  int64_t exit_ms = ms_since(t0);
  ASSERT_TRUE(ok(e));
  EXPECT_FALSE(e->signaled) << "killed by signal " << e->signal;
  EXPECT_EQ(e->code, 0);
  EXPECT_LT(exit_ms, 2000) << "SIGTERM took " << exit_ms << " ms";
  auto l = cluster_->wait_for_leader(Millis(10000));
  int64_t lead_ms = ms_since(t0);
  ASSERT_TRUE(ok(l));
  EXPECT_NE(*l, old);
  EXPECT_LE(lead_ms, kNewLeaderMax.count()) << "leadership moved after " << lead_ms << " ms";
  std::cerr << "[ info ] exit after " << exit_ms << " ms, new leader after " << lead_ms << " ms\n";
  // The handover was a transfer, not an election after a timeout: the log says so.
  EXPECT_NE(cluster_->read_log(old).find("transferring leadership"), std::string::npos);
  ASSERT_TRUE(w->wait_acked(w->acked_count() + 30, kAckTimeout));
  for (auto& p : pinned) {
    EXPECT_TRUE(p->wait_acked(p->acked_count() + 20, kAckTimeout)) << p->name();
  }
  ASSERT_TRUE(ok(cluster_->start(old)));
  w->stop();
  for (auto& p : pinned) p->stop();
  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout, w->acked().back().id)));
  EXPECT_TRUE(feeds_hold_acked(*cluster_, w->name(), w->acked()));
  for (auto& p : pinned) EXPECT_TRUE(feeds_hold_acked(*cluster_, p->name(), p->acked()));
}

TEST_F(FailoverTest, SigtermWithOpenLongPollsAndStreamsExitsPromptly) {
  ASSERT_NO_FATAL_FAILURE(start());
  size_t f = cluster_->followers(leader_).front();
  ASSERT_TRUE(ok(cluster_->wait_converged(Millis(5000))));
  auto sse = RawConnection::connect(cluster_->node(f).client_port, Millis(2000));
  ASSERT_TRUE(ok(sse));
  ASSERT_TRUE(ok((*sse)->send("GET /changes/stream?since=999999 HTTP/1.1\r\nHost: x\r\n\r\n")));
  ASSERT_TRUE((*sse)->read_until("\r\n\r\n", Clock::now() + Millis(5000)));
  Result<api::FeedPage> polled = Status(common::Code::kInternal, "not run");
  int64_t poll_ms = 0;
  auto poller_client = cluster_->client(f, Millis(20000));
  std::thread poller([&] {
    api::FeedRequest r;
    r.since = 999999;
    r.block_seconds = 30;
    auto t = Clock::now();
    polled = poller_client->get_feed(r);
    poll_ms = ms_since(t);
  });
  bool parked = false;
  for (auto deadline = Clock::now() + Millis(5000); !parked && Clock::now() < deadline;) {
    auto w = metric_value(*cluster_, f, "changeagent_http_longpoll_waiters");
    parked = w && *w >= 2;  // the stream and the long-poll
    if (!parked) std::this_thread::sleep_for(Millis(5));
  }
  auto t0 = Clock::now();
  auto e = cluster_->terminate(f, Millis(5000));
  int64_t exit_ms = ms_since(t0);
  poller.join();
  ASSERT_TRUE(parked);
  ASSERT_TRUE(ok(e));
  EXPECT_FALSE(e->signaled);
  EXPECT_EQ(e->code, 0);
  EXPECT_LT(exit_ms, 2000) << "open long-polls held the exit for " << exit_ms << " ms";
  EXPECT_LT(poll_ms, 5000) << "the long-poll was not answered at shutdown";
  // The stream ends (EOF) rather than hanging.
  auto end = Clock::now() + Millis(3000);
  Status st = Status::ok();
  while (st.is_ok() || st.code() == common::Code::kTimeout) {
    if (Clock::now() >= end) break;
    st = (*sse)->read_some(end);
  }
  EXPECT_EQ(st.code(), common::Code::kUnavailable)
      << "the SSE stream stayed open: " << st.to_string();
}

TEST_F(FailoverTest, StoppedLeaderIsReplacedAndRejoinsAfterSigcont) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto w = writer("stop");
  w->start();
  // Writers pinned to the followers forward every write: their forwards
  // must move to the new leader while the old one is frozen.
  std::vector<std::unique_ptr<Writer>> pinned;
  for (size_t f : cluster_->followers(leader_)) {
    pinned.push_back(pinned_writer(f));
    pinned.back()->start();
  }
  ASSERT_TRUE(w->wait_acked(30, kAckTimeout));
  size_t old = leader_;
  cluster_->sigstop(old);
  auto l = cluster_->wait_for_leader(Millis(10000));
  ASSERT_TRUE(ok(l));
  EXPECT_NE(*l, old);
  ASSERT_TRUE(w->wait_acked(w->acked_count() + 30, kAckTimeout));
  for (auto& p : pinned) {
    EXPECT_TRUE(p->wait_acked(p->acked_count() + 20, kAckTimeout))
        << p->name() << " made no progress with the old leader frozen";
  }
  cluster_->sigcont(old);
  ASSERT_TRUE(w->wait_acked(w->acked_count() + 30, kAckTimeout));
  w->stop();
  for (auto& p : pinned) p->stop();
  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout, w->acked().back().id)));
  EXPECT_TRUE(feeds_hold_acked(*cluster_, w->name(), w->acked()));
  for (auto& p : pinned) EXPECT_TRUE(feeds_hold_acked(*cluster_, p->name(), p->acked()));
}

}  // namespace
}  // namespace integration
