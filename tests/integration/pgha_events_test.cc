// pgha's history appends against a real 3-node changeagent: an event whose
// append reached the store but whose answer was lost (an unknown outcome,
// injected by a proxy that drops the node's answer) is sent again by the
// agent's EventLog with the same request id, and the cluster's history
// holds it once. Without the id, the resend would append it twice.
#include <set>

#include "pgha/agent/event_log.h"
#include "pgha/core/model.h"
#include "tests/integration/answer_dropping_proxy.h"
#include "tests/integration/test_util.h"

namespace integration {
namespace {

using ::pgha::Event;
using ::pgha::agent::EventLog;

class PghaEvents : public ClusterTest {
 protected:
  void SetUp() override {
    start();
    auto p = AnswerDroppingProxy::start(cluster_->node(leader_).client_port);
    ASSERT_TRUE(ok(p));
    proxy_ = std::move(*p);
    auto l = EventLog::start({proxy_->url()}, Millis(2000));
    ASSERT_TRUE(ok(l));
    events_ = std::move(*l);
  }

  // Every event in cluster `name`'s history, in log order.
  std::vector<Event> history(const std::string& name) {
    auto c = cluster_->client_all();
    std::vector<Event> out;
    api::FeedRequest req;
    req.tags = {::pgha::cluster_tag(name)};
    req.limit = 1000;
    req.consistent = true;
    for (;;) {
      auto page = c->get_feed(req);
      EXPECT_TRUE(ok(page));
      if (!page.is_ok()) return out;
      for (const auto& ch : page->changes) {
        auto e = ::pgha::parse_event(ch.data_json);
        EXPECT_TRUE(ok(e)) << ch.data_json;
        if (e.is_ok()) out.push_back(std::move(*e));
      }
      if (page->changes.empty() || page->at_end) break;
      req.since = page->changes.back().id;
    }
    return out;
  }

  static Event event(const std::string& cluster, const std::string& kind, const std::string& msg) {
    return Event{cluster, kind, "b", msg, 1700000000000, 7};
  }

  std::unique_ptr<AnswerDroppingProxy> proxy_;
  std::unique_ptr<EventLog> events_;
};

TEST_F(PghaEvents, LostAnswerIsResentWithTheSameIdAndRecordedOnce) {
  proxy_->drop_answers("POST /changes", 1);
  Event e = event("lost1", "failover-begin", "a is gone: failing over");
  events_->push(e);
  ASSERT_TRUE(events_->drain(Millis(20000)));
  // The retry really happened: the node took the first POST (its answer was
  // dropped) and saw at least one more.
  EXPECT_EQ(proxy_->answers_dropped(), 1u);
  EXPECT_GE(proxy_->matching_forwarded(), 2u);
  auto h = history("lost1");
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(::pgha::to_json(h[0]), ::pgha::to_json(e));
  EXPECT_EQ(events_->appended(), 1u);
  EXPECT_EQ(events_->dropped(), 0u);
}

// More lost answers than the client's own resends: the EventLog gives the
// attempt up, keeps the event and resends it later, still with its id.
// Events pushed meanwhile follow it, in order, each once.
TEST_F(PghaEvents, OutageLongerThanTheClientRetriesStillRecordsEachEventOnce) {
  proxy_->drop_answers("POST /changes", 12);
  Event first = event("lost2", "failover-begin", "a is gone: failing over");
  Event second = event("lost2", "failover-candidate", "b has the highest LSN");
  // Same kind, member, time and generation: only the message differs, and
  // that is enough to be two events.
  Event third = event("lost2", "failover-candidate", "c has the highest LSN");
  events_->push(first);
  events_->push(second);
  events_->push(third);
  ASSERT_TRUE(events_->drain(Millis(60000)));
  EXPECT_EQ(proxy_->answers_dropped(), 12u);
  EXPECT_GE(events_->attempts_failed(), 1u);
  auto h = history("lost2");
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(::pgha::to_json(h[0]), ::pgha::to_json(first));
  EXPECT_EQ(::pgha::to_json(h[1]), ::pgha::to_json(second));
  EXPECT_EQ(::pgha::to_json(h[2]), ::pgha::to_json(third));
  EXPECT_EQ(events_->appended(), 3u);
}

// The same event pushed twice (an agent that raised it again after a
// restart of its loop, or a caller's own retry) is one event.
TEST_F(PghaEvents, TheSameEventTwiceIsOneEvent) {
  Event e = event("again", "rewind", "rewound from 127.0.0.1:5433");
  events_->push(e);
  events_->push(e);
  ASSERT_TRUE(events_->drain(Millis(20000)));
  EXPECT_EQ(history("again").size(), 1u);
}

}  // namespace
}  // namespace integration
