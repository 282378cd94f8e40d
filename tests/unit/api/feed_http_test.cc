// Feed semantics for consumers over HTTP (issue 10): request ids on POST,
// sinceTime and the next/prev links of a feed page.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/http_router_internal.h"
#include "tests/unit/api/test_server.h"

namespace api::test {
namespace {

namespace json = boost::json;

ChangeInput change(std::string data) {
  return ChangeInput{std::move(data), {}, 0};
}

TEST(FeedHttp, ParseTimeNs) {
  using http_detail::parse_time_ns;
  EXPECT_EQ(parse_time_ns("12345"), 12345u);
  EXPECT_EQ(parse_time_ns("1970-01-01T00:00:01Z"), 1000000000u);
  EXPECT_EQ(parse_time_ns("2000-03-01T00:00:00Z"), 951868800ull * 1000000000ull);
  EXPECT_EQ(parse_time_ns("2000-03-01T01:00:00.25+01:00"),
            951868800ull * 1000000000ull + 250000000);
  EXPECT_EQ(parse_time_ns("2000-02-29T23:00:00-01:00"), 951868800ull * 1000000000ull);
  EXPECT_FALSE(parse_time_ns("2000-03-01T00:00:00"));  // no offset
  EXPECT_FALSE(parse_time_ns("2000-13-01T00:00:00Z"));
  EXPECT_FALSE(parse_time_ns("2000-03-01T00:00:00.Z"));
  EXPECT_FALSE(parse_time_ns("yesterday"));
  EXPECT_FALSE(parse_time_ns(""));
}

// sinceTime itself is resolved by the node (tests/integration/feed_test.cc);
// here, the links every page carries.
TEST(FeedHttp, PagesCarryNextAndPrevLinks) {
  TestServer ts;
  auto c = ts.client();
  for (int i = 0; i < 5; i++) ASSERT_TRUE(c->post_change(change(std::to_string(i))).is_ok());
  auto r = c->request("GET", "/changes?since=2&limit=2");
  ASSERT_TRUE(r.is_ok());
  ASSERT_EQ(r->status, 200) << r->body;
  json::value v = json::parse(r->body);
  ASSERT_EQ(v.at("changes").as_array().size(), 2u);
  EXPECT_EQ(v.at("changes").at(0).at("_id").as_int64(), 3);
  EXPECT_EQ(v.at("next").as_string(), "/changes?since=4&limit=2");
  EXPECT_EQ(v.at("prev").as_string(), "/changes?since=0&limit=2");
  // Following next reaches the end; next is still there (to long-poll on).
  r = c->request("GET", std::string(v.at("next").as_string()));
  ASSERT_TRUE(r.is_ok());
  v = json::parse(r->body);
  ASSERT_EQ(v.at("changes").as_array().size(), 1u);
  EXPECT_TRUE(v.at("atEnd").as_bool());
  EXPECT_EQ(v.at("next").as_string(), "/changes?since=5&limit=2");
  // From the start: no prev; filters are kept, encoded.
  r = c->request("GET", "/changes?since=0&tag=a%20b");
  v = json::parse(r->body);
  EXPECT_FALSE(v.as_object().contains("prev"));
  EXPECT_EQ(v.at("next").as_string(), "/changes?since=5&limit=100&tag=a%20b");
}

TEST(FeedHttp, SinceAndSinceTimeTogetherAreRefused) {
  TestServer ts;
  auto c = ts.client();
  auto r = c->request("GET", "/changes?since=1&sinceTime=2");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 400) << r->body;
  r = c->request("GET", "/changes?sinceTime=noon");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 400) << r->body;
}

TEST(FeedHttp, RequestIdsAreCheckedAtTheDoor) {
  TestServer ts;
  auto c = ts.client();
  struct Bad {
    const char* target;
    std::string body;
  };
  const std::vector<Bad> bad = {
      {"/changes", R"({"requestId":"x","other":1})"},  // needs "data"
      {"/changes", R"({"data":1,"requestId":7})"},
      {"/changes", R"({"data":1,"requestId":""})"},
      {"/changes", R"({"data":1,"requestId":")" + std::string(kRequestIdBytesMax + 1, 'x') + "\"}"},
      {"/changes/batch", R"([{"data":1,"requestId":"x"}])"},    // per request: the header
      {"/changes", R"({"data":1,"key":"k","requestId":"x"})"},  // key writes: not yet
  };
  for (const auto& b : bad) {
    auto r = c->request("POST", b.target, b.body);
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ(r->status, 400) << b.body << " -> " << r->body;
  }
  auto feed = c->get_feed(FeedRequest{});
  ASSERT_TRUE(feed.is_ok());
  EXPECT_TRUE(feed->changes.empty());
}

}  // namespace
}  // namespace api::test
