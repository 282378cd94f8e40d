// The same failover and switchover measurements as pgha_failover's, for
// Debian's Patroni (3.0.2) with a one-node etcd (3.4, v3 API) on free
// loopback ports: three PostgreSQL 15 under Patroni in synchronous_mode,
// run as the postgres user like the pgha agents. See pgha_failover.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

struct HaFigures {
  std::vector<int64_t> failover_ms, failover_gap_ms, rejoin_ms;
  std::vector<int64_t> switchover_ms, switchover_gap_ms;
};

// Patroni's timings: the tightest its rule loop_wait + 2 * retry_timeout
// <= ttl allows with whole seconds and a loop of 1 s (pgha: ttl 2 s, loop
// 200 ms). Its defaults are ttl 30, loop_wait 10, retry_timeout 10.
inline constexpr int kPatroniTtlS = 5;
inline constexpr int kPatroniLoopWaitS = 1;
inline constexpr int kPatroniRetryTimeoutS = 2;

// Where patroni and etcd are expected (Debian's packages).
inline constexpr const char* kPatroniBin = "/usr/bin/patroni";
inline constexpr const char* kEtcdBin = "/usr/bin/etcd";

// Runs `rounds` failovers then `rounds` switchovers under Patroni. On a
// failure: false with `why` set (and the logs kept, their dir named in it).
bool run_patroni(int rounds, HaFigures& out, std::string& why);

}  // namespace bench
