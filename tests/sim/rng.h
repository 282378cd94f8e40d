// The simulator's only source of randomness. One generator per seed, so a
// seed replays exactly; helpers avoid std::uniform_*_distribution, whose
// output is implementation-defined, so a seed means the same run everywhere.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "common/assert.h"

namespace raftsim {

class SimRng {
 public:
  explicit SimRng(uint64_t seed) : gen_(seed) {}

  uint64_t next() { return gen_(); }

  // Uniform in [lo, hi], both inclusive.
  uint64_t between(uint64_t lo, uint64_t hi) {
    CA_ASSERT(lo <= hi);
    uint64_t span = hi - lo + 1;
    return span == 0 ? next() : lo + next() % span;
  }

  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  bool chance(double p) { return unit() < p; }

  double real(double lo, double hi) { return lo + (hi - lo) * unit(); }

  template <typename T>
  const T& pick(const std::vector<T>& v) {
    CA_ASSERT(!v.empty());
    return v[between(0, v.size() - 1)];
  }

 private:
  std::mt19937_64 gen_;
};

}  // namespace raftsim
