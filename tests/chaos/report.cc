#include "tests/chaos/report.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

namespace chaos {

namespace {

constexpr int64_t kStallTailNs = 5'000'000'000;  // after a heal, recovery still counts
constexpr int64_t kBucketNs = 250'000'000;       // timeline resolution
constexpr int kSvgWidth = 1000, kSvgHeight = 320, kMargin = 40;

std::vector<int64_t> ok_write_completions(const std::vector<Op>& history) {
  std::vector<int64_t> t;
  for (const auto& op : history) {
    if (is_write(op.kind) && op.outcome == Outcome::kOk) t.push_back(op.complete_ns);
  }
  std::sort(t.begin(), t.end());
  return t;
}

}  // namespace

void compute_stalls(const std::vector<Op>& history, std::vector<FaultRecord>& faults,
                    int64_t run_end_ns) {
  auto done = ok_write_completions(history);
  for (auto& f : faults) {
    int64_t until = std::min(f.end_ns + kStallTailNs, run_end_ns);
    int64_t prev = f.start_ns, worst = 0;
    for (auto it = std::upper_bound(done.begin(), done.end(), f.start_ns);
         it != done.end() && *it <= until; ++it) {
      worst = std::max(worst, *it - prev);
      prev = *it;
    }
    f.stall_ns = std::max(worst, until - prev);
  }
}

void write_timeline_svg(const std::string& path, const std::vector<Op>& history,
                        const std::vector<FaultRecord>& faults, int64_t run_end_ns) {
  size_t buckets = static_cast<size_t>(run_end_ns / kBucketNs) + 1;
  std::vector<double> ok(buckets), bad(buckets);
  for (const auto& op : history) {
    size_t b = std::min(buckets - 1, static_cast<size_t>(op.complete_ns / kBucketNs));
    (op.outcome == Outcome::kOk ? ok : bad)[b] += 1e9 / kBucketNs;
  }
  double peak = 1;
  for (double v : ok) peak = std::max(peak, v);
  double w = kSvgWidth - 2 * kMargin, h = kSvgHeight - 2 * kMargin;
  auto x = [&](int64_t ns) {
    return kMargin + w * double(ns) / double(std::max<int64_t>(run_end_ns, 1));
  };
  auto y = [&](double v) { return kMargin + h - h * v / peak; };
  std::ofstream s(path);
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << kSvgWidth << "' height='" << kSvgHeight
    << "' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' "
       "fill='white'/>\n";
  for (const auto& f : faults) {
    s << "<rect x='" << x(f.start_ns) << "' y='" << kMargin << "' width='"
      << std::max(1.0, x(f.end_ns) - x(f.start_ns)) << "' height='" << h
      << "' fill='orange' fill-opacity='0.25'><title>" << f.kind << ": " << f.detail
      << "</title></rect>\n<text x='" << x(f.start_ns) << "' y='" << kMargin - 4
      << "' font-size='9'>" << f.kind << "</text>\n";
  }
  for (auto* series : {&ok, &bad}) {
    s << "<polyline fill='none' stroke='" << (series == &ok ? "steelblue" : "crimson")
      << "' points='";
    for (size_t b = 0; b < buckets; b++) {
      s << x(int64_t(b) * kBucketNs) << "," << y((*series)[b]) << " ";
    }
    s << "'/>\n";
  }
  s << "<text x='" << kMargin << "' y='" << kSvgHeight - 10
    << "'>ops/s over time (blue: ok, red: failed or unknown; shaded: faults). peak " << int(peak)
    << " ops/s, " << run_end_ns / 1'000'000'000 << " s</text>\n</svg>\n";
}

std::string render_summary(const RunOptions& opts, const std::string& mode,
                           const std::vector<FaultRecord>& faults, const Report& report) {
  std::ostringstream s;
  s << "==== chaos summary: seed " << opts.seed << " ====\n";
  s << "mode: " << mode << "\n";
  std::map<std::string, std::vector<int64_t>> by_kind;
  for (const auto& f : faults) by_kind[f.kind].push_back(f.stall_ns);
  s << "faults injected: " << faults.size() << "\n";
  for (auto& [kind, stalls] : by_kind) {
    std::sort(stalls.begin(), stalls.end());
    s << "  " << kind << " x" << stalls.size() << ": write stall median "
      << stalls[stalls.size() / 2] / 1'000'000 << " ms, max " << stalls.back() / 1'000'000
      << " ms\n";
  }
  size_t problems = 0;
  for (const auto& f : faults) {
    if (f.problem.empty()) continue;
    if (problems++ == 0) s << "FAULT PROBLEMS:\n";
    s << "  " << f.kind << " at " << f.start_ns / 1'000'000 << " ms: " << f.problem << "\n";
  }
  s << report.summary();
  s << "files: " << opts.out_dir << "/{history.jsonl,final-n*.jsonl,timeline.svg,n*.log}\n";
  s << "reproduce: chaos --seed=" << opts.seed << " --duration=" << opts.duration_s;
  if (opts.nodes != 3) s << " --nodes=" << opts.nodes;
  if (!opts.faults.empty()) {
    s << " --faults=";
    for (size_t i = 0; i < opts.faults.size(); i++) s << (i ? "," : "") << opts.faults[i];
  }
  if (opts.eatmydata) s << " --eatmydata";
  if (opts.power_loss) s << " --power-loss";
  if (opts.disk_faults) s << " --disk-faults";
  s << "\n";
  return s.str();
}

}  // namespace chaos
