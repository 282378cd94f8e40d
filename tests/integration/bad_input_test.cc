// Every bad-input case of issue 11 against a real node: the honest status,
// a JSON {"error","code"} body, and the node keeps serving afterwards.
#include "tests/integration/test_util.h"

namespace integration {
namespace {

constexpr uint64_t kBodyBytesMax = 64 * 1024;

struct BadCase {
  const char* story;
  const char* method;
  std::string target;
  std::string body;
  std::string content_type;
  int status;
  const char* code;
};

std::vector<BadCase> bad_cases() {
  const std::string json = "application/json";
  std::string big = "{\"data\":\"" + std::string(kBodyBytesMax, 'x') + "\"}";
  std::string batch_1001 = "[";
  for (int i = 0; i < 1001; i++) batch_1001 += i == 0 ? "1" : ",1";
  batch_1001 += "]";
  return {
      {"malformed JSON", "POST", "/changes", "{\"data\": ", json, 400, "invalid_argument"},
      {"not JSON at all", "POST", "/changes", "hello", json, 400, "invalid_argument"},
      {"trailing garbage", "POST", "/changes", "{\"data\":1} x", json, 400, "invalid_argument"},
      {"tags not an array", "POST", "/changes", "{\"data\":1,\"tags\":\"a\"}", json, 400,
       "invalid_argument"},
      {"tags of numbers", "POST", "/changes", "{\"data\":1,\"tags\":[1,2]}", json, 400,
       "invalid_argument"},
      {"an empty tag", "POST", "/changes", "{\"data\":1,\"tags\":[\"\"]}", json, 400,
       "invalid_argument"},
      {"negative type", "POST", "/changes", "{\"data\":1,\"type\":-1}", json, 400,
       "invalid_argument"},
      {"type a string", "POST", "/changes", "{\"data\":1,\"type\":\"x\"}", json, 400,
       "invalid_argument"},
      {"batch not an array", "POST", "/changes/batch", "{\"data\":1}", json, 400,
       "invalid_argument"},
      {"empty batch", "POST", "/changes/batch", "[]", json, 400, "invalid_argument"},
      {"text/plain body", "POST", "/changes", "{\"data\":1}", "text/plain", 415,
       "unsupported_media_type"},
      {"form body", "POST", "/changes", "data=1", "application/x-www-form-urlencoded", 415,
       "unsupported_media_type"},
      {"negative since", "GET", "/changes?since=-1", "", json, 400, "invalid_argument"},
      {"since not a number", "GET", "/changes?since=abc", "", json, 400, "invalid_argument"},
      {"since over 64 bits", "GET", "/changes?since=99999999999999999999999", "", json, 400,
       "invalid_argument"},
      {"negative limit", "GET", "/changes?limit=-5", "", json, 400, "invalid_argument"},
      {"zero limit", "GET", "/changes?limit=0", "", json, 400, "invalid_argument"},
      {"absurd limit", "GET", "/changes?limit=100000000", "", json, 400, "invalid_argument"},
      {"negative block", "GET", "/changes?block=-1", "", json, 400, "invalid_argument"},
      {"absurd block", "GET", "/changes?block=99999999", "", json, 400, "invalid_argument"},
      {"block not a number", "GET", "/changes?block=1s", "", json, 400, "invalid_argument"},
      {"stream with negative since", "GET", "/changes/stream?since=-3", "", json, 400,
       "invalid_argument"},
      {"change id not a number", "GET", "/changes/abc", "", json, 400, "invalid_argument"},
      {"negative change id", "GET", "/changes/-1", "", json, 400, "invalid_argument"},
      {"absent change", "GET", "/changes/123456789", "", json, 404, "not_found"},
      {"unknown path", "GET", "/nope", "", json, 404, "not_found"},
      {"unknown nested path", "GET", "/cluster/members/1/x", "", json, 404, "not_found"},
      {"DELETE /changes", "DELETE", "/changes", "", json, 405, "method_not_allowed"},
      {"PUT /changes/1", "PUT", "/changes/1", "{}", json, 405, "method_not_allowed"},
      {"GET /changes/batch", "GET", "/changes/batch", "", json, 405, "method_not_allowed"},
      {"POST /changes/stream", "POST", "/changes/stream", "{}", json, 405, "method_not_allowed"},
      {"POST /health", "POST", "/health", "", json, 405, "method_not_allowed"},
      {"POST /metrics", "POST", "/metrics", "", json, 405, "method_not_allowed"},
      {"PUT /diagnostics/raft", "PUT", "/diagnostics/raft", "{}", json, 405, "method_not_allowed"},
      {"body over --body-bytes-max", "POST", "/changes", big, json, 413, "too_large"},
      {"batch over 1000 changes", "POST", "/changes/batch", batch_1001, json, 413, "too_large"},
  };
}

class BadInputTest : public ClusterTest {};

TEST_F(BadInputTest, EveryBadInputIsAJsonErrorAndTheNodeKeepsServing) {
  ClusterOptions o;
  o.body_bytes_max = kBodyBytesMax;
  ASSERT_NO_FATAL_FAILURE(start(o));
  size_t follower = cluster_->followers(leader_).front();
  auto feed_before = cluster_->client(leader_)->get_feed(api::FeedRequest{});
  ASSERT_TRUE(ok(feed_before));
  for (size_t node : {leader_, follower}) {
    for (const auto& c : bad_cases()) {
      SCOPED_TRACE(std::string(c.story) + " on " + cluster_->node(node).name);
      auto r = http(*cluster_, node, c.method, c.target, c.body, c.content_type);
      EXPECT_TRUE(is_json_error(r, c.status, c.code));
      // Still serving, on a new connection.
      auto h = http(*cluster_, node, "GET", "/health");
      ASSERT_TRUE(ok(h));
      EXPECT_EQ(h->status, 200);
    }
  }
  // Nothing a bad request sent was appended, and good writes still work.
  auto feed_after = cluster_->client(follower)->get_feed(api::FeedRequest{});
  ASSERT_TRUE(ok(feed_after));
  EXPECT_EQ(feed_after->changes.size(), feed_before->changes.size());
  for (size_t i = 0; i < cluster_->size(); i++) {
    auto a = cluster_->client(i)->post_change(change_of("{\"after\":\"bad input\"}"));
    EXPECT_TRUE(ok(a)) << cluster_->node(i).name;
  }
  // JSON with a charset parameter or in another case is JSON.
  for (const char* ct : {"application/json; charset=utf-8", "Application/JSON"}) {
    auto r = http(*cluster_, leader_, "POST", "/changes", "{\"data\":\"ct\"}", ct);
    ASSERT_TRUE(ok(r));
    EXPECT_EQ(r->status, 201) << ct << ": " << r->body;
  }
  // A body exactly at the limit is accepted.
  std::string at_limit = "{\"data\":\"\"}";
  at_limit.insert(9, std::string(kBodyBytesMax - at_limit.size(), 'y'));
  ASSERT_EQ(at_limit.size(), kBodyBytesMax);
  auto r = http(*cluster_, follower, "POST", "/changes", at_limit);
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(r->status, 201) << r->body.substr(0, 200);
}

TEST_F(BadInputTest, MalformedHttpGetsAJsonErrorAndTheNodeKeepsServing) {
  ClusterOptions o;
  o.body_bytes_max = kBodyBytesMax;
  ASSERT_NO_FATAL_FAILURE(start(o));
  struct RawCase {
    const char* story;
    std::string request;
    const char* status_line;
    const char* code;
  };
  std::string chunk(kBodyBytesMax / 2 + 1, 'z');
  char size_hex[32];
  std::snprintf(size_hex, sizeof size_hex, "%zx", chunk.size());
  std::string chunked =
      "POST /changes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (int k = 0; k < 3; k++) chunked += std::string(size_hex) + "\r\n" + chunk + "\r\n";
  chunked += "0\r\n\r\n";
  std::vector<RawCase> cases = {
      {"not HTTP", "GARBAGE\r\n\r\n", "HTTP/1.1 400", "bad_request"},
      {"headers over the limit",
       "GET /changes HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(32 * 1024, 'h') + "\r\n\r\n",
       "HTTP/1.1 431", "headers_too_large"},
      {"chunked body over --body-bytes-max", chunked, "HTTP/1.1 413", "too_large"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.story);
    auto conn = RawConnection::connect(cluster_->node(leader_).client_port, Millis(2000));
    ASSERT_TRUE(ok(conn));
    (void)(*conn)->send(c.request);  // the server may close before reading it all
    (*conn)->read_until("\"}", Clock::now() + Millis(5000));
    const std::string& got = (*conn)->received();
    EXPECT_EQ(got.rfind(c.status_line, 0), 0u) << got.substr(0, 300);
    EXPECT_NE(got.find(std::string("\"code\":\"") + c.code + "\""), std::string::npos)
        << got.substr(0, 300);
    auto h = http(*cluster_, leader_, "GET", "/health");
    ASSERT_TRUE(ok(h));
    EXPECT_EQ(h->status, 200);
  }
}

TEST_F(BadInputTest, WithoutQuorumPostAnswers503WithinABoundAndNeverHangs) {
  ClusterOptions o;
  o.request_timeout_ms = 2000;
  ASSERT_NO_FATAL_FAILURE(start(o));
  auto before = cluster_->client(leader_)->post_change(change_of("{\"before\":1}"));
  ASSERT_TRUE(ok(before));
  // Applied everywhere, so the survivor has something to serve below.
  ASSERT_TRUE(ok(cluster_->wait_converged(Millis(5000), before->id)));
  // Kill two of three, the leader among them, so the survivor is a follower.
  size_t survivor = cluster_->followers(leader_).front();
  for (size_t i = 0; i < cluster_->size(); i++) {
    if (i != survivor) cluster_->kill9(i);
  }
  auto c = cluster_->client(survivor, Millis(20000));
  for (int k = 0; k < 2; k++) {
    auto t0 = Clock::now();
    auto r = c->request("POST", "/changes", "{\"data\":\"no quorum\"}");
    int64_t took = ms_since(t0);
    ASSERT_TRUE(ok(r)) << "the node must answer, not drop the request";
    EXPECT_TRUE(r->status == 503 || r->status == 504) << r->status << " " << r->body;
    EXPECT_TRUE(is_json_error(r, r->status, r->status == 503 ? "unavailable" : "outcome_unknown"));
    // leader_wait (3 s) or --request-timeout-ms (2 s), plus slack.
    EXPECT_LT(took, 6000) << "POST without quorum took " << took << " ms";
  }
  // Everything that needs the leader answers within a bound too.
  for (const char* target : {"/changes?consistent=true", "/changes/1?consistent=true"}) {
    auto t0 = Clock::now();
    auto r = c->request("GET", target);
    EXPECT_TRUE(is_json_error(r, 503, "unavailable")) << target;
    EXPECT_LT(ms_since(t0), 6000) << target;
  }
  auto t0 = Clock::now();
  auto nowait = c->request("POST", "/changes?wait=false", "{\"data\":\"no quorum\"}");
  ASSERT_TRUE(ok(nowait));
  EXPECT_TRUE(nowait->status == 503 || nowait->status == 504) << nowait->body;
  EXPECT_LT(ms_since(t0), 6000);
  // Reads are still served from the local log; health says why not.
  auto feed = c->get_feed(api::FeedRequest{});
  ASSERT_TRUE(ok(feed));
  EXPECT_FALSE(feed->changes.empty());
  auto h = http(*cluster_, survivor, "GET", "/health");
  EXPECT_TRUE(is_json_error(h, 503, "unavailable"));
  // A leader again once a peer is back, and writes work.
  size_t back = survivor == 0 ? 1 : 0;
  ASSERT_TRUE(ok(cluster_->start(back)));
  ASSERT_TRUE(ok(cluster_->wait_for_leader(Millis(10000))));
  EXPECT_TRUE(ok(c->post_change(change_of("{\"after\":1}"))));
}

}  // namespace
}  // namespace integration
