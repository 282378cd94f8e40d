// Feed semantics for consumers (issue 10): exactly-once appends with client
// request ids, also across a leader kill -9.
#include <set>

#include "api/change_json.h"
#include "tests/integration/test_util.h"

namespace integration {
namespace {

namespace json = boost::json;

constexpr Millis kConvergeTimeout{20000};

class FeedTest : public ClusterTest {
 protected:
  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < cluster_->size(); i++) {
      out.push_back(cluster_->node(i).client_address());
    }
    return out;
  }
};

api::ChangeInput change_with_id(const std::string& id, const std::string& data) {
  api::ChangeInput in;
  in.data_json = data;
  in.tags = {"feed-test"};
  in.request_id = id;
  return in;
}

// The request id a change of this test carries in its data ({"rid": ...}).
std::string rid_of(const api::Change& c) {
  boost::system::error_code ec;
  json::value v = json::parse(c.data_json, ec);
  if (ec || !v.is_object()) return {};
  const json::value* r = v.as_object().if_contains("rid");
  return r && r->is_string() ? std::string(r->as_string()) : std::string();
}

TEST_F(FeedTest, RetryWithSameIdAnswersTheOriginal) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto leader = cluster_->client(leader_);
  size_t follower = cluster_->followers(leader_).front();
  auto via_follower = cluster_->client(follower);

  auto first = leader->request("POST", "/changes", R"({"data":{"rid":"a"},"requestId":"a"})");
  ASSERT_TRUE(ok(first));
  EXPECT_EQ(first->status, 201) << first->body;
  auto again = leader->request("POST", "/changes", R"({"data":{"rid":"a"},"requestId":"a"})");
  ASSERT_TRUE(ok(again));
  EXPECT_EQ(again->status, 200) << again->body;
  // Through a follower (forwarded), too: the same _id and _ts.
  auto fwd = via_follower->request("POST", "/changes", R"({"data":{"rid":"a"},"requestId":"a"})");
  ASSERT_TRUE(ok(fwd));
  EXPECT_EQ(fwd->status, 200) << fwd->body;
  auto a1 = api::parse_appended(first->body);
  auto a2 = api::parse_appended(again->body);
  auto a3 = api::parse_appended(fwd->body);
  ASSERT_TRUE(ok(a1) && ok(a2) && ok(a3));
  EXPECT_EQ(a1->front().id, a2->front().id);
  EXPECT_EQ(a1->front().ts_ns, a2->front().ts_ns);
  EXPECT_EQ(a1->front().id, a3->front().id);
  EXPECT_TRUE(a2->front().duplicate);

  // Same id, another body: 409 request_id_reused, nothing appended.
  auto reused =
      via_follower->request("POST", "/changes", R"({"data":{"rid":"b"},"requestId":"a"})");
  ASSERT_TRUE(ok(reused));
  EXPECT_EQ(reused->status, 409) << reused->body;
  EXPECT_NE(reused->body.find("request_id_reused"), std::string::npos) << reused->body;

  // A batch is one request; the client sends its id as Idempotency-Key.
  std::vector<api::ChangeInput> batch = {change_with_id("bt", R"({"rid":"bt","n":1})"),
                                         change_with_id("bt", R"({"rid":"bt","n":2})")};
  auto b1 = via_follower->post_changes(batch);
  auto b2 = leader->post_changes(batch);
  ASSERT_TRUE(ok(b1) && ok(b2));
  ASSERT_EQ(b1->size(), 2u);
  ASSERT_EQ(b2->size(), 2u);
  EXPECT_EQ((*b1)[0].id, (*b2)[0].id);
  EXPECT_EQ((*b1)[1].id, (*b2)[1].id);
  EXPECT_FALSE((*b1)[0].duplicate);
  EXPECT_TRUE((*b2)[0].duplicate);

  // Bad ids are refused up front.
  auto empty = leader->request("POST", "/changes", R"({"data":1,"requestId":""})");
  ASSERT_TRUE(ok(empty));
  EXPECT_EQ(empty->status, 400);
  auto long_id = leader->request(
      "POST", "/changes",
      R"({"data":1,"requestId":")" + std::string(api::kRequestIdBytesMax + 1, 'x') + "\"}");
  ASSERT_TRUE(ok(long_id));
  EXPECT_EQ(long_id->status, 400);

  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout)));
  for (size_t i = 0; i < cluster_->size(); i++) {
    auto c = cluster_->client(i);
    auto feed = full_feed(*c);
    ASSERT_TRUE(ok(feed));
    std::map<std::string, int> seen;
    for (const auto& ch : *feed) seen[rid_of(ch)]++;
    EXPECT_EQ(seen["a"], 1) << cluster_->node(i).name;
    EXPECT_EQ(seen["b"], 0) << cluster_->node(i).name;
    EXPECT_EQ(seen["bt"], 2) << cluster_->node(i).name;
  }
}

// Writers resend every request (the client retries a request id on a lost
// answer, 503 or 504, and each writer also resends each one once more on
// purpose) while the leader is killed with SIGKILL: each id ends up in the
// feed exactly once, at the _id its acknowledgements named.
TEST_F(FeedTest, RetryStormDuringLeaderKillAppendsOncePerId) {
  ASSERT_NO_FATAL_FAILURE(start());
  constexpr int kWriters = 3;
  constexpr int kIdsPerWriter = 100;
  std::mutex mu;
  std::map<std::string, std::set<uint64_t>> acked_ids;  // rid -> every _id answered for it
  std::atomic<int> done_writers{0};
  std::atomic<int> progress{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; w++) {
    api::ClientOptions o;
    o.endpoints = endpoints();
    o.connect_timeout = Millis(1000);
    o.request_timeout = Millis(3000);
    auto c = api::Client::create(o);
    ASSERT_TRUE(ok(c));
    threads.emplace_back([&, w, client = std::shared_ptr<api::Client>(std::move(c.value()))] {
      for (int i = 0; i < kIdsPerWriter; i++) {
        std::string rid = "w" + std::to_string(w) + "-" + std::to_string(i);
        auto in = change_with_id(rid, R"({"rid":")" + rid + "\"}");
        for (int resend = 0; resend < 2; resend++) {
          auto r = client->post_change(in);
          if (r.is_ok()) {
            std::lock_guard lock(mu);
            acked_ids[rid].insert(r->id);
          }
        }
        progress++;
      }
      done_writers++;
    });
  }
  auto wait_progress = [&](int n) {
    auto until = Clock::now() + Millis(30000);
    while (progress < n && Clock::now() < until) std::this_thread::sleep_for(Millis(10));
    return progress >= n;
  };
  EXPECT_TRUE(wait_progress(20));
  for (int round = 0; round < 2; round++) {
    auto l = cluster_->wait_for_leader(Millis(10000));
    ASSERT_TRUE(ok(l));
    cluster_->kill9(*l);
    // Writers may have finished already on a fast machine: then no wait.
    EXPECT_TRUE(wait_progress(std::min<int>(progress + 20, kWriters * kIdsPerWriter)));
    ASSERT_TRUE(ok(cluster_->start(*l)));
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(done_writers, kWriters);

  ASSERT_TRUE(ok(cluster_->wait_for_leader(Millis(10000))));
  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout)));
  size_t acked = 0;
  for (size_t n = 0; n < cluster_->size(); n++) {
    auto c = cluster_->client(n);
    auto feed = full_feed(*c);
    ASSERT_TRUE(ok(feed));
    std::map<std::string, std::vector<uint64_t>> in_feed;
    for (const auto& ch : *feed) {
      std::string rid = rid_of(ch);
      if (!rid.empty()) in_feed[rid].push_back(ch.id);
    }
    for (const auto& [rid, ids] : in_feed) {
      EXPECT_EQ(ids.size(), 1u) << rid << " appended " << ids.size() << " times on "
                                << cluster_->node(n).name;
    }
    acked = 0;
    for (const auto& [rid, ids] : acked_ids) {
      acked++;
      // Every answer for one id named the same entry, and it is in the feed.
      EXPECT_EQ(ids.size(), 1u) << rid;
      auto it = in_feed.find(rid);
      ASSERT_TRUE(it != in_feed.end()) << rid << " acknowledged but not in the feed";
      EXPECT_EQ(it->second.front(), *ids.begin()) << rid;
    }
  }
  std::cerr << "[ info ] " << acked << " of " << kWriters * kIdsPerWriter
            << " request ids acknowledged\n";
  EXPECT_GT(acked, size_t(kWriters * kIdsPerWriter / 2));
}

// sinceTime finds the first change stamped at or after a time by a binary
// search over the log, the same on every node, also for changes stamped by
// two different leaders.
TEST_F(FeedTest, SinceTimeAcrossALeaderChange) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto c = cluster_->client_all();
  // With request ids, so the client may resend across the kill: exactly 12.
  for (int i = 0; i < 6; i++) {
    ASSERT_TRUE(ok(c->post_change(
        change_with_id("st-" + std::to_string(i), R"({"n":)" + std::to_string(i) + "}"))));
  }
  cluster_->kill9(leader_);
  ASSERT_TRUE(ok(cluster_->wait_for_leader(Millis(10000))));
  for (int i = 6; i < 12; i++) {
    ASSERT_TRUE(ok(c->post_change(
        change_with_id("st-" + std::to_string(i), R"({"n":)" + std::to_string(i) + "}"))));
  }
  ASSERT_TRUE(ok(cluster_->start(leader_)));
  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout)));
  auto all = full_feed(*c);
  ASSERT_TRUE(ok(all));
  ASSERT_EQ(all->size(), 12u);
  for (size_t n = 0; n < cluster_->size(); n++) {
    auto node = cluster_->client(n);
    for (size_t k = 0; k < all->size(); k++) {
      // The first change with that stamp (a stamp may repeat: never decreases).
      size_t want = k;
      while (want > 0 && (*all)[want - 1].ts_ns == (*all)[k].ts_ns) want--;
      auto r =
          node->request("GET", "/changes?limit=1&sinceTime=" + std::to_string((*all)[k].ts_ns));
      ASSERT_TRUE(ok(r));
      ASSERT_EQ(r->status, 200) << r->body;
      auto page = api::parse_feed(r->body);
      ASSERT_TRUE(ok(page));
      ASSERT_EQ(page->changes.size(), 1u);
      EXPECT_EQ(page->changes[0].id, (*all)[want].id) << "k=" << k << " on " << n;
    }
    // RFC 3339 before everything: from the first; after everything: empty, at the end.
    auto r = node->request("GET", "/changes?limit=1&sinceTime=2000-01-01T00:00:00Z");
    ASSERT_TRUE(ok(r));
    auto page = api::parse_feed(r->body);
    ASSERT_TRUE(ok(page));
    ASSERT_EQ(page->changes.size(), 1u);
    EXPECT_EQ(page->changes[0].id, all->front().id);
    r = node->request("GET", "/changes?sinceTime=" + std::to_string(all->back().ts_ns + 1));
    ASSERT_TRUE(ok(r));
    page = api::parse_feed(r->body);
    ASSERT_TRUE(ok(page));
    EXPECT_TRUE(page->changes.empty());
    EXPECT_TRUE(page->at_end);
    r = node->request("GET", "/changes?since=0&sinceTime=1");
    ASSERT_TRUE(ok(r));
    EXPECT_EQ(r->status, 400);
  }
}

}  // namespace
}  // namespace integration
