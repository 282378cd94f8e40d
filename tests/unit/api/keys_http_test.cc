// The coordination store's HTTP routes (issue 4) over real sockets:
// keyed POST /changes, POST /txn, /keys, /leases, prefix-filtered feeds,
// and every bad input, against the FakeService test double.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <future>

#include "tests/unit/api/test_server.h"

namespace api::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Reply {
  int status = 0;
  json::value body;
};

// One request; the body parsed as JSON (null when it is not JSON).
Reply call(Client& c, const std::string& method, const std::string& target,
           const std::string& body = {}, const std::string& content_type = "application/json") {
  auto r = c.request(method, target, body, content_type);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  if (!r.is_ok()) return {};
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  return {r->status, ec ? json::value() : v};
}

int64_t num(const json::value& v, std::string_view key) {
  return v.at(key).to_number<int64_t>();
}

TEST(KeysHttp, KeyedPostWritesTheKeyAndReturnsItsRevision) {
  TestServer ts;
  auto c = ts.client();
  Reply r =
      call(*c, "POST", "/changes", R"({"key":"pgha/c1/leader","data":{"node":"n1"},"tags":["t"]})");
  ASSERT_EQ(r.status, 201) << json::serialize(r.body);
  EXPECT_EQ(r.body.at("key").as_string(), "pgha/c1/leader");
  EXPECT_EQ(num(r.body, "revision"), num(r.body, "_id"));
  EXPECT_GT(num(r.body, "_ts"), 0);

  Reply key = call(*c, "GET", "/keys/pgha/c1/leader");
  ASSERT_EQ(key.status, 200);
  EXPECT_EQ(key.body.at("value").at("node").as_string(), "n1");
  EXPECT_EQ(num(key.body, "createRevision"), 1);
  EXPECT_EQ(num(key.body, "modRevision"), 1);
  EXPECT_EQ(num(key.body, "version"), 1);
  EXPECT_EQ(num(key.body, "lease"), 0);

  // ifRevision 0 = must not exist: it exists, so 409 and nothing appended.
  r = call(*c, "POST", "/changes", R"({"key":"pgha/c1/leader","ifRevision":0,"data":2})");
  ASSERT_EQ(r.status, 409);
  EXPECT_EQ(r.body.at("code").as_string(), "revision_mismatch");
  EXPECT_EQ(num(r.body, "current"), 1);
  EXPECT_NE(r.body.at("error").as_string().find("revision 1"), std::string::npos);
  EXPECT_EQ(num(call(*c, "GET", "/changes").body, "lastIndex"), 1);

  r = call(*c, "POST", "/changes", R"({"key":"pgha/c1/leader","ifRevision":1,"data":3})");
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(num(r.body, "revision"), 2);
  key = call(*c, "GET", "/keys/pgha/c1/leader");
  EXPECT_EQ(num(key.body, "version"), 2);
  EXPECT_EQ(num(key.body, "createRevision"), 1);

  r = call(*c, "POST", "/changes", R"({"key":"pgha/c1/leader","delete":true,"ifRevision":1})");
  ASSERT_EQ(r.status, 409);
  EXPECT_EQ(num(r.body, "current"), 2);
  r = call(*c, "POST", "/changes", R"({"key":"pgha/c1/leader","delete":true,"ifRevision":2})");
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(call(*c, "GET", "/keys/pgha/c1/leader").status, 404);

  // The feed shows the key writes; a keyless change has neither field.
  ASSERT_EQ(call(*c, "POST", "/changes", R"({"data":4})").status, 201);
  Reply feed = call(*c, "GET", "/changes");
  const auto& changes = feed.body.at("changes").as_array();
  ASSERT_EQ(changes.size(), 4u);
  EXPECT_EQ(changes[0].at("key").as_string(), "pgha/c1/leader");
  EXPECT_FALSE(changes[0].as_object().contains("delete"));
  EXPECT_EQ(changes[0].at("tags").at(0).as_string(), "t");
  EXPECT_TRUE(changes[2].at("delete").as_bool());
  EXPECT_TRUE(changes[2].at("data").is_null());
  EXPECT_FALSE(changes[3].as_object().contains("key"));
  EXPECT_FALSE(changes[3].as_object().contains("ops"));
}

TEST(KeysHttp, WaitFalseAnswers202) {
  TestServer ts;
  auto c = ts.client();
  EXPECT_EQ(call(*c, "POST", "/changes?wait=false", R"({"key":"a","data":1})").status, 202);
  EXPECT_EQ(call(*c, "PUT", "/keys/a?wait=false", R"({"value":2})").status, 202);
  EXPECT_EQ(call(*c, "POST", "/txn?wait=false", R"({"ops":[{"key":"b","value":1}]})").status, 202);
}

TEST(KeysHttp, TxnIsAllOrNothing) {
  TestServer ts;
  auto c = ts.client();
  Reply r = call(*c, "POST", "/txn",
                 R"({"compares":[{"key":"x","revision":0}],
                     "ops":[{"key":"x","value":1},{"key":"y","value":{"a":[1]}}],
                     "data":{"why":"init"},"tags":["boot"]})");
  ASSERT_EQ(r.status, 200) << json::serialize(r.body);
  EXPECT_TRUE(r.body.at("succeeded").as_bool());
  EXPECT_EQ(num(r.body, "_id"), 1);
  EXPECT_GT(num(r.body, "_ts"), 0);
  EXPECT_EQ(call(*c, "GET", "/keys/y").body.at("value").at("a").at(0).as_int64(), 1);

  r = call(
      *c, "POST", "/txn",
      R"({"compares":[{"key":"x","revision":1},{"key":"y","revision":7},{"key":"z","revision":3}],
               "ops":[{"key":"x","delete":true}]})");
  ASSERT_EQ(r.status, 409);
  EXPECT_EQ(r.body.at("code").as_string(), "revision_mismatch");
  EXPECT_FALSE(r.body.at("succeeded").as_bool());
  EXPECT_FALSE(r.body.at("error").as_string().empty());
  const auto& current = r.body.at("current").as_array();
  ASSERT_EQ(current.size(), 3u);
  EXPECT_EQ(current[0].at("key").as_string(), "x");
  EXPECT_EQ(num(current[0], "revision"), 1);
  EXPECT_EQ(num(current[1], "revision"), 1);
  EXPECT_EQ(num(current[2], "revision"), 0);          // absent
  EXPECT_EQ(call(*c, "GET", "/keys/x").status, 200);  // nothing was applied
  EXPECT_EQ(num(call(*c, "GET", "/changes").body, "lastIndex"), 1);

  r = call(*c, "POST", "/txn", R"({"ops":[{"key":"x","delete":true},{"key":"y","value":2}]})");
  ASSERT_EQ(r.status, 200);
  // Several ops render as "ops"; GET /changes/{id} likewise.
  Reply one = call(*c, "GET", "/changes/2");
  ASSERT_EQ(one.status, 200);
  const auto& ops = one.body.at("ops").as_array();
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].at("key").as_string(), "x");
  EXPECT_TRUE(ops[0].at("delete").as_bool());
  EXPECT_EQ(ops[1].at("key").as_string(), "y");
  EXPECT_FALSE(ops[1].as_object().contains("delete"));
  EXPECT_FALSE(one.body.as_object().contains("key"));
  EXPECT_TRUE(one.body.at("data").is_null());
}

TEST(KeysHttp, PutGetDeleteByPath) {
  TestServer ts;
  auto c = ts.client();
  Reply r = call(*c, "PUT", "/keys/pgha/c1/members/n1", R"({"value":{"role":"primary"}})");
  ASSERT_EQ(r.status, 200) << json::serialize(r.body);
  EXPECT_EQ(r.body.at("key").as_string(), "pgha/c1/members/n1");
  EXPECT_EQ(num(r.body, "revision"), 1);
  EXPECT_EQ(num(r.body, "_id"), 1);
  // The change records the value as its data, with no tags.
  Reply change = call(*c, "GET", "/changes/1");
  EXPECT_EQ(change.body.at("data").at("role").as_string(), "primary");
  EXPECT_TRUE(change.body.at("tags").as_array().empty());
  EXPECT_EQ(change.body.at("key").as_string(), "pgha/c1/members/n1");

  // Percent-encoding is decoded; a trailing slash is part of the key.
  ASSERT_EQ(call(*c, "PUT", "/keys/a%20b%2Fc", R"({"value":1})").status, 200);
  EXPECT_EQ(call(*c, "GET", "/keys/a%20b/c").body.at("key").as_string(), "a b/c");
  ASSERT_EQ(call(*c, "PUT", "/keys/dir/", R"({"value":2})").status, 200);
  EXPECT_EQ(num(call(*c, "GET", "/keys/dir/").body, "value"), 2);
  EXPECT_EQ(call(*c, "GET", "/keys/dir").status, 404);
  ASSERT_EQ(call(*c, "PUT", "/keys/caf%C3%A9", R"({"value":3})").status, 200);
  EXPECT_EQ(call(*c, "GET", "/keys/caf%C3%A9").body.at("key").as_string(), "caf\xC3\xA9");

  r = call(*c, "PUT", "/keys/pgha/c1/members/n1", R"({"value":2,"ifRevision":0})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(num(r.body, "current"), 1);
  r = call(*c, "PUT", "/keys/pgha/c1/members/n1", R"({"value":2,"ifRevision":1})");
  EXPECT_EQ(r.status, 200);

  r = call(*c, "DELETE", "/keys/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body.at("code").as_string(), "not_found");
  r = call(*c, "DELETE", "/keys/pgha/c1/members/n1?ifRevision=1");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(num(r.body, "current"), 5);
  r = call(*c, "DELETE", "/keys/pgha/c1/members/n1?ifRevision=5");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.at("key").as_string(), "pgha/c1/members/n1");
  EXPECT_EQ(num(r.body, "revision"), 6);
  EXPECT_EQ(call(*c, "GET", "/keys/pgha/c1/members/n1").status, 404);
  r = call(*c, "DELETE", "/keys/dir/");
  EXPECT_EQ(r.status, 200);
  // With ifRevision, an absent key is a compare like any other.
  EXPECT_EQ(call(*c, "DELETE", "/keys/nope?ifRevision=3").status, 409);
}

TEST(KeysHttp, ListIsSortedPagedAndFilteredByPrefix) {
  TestServer ts;
  auto c = ts.client();
  for (const char* k : {"b/2", "a/1", "b/1", "b/3", "c"}) {
    ASSERT_EQ(call(*c, "PUT", std::string("/keys/") + k, R"({"value":0})").status, 200);
  }
  Reply all = call(*c, "GET", "/keys");
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(all.body.at("keys").as_array().size(), 5u);
  EXPECT_FALSE(all.body.at("more").as_bool());
  EXPECT_EQ(num(all.body, "revision"), 5);

  Reply page = call(*c, "GET", "/keys?prefix=b/&limit=2");
  ASSERT_EQ(page.status, 200);
  const auto& keys = page.body.at("keys").as_array();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].at("key").as_string(), "b/1");
  EXPECT_EQ(keys[1].at("key").as_string(), "b/2");
  EXPECT_TRUE(page.body.at("more").as_bool());
  EXPECT_TRUE(keys[0].as_object().contains("modRevision"));
  Reply next = call(*c, "GET", "/keys?prefix=b/&limit=2&after=b/2");
  ASSERT_EQ(next.body.at("keys").as_array().size(), 1u);
  EXPECT_EQ(next.body.at("keys").at(0).at("key").as_string(), "b/3");
  EXPECT_FALSE(next.body.at("more").as_bool());
  EXPECT_TRUE(call(*c, "GET", "/keys?prefix=zz").body.at("keys").as_array().empty());
}

TEST(KeysHttp, ConsistentKeyReadsUseTheBarrier) {
  TestServer ts;
  auto c = ts.client();
  ASSERT_EQ(call(*c, "PUT", "/keys/a", R"({"value":1})").status, 200);
  EXPECT_EQ(call(*c, "GET", "/keys/a").status, 200);
  EXPECT_EQ(call(*c, "GET", "/keys").status, 200);
  EXPECT_EQ(ts.svc.on_io([&] { return ts.svc.barrier_calls; }), 0u);
  EXPECT_EQ(call(*c, "GET", "/keys/a?consistent=true").status, 200);
  EXPECT_EQ(call(*c, "GET", "/keys?consistent=true").status, 200);
  EXPECT_EQ(ts.svc.on_io([&] { return ts.svc.barrier_calls; }), 2u);
  ts.svc.on_io([&] { ts.svc.barrier_error = Status(Code::kUnavailable, "no leader"); });
  EXPECT_EQ(call(*c, "GET", "/keys/a?consistent=true").status, 503);
  EXPECT_EQ(call(*c, "GET", "/keys?consistent=true").status, 503);
}

TEST(KeysHttp, LeasesGrantKeepaliveGetRevoke) {
  TestServer ts;
  auto c = ts.client();
  Reply g = call(*c, "POST", "/leases", R"({"ttl":10})");
  ASSERT_EQ(g.status, 201) << json::serialize(g.body);
  int64_t id = num(g.body, "id");
  EXPECT_GT(id, 0);
  EXPECT_EQ(num(g.body, "ttl"), 10);
  std::string base = "/leases/" + std::to_string(id);

  ASSERT_EQ(call(*c, "PUT", "/keys/pgha/c1/members/n1",
                 R"({"value":{"up":true},"lease":)" + std::to_string(id) + "}")
                .status,
            200);
  EXPECT_EQ(num(call(*c, "GET", "/keys/pgha/c1/members/n1").body, "lease"), id);
  Reply k = call(*c, "POST", base + "/keepalive");
  ASSERT_EQ(k.status, 200);
  EXPECT_EQ(num(k.body, "id"), id);
  EXPECT_EQ(num(k.body, "ttl"), 10);
  EXPECT_GT(num(k.body, "remainingMs"), 9000);
  EXPECT_LE(num(k.body, "remainingMs"), 10000);
  Reply info = call(*c, "GET", base);
  ASSERT_EQ(info.status, 200);
  EXPECT_EQ(info.body.at("keys").at(0).as_string(), "pgha/c1/members/n1");
  EXPECT_TRUE(info.body.as_object().contains("remainingMs"));

  Reply rv = call(*c, "DELETE", base);
  ASSERT_EQ(rv.status, 200);
  EXPECT_EQ(num(rv.body, "id"), id);
  EXPECT_EQ(call(*c, "GET", "/keys/pgha/c1/members/n1").status, 404);  // went with the lease
  for (const char* m : {"GET", "DELETE"}) {
    Reply gone = call(*c, m, base);
    EXPECT_EQ(gone.status, 404) << m;
    EXPECT_EQ(gone.body.at("code").as_string(), "not_found");
  }
  EXPECT_EQ(call(*c, "POST", base + "/keepalive").status, 404);
  // A put attached to an unknown lease is refused whole.
  Reply bad_lease = call(*c, "PUT", "/keys/x", R"({"value":1,"lease":424242})");
  EXPECT_EQ(bad_lease.status, 404);
  EXPECT_EQ(call(*c, "GET", "/keys/x").status, 404);
}

TEST(KeysHttp, FeedFiltersByPrefixAndHidesInternalEntries) {
  TestServer ts;
  auto c = ts.client();
  ASSERT_EQ(call(*c, "PUT", "/keys/a/1", R"({"value":1})").status, 200);       // 1
  ASSERT_EQ(call(*c, "POST", "/changes", R"({"data":"plain"})").status, 201);  // 2
  ASSERT_EQ(call(*c, "POST", "/leases", R"({"ttl":5})").status, 201);          // 3 internal
  ASSERT_EQ(call(*c, "PUT", "/keys/b/1", R"({"value":1})").status, 200);       // 4
  ASSERT_EQ(call(*c, "POST", "/txn", R"({"ops":[{"key":"b/2","value":1},{"key":"a/2","value":2}]})")
                .status,
            200);  // 5
  auto ids = [&](const std::string& target) {
    std::vector<int64_t> out;
    Reply r = call(*c, "GET", target);
    EXPECT_EQ(r.status, 200) << target;
    for (const auto& ch : r.body.at("changes").as_array()) out.push_back(num(ch, "_id"));
    return out;
  };
  EXPECT_EQ(ids("/changes"), (std::vector<int64_t>{1, 2, 4, 5}));
  EXPECT_EQ(ids("/changes?prefix=a/"), (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(ids("/changes?prefix=b/&since=4"), (std::vector<int64_t>{5}));
  EXPECT_EQ(ids("/changes?internal=true"), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  Reply internal = call(*c, "GET", "/changes?internal=true&since=2&limit=1");
  EXPECT_TRUE(internal.body.at("changes").at(0).at("internal").as_bool());
  EXPECT_EQ(call(*c, "GET", "/changes/3").status, 404);  // internal: not shown by id

  auto page = c->get_feed({0, 100, {}, 0, false, "a/", false});
  ASSERT_TRUE(page.is_ok());
  ASSERT_EQ(page->changes.size(), 2u);
  ASSERT_EQ(page->changes[0].ops.size(), 1u);
  EXPECT_EQ(page->changes[0].ops[0].key, "a/1");
  ASSERT_EQ(page->changes[1].ops.size(), 2u);
  EXPECT_EQ(page->changes[1].ops[1].key, "a/2");
}

TEST(KeysHttp, PrefixWatchersSeeLeaseRevokesDeleteTheirKeys) {
  TestServer ts;
  auto c = ts.client();
  auto lease = c->lease_grant(30);  // 1, internal
  ASSERT_TRUE(lease.is_ok());
  ASSERT_TRUE(c->put_key("m/n1", "1", std::nullopt, lease->id).is_ok());  // 2
  ASSERT_TRUE(c->put_key("other", "1").is_ok());                          // 3
  ASSERT_TRUE(c->lease_revoke(lease->id).is_ok());                        // 4, internal
  Reply r = call(*c, "GET", "/changes?prefix=m/");
  const auto& changes = r.body.at("changes").as_array();
  ASSERT_EQ(changes.size(), 2u) << json::serialize(r.body);
  EXPECT_EQ(num(changes[1], "_id"), 4);
  EXPECT_TRUE(changes[1].at("internal").as_bool());
  EXPECT_EQ(changes[1].at("key").as_string(), "m/n1");
  EXPECT_TRUE(changes[1].at("delete").as_bool());
  // Without a prefix internal entries stay hidden unless asked for.
  EXPECT_EQ(call(*c, "GET", "/changes").body.at("changes").as_array().size(), 2u);
  EXPECT_EQ(call(*c, "GET", "/changes?internal=true").body.at("changes").as_array().size(), 4u);
}

TEST(KeysHttp, LongPollWakesOnlyOnAMatchingPrefix) {
  TestServer ts;
  auto waiter = ts.client();
  auto start = Clock::now();
  auto fut = std::async(std::launch::async, [&] {
    return waiter->get_feed({0, 100, {}, 10, false, "pgha/c1/", false});
  });
  std::this_thread::sleep_for(200ms);
  auto writer = ts.client();
  ASSERT_TRUE(writer->put_key("pgha/c2/leader", "1").is_ok());
  ASSERT_TRUE(writer->post_change({"2", {}, 0}).is_ok());
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(fut.wait_for(0ms), std::future_status::timeout);  // not woken by those
  ASSERT_TRUE(writer->put_key("pgha/c1/leader", "3").is_ok());
  auto page = fut.get();
  ASSERT_TRUE(page.is_ok()) << page.status().to_string();
  ASSERT_EQ(page->changes.size(), 1u);
  EXPECT_EQ(page->changes[0].id, 3u);
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST(KeysHttp, SseStreamFiltersByPrefix) {
  TestServer ts;
  auto c = ts.client();
  ASSERT_TRUE(c->put_key("a/1", "1").is_ok());
  ASSERT_TRUE(c->put_key("b/1", "1").is_ok());
  RawConnection conn(ts.server->port());
  conn.send("GET /changes/stream?prefix=a/ HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string acc;
  conn.read_until("id: 1\n", acc);
  EXPECT_NE(acc.find("\"key\":\"a/1\""), std::string::npos);
  ASSERT_TRUE(c->put_key("b/2", "1").is_ok());
  ASSERT_TRUE(c->delete_key("a/1").is_ok());
  conn.read_until("id: 4\n", acc);
  EXPECT_EQ(acc.find("id: 2\n"), std::string::npos);
  EXPECT_EQ(acc.find("id: 3\n"), std::string::npos);
  EXPECT_NE(acc.find("\"key\":\"a/1\",\"delete\":true"), std::string::npos) << acc;
  ts.shutdown();
}

struct BadCase {
  const char* method;
  std::string target;
  std::string body;
  int status;
  const char* code;
  const char* content_type = "application/json";
};

std::string ops_json(size_t n) {
  std::string out = "[";
  for (size_t i = 0; i < n; i++)
    out += (i ? "," : "") + ("{\"key\":\"k" + std::to_string(i) + "\",\"value\":1}");
  return out + "]";
}

std::string compares_json(size_t n) {
  std::string out = "[";
  for (size_t i = 0; i < n; i++)
    out += (i ? "," : "") + ("{\"key\":\"k" + std::to_string(i) + "\",\"revision\":0}");
  return out + "]";
}

std::vector<BadCase> bad_cases() {
  const std::string long_key(kKeyBytesMax + 1, 'k');
  const char* kBad = "invalid_argument";
  return {
      // POST /changes with key fields
      {"POST", "/changes", R"({"key":"","data":1})", 400, kBad},
      {"POST", "/changes", "{\"key\":\"" + long_key + "\",\"data\":1}", 400, kBad},
      {"POST", "/changes", R"({"key":"a\u0000b","data":1})", 400, kBad},
      {"POST", "/changes", R"({"key":"\ud800","data":1})", 400, kBad},
      {"POST", "/changes", R"({"key":5,"data":1})", 400, kBad},
      {"POST", "/changes", R"({"ifRevision":1,"data":1})", 400, kBad},
      {"POST", "/changes", R"({"delete":true,"data":1})", 400, kBad},
      {"POST", "/changes", R"({"lease":7001,"data":1})", 400, kBad},
      {"POST", "/changes", R"({"key":"a","ifRevision":-1,"data":1})", 400, kBad},
      {"POST", "/changes", R"({"key":"a","ifRevision":"3","data":1})", 400, kBad},
      {"POST", "/changes", R"({"key":"a","ifRevision":1.5,"data":1})", 400, kBad},
      {"POST", "/changes", R"({"key":"a","delete":"yes"})", 400, kBad},
      {"POST", "/changes", R"({"key":"a","lease":-2,"data":1})", 400, kBad},
      {"POST", "/changes", R"({"key":"a","lease":"x","data":1})", 400, kBad},
      {"POST", "/changes", R"({"key":"a"})", 400, kBad},
      {"POST", "/changes", R"({"key":"a","delete":true,"lease":7001})", 400, kBad},
      {"POST", "/changes", R"({"key":"a","data":1,"type":-1})", 400, kBad},
      {"POST", "/changes/batch", R"([{"data":1},{"key":"a","data":1}])", 400, kBad},
      // POST /txn
      {"POST", "/txn", "[1]", 400, kBad},
      {"POST", "/txn", "{not json", 400, kBad},
      {"POST", "/txn", R"({"compares":[]})", 400, kBad},
      {"POST", "/txn", R"({"ops":[]})", 400, kBad},
      {"POST", "/txn", R"({"ops":{"key":"a","value":1}})", 400, kBad},
      {"POST", "/txn", R"({"ops":[{"key":"a","value":1}],"compares":{}})", 400, kBad},
      {"POST", "/txn", R"({"ops":[{"key":"a"}]})", 400, kBad},
      {"POST", "/txn", R"({"ops":[{"value":1}]})", 400, kBad},
      {"POST", "/txn", R"({"ops":[{"key":"a","value":1,"delete":true}]})", 400, kBad},
      {"POST", "/txn", R"({"ops":[{"key":"a","value":1},{"key":"a","delete":true}]})", 400, kBad},
      {"POST", "/txn", R"({"ops":[{"key":"","value":1}]})", 400, kBad},
      {"POST", "/txn", R"({"ops":[{"key":"a","value":1,"lease":-1}]})", 400, kBad},
      {"POST", "/txn", R"({"ops":[{"key":"a","delete":true,"lease":7001}]})", 400, kBad},
      {"POST", "/txn", R"({"ops":[{"key":"a","delete":1}]})", 400, kBad},
      {"POST", "/txn", R"({"ops":[{"key":"a","value":1}],"compares":[{"key":"a"}]})", 400, kBad},
      {"POST", "/txn", R"({"ops":[{"key":"a","value":1}],"compares":[{"key":"a","revision":-1}]})",
       400, kBad},
      {"POST", "/txn", R"({"ops":[{"key":"a","value":1}],"compares":[{"key":"","revision":0}]})",
       400, kBad},
      {"POST", "/txn", R"({"ops":[{"key":"a","value":1}],"tags":[1]})", 400, kBad},
      {"POST", "/txn", "{\"ops\":" + ops_json(129) + "}", 413, "too_large"},
      {"POST", "/txn",
       "{\"ops\":[{\"key\":\"a\",\"value\":1}],\"compares\":" + compares_json(129) + "}", 413,
       "too_large"},
      {"POST", "/txn", R"({"ops":[{"key":"a","value":1}]})", 415, "unsupported_media_type",
       "text/plain"},
      {"GET", "/txn", "", 405, "method_not_allowed", ""},
      // /keys
      {"PUT", "/keys/a", R"({"data":1})", 400, kBad},
      {"PUT", "/keys/a", "1", 400, kBad},
      {"PUT", "/keys/a", R"({"value":1,"ifRevision":-1})", 400, kBad},
      {"PUT", "/keys/a", R"({"value":1,"lease":true})", 400, kBad},
      {"PUT", "/keys/a", R"({"value":1})", 415, "unsupported_media_type", "text/plain"},
      {"PUT", "/keys/", R"({"value":1})", 400, kBad},
      {"PUT", "/keys/%00", R"({"value":1})", 400, kBad},
      {"PUT", "/keys/a%FFb", R"({"value":1})", 400, kBad},
      {"PUT", "/keys/%C0%AF", R"({"value":1})", 400, kBad},  // overlong '/'
      {"PUT", "/keys/" + long_key, R"({"value":1})", 400, kBad},
      {"GET", "/keys/", "", 400, kBad, ""},
      {"GET", "/keys/%ED%A0%80", "", 400, kBad, ""},  // a UTF-16 surrogate
      {"DELETE", "/keys/a?ifRevision=x", "", 400, kBad, ""},
      {"DELETE", "/keys/a?ifRevision=-1", "", 400, kBad, ""},
      {"GET", "/keys?limit=0", "", 400, kBad, ""},
      {"GET", "/keys?limit=10001", "", 400, kBad, ""},
      {"GET", "/keys?prefix=" + long_key, "", 400, kBad, ""},
      {"GET", "/keys?consistent=maybe", "", 400, kBad, ""},
      {"PATCH", "/keys/a", "", 405, "method_not_allowed", ""},
      {"POST", "/keys", "{}", 405, "method_not_allowed"},
      // /leases
      {"POST", "/leases", R"({"ttl":0})", 400, kBad},
      {"POST", "/leases", R"({"ttl":86401})", 400, kBad},
      {"POST", "/leases", R"({"ttl":"10"})", 400, kBad},
      {"POST", "/leases", R"({"ttl":1.5})", 400, kBad},
      {"POST", "/leases", R"({"ttl":-5})", 400, kBad},
      {"POST", "/leases", "{}", 400, kBad},
      {"POST", "/leases", R"({"ttl":10})", 415, "unsupported_media_type", "text/plain"},
      {"POST", "/leases/abc/keepalive", "", 400, kBad, ""},
      {"POST", "/leases/0/keepalive", "", 400, kBad, ""},
      {"GET", "/leases/-1", "", 400, kBad, ""},
      {"GET", "/leases/99", "", 404, "not_found", ""},
      {"DELETE", "/leases/99", "", 404, "not_found", ""},
      {"POST", "/leases/99/keepalive", "", 404, "not_found", ""},
      {"GET", "/leases", "", 405, "method_not_allowed", ""},
      {"GET", "/leases/1/keepalive", "", 405, "method_not_allowed", ""},
      {"PUT", "/leases/1", "{}", 405, "method_not_allowed"},
      // feed filters
      {"GET", "/changes?prefix=" + long_key, "", 400, kBad, ""},
      {"GET", "/changes?internal=perhaps", "", 400, kBad, ""},
      {"GET", "/changes/stream?internal=perhaps", "", 400, kBad, ""},
  };
}

TEST(KeysHttp, EveryBadInputIsRefusedBeforeTheServiceSeesIt) {
  TestServer ts;
  auto c = ts.client();
  ASSERT_EQ(call(*c, "PUT", "/keys/a", R"({"value":"kept"})").status, 200);
  for (const BadCase& bc : bad_cases()) {
    SCOPED_TRACE(std::string(bc.method) + " " + bc.target.substr(0, 80) + " " +
                 bc.body.substr(0, 80));
    Reply r = call(*c, bc.method, bc.target, bc.body, bc.content_type);
    EXPECT_EQ(r.status, bc.status) << json::serialize(r.body);
    ASSERT_TRUE(r.body.is_object());
    EXPECT_EQ(r.body.at("code").as_string(), bc.code);
    EXPECT_FALSE(r.body.at("error").as_string().empty());
  }
  // Nothing half-applied: only the first PUT reached the Service.
  EXPECT_EQ(ts.svc.on_io([&] { return ts.svc.txn_calls; }), 1u);
  EXPECT_EQ(num(call(*c, "GET", "/changes").body, "lastIndex"), 1);
  EXPECT_EQ(call(*c, "GET", "/keys/a").body.at("value").as_string(), "kept");
}

TEST(KeysHttp, ErrorsSayWhatIsWrong) {
  TestServer ts;
  auto c = ts.client();
  auto message = [&](const char* method, const std::string& target, const std::string& body) {
    return std::string(call(*c, method, target, body).body.at("error").as_string());
  };
  EXPECT_NE(message("POST", "/changes/batch", R"([{"key":"a","data":1}])").find("batch"),
            std::string::npos);
  EXPECT_NE(message("POST", "/changes", R"({"ifRevision":1,"data":1})").find("need \"key\""),
            std::string::npos);
  EXPECT_NE(message("PUT", "/keys/a%00", R"({"value":1})").find("NUL"), std::string::npos);
  EXPECT_NE(message("PUT", "/keys/a%FF", R"({"value":1})").find("UTF-8"), std::string::npos);
  EXPECT_NE(message("PUT", "/keys/" + std::string(2000, 'k'), R"({"value":1})").find("1024"),
            std::string::npos);
  EXPECT_NE(message("POST", "/txn", R"({"ops":[{"key":"a","value":1},{"key":"a","value":2}]})")
                .find("more than once"),
            std::string::npos);
  EXPECT_NE(message("POST", "/leases", R"({"ttl":0})").find("from 1 to 86400"), std::string::npos);
}

TEST(KeysHttp, ServiceErrorsOnWritesMapToHonestStatuses) {
  TestServer ts;
  auto c = ts.client();
  ts.svc.on_io([&] { ts.svc.txn_error = Status(Code::kTimeout, "no answer from the leader"); });
  Reply r = call(*c, "PUT", "/keys/a", R"({"value":1})");
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.body.at("code").as_string(), "outcome_unknown");
  ts.svc.on_io([&] { ts.svc.txn_error = Status(Code::kUnavailable, "no leader"); });
  EXPECT_EQ(call(*c, "POST", "/txn", R"({"ops":[{"key":"a","value":1}]})").status, 503);
  EXPECT_EQ(call(*c, "POST", "/changes", R"({"key":"a","data":1})").status, 503);
}

}  // namespace
}  // namespace api::test
