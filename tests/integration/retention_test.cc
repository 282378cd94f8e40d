// Retention (issue 8): the log is trimmed under write load on every node,
// a consumer that fell behind gets 410 {"code":"compacted","firstIndex"}
// from GET /changes and from the SSE stream (never a silent skip) and
// resumes from firstIndex; keys and leases survive the purge and a full
// restart; a named consumer cursor holds the log back; a follower that was
// down through a purge catches up by a streamed snapshot.
#include <set>

#include "api/change_json.h"
#include "tests/integration/test_util.h"

namespace integration {
namespace {

namespace json = boost::json;

constexpr uint64_t kMinRecords = 2000;
constexpr Millis kPurgeTimeout{30000};

ClusterOptions retention_options(std::vector<std::string> more = {}) {
  ClusterOptions o;
  o.extra_args = {"--retention-min-records=" + std::to_string(kMinRecords)};
  o.extra_args.insert(o.extra_args.end(), more.begin(), more.end());
  return o;
}

// Posts `batches` batches of `per_batch` small changes; returns the last _id.
Result<uint64_t> write_changes(api::Client& c, int batches, int per_batch, const std::string& tag) {
  uint64_t last = 0;
  for (int b = 0; b < batches; b++) {
    std::vector<api::ChangeInput> in;
    for (int k = 0; k < per_batch; k++) {
      in.push_back(
          change_of("{\"b\":" + std::to_string(b) + ",\"k\":" + std::to_string(k) + "}", {tag}));
    }
    auto r = c.post_changes(in);
    if (!r.is_ok()) return r.status();
    last = r->back().id;
  }
  return last;
}

// The first index node i reports, from /diagnostics/raft.
uint64_t first_index_of(Cluster& c, size_t i) {
  auto d = c.client(i)->diagnostics();
  return d.is_ok() ? d->first_index : 0;
}

// Waits until every running node's first index is above `floor`.
bool wait_purged_past(Cluster& c, uint64_t floor, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    bool all = true;
    for (size_t i = 0; i < c.size(); i++) all = all && first_index_of(c, i) > floor;
    if (all) return true;
    std::this_thread::sleep_for(Millis(100));
  }
  return false;
}

// {"firstIndex": N} of a 410 body, or 0.
uint64_t first_index_in(const std::string& body) {
  auto v = parse_json(body);
  if (!v || !v->is_object()) return 0;
  return as_u64(v->as_object().if_contains("firstIndex")).value_or(0);
}

class RetentionTest : public ClusterTest {};

TEST_F(RetentionTest, SlowConsumerGets410AndResumesFromFirstIndex) {
  ASSERT_NO_FATAL_FAILURE(start(retention_options()));
  auto writer_client = cluster_->client(leader_);
  size_t follower = cluster_->followers(leader_).front();
  auto consumer = cluster_->client(follower);

  // Write load in the background while the purge runs; record each
  // batch's latency, so a purge that stalls writes shows.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> written{0};
  std::vector<double> latencies_ms;
  std::thread load([&] {
    auto c = cluster_->client(leader_);
    while (!stop) {
      auto t0 = Clock::now();
      auto last = write_changes(*c, 1, 100, "load");
      if (!last.is_ok()) continue;
      latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      written = *last;
    }
  });
  // Joined on every way out of the test, a failed assertion included.
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{stop, load};
  for (int i = 0; i < 500 && written.load() == 0; i++) std::this_thread::sleep_for(Millis(10));

  // The consumer reads one small page, then falls asleep while the log grows
  // far past the retention floor.
  api::FeedRequest req;
  req.limit = 10;
  auto page = consumer->get_feed(req);
  ASSERT_TRUE(ok(page));
  ASSERT_FALSE(page->changes.empty());
  uint64_t since = page->changes.back().id;
  auto deadline = Clock::now() + Millis(60000);
  while (written.load() < since + 6 * kMinRecords && Clock::now() < deadline) {
    std::this_thread::sleep_for(Millis(50));
  }
  ASSERT_TRUE(wait_purged_past(*cluster_, since + 1, kPurgeTimeout)) << "no node purged";

  // Its next read is refused with where the log starts now, on GET /changes
  // and on the stream, never a page that silently skips.
  auto gone = consumer->request("GET", "/changes?since=" + std::to_string(since) + "&limit=10");
  ASSERT_TRUE(is_json_error(gone, 410, "compacted"));
  uint64_t first = first_index_in(gone->body);
  EXPECT_GT(first, since + 1) << gone->body;
  auto stream_gone = consumer->request("GET", "/changes/stream?since=" + std::to_string(since));
  ASSERT_TRUE(is_json_error(stream_gone, 410, "compacted"));
  EXPECT_GE(first_index_in(stream_gone->body), first);

  // Resuming from firstIndex works, and every page says where the log starts.
  req.since = first - 1;
  req.limit = 500;
  for (int n = 0; n < 5; n++) {
    auto p = consumer->get_feed(req);
    if (!p.is_ok() && p.status().code() == common::Code::kCompacted) {
      // The purge moved on between the two reads: ask again, as a client would.
      auto again = consumer->request("GET", "/changes?since=" + std::to_string(req.since));
      ASSERT_TRUE(is_json_error(again, 410, "compacted"));
      req.since = first_index_in(again->body) - 1;
      continue;
    }
    ASSERT_TRUE(ok(p));
    EXPECT_GE(p->first_index, 2u);
    EXPECT_LE(p->first_index, req.since + 1);
    ASSERT_FALSE(p->changes.empty());
    EXPECT_GT(p->changes.front().id, req.since);
    req.since = p->changes.back().id;
  }
  stop = true;
  load.join();

  // Every node trimmed to roughly the floor, and kept at least kMinRecords.
  ASSERT_TRUE(ok(cluster_->wait_converged(Millis(20000))));
  for (size_t i = 0; i < cluster_->size(); i++) {
    auto d = cluster_->client(i)->diagnostics();
    ASSERT_TRUE(ok(d));
    EXPECT_GT(d->first_index, 1u) << i;
    EXPECT_GE(d->applied_index + 1 - d->first_index, kMinRecords) << i;
    auto m = cluster_->client(i)->request("GET", "/metrics");
    ASSERT_TRUE(ok(m));
    EXPECT_NE(m->body.find("changeagent_purged_entries_total"), std::string::npos);
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  ASSERT_FALSE(latencies_ms.empty());
  std::cout << "write batches (100 changes) during purge: " << latencies_ms.size() << ", p50 "
            << latencies_ms[latencies_ms.size() / 2] << " ms, p99 "
            << latencies_ms[latencies_ms.size() * 99 / 100] << " ms, max " << latencies_ms.back()
            << " ms\n";
}

TEST_F(RetentionTest, KeysAndLeasesSurvivePurgeAndRestart) {
  ASSERT_NO_FATAL_FAILURE(start(retention_options()));
  auto c = cluster_->client_all();
  auto lease = c->lease_grant(3600);
  ASSERT_TRUE(ok(lease));
  auto plain = c->put_key("config/plain", R"({"v":1})");
  ASSERT_TRUE(ok(plain));
  auto leased = c->put_key("config/leased", R"({"v":2})", std::nullopt, lease->id);
  ASSERT_TRUE(ok(leased));
  auto last = write_changes(*c, 60, 100, "fill");
  ASSERT_TRUE(ok(last));
  ASSERT_TRUE(wait_purged_past(*cluster_, leased->id + 1, kPurgeTimeout));

  auto check = [&](const char* when) {
    for (size_t i = 0; i < cluster_->size(); i++) {
      auto n = cluster_->client(i);
      auto k1 = n->get_key("config/plain");
      ASSERT_TRUE(ok(k1)) << when << " node " << i;
      EXPECT_EQ(k1->value_json, R"({"v":1})");
      EXPECT_EQ(k1->mod_revision, plain->id);
      auto k2 = n->get_key("config/leased");
      ASSERT_TRUE(ok(k2)) << when << " node " << i;
      EXPECT_EQ(k2->lease, lease->id);
      auto l = n->lease_get(lease->id);
      ASSERT_TRUE(ok(l)) << when << " node " << i;
      // The purged writes are gone from the feed, with a 410.
      auto gone = n->request("GET", "/changes/" + std::to_string(leased->id));
      EXPECT_TRUE(is_json_error(gone, 410, "compacted")) << when << " node " << i;
    }
  };
  ASSERT_NO_FATAL_FAILURE(check("after purge"));
  cluster_->kill9_all();
  ASSERT_TRUE(ok(cluster_->start_all()));
  ASSERT_TRUE(ok(cluster_->wait_for_leader(Millis(10000))));
  ASSERT_TRUE(ok(cluster_->wait_converged(Millis(20000))));
  ASSERT_NO_FATAL_FAILURE(check("after restart"));
  // The restarted log still starts past the purged writes.
  for (size_t i = 0; i < cluster_->size(); i++) {
    EXPECT_GT(first_index_of(*cluster_, i), leased->id) << i;
  }
}

TEST_F(RetentionTest, OldestCursorHoldsTheLog) {
  ASSERT_NO_FATAL_FAILURE(start(retention_options()));
  auto c = cluster_->client_all();
  auto start_at = write_changes(*c, 1, 10, "fill");
  ASSERT_TRUE(ok(start_at));
  const uint64_t held = *start_at;
  // Through PUT /cursors (the key API refuses the reserved _cursors/ prefix).
  ASSERT_TRUE(ok(c->set_cursor("slow", api::CursorWrite{held, std::nullopt, false})));
  ASSERT_TRUE(ok(write_changes(*c, 60, 100, "fill")));
  // Well past the floor, yet nothing the cursor still needs goes.
  std::this_thread::sleep_for(Millis(3000));
  for (size_t i = 0; i < cluster_->size(); i++) {
    EXPECT_LE(first_index_of(*cluster_, i), held + 1) << i;
    auto m = cluster_->client(i)->request("GET", "/metrics");
    ASSERT_TRUE(ok(m));
    EXPECT_NE(m->body.find("changeagent_retention_held_by_cursor 1"), std::string::npos) << i;
    EXPECT_EQ(m->body.find("changeagent_retention_cursor_lag_entries 0\n"), std::string::npos);
  }
  // The consumer moves on: the purge follows.
  auto moved = write_changes(*c, 1, 1, "fill");
  ASSERT_TRUE(ok(moved));
  ASSERT_TRUE(ok(c->set_cursor("slow", api::CursorWrite{*moved, std::nullopt, false})));
  EXPECT_TRUE(wait_purged_past(*cluster_, held + 1, kPurgeTimeout));
}

// A follower that was down while the others purged the entries it needs can
// only come back through a snapshot (the streamed one: state plus retained
// log): it rejoins, installs it, and then serves the same keys and the same
// feed as the leader from its new first index on.
TEST_F(RetentionTest, FollowerBehindThePurgeCatchesUpBySnapshot) {
  // Lag-based snapshots off: only the purge can force this one.
  ASSERT_NO_FATAL_FAILURE(start(retention_options({"--snapshot-lag-entries=0"})));
  auto c = cluster_->client(leader_, Millis(10000));
  auto key = c->put_key("purge/key", R"({"v":"kept"})");
  ASSERT_TRUE(ok(key));
  ASSERT_TRUE(ok(cluster_->wait_converged(Millis(10000))));
  size_t down = cluster_->followers(leader_).front();
  auto before = cluster_->client(down)->diagnostics();
  ASSERT_TRUE(ok(before));
  const uint64_t had = before->applied_index;
  cluster_->kill9(down);

  auto last = write_changes(*c, 60, 100, "fill");
  ASSERT_TRUE(ok(last));
  // The running nodes purge past everything the stopped one holds.
  auto deadline = Clock::now() + kPurgeTimeout;
  auto purged = [&] {
    for (size_t i = 0; i < cluster_->size(); i++) {
      if (i != down && first_index_of(*cluster_, i) <= had + 1) return false;
    }
    return true;
  };
  while (!purged() && Clock::now() < deadline) std::this_thread::sleep_for(Millis(100));
  ASSERT_TRUE(purged()) << "the running nodes never purged past index " << had;

  ASSERT_TRUE(ok(cluster_->start(down)));
  ASSERT_TRUE(ok(cluster_->wait_converged(Millis(30000), *last)));
  auto n = cluster_->client(down, Millis(10000));
  auto d = n->diagnostics();
  ASSERT_TRUE(ok(d));
  EXPECT_GT(d->first_index, had + 1)
      << "the follower's log does not start where the snapshot put it";
  auto k = n->get_key("purge/key");
  ASSERT_TRUE(ok(k));
  EXPECT_EQ(k->value_json, R"({"v":"kept"})");
  EXPECT_EQ(k->mod_revision, key->id);
  // Its feed is the leader's, entry for entry, from its first index on.
  uint64_t compared = 0;
  ASSERT_NO_FATAL_FAILURE(expect_same_changes(*c, *n, d->first_index - 1, *last, &compared));
  EXPECT_GE(compared, kMinRecords);
  // Asking below its first index is a 410, as on the leader.
  auto gone = n->request("GET", "/changes/" + std::to_string(had));
  EXPECT_TRUE(is_json_error(gone, 410, "compacted"));
}

}  // namespace
}  // namespace integration
