// The chaos workload: concurrent clients appending uniquely named changes,
// CAS-incrementing counters, and reading the feed with consistent=true.
// Every op is recorded with its invoke/complete times and outcome (see
// checker.h). Each thread owns its api::Client (the client is not
// thread-safe) and stops within one request timeout of stop().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/chaos/checker.h"

namespace chaos {

struct WorkloadConfig {
  std::vector<std::string> endpoints;
  uint64_t seed = 1;
  size_t appenders = 3;
  size_t counters = 2;         // counter keys
  size_t counter_clients = 2;  // CAS threads per key: contention makes the
                               // linearizability check mean something
  size_t readers = 1;
  std::chrono::milliseconds request_timeout{4000};
};

class Workload {
 public:
  explicit Workload(WorkloadConfig cfg);
  ~Workload();  // stop() and join
  void start();
  void stop();
  // Nanoseconds on the history's clock (steady, from the workload's start).
  int64_t now_ns() const;
  // A copy of the history so far, in completion order.
  std::vector<Op> history() const;

 private:
  void appender(uint32_t client);
  void counter(uint32_t client, std::string key);
  void reader(uint32_t client);
  void record(Op op);
  std::string payload(uint32_t client, uint64_t n) const;

  WorkloadConfig cfg_;
  std::chrono::steady_clock::time_point t0_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> next_op_{1};
  mutable std::mutex mu_;
  std::vector<Op> ops_;  // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace chaos
