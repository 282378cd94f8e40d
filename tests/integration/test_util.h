// Helpers shared by the integration tests: assertions on Status and JSON
// errors, full-feed reads, a background writer that records every
// acknowledged change, and the "no acknowledged change lost" check.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/cluster_harness.h"
#include "tests/integration/raw_http.h"

namespace integration {

using Clock = std::chrono::steady_clock;

inline ::testing::AssertionResult ok(const Status& s) {
  if (s.is_ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << s.to_string();
}
template <typename T>
::testing::AssertionResult ok(const Result<T>& r) {
  return ok(r.status());
}

inline int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<Millis>(Clock::now() - t).count();
}

// On a failed test: every node's log tail on stderr, and the files kept.
inline void report_on_failure(Cluster* c) {
  if (c == nullptr || !::testing::Test::HasFailure()) return;
  std::cerr << c->log_tails(60);
  c->keep_files();
}

// A fixture that owns one cluster per test.
class ClusterTest : public ::testing::Test {
 protected:
  void TearDown() override { report_on_failure(cluster_.get()); }
  // Starts the cluster and waits for a leader; fails the test otherwise.
  void start(ClusterOptions o = {}) {
    cluster_ = std::make_unique<Cluster>(std::move(o));
    ASSERT_TRUE(ok(cluster_->start_all()));
    auto l = cluster_->wait_for_leader(Millis(10000));
    ASSERT_TRUE(ok(l));
    leader_ = *l;
  }
  std::unique_ptr<Cluster> cluster_;
  size_t leader_ = 0;
};

inline api::ChangeInput change_of(std::string data_json, std::vector<std::string> tags = {}) {
  api::ChangeInput in;
  in.data_json = std::move(data_json);
  in.tags = std::move(tags);
  return in;
}

// Pages through two nodes' feeds after `since` up to `until` and asserts
// they hold the same changes (id, stamp, data, tags) in the same order;
// adds how many were compared to *compared.
inline void expect_same_changes(api::Client& a, api::Client& b, uint64_t since, uint64_t until,
                                uint64_t* compared) {
  api::FeedRequest req;
  req.since = since;
  req.limit = 10000;
  while (req.since < until) {
    auto pa = a.get_feed(req);
    auto pb = b.get_feed(req);
    ASSERT_TRUE(ok(pa));
    ASSERT_TRUE(ok(pb));
    ASSERT_EQ(pa->changes.size(), pb->changes.size()) << "since " << req.since;
    if (pa->changes.empty()) break;
    for (size_t k = 0; k < pa->changes.size(); k++) {
      const auto& x = pa->changes[k];
      const auto& y = pb->changes[k];
      ASSERT_EQ(x.id, y.id);
      ASSERT_EQ(x.ts_ns, y.ts_ns);
      ASSERT_EQ(x.data_json, y.data_json);
      ASSERT_EQ(x.tags, y.tags);
    }
    *compared += pa->changes.size();
    req.since = pa->changes.back().id;
  }
}

inline std::optional<boost::json::value> parse_json(const std::string& text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

inline std::optional<uint64_t> as_u64(const boost::json::value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64() && v->as_int64() >= 0) return static_cast<uint64_t>(v->as_int64());
  return std::nullopt;
}

// The status is `status` and the body is {"error": non-empty string, "code":
// `code`} with a JSON content type.
inline ::testing::AssertionResult is_json_error(const Result<api::HttpResponse>& r, int status,
                                                std::string_view code) {
  if (!r.is_ok()) return ::testing::AssertionFailure() << "no answer: " << r.status().to_string();
  const auto& res = *r;
  auto fail = [&]() {
    return ::testing::AssertionFailure()
           << "HTTP " << res.status << " (" << res.content_type << ") " << res.body << "; wanted "
           << status << " with code " << code;
  };
  if (res.status != status) return fail();
  if (res.content_type.find("application/json") == std::string::npos) return fail();
  auto v = parse_json(res.body);
  if (!v || !v->is_object()) return fail();
  const auto& o = v->as_object();
  const auto* e = o.if_contains("error");
  const auto* c = o.if_contains("code");
  if (!e || !e->is_string() || e->as_string().empty()) return fail();
  if (!c || !c->is_string() || c->as_string() != code) return fail();
  return ::testing::AssertionSuccess();
}

// Every change of one node, paged from the start.
inline Result<std::vector<api::Change>> full_feed(api::Client& c) {
  std::vector<api::Change> out;
  api::FeedRequest req;
  req.limit = 10000;
  for (int page_n = 0; page_n < 1000; page_n++) {
    auto page = c.get_feed(req);
    if (!page.is_ok()) return page.status();
    if (page->changes.empty()) return out;
    for (auto& ch : page->changes) out.push_back(std::move(ch));
    req.since = out.back().id;
  }
  return Status(common::Code::kInternal, "feed longer than 1000 pages");
}

// A change acknowledged (201) to the writer: the _id and the writer's seq
// carried in its data.
struct Acked {
  uint64_t id = 0;
  uint64_t seq = 0;
  Clock::time_point at{};  // when the acknowledgement arrived
};

// Posts {"w": name, "seq": n} one after another from its own thread until
// stopped, recording each acknowledgement. Failures (no leader, outcome
// unknown) are counted and the next seq is tried after a short pause. After
// a timeout the next post starts at the next endpoint: the client keeps
// the endpoint that last answered, which may be a hung (SIGSTOPped) node.
class Writer {
 public:
  Writer(std::vector<std::string> endpoints, std::string name, Millis request_timeout)
      : endpoints_(std::move(endpoints)), name_(std::move(name)), timeout_(request_timeout) {}
  ~Writer() { stop(); }

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<Acked> acked() const {
    std::lock_guard lock(mu_);
    return acked_;
  }
  size_t acked_count() const {
    std::lock_guard lock(mu_);
    return acked_.size();
  }
  uint64_t failures() const { return failures_; }
  // Each failed post: when it ended, how long it took, and its status.
  struct Failure {
    Clock::time_point at;
    Millis took;
    Status status;
  };
  std::vector<Failure> failure_log() const {
    std::lock_guard lock(mu_);
    return failure_log_;
  }
  const std::string& name() const { return name_; }
  // Polls until at least n changes were acknowledged.
  bool wait_acked(size_t n, Millis timeout) const {
    auto deadline = Clock::now() + timeout;
    while (acked_count() < n) {
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(Millis(5));
    }
    return true;
  }

 private:
  std::unique_ptr<api::Client> make_client(size_t first) {
    api::ClientOptions o;
    for (size_t k = 0; k < endpoints_.size(); k++) {
      o.endpoints.push_back(endpoints_[(first + k) % endpoints_.size()]);
    }
    o.connect_timeout = Millis(1000);
    o.request_timeout = timeout_;
    auto c = api::Client::create(o);
    return c.is_ok() ? std::move(c.value()) : nullptr;
  }

  void run() {
    size_t first = 0;
    auto client = make_client(first);
    for (uint64_t seq = 1; !stop_ && client; seq++) {
      std::string data = "{\"w\":\"" + name_ + "\",\"seq\":" + std::to_string(seq) + "}";
      auto t0 = Clock::now();
      auto r = client->post_change(change_of(data, {"writer"}));
      if (r.is_ok()) {
        std::lock_guard lock(mu_);
        acked_.push_back(Acked{r->id, seq, Clock::now()});
        continue;
      }
      failures_++;
      {
        std::lock_guard lock(mu_);
        failure_log_.push_back(
            {Clock::now(), std::chrono::duration_cast<Millis>(Clock::now() - t0), r.status()});
      }
      if (r.status().code() == common::Code::kTimeout) client = make_client(++first);
      std::this_thread::sleep_for(Millis(10));
    }
  }

  std::vector<std::string> endpoints_;
  std::string name_;
  Millis timeout_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> failures_{0};
  mutable std::mutex mu_;
  std::vector<Acked> acked_;
  std::vector<Failure> failure_log_;
};

inline bool same_change(const api::Change& a, const api::Change& b) {
  return a.id == b.id && a.ts_ns == b.ts_ns && a.type == b.type && a.tags == b.tags &&
         a.data_json == b.data_json;
}

// Every running node's full feed is the same sequence; ids increase; every
// acknowledged change of `writer` is in it exactly once, at its _id; no
// change of `writer` appears twice.
inline ::testing::AssertionResult feeds_hold_acked(Cluster& cluster, const std::string& writer,
                                                   const std::vector<Acked>& acked) {
  std::vector<std::vector<api::Change>> feeds;
  std::vector<size_t> nodes;
  for (size_t i = 0; i < cluster.size(); i++) {
    if (!cluster.running(i)) continue;
    auto c = cluster.client(i, Millis(10000));
    auto f = full_feed(*c);
    if (!f.is_ok()) {
      return ::testing::AssertionFailure()
             << cluster.node(i).name << ": cannot read the feed: " << f.status().to_string();
    }
    feeds.push_back(std::move(f.value()));
    nodes.push_back(i);
  }
  if (feeds.empty()) return ::testing::AssertionFailure() << "no running node";
  for (size_t k = 1; k < feeds.size(); k++) {
    const auto& a = feeds[0];
    const auto& b = feeds[k];
    for (size_t j = 0; j < std::min(a.size(), b.size()); j++) {
      if (!same_change(a[j], b[j])) {
        return ::testing::AssertionFailure()
               << "feeds of " << cluster.node(nodes[0]).name << " and "
               << cluster.node(nodes[k]).name << " differ at position " << j << ": id " << a[j].id
               << " " << a[j].data_json << " vs id " << b[j].id << " " << b[j].data_json;
      }
    }
    if (a.size() != b.size()) {
      return ::testing::AssertionFailure()
             << cluster.node(nodes[0]).name << " has " << a.size() << " changes, "
             << cluster.node(nodes[k]).name << " " << b.size();
    }
  }
  std::map<uint64_t, std::vector<uint64_t>> ids_of_seq;
  uint64_t prev = 0;
  for (const auto& ch : feeds[0]) {
    if (ch.id <= prev) return ::testing::AssertionFailure() << "id " << ch.id << " after " << prev;
    prev = ch.id;
    auto v = parse_json(ch.data_json);
    if (!v || !v->is_object()) continue;
    const auto* w = v->as_object().if_contains("w");
    if (!w || !w->is_string() || w->as_string() != writer) continue;
    auto seq = as_u64(v->as_object().if_contains("seq"));
    if (seq) ids_of_seq[*seq].push_back(ch.id);
  }
  for (const auto& [seq, ids] : ids_of_seq) {
    if (ids.size() > 1) {
      return ::testing::AssertionFailure() << "seq " << seq << " appended " << ids.size()
                                           << " times (ids " << ids[0] << ", " << ids[1] << ")";
    }
  }
  for (const auto& a : acked) {
    auto it = ids_of_seq.find(a.seq);
    if (it == ids_of_seq.end()) {
      return ::testing::AssertionFailure()
             << "acknowledged seq " << a.seq << " (_id " << a.id << ") is missing of "
             << acked.size() << " acknowledged; feed has " << feeds[0].size() << " changes";
    }
    if (it->second[0] != a.id) {
      return ::testing::AssertionFailure() << "acknowledged seq " << a.seq << " as _id " << a.id
                                           << " but it is at " << it->second[0];
    }
  }
  return ::testing::AssertionSuccess() << feeds.size() << " nodes, " << feeds[0].size()
                                       << " changes, " << acked.size() << " acknowledged";
}

// A plain request to one node.
inline Result<api::HttpResponse> http(Cluster& cluster, size_t i, std::string_view method,
                                      std::string_view target, std::string body = {},
                                      std::string_view content_type = "application/json") {
  auto c = cluster.client(i, Millis(10000));
  return c->request(method, target, std::move(body), content_type);
}

// The value of an unlabelled metric line "name value" in /metrics.
inline std::optional<double> metric_value(Cluster& cluster, size_t i, const std::string& name) {
  auto r = http(cluster, i, "GET", "/metrics");
  if (!r.is_ok() || r->status != 200) return std::nullopt;
  std::string needle = "\n" + name + " ";
  auto pos = r->body.find(needle);
  if (pos == std::string::npos) return std::nullopt;
  return std::stod(r->body.substr(pos + needle.size()));
}

}  // namespace integration
