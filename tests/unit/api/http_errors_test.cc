// Every bad input gets its honest status and JSON code, and the server keeps
// serving afterwards; the bounds (body, headers, connections, idle time,
// cluster id) hold.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>

#include "api/http_errors.h"
#include "tests/unit/api/test_server.h"

namespace api::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

struct BadCase {
  const char* method;
  const char* target;
  const char* body;
  const char* content_type;
  int status;
  const char* code;
};

const BadCase kBadCases[] = {
    {"POST", "/changes", "{not json", "application/json", 400, "invalid_argument"},
    {"POST", "/changes", R"({"data":1,"tags":"a"})", "application/json", 400, "invalid_argument"},
    {"POST", "/changes", R"({"data":1,"tags":[1]})", "application/json", 400, "invalid_argument"},
    {"POST", "/changes", R"({"data":1,"tags":[""]})", "application/json", 400, "invalid_argument"},
    {"POST", "/changes", R"({"data":1,"type":-1})", "application/json", 400, "invalid_argument"},
    {"POST", "/changes", R"({"data":1,"type":"x"})", "application/json", 400, "invalid_argument"},
    {"POST", "/changes", R"({"data":1,"type":1.5})", "application/json", 400, "invalid_argument"},
    {"POST", "/changes", R"({"data":1})", "text/plain", 415, "unsupported_media_type"},
    {"POST", "/changes?wait=maybe", R"({"data":1})", "application/json", 400, "invalid_argument"},
    {"POST", "/changes/batch", R"({"data":1})", "application/json", 400, "invalid_argument"},
    {"POST", "/changes/batch", "[]", "application/json", 400, "invalid_argument"},
    {"POST", "/changes/batch", R"([{"data":1,"tags":7}])", "application/json", 400,
     "invalid_argument"},
    {"GET", "/changes?limit=0", "", "", 400, "invalid_argument"},
    {"GET", "/changes?limit=10001", "", "", 400, "invalid_argument"},
    {"GET", "/changes?limit=x", "", "", 400, "invalid_argument"},
    {"GET", "/changes?since=-1", "", "", 400, "invalid_argument"},
    {"GET", "/changes?since=abc", "", "", 400, "invalid_argument"},
    {"GET", "/changes?since=99999999999999999999999", "", "", 400, "invalid_argument"},
    {"GET", "/changes?block=-1", "", "", 400, "invalid_argument"},
    {"GET", "/changes?block=999999999", "", "", 400, "invalid_argument"},
    {"GET", "/changes?tag=", "", "", 400, "invalid_argument"},
    {"GET", "/changes?consistent=perhaps", "", "", 400, "invalid_argument"},
    {"GET", "/changes/abc", "", "", 400, "invalid_argument"},
    {"GET", "/changes/99", "", "", 404, "not_found"},
    {"GET", "/nope", "", "", 404, "not_found"},
    {"GET", "/changes/1/2", "", "", 400, "invalid_argument"},
    {"DELETE", "/changes", "", "", 405, "method_not_allowed"},
    {"GET", "/changes/batch", "", "", 405, "method_not_allowed"},
    {"POST", "/changes/5", "{}", "application/json", 405, "method_not_allowed"},
    {"POST", "/cluster", "", "", 405, "method_not_allowed"},
    {"DELETE", "/health", "", "", 405, "method_not_allowed"},
    {"PUT", "/health?up=sideways", "", "", 400, "invalid_argument"},
    {"GET", "/changes/stream?since=x", "", "", 400, "invalid_argument"},
};

TEST(HttpErrors, EveryBadInputGetsItsStatusAndTheServerKeepsServing) {
  TestServer ts;
  auto c = ts.client();
  for (const BadCase& bc : kBadCases) {
    SCOPED_TRACE(std::string(bc.method) + " " + bc.target + " " + bc.body);
    auto r = c->request(bc.method, bc.target, bc.body, bc.content_type);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->status, bc.status) << r->body;
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    ASSERT_FALSE(ec) << r->body;
    EXPECT_EQ(v.at("code").as_string(), bc.code);
    EXPECT_FALSE(v.at("error").as_string().empty());
    auto health = c->request("GET", "/health");
    ASSERT_TRUE(health.is_ok());
    EXPECT_EQ(health->status, 200);
  }
}

TEST(HttpErrors, MethodNotAllowedNamesTheAllowedMethods) {
  TestServer ts;
  RawConnection conn(ts.server->port());
  conn.send("DELETE /changes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string r = conn.read_all();
  EXPECT_EQ(raw_status(r), 405);
  EXPECT_NE(r.find("Allow: GET, POST\r\n"), std::string::npos) << r;
}

TEST(HttpErrors, ServiceErrorsMapToHonestStatuses) {
  TestServer ts;
  auto c = ts.client();
  ts.svc.on_io([&] { ts.svc.append_error = Status(Code::kTimeout, "no answer from the leader"); });
  auto r = c->request("POST", "/changes", R"({"data":1})");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 504);
  EXPECT_NE(r->body.find("\"outcome_unknown\""), std::string::npos);
  auto a = c->post_change({"1", {}, 0});
  EXPECT_EQ(a.status().code(), Code::kTimeout);

  ts.svc.on_io([&] { ts.svc.append_error = Status(Code::kTooLarge, "proposal queue full"); });
  EXPECT_EQ(c->request("POST", "/changes", "1")->status, 413);

  ts.svc.on_io([&] { ts.svc.first_index = 10; });
  r = c->request("GET", "/changes?since=3");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 410);
  json::value v = json::parse(r->body);
  EXPECT_EQ(v.at("code").as_string(), "compacted");
  EXPECT_EQ(v.at("firstIndex").as_int64(), 10);
  EXPECT_EQ(c->get_feed({3, 10, {}, 0, false, {}, false}).status().code(), Code::kCompacted);
  EXPECT_EQ(c->get_change(99).status().code(), Code::kNotFound);
}

TEST(HttpErrors, CodeMappingIsOneTable) {
  EXPECT_EQ(http_error_for(Code::kInvalidArgument).status, 400);
  EXPECT_EQ(http_error_for(Code::kNotFound).status, 404);
  EXPECT_EQ(http_error_for(Code::kConflict).status, 409);
  EXPECT_EQ(http_error_for(Code::kCompacted).status, 410);
  EXPECT_EQ(http_error_for(Code::kTooLarge).status, 413);
  EXPECT_EQ(http_error_for(Code::kUnavailable).status, 503);
  EXPECT_EQ(http_error_for(Code::kBusy).status, 503);
  EXPECT_EQ(http_error_for(Code::kNotLeader).status, 503);
  EXPECT_EQ(http_error_for(Code::kTimeout).status, 504);
  EXPECT_EQ(http_error_for(Code::kTimeout).code, "outcome_unknown");
  EXPECT_EQ(http_error_for(Code::kIoError).status, 500);
  EXPECT_EQ(http_error_for(Code::kInternal).status, 500);
  EXPECT_EQ(http_error_for(Code::kFailedPrecondition).status, 409);
  EXPECT_EQ(http_error_for(Code::kFailedPrecondition).code, "failed_precondition");
  for (Code c :
       {Code::kInvalidArgument, Code::kNotFound, Code::kConflict, Code::kCompacted, Code::kTooLarge,
        Code::kUnavailable, Code::kBusy, Code::kTimeout, Code::kFailedPrecondition}) {
    HttpError e = http_error_for(c);
    EXPECT_EQ(status_from_http(e.status, error_json(e.code, "x")).code(), c);
  }
}

TEST(HttpErrors, BodyOverTheLimitIs413) {
  HttpOptions opts;
  opts.body_bytes_max = 1024;
  TestServer ts(opts);
  auto c = ts.client();
  std::string big = "\"" + std::string(2000, 'x') + "\"";
  auto r = c->request("POST", "/changes", big);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("\"too_large\""), std::string::npos);
  auto ok = c->request("POST", "/changes", "\"small\"");
  ASSERT_TRUE(ok.is_ok());
  EXPECT_EQ(ok->status, 201);
}

TEST(HttpErrors, OversizedHeadersAndGarbageAreRefused) {
  TestServer ts;
  {
    RawConnection conn(ts.server->port());
    conn.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
    EXPECT_EQ(raw_status(conn.read_all()), 431);
  }
  {
    RawConnection conn(ts.server->port());
    conn.send("THIS IS NOT HTTP\r\n\r\n");
    std::string r = conn.read_all();
    EXPECT_EQ(raw_status(r), 400) << r;
  }
  auto c = ts.client();
  EXPECT_EQ(c->request("GET", "/health")->status, 200);
}

TEST(HttpErrors, ClusterIdMismatchIs409) {
  HttpOptions opts;
  opts.cluster_id_hex = "00000000000000aa";
  TestServer ts(opts);
  ClientOptions wrong;
  wrong.cluster_id_hex = "00000000000000bb";
  auto c = ts.client(wrong);
  auto r = c->request("GET", "/changes");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(r->body.find("\"wrong_cluster\""), std::string::npos);
  EXPECT_EQ(c->get_feed({}).status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(c->request("GET", "/health")->status, 200);  // health needs no cluster id
  ClientOptions right;
  right.cluster_id_hex = "00000000000000AA";
  EXPECT_TRUE(ts.client(right)->get_feed({}).is_ok());
  EXPECT_TRUE(ts.client()->get_feed({}).is_ok());  // no header: no check
}

TEST(HttpErrors, ClusterIdIsComparedAsANumberAndMalformedIs400) {
  HttpOptions opts;
  opts.cluster_id_hex = "00000000000000aa";
  TestServer ts(opts);
  for (std::string same : {"aa", "0xAA", "00000000000000aA"}) {
    ClientOptions o;
    o.cluster_id_hex = same;
    EXPECT_EQ(ts.client(o)->request("GET", "/changes")->status, 200) << same;
  }
  for (std::string bad : {"zz", "0x", "aa bb", "11111111111111111111"}) {
    ClientOptions o;
    o.cluster_id_hex = bad;
    auto r = ts.client(o)->request("POST", "/changes", "{}");
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_NE(r->body.find("bad_request"), std::string::npos) << r->body;
  }
  EXPECT_TRUE(ts.client()->get_feed({})->changes.empty()) << "a refused request writes nothing";
}

// A client that learns the id from its first answer refuses to be failed
// over into another cluster: the second server answers 409.
TEST(HttpErrors, ClientPinsTheFirstClusterIdItSees) {
  HttpOptions a_opts;
  a_opts.cluster_id_hex = "00000000000000aa";
  HttpOptions b_opts;
  b_opts.cluster_id_hex = "00000000000000bb";
  TestServer a(a_opts);
  TestServer b(b_opts);
  ClientOptions o;
  o.endpoints = {a.endpoint(), b.endpoint()};
  o.learn_cluster_id = true;
  auto c = a.client(o);
  EXPECT_EQ(c->cluster_id(), "");
  ASSERT_TRUE(c->get_feed({}).is_ok());
  EXPECT_EQ(c->cluster_id(), "00000000000000aa");
  a.shutdown();
  // A read fails over to b, which refuses the pinned id; so does a write.
  EXPECT_EQ(c->get_feed({}).status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(c->current_endpoint(), b.endpoint());
  api::ChangeInput in;
  in.data_json = "{\"x\":1}";
  auto r = c->post_change(in);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition) << r.status().to_string();
  EXPECT_TRUE(b.client()->get_feed({})->changes.empty()) << "nothing written into the other one";
  // Without learning, the same failover would have written into b.
  o.learn_cluster_id = false;
  EXPECT_TRUE(b.client(o)->post_change(in).is_ok());
}

TEST(HttpErrors, IdleConnectionsAreClosed) {
  HttpOptions opts;
  opts.idle_timeout = 1s;
  opts.header_timeout = 1s;
  TestServer ts(opts);
  RawConnection conn(ts.server->port(), 4000);
  conn.send("GET /hea");  // a slow loris never finishes its request
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(conn.closed_by_peer());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(HttpErrors, ConnectionsOverTheLimitGet503) {
  HttpOptions opts;
  opts.connections_max = 2;
  TestServer ts(opts);
  auto a = ts.client();
  auto b = ts.client();
  ASSERT_EQ(a->request("GET", "/health")->status, 200);  // both stay open (keep-alive)
  ASSERT_EQ(b->request("GET", "/health")->status, 200);
  RawConnection third(ts.server->port());
  third.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string r = third.read_all();
  EXPECT_EQ(raw_status(r), 503) << r;
  EXPECT_NE(r.find("\"overloaded\""), std::string::npos);
}

}  // namespace
}  // namespace api::test
