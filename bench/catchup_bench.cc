// Catch-up of a big node: fills a 3-node cluster of real changeagent
// processes with N changes, then joins a fourth node while one client keeps
// writing to the leader, and reports
//   - the snapshot stream (from the leader's log line): MB, s, MB/s, entries/s
//   - the whole catch-up (join -> the joiner applied the last filled change):
//     s and changes/s
//   - the leader's write throughput before and during the catch-up.
//
//   catchup_bench [--changes=1000000] [--pad-bytes=200] [--snapshot-lag-entries=10000]
//
// --snapshot-lag-entries=0 makes an empty joiner catch up by appends instead
// (for comparison; slow). Not part of ctest: run by hand (make bench-catchup).
#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/cluster_harness.h"

namespace {

using integration::Cluster;
using integration::ClusterOptions;
using integration::Millis;
using Clock = std::chrono::steady_clock;

struct Args {
  uint64_t changes = 1000000;
  size_t pad_bytes = 200;
  uint64_t lag = 10000;
};

bool flag(const char* arg, const char* name, uint64_t* out) {
  size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  *out = std::strtoull(arg + n + 1, nullptr, 10);
  return true;
}

double secs_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::vector<api::ChangeInput> batch(int writer, uint64_t b, int n, const std::string& pad) {
  std::vector<api::ChangeInput> in;
  for (int k = 0; k < n; k++) {
    api::ChangeInput c;
    c.data_json = "{\"w\":" + std::to_string(writer) + ",\"b\":" + std::to_string(b) +
                  ",\"k\":" + std::to_string(k) + ",\"pad\":\"" + pad + "\"}";
    c.tags = {"bench"};
    in.push_back(std::move(c));
  }
  return in;
}

// A client writing batches of 100 until stopped; counts acknowledged changes.
struct LoadWriter {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> acked{0};
  std::thread t;
  void start(Cluster& c, size_t leader, const std::string& pad) {
    t = std::thread([this, &c, leader, pad] {
      auto client = c.client(leader, Millis(10000));
      for (uint64_t b = 0; !stop; b++) {
        auto r = client->post_changes(batch(99, b, 100, pad));
        if (r.is_ok()) acked += r->size();
      }
    });
  }
  void finish() {
    stop = true;
    if (t.joinable()) t.join();
  }
};

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i++) {
    uint64_t v = 0;
    if (flag(argv[i], "--changes", &a.changes)) continue;
    if (flag(argv[i], "--pad-bytes", &v)) {
      a.pad_bytes = v;
      continue;
    }
    if (flag(argv[i], "--snapshot-lag-entries", &a.lag)) continue;
    std::fprintf(stderr, "catchup_bench: unknown argument %s\n", argv[i]);
    return 2;
  }
  ClusterOptions o;
  o.tick_ms = 25;
  o.request_timeout_ms = 10000;
  o.extra_args = {"--snapshot-lag-entries=" + std::to_string(a.lag)};
  Cluster c(o);
  if (auto s = c.start_all(); !s.is_ok()) {
    std::fprintf(stderr, "catchup_bench: cannot start the cluster: %s\n", s.to_string().c_str());
    return 1;
  }
  auto l = c.wait_for_leader(Millis(10000));
  if (!l.is_ok()) return 1;
  size_t leader = *l;
  const std::string pad(a.pad_bytes, 'p');

  // Fill.
  auto fill_start = Clock::now();
  constexpr int kWriters = 4, kPerBatch = 1000;
  std::atomic<uint64_t> last{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> ts;
  for (int w = 0; w < kWriters; w++) {
    ts.emplace_back([&, w] {
      auto client = c.client(leader, Millis(30000));
      for (uint64_t b = 0; b < a.changes / kPerBatch / kWriters && !failed; b++) {
        auto r = client->post_changes(batch(w, b, kPerBatch, pad));
        if (!r.is_ok()) {
          std::fprintf(stderr, "fill: %s\n", r.status().to_string().c_str());
          failed = true;
          return;
        }
        uint64_t id = r->back().id, prev = last.load();
        while (id > prev && !last.compare_exchange_weak(prev, id)) {
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  if (failed) return 1;
  double fill_s = secs_since(fill_start);
  std::printf("filled %llu changes in %.1f s (%.0f changes/s)\n",
              static_cast<unsigned long long>(last.load()), fill_s, last.load() / fill_s);
  if (auto s = c.wait_converged(Millis(120000)); !s.is_ok()) return 1;

  // Leader write throughput with nothing else going on.
  LoadWriter base;
  base.start(c, leader, pad);
  std::this_thread::sleep_for(std::chrono::seconds(5));
  base.finish();
  double base_rate = base.acked / 5.0;

  // Join while writing.
  LoadWriter during;
  during.start(c, leader, pad);
  auto join_start = Clock::now();
  auto j = c.add_joining_node(Millis(30000));
  if (!j.is_ok()) {
    std::fprintf(stderr, "join: %s\n", j.status().to_string().c_str());
    return 1;
  }
  bool caught_up = false;
  while (secs_since(join_start) < 1800) {
    auto d = c.client(*j, Millis(5000))->diagnostics();
    if (d.is_ok() && d->applied_index >= last.load()) {
      caught_up = true;
      break;
    }
    std::this_thread::sleep_for(Millis(100));
  }
  double catchup_s = secs_since(join_start);
  uint64_t during_acked = during.acked;
  during.finish();
  if (!caught_up) {
    std::fprintf(stderr, "catchup_bench: the joiner did not catch up in 30 minutes\n");
    return 1;
  }
  std::printf("joiner caught up with %llu changes in %.1f s (%.0f changes/s)\n",
              static_cast<unsigned long long>(last.load()), catchup_s, last.load() / catchup_s);
  std::printf("leader writes: %.0f changes/s before, %.0f changes/s during the catch-up (%.0f%%)\n",
              base_rate, during_acked / catchup_s,
              base_rate > 0 ? 100.0 * (during_acked / catchup_s) / base_rate : 0.0);
  std::smatch m;
  std::string log = c.read_log(leader);
  std::regex line(
      R"(snapshot to [0-9a-f]+: installed after ([0-9.]+) s: ([0-9.]+) MB, ([0-9]+) entries \(([0-9.]+) MB/s, ([0-9]+) entries/s\))");
  if (std::regex_search(log, m, line)) {
    std::printf("snapshot stream: %s MB, %s entries in %s s (%s MB/s, %s entries/s)\n",
                m[2].str().c_str(), m[3].str().c_str(), m[1].str().c_str(), m[4].str().c_str(),
                m[5].str().c_str());
  } else {
    std::printf("snapshot stream: none (caught up by appends)\n");
  }
  return 0;
}
