// A one-line progress bar on stderr, only when stderr is a terminal (a
// script or a pipe gets nothing). Redrawn at most every 200 ms.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace admin {

class Progress {
 public:
  explicit Progress(std::string label);
  ~Progress();  // finish()
  void update(uint64_t done, uint64_t total, uint64_t bytes);
  void finish();  // ends the line
  bool enabled() const { return enabled_; }

 private:
  void draw(uint64_t done, uint64_t total, uint64_t bytes);
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace admin
