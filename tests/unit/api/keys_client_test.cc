// The client library's typed calls for keys, transactions and leases, its
// prefix watch, and LeaseKeeper, against a real HttpServer over the
// FakeService test double.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>

#include "tests/unit/api/test_server.h"

namespace api::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(KeysClient, PutGetDeleteWithCompareAndSet) {
  TestServer ts;
  auto c = ts.client();
  auto put = c->put_key("pgha/c1/leader", R"({"node":"n1"})", 0);
  ASSERT_TRUE(put.is_ok()) << put.status().to_string();
  EXPECT_TRUE(put->succeeded);
  EXPECT_EQ(put->id, 1u);
  EXPECT_GT(put->ts_ns, 0u);

  auto kv = c->get_key("pgha/c1/leader");
  ASSERT_TRUE(kv.is_ok());
  EXPECT_EQ(kv->key, "pgha/c1/leader");
  EXPECT_EQ(kv->value_json, R"({"node":"n1"})");
  EXPECT_EQ(kv->mod_revision, 1u);
  EXPECT_EQ(kv->create_revision, 1u);
  EXPECT_EQ(kv->version, 1u);
  EXPECT_TRUE(c->get_key("pgha/c1/leader", true).is_ok());

  // A lost race is a value, not an error, and carries the current revision.
  auto lost = c->put_key("pgha/c1/leader", R"({"node":"n2"})", 0);
  ASSERT_TRUE(lost.is_ok()) << lost.status().to_string();
  EXPECT_FALSE(lost->succeeded);
  ASSERT_EQ(lost->current.size(), 1u);
  EXPECT_EQ(lost->current[0].key, "pgha/c1/leader");
  EXPECT_EQ(lost->current[0].mod_revision, 1u);
  auto won = c->put_key("pgha/c1/leader", R"({"node":"n2"})", lost->current[0].mod_revision);
  ASSERT_TRUE(won.is_ok());
  EXPECT_TRUE(won->succeeded);
  EXPECT_EQ(won->id, 2u);

  auto del_lost = c->delete_key("pgha/c1/leader", 1);
  ASSERT_TRUE(del_lost.is_ok());
  EXPECT_FALSE(del_lost->succeeded);
  EXPECT_EQ(del_lost->current[0].mod_revision, 2u);
  auto del = c->delete_key("pgha/c1/leader", 2);
  ASSERT_TRUE(del.is_ok());
  EXPECT_TRUE(del->succeeded);
  EXPECT_EQ(c->get_key("pgha/c1/leader").status().code(), Code::kNotFound);
  EXPECT_EQ(c->delete_key("pgha/c1/leader").status().code(), Code::kNotFound);

  // Keys that need encoding in a path survive the round trip.
  for (std::string key : {"a b", "x?y#z", "100%", "dir/", "caf\xC3\xA9", "p+q"}) {
    ASSERT_TRUE(c->put_key(key, "1").is_ok()) << key;
    auto got = c->get_key(key);
    ASSERT_TRUE(got.is_ok()) << key << ": " << got.status().to_string();
    EXPECT_EQ(got->key, key);
  }
  // Bad input is refused before sending, with the server's message.
  EXPECT_EQ(c->put_key("", "1").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(c->put_key("a", "{bad").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(c->get_key(std::string("a\0b", 3)).status().code(), Code::kInvalidArgument);
  // A put attached to an unknown lease: 404 from the node.
  EXPECT_EQ(c->put_key("a", "1", std::nullopt, 999).status().code(), Code::kNotFound);
}

TEST(KeysClient, ListPagesThroughAPrefix) {
  TestServer ts;
  auto c = ts.client();
  for (int i = 0; i < 7; i++) ASSERT_TRUE(c->put_key("m/" + std::to_string(i), "0").is_ok());
  ASSERT_TRUE(c->put_key("n/0", "0").is_ok());
  std::vector<std::string> seen;
  std::string after;
  for (int round = 0; round < 10; round++) {
    auto page = c->list_keys("m/", after, 3, round == 0);
    ASSERT_TRUE(page.is_ok()) << page.status().to_string();
    for (const auto& kv : page->keys) seen.push_back(kv.key);
    EXPECT_EQ(page->revision, 8u);
    if (!page->more) break;
    after = page->keys.back().key;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"m/0", "m/1", "m/2", "m/3", "m/4", "m/5", "m/6"}));
  EXPECT_EQ(ts.svc.on_io([&] { return ts.svc.barrier_calls; }), 1u);
  EXPECT_EQ(c->list_keys("m/", "", 0).status().code(), Code::kInvalidArgument);
}

TEST(KeysClient, TxnSucceedsOrReportsCurrentRevisions) {
  TestServer ts;
  auto c = ts.client();
  TxnRequest req;
  req.change = {R"({"why":"bootstrap"})", {"pgha"}, 0};
  req.compares = {{"d", 0}, {"e", 0}};
  req.ops = {{"d", false, R"({"gen":1})", 0}, {"e", false, "[1,2]", 0}};
  auto ok = c->txn(req);
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_TRUE(ok->succeeded);
  EXPECT_EQ(ok->id, 1u);
  auto again = c->txn(req);
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_FALSE(again->succeeded);
  ASSERT_EQ(again->current.size(), 2u);
  EXPECT_EQ(again->current[0].key, "d");
  EXPECT_EQ(again->current[0].mod_revision, 1u);
  EXPECT_EQ(again->current[1].mod_revision, 1u);

  auto change = c->get_change(1);
  ASSERT_TRUE(change.is_ok());
  EXPECT_EQ(change->data_json, R"({"why":"bootstrap"})");
  ASSERT_EQ(change->ops.size(), 2u);
  EXPECT_EQ(change->ops[1].key, "e");

  TxnRequest bad;
  bad.ops = {{"x", false, "{not json", 0}};
  EXPECT_EQ(c->txn(bad).status().code(), Code::kInvalidArgument);
  TxnRequest empty;
  EXPECT_EQ(c->txn(empty).status().code(), Code::kInvalidArgument);  // the server says so
}

TEST(KeysClient, LeaseCalls) {
  TestServer ts;
  auto c = ts.client();
  auto lease = c->lease_grant(30);
  ASSERT_TRUE(lease.is_ok()) << lease.status().to_string();
  EXPECT_GT(lease->id, 0u);
  EXPECT_EQ(lease->ttl_seconds, 30u);
  ASSERT_TRUE(c->put_key("eph", "1", std::nullopt, lease->id).is_ok());
  auto kept = c->lease_keepalive(lease->id);
  ASSERT_TRUE(kept.is_ok());
  EXPECT_GT(kept->remaining_ms, 29000);
  auto info = c->lease_get(lease->id);
  ASSERT_TRUE(info.is_ok());
  EXPECT_EQ(info->keys, (std::vector<std::string>{"eph"}));
  EXPECT_EQ(c->get_key("eph")->lease, lease->id);
  EXPECT_TRUE(c->lease_revoke(lease->id).is_ok());
  EXPECT_EQ(c->get_key("eph").status().code(), Code::kNotFound);
  EXPECT_EQ(c->lease_get(lease->id).status().code(), Code::kNotFound);
  EXPECT_EQ(c->lease_keepalive(lease->id).status().code(), Code::kNotFound);
  EXPECT_EQ(c->lease_revoke(lease->id).code(), Code::kNotFound);
  EXPECT_EQ(c->lease_grant(0).status().code(), Code::kInvalidArgument);
}

TEST(KeysClient, WatchFollowsAPrefix) {
  TestServer ts;
  auto writer = ts.client();
  ASSERT_TRUE(writer->put_key("w/a", "1").is_ok());
  ASSERT_TRUE(writer->put_key("other", "1").is_ok());
  auto feeder = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(200ms);
    ASSERT_TRUE(writer->put_key("other", "2").is_ok());
    ASSERT_TRUE(writer->delete_key("w/a").is_ok());
  });
  auto watcher = ts.client();
  WatchOptions w;
  w.block_seconds = 5;
  w.prefix = "w/";
  std::vector<std::pair<uint64_t, bool>> seen;  // id, delete
  Status s = watcher->watch(w, [&](const Change& ch) {
    EXPECT_EQ(ch.ops.size(), 1u);
    seen.emplace_back(ch.id, !ch.ops.empty() && ch.ops[0].del);
    return seen.size() < 2;
  });
  feeder.get();
  EXPECT_TRUE(s.is_ok());
  EXPECT_EQ(seen, (std::vector<std::pair<uint64_t, bool>>{{1, false}, {4, true}}));
}

TEST(LeaseKeeper, RenewsEveryThirdOfTheTtlAndStopsOnDestruction) {
  TestServer ts;
  auto c = ts.client();
  auto lease = c->lease_grant(1);
  ASSERT_TRUE(lease.is_ok());
  ASSERT_TRUE(c->put_key("held", "1", std::nullopt, lease->id).is_ok());
  std::atomic<int> lost_calls{0};
  std::atomic<int> renewed_calls{0};
  LeaseKeeper::Options opts;
  opts.client.endpoints = {ts.endpoint()};
  opts.lease_id = lease->id;
  opts.ttl_seconds = 1;
  opts.on_lost = [&](const Status&) { lost_calls++; };
  opts.on_renewed = [&](const LeaseInfo& l) {
    EXPECT_EQ(l.id, lease->id);
    renewed_calls++;
  };
  auto keeper = LeaseKeeper::start(opts);
  ASSERT_TRUE(keeper.is_ok()) << keeper.status().to_string();
  std::this_thread::sleep_for(2500ms);  // 2.5 ttls: without renewal the key would be gone
  EXPECT_TRUE(c->get_key("held").is_ok());
  EXPECT_GE((*keeper)->renewals(), 6u);  // at 0, 1/3, 2/3, ... of each ttl
  EXPECT_LE((*keeper)->renewals(), 10u);
  EXPECT_EQ(renewed_calls.load(), static_cast<int>((*keeper)->renewals()));
  EXPECT_FALSE((*keeper)->lost());
  keeper.value().reset();  // stops renewing
  uint64_t calls = ts.svc.on_io([&] { return ts.svc.keepalive_calls; });
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(ts.svc.on_io([&] { return ts.svc.keepalive_calls; }), calls);
  EXPECT_EQ(c->get_key("held").status().code(), Code::kNotFound);  // expired
  EXPECT_EQ(lost_calls.load(), 0);
}

TEST(LeaseKeeper, ReportsLossOnceWhenTheLeaseIsRevoked) {
  TestServer ts;
  auto c = ts.client();
  auto lease = c->lease_grant(3);
  ASSERT_TRUE(lease.is_ok());
  std::promise<Status> lost;
  std::atomic<int> lost_calls{0};
  LeaseKeeper::Options opts;
  opts.client.endpoints = {ts.endpoint()};
  opts.lease_id = lease->id;
  opts.ttl_seconds = 3;
  opts.on_lost = [&](const Status& s) {
    if (lost_calls++ == 0) lost.set_value(s);
  };
  auto keeper = LeaseKeeper::start(opts);
  ASSERT_TRUE(keeper.is_ok());
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(c->lease_revoke(lease->id).is_ok());
  auto fut = lost.get_future();
  ASSERT_EQ(fut.wait_for(3s), std::future_status::ready);  // next renewal within ttl/3
  EXPECT_EQ(fut.get().code(), Code::kNotFound);
  EXPECT_TRUE((*keeper)->lost());
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(lost_calls.load(), 1);
}

TEST(LeaseKeeper, ReportsLossWhenNoEndpointAnswersWithinTheTtl) {
  uint16_t dead_port;
  {
    TestServer dead;
    dead_port = dead.server->port();
  }
  std::promise<Status> lost;
  LeaseKeeper::Options opts;
  opts.client.endpoints = {"127.0.0.1:" + std::to_string(dead_port)};
  opts.lease_id = 5;
  opts.ttl_seconds = 1;
  opts.on_lost = [&](const Status& s) { lost.set_value(s); };
  auto start = Clock::now();
  auto keeper = LeaseKeeper::start(opts);
  ASSERT_TRUE(keeper.is_ok());
  auto fut = lost.get_future();
  ASSERT_EQ(fut.wait_for(3s), std::future_status::ready);
  EXPECT_EQ(fut.get().code(), Code::kTimeout);
  EXPECT_GE(Clock::now() - start, 900ms);
}

TEST(LeaseKeeper, RevokesOnStopWhenAsked) {
  TestServer ts;
  auto c = ts.client();
  auto lease = c->lease_grant(30);
  ASSERT_TRUE(lease.is_ok());
  ASSERT_TRUE(c->put_key("leader", "1", 0, lease->id).is_ok());
  LeaseKeeper::Options opts;
  opts.client.endpoints = {ts.endpoint()};
  opts.lease_id = lease->id;
  opts.ttl_seconds = 30;
  opts.revoke_on_stop = true;
  auto keeper = LeaseKeeper::start(opts);
  ASSERT_TRUE(keeper.is_ok());
  (*keeper)->stop();
  EXPECT_EQ(c->get_key("leader").status().code(), Code::kNotFound);
  EXPECT_EQ(c->lease_get(lease->id).status().code(), Code::kNotFound);

  opts.lease_id = 0;
  EXPECT_EQ(LeaseKeeper::start(opts).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace api::test
