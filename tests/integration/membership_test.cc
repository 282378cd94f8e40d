// Membership on a live cluster under a steady background writer (issue 5):
// a node joins with --join, catches up and becomes a voter; learners are
// added, promoted and removed; a follower and then the leader are removed;
// a member moves its peer address; a removal that would lose the quorum is
// refused unless forced; followers answer 503 not_leader; another cluster's
// X-Cluster-Id gets 409; and a rolling restart with SIGTERM (graceful
// handoff) loses no acknowledged write. The rolling restart measures the
// write gap per restart (docs/BENCHMARKS.md, "Graceful handoff").
#include <algorithm>
#include <cstdio>

#include "tests/integration/test_util.h"

namespace integration {
namespace {

constexpr Millis kAckTimeout{20000};
constexpr Millis kConvergeTimeout{20000};
constexpr Millis kChangeTimeout{10000};
// A restart's write gap with a graceful handoff: a few election timeouts
// (each at most 200 ms here) is already far worse than a handoff should be;
// the measured figures are printed and recorded in docs/BENCHMARKS.md.
// Now and then one write hangs for the whole request timeout (3 s) at a
// leader's handoff (FINDINGS.md F10): the enabled test allows that much,
// DISABLED_RollingRestartWriteGapStaysShort does not.
constexpr Millis kHandoffGapMax{1500};
constexpr Millis kHandoffGapWithF10{4000};

class MembershipTest : public ClusterTest {
 protected:
  // Client endpoints of the running members.
  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < cluster_->size(); i++) {
      if (cluster_->running(i) && !cluster_->node(i).retired) {
        out.push_back(cluster_->node(i).client_address());
      }
    }
    return out;
  }
  // A client over every running member: membership calls fail over to the
  // leader on a follower's 503 not_leader.
  std::unique_ptr<api::Client> members_client(Millis timeout = Millis(10000)) {
    api::ClientOptions o;
    o.endpoints = endpoints();
    o.connect_timeout = Millis(1000);
    o.request_timeout = timeout;
    auto c = api::Client::create(o);
    return c.is_ok() ? std::move(c.value()) : nullptr;
  }
  std::unique_ptr<Writer> writer(const std::string& name) {
    return std::make_unique<Writer>(endpoints(), name, Millis(3000));
  }
  // The member named `name` in the leader's view, polled until `pred` holds
  // for it (nullopt member = absent) or the deadline.
  template <typename Pred>
  ::testing::AssertionResult wait_member(const std::string& name, Pred pred, Millis timeout) {
    auto deadline = Clock::now() + timeout;
    std::string last = "no answer";
    for (;;) {
      auto l = cluster_->leader();
      if (l) {
        auto view = cluster_->client(*l)->cluster();
        if (view.is_ok()) {
          std::optional<api::MemberView> m;
          last.clear();
          for (const auto& mv : view->members) {
            if (mv.name == name) m = mv;
            last += mv.name + (mv.learner ? "(learner) " : " ");
          }
          if (pred(m)) return ::testing::AssertionSuccess();
        }
      }
      if (Clock::now() >= deadline) {
        return ::testing::AssertionFailure() << name << ": condition not met within "
                                             << timeout.count() << " ms; members: " << last;
      }
      std::this_thread::sleep_for(Millis(20));
    }
  }
  void rolling_restart(Millis gap_max);
  void refuse_then_force(Writer& w, size_t& live, bool stop_leader_while_dead_returns = false);
  // Waits until node i has applied at least what the leader had committed
  // when the wait began (a catch-up check that works while writes flow).
  ::testing::AssertionResult wait_caught_up(size_t i, Millis timeout) {
    auto deadline = Clock::now() + timeout;
    uint64_t target = 0;
    for (;;) {
      if (target == 0) {
        if (auto l = cluster_->leader()) {
          auto d = cluster_->client(*l)->diagnostics();
          if (d.is_ok()) target = d->committed_index;
        }
      } else {
        auto d = cluster_->client(i)->diagnostics();
        if (d.is_ok() && d->applied_index >= target) return ::testing::AssertionSuccess();
      }
      if (Clock::now() >= deadline) {
        return ::testing::AssertionFailure() << cluster_->node(i).name << " did not apply "
                                             << target << " within " << timeout.count() << " ms";
      }
      std::this_thread::sleep_for(Millis(10));
    }
  }
};

// The longest time between two consecutive acknowledgements that touches
// [from, to] (the writer kept posting throughout).
int64_t max_ack_gap_ms(const std::vector<Acked>& acked, Clock::time_point from,
                       Clock::time_point to) {
  int64_t gap = 0;
  for (size_t k = 1; k < acked.size(); k++) {
    if (acked[k].at < from || acked[k - 1].at > to) continue;
    gap = std::max<int64_t>(
        gap, std::chrono::duration_cast<Millis>(acked[k].at - acked[k - 1].at).count());
  }
  return gap;
}

TEST_F(MembershipTest, JoinLearnersRemoveFollowerAndLeaderUnderLoad) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto w = writer("members");
  w->start();
  ASSERT_TRUE(w->wait_acked(30, kAckTimeout));

  // A 4th node joins with --join, catches up as a learner and is promoted.
  auto t0 = Clock::now();
  auto n4 = cluster_->add_joining_node();
  ASSERT_TRUE(ok(n4));
  const std::string n4_name = cluster_->node(*n4).name;
  ASSERT_TRUE(wait_member(
      n4_name, [](const auto& m) { return m && !m->learner; }, kChangeTimeout));
  ASSERT_TRUE(wait_caught_up(*n4, kConvergeTimeout));
  std::cerr << "[ info ] " << n4_name << " joined, voter and caught up after " << ms_since(t0)
            << " ms\n";
  ASSERT_TRUE(w->wait_acked(w->acked_count() + 20, kAckTimeout));

  // Learners: one added and removed as a learner, one added, kept a learner
  // (no auto-promotion), promoted by hand, then removed. Neither is started:
  // four live voters of five are still a quorum.
  auto c = members_client();
  api::MemberRequest r5{"n5", "127.0.0.1:1", "", false};
  auto l5 = c->add_member(r5);
  ASSERT_TRUE(ok(l5));
  EXPECT_TRUE(l5->learner);
  EXPECT_EQ(l5->peer_url, "127.0.0.1:1");
  auto got = c->get_member(l5->id);
  ASSERT_TRUE(ok(got));
  EXPECT_TRUE(got->learner);
  EXPECT_EQ(got->name, "n5");
  ASSERT_TRUE(ok(c->remove_member(l5->id)));
  ASSERT_TRUE(wait_member(
      "n5", [](const auto& m) { return !m; }, kChangeTimeout));
  EXPECT_EQ(c->get_member(l5->id).status().code(), common::Code::kNotFound);

  api::MemberRequest r6{"n6", "127.0.0.1:2", "", false};
  auto l6 = c->add_member(r6);
  ASSERT_TRUE(ok(l6));
  ASSERT_TRUE(w->wait_acked(w->acked_count() + 10, kAckTimeout));
  auto still = c->get_member(l6->id);
  ASSERT_TRUE(ok(still));
  EXPECT_TRUE(still->learner) << "a learner added with learner=true was promoted by itself";
  ASSERT_TRUE(ok(c->promote_member(l6->id)));
  ASSERT_TRUE(wait_member(
      "n6", [](const auto& m) { return m && !m->learner; }, kChangeTimeout));
  ASSERT_TRUE(w->wait_acked(w->acked_count() + 10, kAckTimeout));
  ASSERT_TRUE(ok(c->remove_member(l6->id)));
  ASSERT_TRUE(wait_member(
      "n6", [](const auto& m) { return !m; }, kChangeTimeout));

  // Remove a follower (one of the first three), then stop it.
  auto l = cluster_->wait_for_leader(Millis(10000));
  ASSERT_TRUE(ok(l));
  size_t f = *l;
  for (size_t i : cluster_->followers(*l)) {
    if (i != *n4) f = i;
  }
  ASSERT_NE(f, *l);
  ASSERT_TRUE(ok(c->remove_member(cluster_->node(f).id)));
  ASSERT_TRUE(wait_member(
      cluster_->node(f).name, [](const auto& m) { return !m; }, kChangeTimeout));
  cluster_->retire(f);
  ASSERT_TRUE(w->wait_acked(w->acked_count() + 20, kAckTimeout));

  // Remove the leader: it hands off, a new leader is elected among the
  // remaining two, and writes go on.
  l = cluster_->wait_for_leader(Millis(10000));
  ASSERT_TRUE(ok(l));
  size_t old = *l;
  uint64_t old_id = cluster_->node(old).id;
  t0 = Clock::now();
  ASSERT_TRUE(ok(c->remove_member(old_id)));
  int64_t removed_ms = ms_since(t0);
  cluster_->retire(old);
  auto nl = cluster_->wait_for_leader(Millis(10000));
  ASSERT_TRUE(ok(nl));
  EXPECT_NE(cluster_->node(*nl).id, old_id);
  size_t before = w->acked_count();
  ASSERT_TRUE(w->wait_acked(before + 20, kAckTimeout)) << w->failures() << " failed posts";
  std::cerr << "[ info ] leader " << cluster_->node(old).name << " removed in " << removed_ms
            << " ms; new leader " << cluster_->node(*nl).name << ", writes resumed " << ms_since(t0)
            << " ms after the request\n";
  auto view = cluster_->client(*nl)->cluster();
  ASSERT_TRUE(ok(view));
  EXPECT_EQ(view->members.size(), 2u);

  w->stop();
  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout, w->acked().back().id)));
  // The joined node's feed equals the leader's, every acknowledged write once.
  EXPECT_TRUE(feeds_hold_acked(*cluster_, w->name(), w->acked()));
}

TEST_F(MembershipTest, AddressChangeThenRestartOnTheNewPeerPort) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto w = writer("readdress");
  w->start();
  ASSERT_TRUE(w->wait_acked(30, kAckTimeout));
  size_t f = cluster_->followers(leader_).front();
  uint64_t id = cluster_->node(f).id;
  auto port = Cluster::free_port();
  ASSERT_TRUE(ok(port));
  std::string addr = "127.0.0.1:" + std::to_string(*port);
  auto c = members_client();
  ASSERT_TRUE(ok(c->update_member(id, "http://" + addr)));
  ASSERT_TRUE(wait_member(
      cluster_->node(f).name, [&](const auto& m) { return m && m->peer_url == addr; },
      kChangeTimeout));
  auto e = cluster_->terminate(f, Millis(5000));
  ASSERT_TRUE(ok(e));
  cluster_->set_peer_port(f, *port);
  ASSERT_TRUE(ok(cluster_->start(f)));
  // Reachable at the new address only: it catches up while writes flow.
  ASSERT_TRUE(w->wait_acked(w->acked_count() + 30, kAckTimeout));
  ASSERT_TRUE(wait_caught_up(f, kConvergeTimeout));
  auto got = c->get_member(id);
  ASSERT_TRUE(ok(got));
  EXPECT_EQ(got->peer_url, addr);
  w->stop();
  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout, w->acked().back().id)));
  EXPECT_TRUE(feeds_hold_acked(*cluster_, w->name(), w->acked()));
}

// With one of three nodes dead, removing another live voter is refused
// (409) unless forced; forced, it is not refused, but the configuration of
// the leader and the dead node cannot commit until the dead node is back,
// which then happens. `live` is the node whose removal was forced: removed
// (and retired) or, when a new leader of the old configuration overwrote
// the uncommitted change, still a member. stop_leader: the old leader is
// SIGSTOPped while the dead node comes back, so that the two others elect a
// leader of the old configuration (the one with the longer log: `live`),
// which overwrites the forced removal; then it is continued.
void MembershipTest::refuse_then_force(Writer& w, size_t& live, bool stop_leader) {
  ASSERT_TRUE(w.wait_acked(30, kAckTimeout));
  auto fs = cluster_->followers(leader_);
  size_t dead = fs[0];
  live = fs[1];
  cluster_->kill9(dead);
  // Until the leader notices the dead peer, the removal would be allowed:
  // wait for its transport to say so.
  auto deadline = Clock::now() + Millis(5000);
  for (;;) {
    auto d = cluster_->client(leader_)->diagnostics();
    ASSERT_TRUE(ok(d));
    auto p = std::find_if(d->peers.begin(), d->peers.end(), [&](const api::PeerDiagnostics& pd) {
      return pd.id == cluster_->node(dead).id;
    });
    if (p != d->peers.end() && !p->connected) break;
    ASSERT_LT(Clock::now(), deadline) << "the leader still sees the killed peer connected";
    std::this_thread::sleep_for(Millis(10));
  }
  std::string target = "/cluster/members/" + std::to_string(cluster_->node(live).id);
  auto refused = http(*cluster_, leader_, "DELETE", target);
  EXPECT_TRUE(is_json_error(refused, 409, "failed_precondition"));
  if (refused.is_ok()) {
    EXPECT_NE(refused->body.find("force"), std::string::npos) << refused->body;
  }
  auto c = members_client();
  EXPECT_EQ(c->remove_member(cluster_->node(live).id).code(), common::Code::kFailedPrecondition);
  auto view = cluster_->client(leader_)->cluster();
  ASSERT_TRUE(ok(view));
  EXPECT_EQ(view->members.size(), 3u);
  // Two of three still make a quorum: writes go on.
  ASSERT_TRUE(w.wait_acked(w.acked_count() + 20, kAckTimeout));

  // Forced, it is not refused: the new configuration (leader + the dead
  // node) cannot commit until the dead node is back, so the answer may be
  // 504 outcome_unknown after the request timeout.
  auto forced = http(*cluster_, leader_, "DELETE", target + "?force=true");
  ASSERT_TRUE(ok(forced));
  EXPECT_TRUE(forced->status == 200 || forced->status == 504 || forced->status == 503)
      << forced->status << " " << forced->body;
  std::cerr << "[ info ] forced removal answered " << forced->status << " " << forced->body << "\n";
  // Bring the dead node back: the cluster recovers a leader and takes writes.
  if (stop_leader) cluster_->sigstop(leader_);
  ASSERT_TRUE(ok(cluster_->start(dead)));
  auto recovered = Clock::now() + kChangeTimeout;
  std::optional<api::ClusterView> after;
  while (Clock::now() < recovered && !after) {
    if (auto l = cluster_->leader()) {
      auto v = cluster_->client(*l)->cluster();
      if (v.is_ok()) after = *v;
    }
    if (!after) std::this_thread::sleep_for(Millis(20));
  }
  if (stop_leader) cluster_->sigcont(leader_);
  ASSERT_TRUE(after.has_value()) << "no leader after the dead node came back";
  bool live_removed = std::none_of(after->members.begin(), after->members.end(),
                                   [&](const auto& m) { return m.id == cluster_->node(live).id; });
  std::cerr << "[ info ] after the restart: " << after->members.size() << " members, "
            << cluster_->node(live).name << (live_removed ? " removed" : " still a member") << "\n";
  if (live_removed) cluster_->retire(live);
}

TEST_F(MembershipTest, RemovalThatWouldLoseTheQuorumIsRefusedUnlessForced) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto w = writer("quorum");
  w->start();
  size_t live = 0;
  ASSERT_NO_FATAL_FAILURE(refuse_then_force(*w, live));
  // Writes go on. (That every node then catches up is
  // DISABLED_OldLeaderCatchesUpAfterItsForcedRemovalIsUndone, FINDINGS.md F9.)
  size_t before = w->acked_count();
  ASSERT_TRUE(w->wait_acked(before + 20, kAckTimeout)) << w->failures() << " failed posts";
}

// FINDINGS.md F9: the leader drops its peer connection to a member when it
// PROPOSES the member's removal. When a new leader of the old configuration
// overwrites that uncommitted change, the old leader can no longer answer
// the member, which still is in the configuration (and may be the new
// leader): it never catches up again.
TEST_F(MembershipTest, OldLeaderCatchesUpAfterItsForcedRemovalIsUndone) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto w = writer("quorum");
  w->start();
  size_t live = 0;
  ASSERT_NO_FATAL_FAILURE(refuse_then_force(*w, live, true));
  size_t before = w->acked_count();
  ASSERT_TRUE(w->wait_acked(before + 20, kAckTimeout)) << w->failures() << " failed posts";
  w->stop();
  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout, w->acked().back().id)));
  EXPECT_TRUE(feeds_hold_acked(*cluster_, w->name(), w->acked()));
}

TEST_F(MembershipTest, FollowersAnswerNotLeaderOtherClusterIsRefusedLeaderMoves) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto w = writer("routes");
  w->start();
  ASSERT_TRUE(w->wait_acked(20, kAckTimeout));
  size_t f = cluster_->followers(leader_).front();
  std::string id = std::to_string(cluster_->node(f).id);
  const std::string& leader_name = cluster_->node(leader_).name;
  struct Req {
    const char* method;
    std::string target;
    std::string body;
  };
  // A learner to promote (never started): promoting a voter is a no-op
  // that any node answers 200.
  auto c = members_client();
  auto learner = c->add_member({"n8", "127.0.0.1:5", "", false});
  ASSERT_TRUE(ok(learner));
  std::string learner_id = std::to_string(learner->id);
  ASSERT_TRUE(wait_member(
      "n8", [](const auto& m) { return m.has_value(); }, kChangeTimeout));
  ASSERT_TRUE(wait_caught_up(f, kConvergeTimeout));
  std::vector<Req> changes = {
      {"POST", "/cluster/members", R"({"name":"n9","peerURL":"127.0.0.1:3"})"},
      {"DELETE", "/cluster/members/" + id, ""},
      {"PUT", "/cluster/members/" + id, R"({"peerURL":"127.0.0.1:4"})"},
      {"POST", "/cluster/members/" + learner_id + "/promote", ""},
      {"POST", "/cluster/leader", R"({"id":)" + id + "}"},
  };
  // A follower sends every change to the leader: 503 not_leader, naming it
  // (its client URL too: DISABLED_NotLeaderNamesTheLeadersClientUrl, F8).
  for (const auto& r : changes) {
    SCOPED_TRACE(std::string(r.method) + " " + r.target);
    auto res = http(*cluster_, f, r.method, r.target, r.body);
    EXPECT_TRUE(is_json_error(res, 503, "not_leader"));
    if (res.is_ok()) {
      EXPECT_NE(res->body.find(leader_name), std::string::npos) << res->body;
    }
  }
  // Another cluster's id: 409 on every membership route, even on the leader.
  api::ClientOptions o;
  o.endpoints = {cluster_->node(leader_).client_address()};
  o.cluster_id_hex = "0123456789abcdef";
  auto other = api::Client::create(o);
  ASSERT_TRUE(ok(other));
  changes.push_back({"GET", "/cluster/members/" + id, ""});
  for (const auto& r : changes) {
    SCOPED_TRACE(std::string(r.method) + " " + r.target + " with another X-Cluster-Id");
    auto res = (*other)->request(r.method, r.target, r.body);
    EXPECT_TRUE(is_json_error(res, 409, "wrong_cluster"));
  }
  auto view = cluster_->client(leader_)->cluster();
  ASSERT_TRUE(ok(view));
  EXPECT_EQ(view->members.size(), 4u);
  EXPECT_EQ(view->leader_id, cluster_->node(leader_).id);
  for (const auto& m : view->members) EXPECT_EQ(m.learner, m.id == learner->id) << m.name;
  ASSERT_TRUE(ok(c->remove_member(learner->id)));

  // Move the leadership to the follower, through any member.
  auto t0 = Clock::now();
  ASSERT_TRUE(ok(members_client()->move_leader(cluster_->node(f).id)));
  std::cerr << "[ info ] leadership moved to " << cluster_->node(f).name << " in " << ms_since(t0)
            << " ms\n";
  auto l = cluster_->wait_for_leader(Millis(5000));
  ASSERT_TRUE(ok(l));
  EXPECT_EQ(*l, f);
  ASSERT_TRUE(w->wait_acked(w->acked_count() + 20, kAckTimeout));
  w->stop();
  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout, w->acked().back().id)));
  EXPECT_TRUE(feeds_hold_acked(*cluster_, w->name(), w->acked()));
}

// FINDINGS.md F8: a follower's 503 not_leader names the leader but not its
// client URL when the leader is a bootstrap member (whose membership entry
// carries no client URL; the one learnt from the peer handshake is not used).
TEST_F(MembershipTest, NotLeaderNamesTheLeadersClientUrl) {
  ASSERT_NO_FATAL_FAILURE(start());
  size_t f = cluster_->followers(leader_).front();
  auto res =
      http(*cluster_, f, "POST", "/cluster/members", R"({"name":"n9","peerURL":"127.0.0.1:3"})");
  ASSERT_TRUE(is_json_error(res, 503, "not_leader"));
  EXPECT_NE(res->body.find(cluster_->node(leader_).client_address()), std::string::npos)
      << res->body;
}

// FINDINGS.md F7: a member added beforehand (changectl cluster add, or POST
// /cluster/members) cannot be started: --join asks to add it again, gets
// 409 "a member named n4 exists" and exits. Disabled until --join accepts
// an existing member with the same peer address.
TEST_F(MembershipTest, StartsAMemberAddedBeforehand) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto client_port = Cluster::free_port();
  auto peer = Cluster::free_port();
  ASSERT_TRUE(ok(client_port));
  ASSERT_TRUE(ok(peer));
  std::string peer_addr = "127.0.0.1:" + std::to_string(*peer);
  auto added = members_client()->add_member({"n4", peer_addr, "", true});
  ASSERT_TRUE(ok(added));
  std::string joins;
  for (const auto& e : endpoints()) joins += (joins.empty() ? "" : ",") + e;
  // Still running after 3 s (run_once times out) is what we want; the bug
  // makes it exit 1 at once.
  auto r = cluster_->run_once(
      {"--name=n4", "--data-dir=" + cluster_->make_dir("n4.data"),
       "--listen-client=127.0.0.1:" + std::to_string(*client_port), "--listen-peer=" + peer_addr,
       "--join=" + joins, "--tick-ms=10", "--election-ticks=10"},
      Millis(3000));
  EXPECT_FALSE(r.is_ok()) << "n4 exited (code " << r->exit.code << "): " << r->stderr_text;
}

// Every node in turn: SIGTERM (a leader hands off first), restart, catch
// up. The write gap per restart is the longest time between two consecutive
// acknowledgements from the SIGTERM until the node has caught up.
TEST_F(MembershipTest, RollingRestartWithGracefulHandoffLosesNoAcknowledgedWrite) {
  rolling_restart(kHandoffGapWithF10);
}

// FINDINGS.md F10: in about 1 of 12 rolling restarts a write hangs for the
// whole request timeout at a leader's handoff. Run it with --gtest_repeat=20.
TEST_F(MembershipTest, DISABLED_RollingRestartWriteGapStaysShort) {
  rolling_restart(kHandoffGapMax);
}

void MembershipTest::rolling_restart(Millis gap_max) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto w = writer("rolling");
  w->start();
  ASSERT_TRUE(w->wait_acked(50, kAckTimeout));
  struct Restart {
    std::string name;
    bool leader = false;
    int64_t gap_ms = 0;
    int64_t exit_ms = 0;
  };
  std::vector<Restart> restarts;
  for (size_t i = 0; i < cluster_->size(); i++) {
    SCOPED_TRACE(cluster_->node(i).name);
    auto l = cluster_->wait_for_leader(Millis(10000));
    ASSERT_TRUE(ok(l));
    // Some writes acknowledged since the last restart, so that the gap
    // before the SIGTERM is a normal one.
    ASSERT_TRUE(w->wait_acked(w->acked_count() + 20, kAckTimeout));
    Restart r{cluster_->node(i).name, *l == i, 0, 0};
    auto t0 = Clock::now();
    auto e = cluster_->terminate(i, Millis(5000));
    r.exit_ms = ms_since(t0);
    ASSERT_TRUE(ok(e));
    EXPECT_FALSE(e->signaled);
    EXPECT_EQ(e->code, 0);
    ASSERT_TRUE(w->wait_acked(w->acked_count() + 20, kAckTimeout));
    ASSERT_TRUE(ok(cluster_->start(i)));
    ASSERT_TRUE(wait_caught_up(i, kConvergeTimeout));
    ASSERT_TRUE(w->wait_acked(w->acked_count() + 20, kAckTimeout));
    r.gap_ms = max_ack_gap_ms(w->acked(), t0, Clock::now());
    restarts.push_back(r);
  }
  w->stop();
  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout, w->acked().back().id)));
  EXPECT_TRUE(feeds_hold_acked(*cluster_, w->name(), w->acked()));
  // The steady-state gap, for comparison: before the first restart.
  auto acked = w->acked();
  int64_t steady = 0;
  for (size_t k = 1; k < std::min<size_t>(acked.size(), 50); k++) {
    steady = std::max<int64_t>(
        steady, std::chrono::duration_cast<Millis>(acked[k].at - acked[k - 1].at).count());
  }
  std::cerr << "[ info ] handoff gaps (heartbeat " << 2 * 10 << " ms, election timeout "
            << cluster_->election_timeout_max().count() << " ms max; steady max gap " << steady
            << " ms over the first 50 writes):";
  for (const auto& r : restarts) {
    std::cerr << " " << r.name << (r.leader ? "(leader)" : "") << " " << r.gap_ms << " ms (exit "
              << r.exit_ms << " ms);";
    EXPECT_LE(r.gap_ms, gap_max.count()) << r.name << (r.leader ? " (leader)" : "");
  }
  for (const auto& f : w->failure_log()) {
    std::cerr << "\n[ info ] failed post, " << f.took.count() << " ms: " << f.status.to_string();
  }
  std::cerr << " " << acked.size() << " acked, " << w->failures() << " failed posts\n";
}

}  // namespace
}  // namespace integration
