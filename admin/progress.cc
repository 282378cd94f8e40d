#include "admin/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace admin {

using Clock = std::chrono::steady_clock;

Progress::Progress(std::string label)
    : label_(std::move(label)), enabled_(::isatty(STDERR_FILENO) == 1), start_(Clock::now()) {}

Progress::~Progress() {
  finish();
}

void Progress::update(uint64_t done, uint64_t total, uint64_t bytes) {
  if (!enabled_) return;
  auto now = Clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  draw(done, total, bytes);
}

void Progress::draw(uint64_t done, uint64_t total, uint64_t bytes) {
  double secs = std::chrono::duration<double>(Clock::now() - start_).count();
  if (total == 0) {  // size unknown (a live dump in transit): bytes only
    std::fprintf(stderr, "\r%s %.1f MB, %.1f MB/s   ", label_.c_str(),
                 static_cast<double>(bytes) / 1e6,
                 secs > 0 ? static_cast<double>(bytes) / 1e6 / secs : 0.0);
    std::fflush(stderr);
    drawn_ = true;
    return;
  }
  double pct = total == 0 ? 100.0 : 100.0 * static_cast<double>(done) / static_cast<double>(total);
  int width = 30;
  int filled = static_cast<int>(pct / 100.0 * width);
  std::string bar(static_cast<size_t>(std::min(filled, width)), '#');
  bar.resize(static_cast<size_t>(width), '.');
  std::fprintf(stderr, "\r%s [%s] %3.0f%% %llu/%llu entries, %.1f MB, %.0f entries/s   ",
               label_.c_str(), bar.c_str(), pct, static_cast<unsigned long long>(done),
               static_cast<unsigned long long>(total), static_cast<double>(bytes) / 1e6,
               secs > 0 ? static_cast<double>(done) / secs : 0.0);
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (!enabled_ || !drawn_) return;
  std::fputc('\n', stderr);
  drawn_ = false;
  enabled_ = false;
}

}  // namespace admin
