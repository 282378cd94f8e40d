// The HTTP API end to end over real sockets: client library -> HttpServer ->
// FakeService (test double of the node).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <future>

#include "tests/unit/api/test_server.h"

namespace api::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

ChangeInput change(std::string data, std::vector<std::string> tags = {}) {
  return ChangeInput{std::move(data), std::move(tags), 0};
}

TEST(HttpServer, PostThenGetRoundTrip) {
  TestServer ts;
  auto c = ts.client();
  auto a = c->post_change(change(R"({"a":1})", {"x", "y"}));
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  EXPECT_EQ(a->id, 1u);
  EXPECT_GT(a->ts_ns, 0u);

  auto got = c->get_change(1);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_EQ(got->data_json, R"({"a":1})");
  EXPECT_EQ(got->tags, (std::vector<std::string>{"x", "y"}));

  auto raw = c->request("GET", "/changes?since=0");
  ASSERT_TRUE(raw.is_ok());
  EXPECT_EQ(raw->status, 200);
  json::value v = json::parse(raw->body);
  const auto& first = v.at("changes").at(0);
  EXPECT_EQ(first.at("_id").as_int64(), 1);
  EXPECT_EQ(first.at("data").at("a").as_int64(), 1);  // embedded JSON, not a string
  EXPECT_EQ(first.at("_type").as_int64(), 0);
  EXPECT_TRUE(v.at("atStart").as_bool());
  EXPECT_TRUE(v.at("atEnd").as_bool());
  EXPECT_EQ(v.at("firstIndex").as_int64(), 1);
  EXPECT_EQ(v.at("lastIndex").as_int64(), 1);
}

TEST(HttpServer, NonChangeBodiesAreStoredWhole) {
  TestServer ts;
  auto c = ts.client();
  for (std::string body : {"[1,2,3]", R"({"tags":["t"]})", "\"text\"", "42"}) {
    auto r = c->request("POST", "/changes", body);
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ(r->status, 201) << body << " -> " << r->body;
    auto id = json::parse(r->body).at("_id").as_int64();
    auto got = c->get_change(static_cast<uint64_t>(id));
    ASSERT_TRUE(got.is_ok());
    EXPECT_EQ(got->data_json, body);
    EXPECT_TRUE(got->tags.empty());
  }
  auto typed = c->request("POST", "/changes", R"({"data":{"k":"v"},"type":7})");
  ASSERT_TRUE(typed.is_ok());
  EXPECT_EQ(typed->status, 201);
  auto got = c->get_change(5);
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->type, 7u);
  EXPECT_EQ(got->data_json, R"({"k":"v"})");
}

TEST(HttpServer, BatchIsAppendedTogether) {
  TestServer ts;
  auto c = ts.client();
  auto r = c->post_changes({change("1", {"a"}), change("2"), change(R"({"x":[true]})")});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].id, 1u);
  EXPECT_EQ((*r)[2].id, 3u);
  auto raw = c->request("POST", "/changes/batch", R"([{"data":1}])");
  ASSERT_TRUE(raw.is_ok());
  EXPECT_EQ(raw->status, 201);
  EXPECT_TRUE(json::parse(raw->body).is_array());
}

TEST(HttpServer, WaitFalseAnswers202) {
  TestServer ts;
  auto c = ts.client();
  auto raw = c->request("POST", "/changes?wait=false", R"({"data":1})");
  ASSERT_TRUE(raw.is_ok());
  EXPECT_EQ(raw->status, 202);
  auto a = c->post_change(change("2"), false);
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(a->id, 2u);
}

TEST(HttpServer, TagFilterIsOr) {
  TestServer ts;
  auto c = ts.client();
  ASSERT_TRUE(c->post_changes({change("1", {"a"}), change("2", {"b"}), change("3", {"c"}),
                               change("4", {"a", "c"})})
                  .is_ok());
  auto page = c->get_feed({0, 100, {"a", "b"}, 0, false, {}, false});
  ASSERT_TRUE(page.is_ok());
  std::vector<uint64_t> ids;
  for (const auto& ch : page->changes) ids.push_back(ch.id);
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2, 4}));
  auto limited = c->get_feed({1, 1, {}, 0, false, {}, false});
  ASSERT_TRUE(limited.is_ok());
  ASSERT_EQ(limited->changes.size(), 1u);
  EXPECT_EQ(limited->changes[0].id, 2u);
  EXPECT_FALSE(limited->at_end);
  EXPECT_FALSE(limited->at_start);
}

TEST(HttpServer, LongPollWakesWhenAMatchingChangeArrives) {
  TestServer ts;
  auto waiter = ts.client();
  auto start = Clock::now();
  auto fut = std::async(std::launch::async, [&] {
    return waiter->get_feed({0, 100, {"wanted"}, 10, false, {}, false});
  });
  std::this_thread::sleep_for(200ms);
  auto writer = ts.client();
  ASSERT_TRUE(writer->post_change(change("1", {"other"})).is_ok());
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(writer->post_change(change("2", {"wanted"})).is_ok());
  auto page = fut.get();
  ASSERT_TRUE(page.is_ok()) << page.status().to_string();
  ASSERT_EQ(page->changes.size(), 1u);
  EXPECT_EQ(page->changes[0].id, 2u);
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST(HttpServer, LongPollReturnsEmptyAtTheDeadline) {
  TestServer ts;
  auto c = ts.client();
  auto start = Clock::now();
  auto page = c->get_feed({0, 100, {}, 1, false, {}, false});
  auto took = Clock::now() - start;
  ASSERT_TRUE(page.is_ok());
  EXPECT_TRUE(page->changes.empty());
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 3s);
}

TEST(HttpServer, LongPollWaitersAreBounded) {
  HttpOptions opts;
  opts.longpoll_waiters_max = 1;
  TestServer ts(opts);
  auto first = ts.client();
  auto fut = std::async(std::launch::async, [&] {
    return first->get_feed({0, 10, {}, 3, false, {}, false});
  });
  std::this_thread::sleep_for(300ms);
  auto second = ts.client();
  auto r = second->request("GET", "/changes?block=3");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("\"overloaded\""), std::string::npos);
  ASSERT_TRUE(second->post_change(change("1")).is_ok());  // wakes the first
  auto page = fut.get();
  ASSERT_TRUE(page.is_ok());
  EXPECT_EQ(page->changes.size(), 1u);
}

TEST(HttpServer, StopEndsLongPollsPromptly) {
  TestServer ts;
  auto c = ts.client();
  auto start = Clock::now();
  auto fut = std::async(std::launch::async, [&] {
    return c->get_feed({0, 10, {}, 30, false, {}, false});
  });
  std::this_thread::sleep_for(300ms);
  ts.shutdown();
  auto page = fut.get();
  EXPECT_TRUE(page.is_ok());
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST(HttpServer, WatchFollowsTheFeed) {
  TestServer ts;
  auto writer = ts.client();
  ASSERT_TRUE(writer->post_change(change("1")).is_ok());
  auto feeder = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(200ms);
    ASSERT_TRUE(writer->post_changes({change("2"), change("3")}).is_ok());
  });
  auto watcher = ts.client();
  std::vector<uint64_t> seen;
  WatchOptions w;
  w.block_seconds = 5;
  Status s = watcher->watch(w, [&](const Change& ch) {
    seen.push_back(ch.id);
    return seen.size() < 3;
  });
  feeder.get();
  EXPECT_TRUE(s.is_ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2, 3}));
}

TEST(HttpServer, SseStreamsAndResumesFromLastEventId) {
  TestServer ts;
  auto c = ts.client();
  ASSERT_TRUE(
      c->post_changes({change("1", {"a"}), change("2", {"b"}), change("3", {"a"})}).is_ok());

  RawConnection conn(ts.server->port());
  conn.send("GET /changes/stream?tag=a HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string acc;
  conn.read_until("id: 3\n", acc);
  EXPECT_NE(acc.find("text/event-stream"), std::string::npos);
  EXPECT_NE(acc.find("id: 1\nevent: change\ndata: {\"_id\":1"), std::string::npos);
  EXPECT_EQ(acc.find("id: 2\n"), std::string::npos);  // tag b filtered out
  ASSERT_TRUE(c->post_change(change("4", {"a"})).is_ok());
  conn.read_until("id: 4\n", acc);
  EXPECT_NE(acc.find("id: 4\n"), std::string::npos);

  RawConnection resumed(ts.server->port());
  resumed.send("GET /changes/stream HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 2\r\n\r\n");
  std::string acc2;
  resumed.read_until("id: 4\n", acc2);
  EXPECT_EQ(acc2.find("id: 2\n"), std::string::npos);
  EXPECT_NE(acc2.find("id: 3\n"), std::string::npos);
  EXPECT_NE(acc2.find("id: 4\n"), std::string::npos);
  ts.shutdown();  // ends the streams
  EXPECT_TRUE(conn.closed_by_peer());
}

TEST(HttpServer, ClusterMembersDiagnosticsAndMetrics) {
  TestServer ts;
  auto c = ts.client();
  auto cluster = c->cluster();
  ASSERT_TRUE(cluster.is_ok());
  EXPECT_EQ(cluster->cluster_id, "00000000000000aa");
  EXPECT_EQ(cluster->leader_id, 1u);
  ASSERT_EQ(cluster->members.size(), 2u);
  EXPECT_EQ(cluster->members[1].client_url, "127.0.0.1:8002");

  auto members = c->members();
  ASSERT_TRUE(members.is_ok());
  EXPECT_EQ(members->at(2), "127.0.0.1:9002");

  ASSERT_TRUE(c->post_change(change("1")).is_ok());
  auto diag = c->diagnostics();
  ASSERT_TRUE(diag.is_ok());
  EXPECT_EQ(diag->state, "leader");
  EXPECT_EQ(diag->term, 3u);
  EXPECT_EQ(diag->applied_index, 1u);
  auto raw = c->request("GET", "/diagnostics/raft");
  ASSERT_TRUE(raw.is_ok());
  json::value v = json::parse(raw->body);
  for (const char* key : {"id", "state", "leader", "term", "firstIndex", "lastIndex",
                          "appliedIndex", "committedIndex", "peerIndices"}) {
    EXPECT_TRUE(v.as_object().contains(key)) << key;
  }
  EXPECT_EQ(v.at("peerIndices").at("2").as_int64(), 1);
  auto full = c->request("GET", "/diagnostics");
  ASSERT_TRUE(full.is_ok());
  EXPECT_TRUE(json::parse(full->body).as_object().contains("build"));

  auto metrics = c->request("GET", "/metrics");
  ASSERT_TRUE(metrics.is_ok());
  EXPECT_EQ(metrics->status, 200);
  const std::string& m = metrics->body;
  EXPECT_NE(m.find("changeagent_fake_metric 1"), std::string::npos);
  EXPECT_NE(m.find(R"(changeagent_http_requests_total{route="/changes",status="201"} 1)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("changeagent_http_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(m.find("changeagent_http_longpoll_waiters 0"), std::string::npos);
}

TEST(HttpServer, HealthUpDown) {
  TestServer ts;
  auto c = ts.client();
  auto r = c->request("GET", "/health");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
  EXPECT_TRUE(c->set_health(false).is_ok());
  Status down = c->health();
  EXPECT_EQ(down.code(), Code::kUnavailable);
  r = c->request("GET", "/health");
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("\"code\":\"unavailable\""), std::string::npos);
  // A form body, as curl -X PUT -d up=true sends.
  r = c->request("PUT", "/health", "up=true", "application/x-www-form-urlencoded");
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(c->health().is_ok());
  ts.svc.on_io([&] { ts.svc.has_leader = false; });
  EXPECT_EQ(c->health().code(), Code::kUnavailable);
}

TEST(HttpServer, ConsistentReadsUseTheBarrier) {
  TestServer ts;
  auto c = ts.client();
  ASSERT_TRUE(c->post_change(change("1")).is_ok());
  ASSERT_TRUE(c->get_feed({0, 10, {}, 0, true, {}, false}).is_ok());
  ASSERT_TRUE(c->get_change(1, true).is_ok());
  EXPECT_EQ(ts.svc.on_io([&] { return ts.svc.barrier_calls; }), 2u);
  ts.svc.on_io([&] { ts.svc.barrier_error = Status(Code::kUnavailable, "no leader"); });
  auto r = c->request("GET", "/changes/1?consistent=true");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 503);
}

TEST(HttpServer, FailsOverToTheNextEndpoint) {
  TestServer good;
  // First a port nobody listens on, then a node whose appends are refused.
  TestServer refusing;
  refusing.svc.on_io([&] { refusing.svc.append_error = Status(Code::kUnavailable, "no quorum"); });
  uint16_t dead_port;
  {
    TestServer dead;
    dead_port = dead.server->port();
  }
  ClientOptions opts;
  opts.endpoints = {"127.0.0.1:" + std::to_string(dead_port), refusing.endpoint(),
                    "http://" + good.endpoint() + "/"};
  auto c = good.client(opts);
  auto a = c->post_change(change("1"));
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  EXPECT_EQ(c->current_endpoint(), opts.endpoints[2]);
}

}  // namespace
}  // namespace api::test
