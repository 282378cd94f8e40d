// FakeService: an in-memory TEST DOUBLE of the node behind api::Service, for
// the HTTP layer's unit tests only. No Raft, no disk: append assigns
// consecutive ids at once, "applies" them, and wakes waiters. Tests steer
// failures through the public fields. Must be used on the io_context's
// thread, like the real node (tests post to it with on_io()).
#pragma once

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <optional>
#include <utility>

#include "api/service.h"

namespace api::test {

class FakeService : public Service {
 public:
  explicit FakeService(boost::asio::io_context& io) : io_(io) {}

  // Steering knobs for tests (set them before the request they affect).
  std::optional<Status> append_error;   // next appends fail with this
  std::optional<Status> barrier_error;  // read_barrier fails with this
  uint64_t first_index = 1;             // below it reads are kCompacted
  bool has_leader = true;
  uint64_t barrier_calls = 0;

  void append(std::vector<ChangeInput> changes, bool wait, AppendDone done) override {
    if (append_error) {
      boost::asio::post(io_, [done, s = *append_error] { done(s); });
      return;
    }
    std::vector<Appended> out;
    for (auto& in : changes) {
      Change c;
      c.id = ++last_index_;
      c.ts_ns = ++ts_ns_;
      c.type = in.type;
      c.tags = std::move(in.tags);
      c.data_json = std::move(in.data_json);
      log_.push_back(std::move(c));
      out.push_back({log_.back().id, log_.back().ts_ns});
    }
    boost::asio::post(io_, [done, out] { done(out); });
    wake_waiters();
  }

  Result<FeedPage> read_feed(const FeedQuery& q) override {
    if (q.since + 1 < first_index) return Status(Code::kCompacted, "since is below firstIndex");
    FeedPage page;
    page.first_index = first_index;
    page.last_index = last_index_;
    page.at_start = q.since < first_index;
    page.at_end = true;
    for (const auto& c : log_) {
      if (c.id <= q.since || !matches(c, q.tags)) continue;
      if (page.changes.size() == q.limit) {
        page.at_end = false;
        break;
      }
      page.changes.push_back(c);
    }
    return page;
  }

  Result<Change> read_change(uint64_t id) override {
    if (id < first_index && id != 0) return Status(Code::kCompacted, "compacted");
    for (const auto& c : log_) {
      if (c.id == id) return c;
    }
    return Status(Code::kNotFound, "no change " + std::to_string(id));
  }

  // Wakes only on apply; the HTTP layer's own timer covers the deadline.
  void wait_applied(uint64_t after, std::chrono::steady_clock::time_point,
                    std::function<void()> wake) override {
    if (last_index_ > after) {
      boost::asio::post(io_, std::move(wake));
      return;
    }
    waiters_.emplace_back(after, std::move(wake));
  }

  void read_barrier(std::function<void(Status)> done) override {
    barrier_calls++;
    Status s = barrier_error ? *barrier_error : Status::ok();
    boost::asio::post(io_, [done, s] { done(s); });
  }

  ClusterView cluster() override {
    return {"00000000000000aa",
            has_leader ? 1u : 0u,
            {{1, "n1", "127.0.0.1:9001", "127.0.0.1:8001", false},
             {2, "n2", "127.0.0.1:9002", "127.0.0.1:8002", false}}};
  }

  RaftDiagnostics diagnostics() override {
    RaftDiagnostics d;
    d.id = 1;
    d.name = "n1";
    d.state = "leader";
    d.leader = 1;
    d.term = 3;
    d.first_index = first_index;
    d.last_index = d.applied_index = d.committed_index = d.stable_index = last_index_;
    d.peers = {{2, last_index_, last_index_ + 1, "replicate", true}};
    return d;
  }

  HealthView health() override {
    return {has_leader, marked_down_, has_leader ? "" : "no leader elected"};
  }
  void set_marked_down(bool down) override { marked_down_ = down; }
  std::string metrics_text() override { return "changeagent_fake_metric 1\n"; }

  // Runs f on the io_context's thread and waits for it.
  template <typename F>
  auto on_io(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto fut = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return fut.get();
  }

 private:
  static bool matches(const Change& c, const std::vector<std::string>& tags) {
    if (tags.empty()) return true;
    for (const auto& t : tags) {
      if (std::find(c.tags.begin(), c.tags.end(), t) != c.tags.end()) return true;
    }
    return false;
  }

  void wake_waiters() {
    auto it = std::partition(waiters_.begin(), waiters_.end(),
                             [&](const auto& w) { return w.first >= last_index_; });
    for (auto w = it; w != waiters_.end(); ++w) boost::asio::post(io_, std::move(w->second));
    waiters_.erase(it, waiters_.end());
  }

  boost::asio::io_context& io_;
  std::vector<Change> log_;
  uint64_t last_index_ = 0;
  uint64_t ts_ns_ = 1700000000000000000ull;
  bool marked_down_ = false;
  std::vector<std::pair<uint64_t, std::function<void()>>> waiters_;
};

}  // namespace api::test
