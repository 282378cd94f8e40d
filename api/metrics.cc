#include "api/metrics.h"

namespace api {

void Histogram::observe(double seconds) {
  size_t i = 0;
  while (i < kBucketsSeconds.size() && seconds > kBucketsSeconds[i]) i++;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= kBucketsSeconds.size(); i++) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    std::string le = i < kBucketsSeconds.size() ? std::to_string(kBucketsSeconds[i]) : "+Inf";
    out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum " + std::to_string(sum_us_.load(std::memory_order_relaxed) / 1e6) + "\n";
  out += name + "_count " + std::to_string(cumulative) + "\n";
}

void render_counter(std::string& out, const std::string& name, const std::string& help,
                    uint64_t v) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
         std::to_string(v) + "\n";
}

void render_gauge(std::string& out, const std::string& name, const std::string& help, int64_t v) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n" + name + " " +
         std::to_string(v) + "\n";
}

}  // namespace api
