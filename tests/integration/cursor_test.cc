// Consumers of the feed across real nodes (issue 10): named cursors with
// compare-and-set, a FeedReader resuming from a cursor on another node after
// the first one's node died, checkpoint + tail reproducing a full read, and
// sinceTime (GET, SSE, FeedReader) across a leader change.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "api/change_json.h"
#include "api/cursors.h"
#include "api/feed_reader.h"
#include "tests/integration/test_util.h"

namespace integration {
namespace {

constexpr Millis kConvergeTimeout{20000};

class CursorTest : public ClusterTest {
 protected:
  api::FeedReaderOptions reader_options(std::vector<size_t> nodes, std::string cursor) {
    api::FeedReaderOptions o;
    for (size_t i : nodes) o.client.endpoints.push_back(cluster_->node(i).client_address());
    o.client.connect_timeout = Millis(500);
    o.client.request_timeout = Millis(3000);
    o.cursor = std::move(cursor);
    o.tags = {"n"};
    o.limit = 7;  // several rounds for 200 changes
    o.block_seconds = 1;
    o.commit_every_changes = 10;
    return o;
  }

  // Posts {"n": first..last} tagged "n" (with request ids: exactly once).
  void post_numbers(api::Client& c, int first, int last) {
    for (int i = first; i <= last; i++) {
      api::ChangeInput in = change_of("{\"n\":" + std::to_string(i) + "}", {"n"});
      in.request_id = "n-" + std::to_string(i);
      ASSERT_TRUE(ok(c.post_change(in))) << i;
    }
    // An append acknowledged through one node may be applied on another a
    // moment later (the leader sends the commit on before its own apply is
    // done), and a feed page ends at the serving node's applied index: wait
    // until every node has applied them before a reader checks it saw all.
    ASSERT_TRUE(ok(cluster_->wait_converged(Millis(10000))));
  }
};

int64_t n_of(const api::Change& c) {
  auto v = parse_json(c.data_json);
  if (!v || !v->is_object() || !v->as_object().contains("n")) return -1;
  return v->as_object().at("n").to_number<int64_t>();
}

// PUT /cursors/{name} compares and sets through the log: a write on one
// node is seen on the others, a stale ifRevision loses with 409 wherever it
// is sent, and a cursor never moves back unless forced.
TEST_F(CursorTest, CursorCompareAndSetAcrossNodes) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto all = cluster_->client_all();
  ASSERT_NO_FATAL_FAILURE(post_numbers(*all, 1, 5));
  size_t f1 = cluster_->followers(leader_)[0];
  size_t f2 = cluster_->followers(leader_)[1];
  auto via_f1 = cluster_->client(f1);
  auto via_f2 = cluster_->client(f2);
  auto via_leader = cluster_->client(leader_);
  auto set = via_f1->set_cursor("indexer", {3, 0, false});  // create only
  ASSERT_TRUE(ok(set));
  auto got = via_f2->get_cursor("indexer", true);
  ASSERT_TRUE(ok(got));
  EXPECT_EQ(got->index, 3u);
  EXPECT_EQ(got->revision, set->revision);
  // Two consumers race with the revision they read: one wins, one gets 409.
  auto a = via_f2->set_cursor("indexer", {4, set->revision, false});
  ASSERT_TRUE(ok(a));
  auto b = via_leader->request("PUT", "/cursors/indexer",
                               R"({"index":5,"ifRevision":)" + std::to_string(set->revision) + "}");
  EXPECT_TRUE(is_json_error(b, 409, "revision_mismatch"));
  // Backwards through another node: 409 cursor_behind; forced: moves.
  auto back = via_f1->request("PUT", "/cursors/indexer", R"({"index":2})");
  EXPECT_TRUE(is_json_error(back, 409, "cursor_behind"));
  auto forced = via_f1->set_cursor("indexer", {2, std::nullopt, true});
  ASSERT_TRUE(ok(forced));
  EXPECT_EQ(forced->index, 2u);
  // The ordinary key API cannot write the reserved prefix.
  auto clobber = via_leader->request("PUT", "/keys/_cursors/indexer", R"({"value":{"index":1}})");
  EXPECT_TRUE(is_json_error(clobber, 400, "invalid_argument"));
  // Lag per cursor in /metrics, on every node once applied.
  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout)));
  for (size_t i = 0; i < cluster_->size(); i++) {
    auto r = http(*cluster_, i, "GET", "/metrics");
    ASSERT_TRUE(ok(r));
    EXPECT_NE(r->body.find("changeagent_cursor_lag{cursor=\"indexer\"}"), std::string::npos);
    auto list = cluster_->client(i)->list_cursors();
    ASSERT_TRUE(ok(list));
    ASSERT_EQ(list->size(), 1u);
    EXPECT_EQ(list->front().index, 2u);
  }
  // Cursor moves are internal: the plain feed holds only the 5 numbers.
  auto feed = full_feed(*all);
  ASSERT_TRUE(ok(feed));
  EXPECT_EQ(feed->size(), 5u);
  ASSERT_TRUE(ok(via_f2->delete_cursor("indexer")));
  EXPECT_EQ(via_leader->get_cursor("indexer", true).status().code(), common::Code::kNotFound);
}

// A FeedReader on one node consumes half the feed and stops (committing
// its cursor); that node is killed; a reader of the same cursor on another
// node goes on: every number exactly once, in order. A third reader that
// commits every 10 and is abandoned mid-way (no final commit) redelivers
// at most the 10 after its last commit: at least once, bounded.
TEST_F(CursorTest, ReaderResumesFromTheCursorOnAnotherNode) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto all = cluster_->client_all();
  constexpr int kTotal = 200;
  ASSERT_NO_FATAL_FAILURE(post_numbers(*all, 1, kTotal));
  size_t first = cluster_->followers(leader_)[0];
  size_t second = cluster_->followers(leader_)[1];
  std::vector<int64_t> seen;
  {
    auto reader = api::FeedReader::open(reader_options({first}, "resume"));
    ASSERT_TRUE(ok(reader));
    api::FeedReader::Handlers h;
    h.on_change = [&](const api::Change& c) {
      seen.push_back(n_of(c));
      return seen.size() < kTotal / 2;
    };
    ASSERT_TRUE(ok((*reader)->run(h)));
    EXPECT_EQ(seen.size(), size_t(kTotal / 2));
    EXPECT_GE((*reader)->lag(), uint64_t(kTotal / 2));
  }
  cluster_->kill9(first);
  // Lag shows on the other nodes as well.
  auto cur = cluster_->client(second)->get_cursor("resume", true);
  ASSERT_TRUE(ok(cur));
  EXPECT_GE(cur->last_index - cur->index, uint64_t(kTotal / 2));
  // The dead node comes first in the list: the reader fails over.
  auto reader = api::FeedReader::open(reader_options({first, second}, "resume"));
  ASSERT_TRUE(ok(reader));
  api::FeedReader& r = **reader;
  api::FeedReader::Handlers h;
  h.on_change = [&](const api::Change& c) {
    seen.push_back(n_of(c));
    return true;
  };
  h.should_stop = [&] { return r.caught_up(); };
  ASSERT_TRUE(ok(r.run(h)));
  ASSERT_EQ(seen.size(), size_t(kTotal));
  for (int i = 0; i < kTotal; i++) ASSERT_EQ(seen[i], i + 1) << "position " << i;
  EXPECT_EQ(r.lag(), 0u);
  EXPECT_EQ(r.endpoint(), cluster_->node(second).client_address());
}

// A reader killed with SIGKILL (in a child process) leaves the cursor at its
// last periodic commit: the next reader redelivers what came after it, at
// most commit_every_changes changes, and skips nothing.
TEST_F(CursorTest, KilledReaderRedeliversAtMostTheUncommittedChanges) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto all = cluster_->client_all();
  constexpr int kTotal = 120;
  ASSERT_NO_FATAL_FAILURE(post_numbers(*all, 1, kTotal));
  auto opts = reader_options({0, 1, 2}, "killed");
  opts.commit_every = Millis(0);  // only every 10 changes
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    auto reader = api::FeedReader::open(opts);
    if (!reader.is_ok()) _exit(2);
    api::FeedReader::Handlers h;
    h.on_change = [&](const api::Change& c) {
      std::string line = std::to_string(n_of(c)) + "\n";
      if (write(fds[1], line.data(), line.size()) < 0) _exit(3);
      std::this_thread::sleep_for(Millis(20));  // slow enough to be killed mid-way
      return true;
    };
    _exit((*reader)->run(h).is_ok() ? 0 : 4);
  }
  close(fds[1]);
  std::string text;
  std::vector<int64_t> consumed;
  auto read_lines = [&](size_t until, Clock::time_point deadline) {
    char buf[256];
    while (consumed.size() < until && Clock::now() < deadline) {
      ssize_t n = read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
      for (size_t nl; (nl = text.find('\n')) != std::string::npos; text.erase(0, nl + 1)) {
        consumed.push_back(std::stoll(text.substr(0, nl)));
      }
    }
  };
  read_lines(55, Clock::now() + Millis(30000));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  read_lines(kTotal, Clock::now() + Millis(100));  // what it wrote before dying
  close(fds[0]);
  ASSERT_GE(consumed.size(), 55u);
  ASSERT_LT(consumed.size(), size_t(kTotal)) << "the reader finished before the kill";
  for (size_t i = 0; i < consumed.size(); i++) ASSERT_EQ(consumed[i], int64_t(i + 1));

  auto reader = api::FeedReader::open(reader_options({1, 2}, "killed"));
  ASSERT_TRUE(ok(reader));
  api::FeedReader& r = **reader;
  std::vector<int64_t> resumed;
  api::FeedReader::Handlers h;
  h.on_change = [&](const api::Change& c) {
    resumed.push_back(n_of(c));
    return true;
  };
  h.should_stop = [&] { return r.caught_up(); };
  ASSERT_TRUE(ok(r.run(h)));
  ASSERT_FALSE(resumed.empty());
  int64_t k = static_cast<int64_t>(consumed.size());
  EXPECT_LE(resumed.front(), k + 1) << "a gap: changes after " << k << " were skipped";
  EXPECT_GE(resumed.front(), k + 1 - 10) << "more than one commit interval redelivered";
  for (size_t i = 1; i < resumed.size(); i++) ASSERT_EQ(resumed[i], resumed[i - 1] + 1);
  EXPECT_EQ(resumed.back(), kTotal);
  std::cerr << "[ info ] killed after " << k << " changes; resumed from " << resumed.front()
            << "\n";
}

// A checkpoint of a running sum at some index, then the tail after it,
// gives the sum a reader from the beginning gets.
TEST_F(CursorTest, CheckpointPlusTailEqualsAFullRead) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto all = cluster_->client_all();
  ASSERT_NO_FATAL_FAILURE(post_numbers(*all, 1, 60));
  // The checkpointer: sums what it reads, stores the sum in a file, and
  // records a checkpoint covering the last change summed.
  int64_t sum = 0;
  uint64_t covers = 0;
  {
    auto o = reader_options({leader_}, "");
    auto reader = api::FeedReader::open(o);
    ASSERT_TRUE(ok(reader));
    api::FeedReader& r = **reader;
    api::FeedReader::Handlers h;
    h.on_change = [&](const api::Change& c) {
      sum += n_of(c);
      covers = c.id;
      return true;
    };
    h.should_stop = [&] { return r.caught_up(); };
    ASSERT_TRUE(ok(r.run(h)));
  }
  ASSERT_EQ(sum, 60 * 61 / 2);
  std::string path = cluster_->make_dir("checkpoints") + "/sum-at-" + std::to_string(covers);
  std::ofstream(path) << sum << "\n";
  auto cp = all->post_checkpoint({covers, "file://" + path, {"sum"}});
  ASSERT_TRUE(ok(cp));
  // An older checkpoint of another tag does not hide it; a reserved type is refused.
  ASSERT_TRUE(ok(all->post_checkpoint({1, "file:///elsewhere", {"other"}})));
  auto raw = all->request("POST", "/changes",
                          R"({"data":1,"type":)" + std::to_string(api::kCheckpointType) + "}");
  EXPECT_TRUE(is_json_error(raw, 400, "invalid_argument"));
  ASSERT_NO_FATAL_FAILURE(post_numbers(*all, 61, 100));
  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout)));

  // A new consumer on each node: the latest "sum" checkpoint, then the tail.
  for (size_t i = 0; i < cluster_->size(); i++) {
    auto c = cluster_->client(i);
    auto latest = c->latest_checkpoint("sum");
    ASSERT_TRUE(ok(latest));
    EXPECT_EQ(latest->id, cp->id);
    EXPECT_EQ(latest->covers, covers);
    ASSERT_EQ(latest->location.rfind("file://", 0), 0u);
    std::ifstream in(latest->location.substr(7));
    int64_t restored = -1;
    in >> restored;
    ASSERT_EQ(restored, sum);
    auto o = reader_options({i}, "");
    o.since = latest->covers;
    auto reader = api::FeedReader::open(o);
    ASSERT_TRUE(ok(reader));
    api::FeedReader& r = **reader;
    api::FeedReader::Handlers h;
    size_t tail = 0;
    h.on_change = [&](const api::Change& ch) {
      restored += n_of(ch);
      tail++;
      return true;
    };
    h.should_stop = [&] { return r.caught_up(); };
    ASSERT_TRUE(ok(r.run(h)));
    EXPECT_EQ(tail, 40u);
    EXPECT_EQ(restored, 100 * 101 / 2) << cluster_->node(i).name;
  }
  // The record itself is in the feed with the checkpoint type.
  api::FeedRequest q;
  q.since = cp->id - 1;
  q.limit = 1;
  auto page = all->get_feed(q);
  ASSERT_TRUE(ok(page));
  ASSERT_EQ(page->changes.size(), 1u);
  EXPECT_EQ(page->changes[0].type, api::kCheckpointType);
  EXPECT_EQ(all->latest_checkpoint("none").status().code(), common::Code::kNotFound);
}

// sinceTime on GET, on the SSE stream and in a FeedReader picks the same
// first change on every node, for stamps made by two different leaders.
TEST_F(CursorTest, SinceTimeAcrossALeaderChange) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto all = cluster_->client_all();
  ASSERT_NO_FATAL_FAILURE(post_numbers(*all, 1, 10));
  size_t old_leader = leader_;
  cluster_->kill9(old_leader);
  auto l = cluster_->wait_for_leader(Millis(10000));
  ASSERT_TRUE(ok(l));
  ASSERT_NO_FATAL_FAILURE(post_numbers(*all, 11, 20));
  ASSERT_TRUE(ok(cluster_->start(old_leader)));
  ASSERT_TRUE(ok(cluster_->wait_converged(kConvergeTimeout)));
  auto feed = full_feed(*all);
  ASSERT_TRUE(ok(feed));
  ASSERT_EQ(feed->size(), 20u);
  // One stamp from each leader's term.
  for (size_t k : {size_t(4), size_t(14)}) {
    size_t want = k;
    while (want > 0 && (*feed)[want - 1].ts_ns == (*feed)[k].ts_ns) want--;
    std::string t = std::to_string((*feed)[k].ts_ns);
    for (size_t i = 0; i < cluster_->size(); i++) {
      auto conn = RawConnection::connect(cluster_->node(i).client_port, Millis(2000));
      ASSERT_TRUE(ok(conn));
      ASSERT_TRUE(ok((*conn)->send("GET /changes/stream?tag=n&sinceTime=" + t +
                                   " HTTP/1.1\r\nHost: x\r\n\r\n")));
      std::string last_id = "id: " + std::to_string(feed->back().id) + "\n";
      ASSERT_TRUE((*conn)->read_until(last_id, Clock::now() + Millis(5000))) << (*conn)->received();
      const std::string& text = (*conn)->received();
      std::vector<SseEvent> events;
      for (auto& e : parse_sse(text.substr(text.find("\r\n\r\n") + 4))) {
        if (e.event == "change") events.push_back(std::move(e));
      }
      ASSERT_FALSE(events.empty());
      EXPECT_EQ(events.front().id, std::to_string((*feed)[want].id)) << "node " << i;
      EXPECT_EQ(events.size(), feed->size() - want) << "node " << i;

      auto o = reader_options({i}, "");
      o.since_time = t;
      auto reader = api::FeedReader::open(o);
      ASSERT_TRUE(ok(reader));
      api::FeedReader& r = **reader;
      std::vector<uint64_t> ids;
      api::FeedReader::Handlers h;
      h.on_change = [&](const api::Change& c) {
        ids.push_back(c.id);
        return true;
      };
      h.should_stop = [&] { return r.caught_up(); };
      ASSERT_TRUE(ok(r.run(h)));
      ASSERT_EQ(ids.size(), feed->size() - want);
      EXPECT_EQ(ids.front(), (*feed)[want].id);
    }
  }
  auto bad = all->request("GET", "/changes/stream?since=1&sinceTime=1");
  EXPECT_TRUE(is_json_error(bad, 400, "invalid_argument"));
}

}  // namespace
}  // namespace integration
