// Minimal Prometheus metrics: counters, gauges and fixed-bucket histograms,
// rendered in the text exposition format. Thread-safe (atomics); no
// allocation on the hot path.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace api {

class Counter {
 public:
  void inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void add(int64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Latency histogram in seconds with buckets from 100 us to 10 s.
class Histogram {
 public:
  static constexpr std::array<double, 12> kBucketsSeconds = {
      0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 10.0};
  void observe(double seconds);
  // Appends the _bucket/_sum/_count lines for `name` (with HELP/TYPE).
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::array<std::atomic<uint64_t>, kBucketsSeconds.size() + 1> counts_{};
  std::atomic<uint64_t> sum_us_{0};
};

void render_counter(std::string& out, const std::string& name, const std::string& help,
                    uint64_t v);
void render_gauge(std::string& out, const std::string& name, const std::string& help, int64_t v);

}  // namespace api
