// Named cursors, checkpoint records and the FeedReader (issue 10): their JSON
// as pure functions, and the HTTP routes and client over the FakeService.
// Replication, CAS across nodes and failover are in
// tests/integration/cursor_test.cc.
#include <gtest/gtest.h>

#include "api/cursors.h"
#include "api/feed_reader.h"
#include "tests/unit/api/test_server.h"

namespace api::test {
namespace {

ChangeInput change(std::string data, std::vector<std::string> tags = {}) {
  return ChangeInput{std::move(data), std::move(tags), 0};
}

TEST(CursorJson, NamesAndReservedPrefixes) {
  EXPECT_TRUE(validate_cursor_name("indexer-1.v2_a").is_ok());
  EXPECT_FALSE(validate_cursor_name("").is_ok());
  EXPECT_FALSE(validate_cursor_name("a/b").is_ok());
  EXPECT_FALSE(validate_cursor_name("a b").is_ok());
  EXPECT_FALSE(validate_cursor_name("a\"b").is_ok());
  EXPECT_FALSE(validate_cursor_name(std::string(kCursorNameBytesMax + 1, 'a')).is_ok());
  EXPECT_TRUE(validate_cursor_name(std::string(kCursorNameBytesMax, 'a')).is_ok());
  EXPECT_EQ(cursor_key("c1"), "_cursors/c1");
  EXPECT_EQ(reserved_prefix_of("_cursors/c1"), kCursorKeyPrefix);
  EXPECT_EQ(reserved_prefix_of("_checkpoints/"), kCheckpointKeyPrefix);
  EXPECT_EQ(reserved_prefix_of("_config/request_id_window"), kConfigKeyPrefix);
  EXPECT_FALSE(reserved_prefix_of("_cursors"));
  EXPECT_FALSE(reserved_prefix_of("cursors/c1"));
}

TEST(CursorJson, ValueRoundTripAndBadValues) {
  KeyValue kv{"_cursors/c1", cursor_value_json(42, 7), 3, 9, 2, 0};
  EXPECT_EQ(kv.value_json, R"({"index":42,"updated":7})");
  auto c = cursor_from_key(kv);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->name, "c1");
  EXPECT_EQ(c->index, 42u);
  EXPECT_EQ(c->updated_ns, 7u);
  EXPECT_EQ(c->revision, 9u);
  kv.value_json = R"({"index":-1})";
  EXPECT_EQ(cursor_from_key(kv).status().code(), Code::kCorruption);
  kv.value_json = "[1]";
  EXPECT_EQ(cursor_from_key(kv).status().code(), Code::kCorruption);

  auto cp = checkpoint_from_value(checkpoint_value_json({5, "s3://b/k", {"sum"}}), 11);
  ASSERT_TRUE(cp.is_ok());
  EXPECT_EQ(cp->id, 11u);
  EXPECT_EQ(cp->covers, 5u);
  EXPECT_EQ(cp->location, "s3://b/k");
  EXPECT_EQ(cp->tags, std::vector<std::string>{"sum"});
}

TEST(CursorJson, RequestBodies) {
  auto w = parse_cursor_write_body(R"({"index":5,"ifRevision":3,"force":true})");
  ASSERT_TRUE(w.is_ok());
  EXPECT_EQ(w->index, 5u);
  EXPECT_EQ(w->if_revision, 3u);
  EXPECT_TRUE(w->force);
  auto back = parse_cursor_write_body(render_cursor_write_body(*w));
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back->index, 5u);
  for (const char* bad : {"", "5", "{}", R"({"index":-1})", R"({"index":"5"})",
                          R"({"index":1,"force":1})", R"({"index":1,"ifRevision":1.5})"}) {
    EXPECT_EQ(parse_cursor_write_body(bad).status().code(), Code::kInvalidArgument) << bad;
  }
  auto in = parse_checkpoint_body(R"({"covers":9,"location":"file:///x","tags":["a"]})");
  ASSERT_TRUE(in.is_ok());
  EXPECT_EQ(in->covers, 9u);
  for (const char* bad :
       {"{}", R"({"covers":1})", R"({"covers":1,"location":""})", R"({"covers":-1,"location":"x"})",
        R"({"covers":1,"location":"x","tags":[""]})", R"({"covers":1,"location":3})"}) {
    EXPECT_EQ(parse_checkpoint_body(bad).status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST(CursorHttp, SetGetListDeleteAndNeverBackwards) {
  TestServer ts;
  auto c = ts.client();
  for (int i = 0; i < 10; i++) ASSERT_TRUE(c->post_change(change(std::to_string(i))).is_ok());
  auto set = c->set_cursor("c1", {4, std::nullopt, false});
  ASSERT_TRUE(set.is_ok()) << set.status().to_string();
  EXPECT_EQ(set->index, 4u);
  uint64_t rev = set->revision;
  EXPECT_GT(rev, 10u);
  auto got = c->get_cursor("c1");
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->index, 4u);
  EXPECT_EQ(got->revision, rev);
  EXPECT_EQ(got->last_index, rev);
  // Backwards: 409 cursor_behind, naming where it is.
  auto r = c->request("PUT", "/cursors/c1", R"({"index":3})");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 409) << r->body;
  EXPECT_NE(r->body.find("\"code\":\"cursor_behind\""), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("\"index\":4"), std::string::npos) << r->body;
  EXPECT_EQ(c->set_cursor("c1", {3, std::nullopt, false}).status().code(), Code::kConflict);
  // The same index again writes nothing.
  uint64_t txns = ts.svc.on_io([&] { return ts.svc.txn_calls; });
  ASSERT_TRUE(c->set_cursor("c1", {4, std::nullopt, false}).is_ok());
  EXPECT_EQ(ts.svc.on_io([&] { return ts.svc.txn_calls; }), txns);
  // Forced backwards; then a stale ifRevision loses.
  auto forced = c->set_cursor("c1", {2, std::nullopt, true});
  ASSERT_TRUE(forced.is_ok());
  EXPECT_EQ(forced->index, 2u);
  r = c->request("PUT", "/cursors/c1", R"({"index":8,"ifRevision":)" + std::to_string(rev) + "}");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(r->body.find("revision_mismatch"), std::string::npos) << r->body;
  auto cas = c->set_cursor("c1", {8, forced->revision, false});
  ASSERT_TRUE(cas.is_ok()) << cas.status().to_string();
  // ifRevision 0: create only.
  EXPECT_EQ(c->set_cursor("c1", {9, 0, false}).status().code(), Code::kConflict);
  ASSERT_TRUE(c->set_cursor("c2", {1, 0, false}).is_ok());

  auto list = c->list_cursors();
  ASSERT_TRUE(list.is_ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "c1");
  EXPECT_EQ((*list)[0].index, 8u);
  EXPECT_EQ((*list)[1].name, "c2");

  auto metrics = c->request("GET", "/metrics");
  ASSERT_TRUE(metrics.is_ok());
  uint64_t last = ts.svc.on_io([&] { return ts.svc.diagnostics().applied_index; });
  EXPECT_NE(metrics->body.find("changeagent_cursor_lag{cursor=\"c1\"} " + std::to_string(last - 8)),
            std::string::npos)
      << metrics->body;

  EXPECT_EQ(c->delete_cursor("c2", 1).code(), Code::kConflict);
  ASSERT_TRUE(c->delete_cursor("c2").is_ok());
  EXPECT_EQ(c->get_cursor("c2").status().code(), Code::kNotFound);
  EXPECT_EQ(c->delete_cursor("c2").code(), Code::kNotFound);
}

TEST(CursorHttp, BadInputAndReservedKeys) {
  TestServer ts;
  auto c = ts.client();
  ASSERT_TRUE(c->post_change(change("1")).is_ok());
  uint64_t txns = ts.svc.on_io([&] { return ts.svc.txn_calls; });
  for (auto [method, target, body] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"PUT", "/cursors/a%2Fb", R"({"index":1})"},
           {"PUT", "/cursors/c", R"({"index":"1"})"},
           {"PUT", "/cursors/c", R"({"index":1,"ifRevision":2})"},
           {"PUT", "/keys/_cursors/c", R"({"value":{"index":1}})"},
           {"POST", "/changes", R"({"key":"_checkpoints/x","data":1})"},
           {"POST", "/txn", R"({"ops":[{"key":"_config/x","value":1}]})"},
           {"POST", "/changes", R"({"data":1,"type":2147483648})"},
           {"POST", "/changes/checkpoints", R"({"covers":1})"},
           {"GET", "/changes/checkpoints/latest?tag=a&tag=b", ""},
       }) {
    std::string t = target;
    if (method == "PUT" && body.find("ifRevision") != std::string::npos) t += "?ifRevision=3";
    auto r = c->request(method, t, body);
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ(r->status, 400) << method << " " << t << " " << body << " -> " << r->body;
  }
  EXPECT_EQ(ts.svc.on_io([&] { return ts.svc.txn_calls; }), txns);
  auto r = c->request("POST", "/cursors/c", R"({"index":1})");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 405);
  // Reading a reserved key through /keys is fine.
  ASSERT_TRUE(c->set_cursor("c", {1, std::nullopt, false}).is_ok());
  auto kv = c->get_key("_cursors/c");
  ASSERT_TRUE(kv.is_ok());
  EXPECT_EQ(kv->value_json.find("{\"index\":1,"), 0u) << kv->value_json;
}

TEST(CursorHttp, CursorPastTheEndIsRefusedAfterAShortWait) {
  TestServer ts;
  auto c = ts.client();
  ASSERT_TRUE(c->post_change(change("1")).is_ok());
  auto r = c->set_cursor("c", {100, std::nullopt, false});
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().to_string();
  EXPECT_EQ(c->get_cursor("c").status().code(), Code::kNotFound);
}

TEST(CheckpointHttp, LatestPerTagAndOfAnyTag) {
  TestServer ts;
  auto c = ts.client();
  for (int i = 0; i < 5; i++) ASSERT_TRUE(c->post_change(change(std::to_string(i))).is_ok());
  EXPECT_EQ(c->latest_checkpoint().status().code(), Code::kNotFound);
  auto a = c->post_checkpoint({3, "file:///a", {"sum"}});
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  auto b = c->post_checkpoint({5, "file:///b", {"count", "count"}});
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  auto sum = c->latest_checkpoint("sum");
  ASSERT_TRUE(sum.is_ok());
  EXPECT_EQ(sum->id, a->id);
  EXPECT_EQ(sum->covers, 3u);
  EXPECT_EQ(sum->location, "file:///a");
  EXPECT_GT(sum->ts_ns, 0u);
  auto any = c->latest_checkpoint();
  ASSERT_TRUE(any.is_ok());
  EXPECT_EQ(any->id, b->id);
  EXPECT_EQ(c->latest_checkpoint("nope").status().code(), Code::kNotFound);
  // Covering the future is refused.
  EXPECT_EQ(c->post_checkpoint({1000, "file:///c", {}}).status().code(), Code::kInvalidArgument);
}

TEST(ConfigHttp, RequestIdWindowIsAReplicatedKey) {
  TestServer ts;
  auto c = ts.client();
  auto r = c->request("GET", "/config/request_id_window");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("\"seconds\":600,\"default\":true"), std::string::npos) << r->body;
  for (const char* bad : {"{}", R"({"seconds":0})", R"({"seconds":-1})", R"({"seconds":"60"})",
                          R"({"seconds":604801})", "60"}) {
    r = c->request("PUT", "/config/request_id_window", bad);
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ(r->status, 400) << bad << " -> " << r->body;
  }
  r = c->request("PUT", "/config/request_id_window", R"({"seconds":30})");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 200) << r->body;
  auto kv = c->get_key(std::string(kRequestIdWindowConfigKey));
  ASSERT_TRUE(kv.is_ok());
  EXPECT_EQ(kv->value_json, "30");
  r = c->request("GET", "/config/request_id_window");
  EXPECT_NE(r->body.find("\"seconds\":30,\"default\":false"), std::string::npos) << r->body;
  // Only this route writes it.
  EXPECT_EQ(c->put_key(std::string(kRequestIdWindowConfigKey), "5").status().code(),
            Code::kInvalidArgument);
  r = c->request("DELETE", "/config/request_id_window");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(c->get_key(std::string(kRequestIdWindowConfigKey)).status().code(), Code::kNotFound);
  r = c->request("GET", "/config/other");
  EXPECT_EQ(r->status, 404);
}

TEST(FeedReader, ResumesFromTheCursorWithNoGapNoDuplicate) {
  TestServer ts;
  auto c = ts.client();
  for (int i = 1; i <= 20; i++) ASSERT_TRUE(c->post_change(change(std::to_string(i))).is_ok());
  FeedReaderOptions o;
  o.client.endpoints = {ts.endpoint()};
  o.cursor = "r";
  o.limit = 3;
  o.block_seconds = 0;
  o.commit_every_changes = 4;
  std::vector<uint64_t> seen;
  {
    auto reader = FeedReader::open(o);
    ASSERT_TRUE(reader.is_ok()) << reader.status().to_string();
    FeedReader::Handlers h;
    h.on_change = [&](const Change& ch) {
      seen.push_back(ch.id);
      return seen.size() < 10;
    };
    ASSERT_TRUE((*reader)->run(h).is_ok());
    EXPECT_EQ((*reader)->committed(), 10u);
    EXPECT_GE((*reader)->lag(), 10u);
  }
  EXPECT_EQ(c->get_cursor("r")->index, 10u);
  auto reader = FeedReader::open(o);
  ASSERT_TRUE(reader.is_ok());
  FeedReader::Handlers h;
  h.on_change = [&](const Change& ch) {
    seen.push_back(ch.id);
    return true;
  };
  FeedReader& r = **reader;
  h.should_stop = [&] { return r.caught_up(); };
  ASSERT_TRUE(r.run(h).is_ok());
  ASSERT_EQ(seen.size(), 20u);
  for (size_t i = 0; i < seen.size(); i++) EXPECT_EQ(seen[i], i + 1);
  EXPECT_EQ(r.lag(), 0u);  // the last round read to the end
  EXPECT_GE(c->get_cursor("r")->index, 20u);
}

TEST(FeedReader, CompactedPositionAsksForASnapshot) {
  TestServer ts;
  auto c = ts.client();
  for (int i = 1; i <= 10; i++) ASSERT_TRUE(c->post_change(change(std::to_string(i))).is_ok());
  ts.svc.on_io([&] {
    ts.svc.first_index = 6;
    return 0;
  });
  FeedReaderOptions o;
  o.client.endpoints = {ts.endpoint()};
  o.block_seconds = 0;
  std::vector<uint64_t> seen;
  uint64_t asked = 0;
  auto reader = FeedReader::open(o);
  ASSERT_TRUE(reader.is_ok());
  FeedReader& r = **reader;
  FeedReader::Handlers h;
  h.on_change = [&](const Change& ch) {
    seen.push_back(ch.id);
    return true;
  };
  h.should_stop = [&] { return r.caught_up(); };
  // Without a snapshot handler: kCompacted, and nothing delivered.
  EXPECT_EQ(r.run(h).code(), Code::kCompacted);
  EXPECT_TRUE(seen.empty());
  h.on_needs_snapshot = [&](uint64_t first) -> std::optional<uint64_t> {
    asked = first;
    return first + 1;  // a snapshot covering up to 7
  };
  ASSERT_TRUE(r.run(h).is_ok());
  EXPECT_EQ(asked, 6u);
  EXPECT_EQ(seen, (std::vector<uint64_t>{8, 9, 10}));
}

}  // namespace
}  // namespace api::test
