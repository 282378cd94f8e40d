// The client API on a healthy 3-node cluster: writes and reads on every
// node, forwarding, long-poll, SSE, health, metrics and cluster views. The
// tests share one cluster (they only add changes) to keep the label fast.
#include <set>

#include "tests/integration/test_util.h"

namespace integration {
namespace {

namespace json = boost::json;

class ApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new Cluster(ClusterOptions{});
    start_ = cluster_->start_all();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(ok(start_));
    auto l = cluster_->wait_for_leader(Millis(10000));
    ASSERT_TRUE(ok(l));
    leader_ = *l;
    follower_ = cluster_->followers(leader_).front();
  }
  void TearDown() override { report_on_failure(cluster_); }

  Cluster& cluster() { return *cluster_; }

  // POST /changes to node i; the parsed 201 body.
  std::optional<api::Appended> post(size_t i, const std::string& body) {
    auto r = http(cluster(), i, "POST", "/changes", body);
    EXPECT_TRUE(ok(r));
    if (!r.is_ok()) return std::nullopt;
    EXPECT_EQ(r->status, 201) << r->body;
    auto v = parse_json(r->body);
    EXPECT_TRUE(v && v->is_object()) << r->body;
    if (r->status != 201 || !v || !v->is_object()) return std::nullopt;
    auto id = as_u64(v->as_object().if_contains("_id"));
    auto ts = as_u64(v->as_object().if_contains("_ts"));
    EXPECT_TRUE(id && *id > 0) << r->body;
    EXPECT_TRUE(ts && *ts > 0) << r->body;
    if (!id || !ts) return std::nullopt;
    return api::Appended{*id, *ts};
  }

  static inline Cluster* cluster_ = nullptr;
  static inline Status start_ = Status::ok();
  size_t leader_ = 0;
  size_t follower_ = 0;
};

TEST_F(ApiTest, PostAndGetRoundTripOnEachNode) {
  uint64_t prev_id = 0;
  uint64_t prev_ts = 0;
  for (size_t i = 0; i < cluster().size(); i++) {
    std::string data = "{\"node\":\"" + cluster().node(i).name + "\",\"n\":[1,2.5,null]}";
    auto a = post(i, "{\"data\":" + data + ",\"tags\":[\"rt\",\"x y\"]}");
    ASSERT_TRUE(a);
    EXPECT_GT(a->id, prev_id) << "ids grow across nodes";
    EXPECT_GE(a->ts_ns, prev_ts) << "stamps never go back";
    prev_id = a->id;
    prev_ts = a->ts_ns;
    // Read back at once from the node that acknowledged, then from all.
    for (size_t n = 0; n < cluster().size(); n++) {
      auto c = cluster().client(n);
      Result<api::Change> got = c->get_change(a->id);
      for (auto deadline = Clock::now() + Millis(5000);
           !got.is_ok() && got.status().code() == common::Code::kNotFound &&
           Clock::now() < deadline && n != i;) {
        std::this_thread::sleep_for(Millis(5));
        got = c->get_change(a->id);
      }
      ASSERT_TRUE(ok(got)) << "node " << cluster().node(n).name << " id " << a->id;
      EXPECT_EQ(got->id, a->id);
      EXPECT_EQ(got->ts_ns, a->ts_ns);
      EXPECT_EQ(got->type, 0u);
      EXPECT_EQ(got->tags, (std::vector<std::string>{"rt", "x y"}));
      EXPECT_EQ(parse_json(got->data_json), parse_json(data)) << got->data_json;
    }
  }
  // A non-object body is stored whole as data.
  auto a = post(leader_, "[1,2,3]");
  ASSERT_TRUE(a);
  auto got = cluster().client(leader_)->get_change(a->id);
  ASSERT_TRUE(ok(got));
  EXPECT_EQ(parse_json(got->data_json), parse_json("[1,2,3]"));
  // An id that is not there.
  EXPECT_TRUE(
      is_json_error(http(cluster(), follower_, "GET", "/changes/999999999"), 404, "not_found"));
}

TEST_F(ApiTest, FollowerReadsItsOwnWriteRightAfter201) {
  // The follower forwards to the leader and answers only once it applied
  // the change itself: a read right after must see it, every time.
  for (size_t f : cluster().followers(leader_)) {
    auto c = cluster().client(f);
    for (int k = 0; k < 20; k++) {
      std::string data = "{\"ryw\":" + std::to_string(k) + "}";
      auto a = c->post_change(change_of(data));
      ASSERT_TRUE(ok(a));
      auto got = c->get_change(a->id);
      ASSERT_TRUE(ok(got)) << cluster().node(f).name << " lost its own write " << a->id;
      EXPECT_EQ(got->data_json, data);
      api::FeedRequest fr;
      fr.since = a->id - 1;
      fr.limit = 1;
      auto page = c->get_feed(fr);
      ASSERT_TRUE(ok(page));
      ASSERT_EQ(page->changes.size(), 1u);
      EXPECT_EQ(page->changes[0].id, a->id);
    }
  }
  // The forwarding really happened on the followers.
  for (size_t f : cluster().followers(leader_)) {
    auto forwards = metric_value(cluster(), f, "changeagent_forwards_total");
    ASSERT_TRUE(forwards);
    EXPECT_GE(*forwards, 20.0);
  }
}

TEST_F(ApiTest, LongPollWakesOnCommitAndIdleOneEndsAtDeadline) {
  ASSERT_TRUE(ok(cluster().wait_converged(Millis(5000))));
  auto reader = cluster().client(follower_, Millis(10000));
  api::FeedRequest probe;
  probe.limit = 1;
  auto now = reader->get_feed(probe);
  ASSERT_TRUE(ok(now));
  uint64_t since = now->last_index;

  // Idle: nothing new, the long-poll answers empty at its deadline.
  api::FeedRequest idle;
  idle.since = since;
  idle.block_seconds = 1;
  auto t0 = Clock::now();
  auto empty = reader->get_feed(idle);
  int64_t idle_ms = ms_since(t0);
  ASSERT_TRUE(ok(empty));
  EXPECT_TRUE(empty->changes.empty());
  EXPECT_GE(idle_ms, 900) << "an idle long-poll must wait for its block time";
  EXPECT_LT(idle_ms, 3000) << "an idle long-poll must end at its deadline";

  // Woken by a commit: block=5, another client posts once the poll waits.
  Result<api::FeedPage> woke = Status(common::Code::kInternal, "not run");
  Clock::time_point returned;
  std::thread poller([&] {
    api::FeedRequest r;
    r.since = since;
    r.block_seconds = 5;
    woke = reader->get_feed(r);
    returned = Clock::now();
  });
  bool parked = false;
  for (auto deadline = Clock::now() + Millis(5000); !parked && Clock::now() < deadline;) {
    auto w = metric_value(cluster(), follower_, "changeagent_http_longpoll_waiters");
    parked = w && *w >= 1;
    if (!parked) std::this_thread::sleep_for(Millis(5));
  }
  auto posted_at = Clock::now();
  auto a = cluster().client(leader_)->post_change(change_of("{\"wake\":true}"));
  auto acked_at = Clock::now();
  poller.join();
  ASSERT_TRUE(parked) << "the long-poll never parked";
  ASSERT_TRUE(ok(a));
  ASSERT_TRUE(ok(woke));
  ASSERT_FALSE(woke->changes.empty()) << "the long-poll returned without the change";
  EXPECT_EQ(woke->changes[0].id, a->id);
  EXPECT_EQ(woke->changes[0].data_json, "{\"wake\":true}");
  auto wake_ms = std::chrono::duration_cast<Millis>(returned - posted_at).count();
  EXPECT_LT(wake_ms, 1500) << "woke " << wake_ms << " ms after the post (commit took "
                           << std::chrono::duration_cast<Millis>(acked_at - posted_at).count()
                           << " ms); it waited out the block instead";
}

TEST_F(ApiTest, SseStreamDeliversChangesAndResumesWithLastEventId) {
  ASSERT_TRUE(ok(cluster().wait_converged(Millis(5000))));
  api::FeedRequest probe;
  probe.limit = 1;
  auto feed = cluster().client(follower_)->get_feed(probe);
  ASSERT_TRUE(ok(feed));
  uint64_t since = feed->last_index;
  uint16_t port = cluster().node(follower_).client_port;

  auto conn = RawConnection::connect(port, Millis(2000));
  ASSERT_TRUE(ok(conn));
  ASSERT_TRUE(
      ok((*conn)->send("GET /changes/stream?since=" + std::to_string(since) +
                       " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")));
  ASSERT_TRUE((*conn)->read_until("\r\n\r\n", Clock::now() + Millis(5000)));
  EXPECT_EQ((*conn)->received().rfind("HTTP/1.1 200", 0), 0u) << (*conn)->received();
  EXPECT_NE((*conn)->received().find("text/event-stream"), std::string::npos);

  auto writer = cluster().client(leader_);
  std::vector<uint64_t> ids;
  for (int k = 0; k < 5; k++) {
    auto a = writer->post_change(change_of("{\"sse\":" + std::to_string(k) + "}", {"sse"}));
    ASSERT_TRUE(ok(a));
    ids.push_back(a->id);
  }
  // All five arrive on the open stream, in order.
  auto changes = [](const std::string& text) {
    std::vector<SseEvent> out;
    for (auto& e : parse_sse(text)) {
      if (e.event == "change") out.push_back(std::move(e));
    }
    return out;
  };
  auto deadline = Clock::now() + Millis(5000);
  while (changes((*conn)->received()).size() < 5 && Clock::now() < deadline) {
    (void)(*conn)->read_some(deadline);
  }
  auto events = changes((*conn)->received());
  ASSERT_EQ(events.size(), 5u) << (*conn)->received();
  for (size_t k = 0; k < events.size(); k++) {
    EXPECT_EQ(events[k].id, std::to_string(ids[k]));
    auto v = parse_json(events[k].data);
    ASSERT_TRUE(v && v->is_object()) << events[k].data;
    EXPECT_EQ(as_u64(v->as_object().if_contains("_id")), ids[k]);
    EXPECT_EQ(json::serialize(v->as_object().at("data")), "{\"sse\":" + std::to_string(k) + "}");
  }
  conn->reset();

  // A new stream with Last-Event-ID of the third resumes right after it,
  // whatever since= says.
  auto again = RawConnection::connect(port, Millis(2000));
  ASSERT_TRUE(ok(again));
  ASSERT_TRUE(
      ok((*again)->send("GET /changes/stream?since=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Last-Event-ID: " +
                        std::to_string(ids[2]) + "\r\n\r\n")));
  deadline = Clock::now() + Millis(5000);
  while (changes((*again)->received()).size() < 2 && Clock::now() < deadline) {
    (void)(*again)->read_some(deadline);
  }
  auto resumed = changes((*again)->received());
  ASSERT_GE(resumed.size(), 2u) << (*again)->received();
  EXPECT_EQ(resumed[0].id, std::to_string(ids[3]));
  EXPECT_EQ(resumed[1].id, std::to_string(ids[4]));
}

TEST_F(ApiTest, HealthFollowsLeaderAndMarkDown) {
  for (size_t i = 0; i < cluster().size(); i++) {
    auto r = http(cluster(), i, "GET", "/health");
    ASSERT_TRUE(ok(r));
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->body, "ok");
  }
  auto put = http(cluster(), follower_, "PUT", "/health?up=false");
  ASSERT_TRUE(ok(put));
  EXPECT_EQ(put->status, 200) << put->body;
  EXPECT_TRUE(is_json_error(http(cluster(), follower_, "GET", "/health"), 503, "unavailable"));
  // Only that node is marked down, and it still serves the API.
  EXPECT_EQ(http(cluster(), leader_, "GET", "/health")->status, 200);
  auto a = cluster().client(follower_)->post_change(change_of("{\"down\":true}"));
  EXPECT_TRUE(ok(a));
  put = http(cluster(), follower_, "PUT", "/health?up=true");
  ASSERT_TRUE(ok(put));
  EXPECT_EQ(put->status, 200);
  EXPECT_EQ(http(cluster(), follower_, "GET", "/health")->status, 200);
  EXPECT_TRUE(is_json_error(http(cluster(), follower_, "PUT", "/health?up=maybe"), 400,
                            "invalid_argument"));
}

TEST_F(ApiTest, MetricsHaveChangeagentCounters) {
  ASSERT_TRUE(ok(cluster().client(leader_)->post_change(change_of("{\"m\":1}"))));
  auto r = http(cluster(), leader_, "GET", "/metrics");
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->content_type.find("text/plain"), std::string::npos);
  for (const char* name : {"changeagent_http_requests_total{", "changeagent_proposals_total ",
                           "changeagent_entries_applied_total ", "changeagent_fsyncs_total ",
                           "changeagent_is_leader 1", "changeagent_commit_index "}) {
    EXPECT_NE(r->body.find(name), std::string::npos) << name << " missing from\n" << r->body;
  }
  auto proposals = metric_value(cluster(), leader_, "changeagent_proposals_total");
  ASSERT_TRUE(proposals);
  EXPECT_GE(*proposals, 1.0);
  auto f = metric_value(cluster(), follower_, "changeagent_is_leader");
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, 0.0);
}

TEST_F(ApiTest, ClusterAndMembersViews) {
  std::set<std::string> peers;
  for (size_t i = 0; i < cluster().size(); i++) peers.insert(cluster().node(i).peer_address());
  std::string cluster_id;
  for (size_t i = 0; i < cluster().size(); i++) {
    auto r = http(cluster(), i, "GET", "/cluster");
    ASSERT_TRUE(ok(r));
    ASSERT_EQ(r->status, 200);
    auto v = parse_json(r->body);
    ASSERT_TRUE(v && v->is_object()) << r->body;
    const auto& o = v->as_object();
    ASSERT_TRUE(o.contains("clusterId") && o.at("clusterId").is_string()) << r->body;
    std::string id(o.at("clusterId").as_string());
    EXPECT_EQ(id.size(), 16u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    if (cluster_id.empty()) cluster_id = id;
    EXPECT_EQ(id, cluster_id) << "every node names the same cluster";
    EXPECT_EQ(as_u64(o.if_contains("leader")), cluster().node(leader_).id) << r->body;
    ASSERT_TRUE(o.contains("members") && o.at("members").is_object()) << r->body;
    std::set<std::string> got;
    for (const auto& kv : o.at("members").as_object()) {
      ASSERT_TRUE(kv.value().is_string());
      got.insert(std::string(kv.value().as_string()));
    }
    EXPECT_EQ(got, peers) << r->body;
    ASSERT_TRUE(o.contains("details") && o.at("details").is_array()) << r->body;
    const auto& details = o.at("details").as_array();
    EXPECT_EQ(details.size(), cluster().size());
    bool self_seen = false;
    for (const auto& d : details) {
      ASSERT_TRUE(d.is_object());
      const auto& m = d.as_object();
      for (const char* key : {"id", "name", "peerUrl", "clientUrl", "learner"}) {
        EXPECT_TRUE(m.contains(key)) << key << " missing in " << r->body;
      }
      if (m.contains("name") && m.at("name") == json::value(cluster().node(i).name)) {
        self_seen = true;
        EXPECT_EQ(as_u64(m.if_contains("id")), cluster().node(i).id);
        EXPECT_EQ(m.at("peerUrl"), json::value(cluster().node(i).peer_address()));
        EXPECT_EQ(m.at("clientUrl"), json::value("http://" + cluster().node(i).client_address()));
        EXPECT_EQ(m.at("learner"), json::value(false));
      }
    }
    EXPECT_TRUE(self_seen) << r->body;

    auto mr = cluster().client(i)->members();
    ASSERT_TRUE(ok(mr));
    std::set<std::string> member_peers;
    for (const auto& [mid, addr] : *mr) member_peers.insert(addr);
    EXPECT_EQ(member_peers, peers);
  }
  // Wrong methods on the views.
  EXPECT_TRUE(
      is_json_error(http(cluster(), leader_, "DELETE", "/cluster"), 405, "method_not_allowed"));
}

TEST_F(ApiTest, ForeignClusterIdHeaderGets409) {
  auto view = cluster().client(leader_)->cluster();
  ASSERT_TRUE(ok(view));
  for (auto [id, want] :
       {std::pair{std::string("0123456789abcdef"), 409}, std::pair{view->cluster_id, 200}}) {
    api::ClientOptions o;
    o.endpoints = {cluster().node(follower_).client_address()};
    o.cluster_id_hex = id;
    auto c = api::Client::create(o);
    ASSERT_TRUE(ok(c));
    auto r = (*c)->request("GET", "/changes?limit=1");
    if (want == 409) {
      EXPECT_TRUE(is_json_error(r, 409, "wrong_cluster"));
      auto p = (*c)->request("POST", "/changes", "{\"data\":\"wrong cluster\"}");
      EXPECT_TRUE(is_json_error(p, 409, "wrong_cluster"));
    } else {
      ASSERT_TRUE(ok(r));
      EXPECT_EQ(r->status, 200) << r->body;
    }
  }
}

// The canary of the loss checker the failover tests rely on: it must
// catch a lost, a misplaced and a duplicated write.
TEST_F(ApiTest, AckCheckerCatchesLostMisplacedAndDuplicatedWrites) {
  auto c = cluster().client(leader_);
  std::vector<Acked> acked;
  for (uint64_t seq = 1; seq <= 3; seq++) {
    auto a = c->post_change(change_of("{\"w\":\"canary\",\"seq\":" + std::to_string(seq) + "}"));
    ASSERT_TRUE(ok(a));
    acked.push_back(Acked{a->id, seq});
  }
  ASSERT_TRUE(ok(cluster().wait_converged(Millis(5000), acked.back().id)));
  EXPECT_TRUE(feeds_hold_acked(cluster(), "canary", acked));
  auto lost = acked;
  lost.push_back(Acked{acked.back().id + 1, 4});
  EXPECT_FALSE(feeds_hold_acked(cluster(), "canary", lost));
  auto misplaced = acked;
  std::swap(misplaced[0].id, misplaced[1].id);
  EXPECT_FALSE(feeds_hold_acked(cluster(), "canary", misplaced));
  auto again = c->post_change(change_of("{\"w\":\"canary\",\"seq\":2}"));
  ASSERT_TRUE(ok(again));
  ASSERT_TRUE(ok(cluster().wait_converged(Millis(5000), again->id)));
  EXPECT_FALSE(feeds_hold_acked(cluster(), "canary", acked));
}

}  // namespace
}  // namespace integration
