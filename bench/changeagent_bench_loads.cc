// The three loads of changeagent_bench. Each client is one thread with its
// own synchronous api::Client (one keep-alive connection); the bench's own
// CPU use is reported next to the figures so a saturated client shows.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstring>
#include <mutex>
#include <thread>

#include "bench/changeagent_bench.h"

namespace cabench {

namespace {

// After a failed write (an error answer, not a refused connection, which
// the client fails over from at once): a short pause so a client does not
// spin against a member that has no leader yet.
constexpr auto kErrorPause = std::chrono::milliseconds(1);
// Threads are created before the clock starts; this is their head start.
constexpr auto kSpawnLead = std::chrono::milliseconds(300);
// A single write or batch gives up after this (then counts as an error).
constexpr auto kWriteTimeout = std::chrono::milliseconds(10000);
// A preload batch is retried this many times before the load fails.
constexpr int kBatchAttemptsMax = 5;
// Failover: writes continue this long after recovery before the writer stops.
constexpr auto kAfterRecovery = std::chrono::milliseconds(300);

Clock::duration seconds_to(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

bool ok_status(int s) {
  return s >= 200 && s < 300;
}

double servers_cpu(const System& sys) {
  double total = 0;
  for (size_t i = 0; i < const_cast<System&>(sys).members().size(); i++) {
    total += sys.member_cpu_seconds(static_cast<int>(i));
  }
  return total;
}

}  // namespace

Result<WriteResult> run_write(System& sys, const Options& o, uint32_t clients) {
  auto leader = sys.leader();
  if (!leader.is_ok()) return leader.status();
  int first =
      o.write_to_follower ? (*leader + 1) % static_cast<int>(sys.members().size()) : *leader;
  std::vector<std::unique_ptr<api::Client>> cs;
  for (uint32_t i = 0; i < clients; i++) {
    auto c = make_client(sys.endpoints_from(first), kWriteTimeout);
    if (!c.is_ok()) return c.status();
    cs.push_back(std::move(*c));
  }
  struct PerClient {
    std::vector<uint32_t> latency_us;
    uint64_t errors = 0;
  };
  std::vector<PerClient> per(clients);
  auto start = Clock::now() + kSpawnLead;
  auto measure_from = start + seconds_to(o.warmup_seconds);
  auto end = measure_from + seconds_to(o.seconds);
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < clients; i++) {
    threads.emplace_back([&, i] {
      PerClient& me = per[i];
      me.latency_us.reserve(static_cast<size_t>(o.seconds * 2000));
      std::string target, body;
      uint64_t seq = 0;
      std::this_thread::sleep_until(start);
      while (!g_stop) {
        auto t0 = Clock::now();
        if (t0 >= end) break;
        sys.write_request(i, seq++, target, body);
        auto res = cs[i]->request("POST", target, std::move(body));
        auto t1 = Clock::now();
        if (!res.is_ok() || !ok_status(res->status)) {
          me.errors++;
          std::this_thread::sleep_for(kErrorPause);
          continue;
        }
        if (t0 >= measure_from && t1 <= end) {
          me.latency_us.push_back(static_cast<uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()));
        }
      }
    });
  }
  std::this_thread::sleep_until(measure_from);
  double cpu0 = process_cpu_seconds();
  double leader_cpu0 = sys.member_cpu_seconds(*leader);
  auto fsyncs0 = sys.fsyncs(*leader);
  double servers0 = servers_cpu(sys);
  std::this_thread::sleep_until(end);
  double cpu1 = process_cpu_seconds();
  double leader_cpu1 = sys.member_cpu_seconds(*leader);
  auto fsyncs1 = sys.fsyncs(*leader);
  double servers1 = servers_cpu(sys);
  for (auto& t : threads) t.join();

  WriteResult r;
  r.clients = clients;
  r.seconds = o.seconds;
  std::vector<uint32_t> all;
  for (auto& p : per) {
    r.writes += p.latency_us.size();
    r.errors += p.errors;
    all.insert(all.end(), p.latency_us.begin(), p.latency_us.end());
  }
  r.writes_per_second = static_cast<double>(r.writes) / o.seconds;
  r.latency = latency_of(all);
  r.client_cpu = (cpu1 - cpu0) / o.seconds;
  if (fsyncs0.is_ok() && fsyncs1.is_ok()) {
    r.leader_fsyncs_per_second = (*fsyncs1 - *fsyncs0) / o.seconds;
  }
  r.leader_cpu = (leader_cpu1 - leader_cpu0) / o.seconds;
  r.total_server_cpu = (servers1 - servers0) / o.seconds;
  return r;
}

namespace {

// Writes catchup_changes in batches from preload_threads clients.
Status preload(System& sys, const Options& o, int leader) {
  std::atomic<uint64_t> next_batch{0};
  std::mutex mu;
  Status failure = Status::ok();
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < o.preload_threads; t++) {
    threads.emplace_back([&] {
      auto c = make_client(sys.endpoints_from(leader), kWriteTimeout);
      if (!c.is_ok()) {
        std::lock_guard lock(mu);
        failure = c.status();
        return;
      }
      std::string target, body;
      while (!g_stop) {
        uint64_t first = next_batch.fetch_add(1) * o.preload_batch;
        if (first >= o.catchup_changes) return;
        auto n =
            static_cast<uint32_t>(std::min<uint64_t>(o.preload_batch, o.catchup_changes - first));
        Status last = Status::ok();
        int attempt = 0;
        for (; attempt < kBatchAttemptsMax && !g_stop; attempt++) {
          sys.batch_request(first, n, target, body);
          auto res = (*c)->request("POST", target, std::move(body));
          if (res.is_ok() && ok_status(res->status)) break;
          last = res.is_ok() ? Status(Code::kUnavailable, target + " answered " +
                                                              std::to_string(res->status) + ": " +
                                                              res->body.substr(0, 200))
                             : res.status();
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        if (attempt == kBatchAttemptsMax) {
          std::lock_guard lock(mu);
          failure = last;
          return;
        }
        std::lock_guard lock(mu);
        if (!failure.is_ok()) return;
      }
    });
  }
  for (auto& t : threads) t.join();
  if (g_stop) return Status(Code::kUnavailable, "interrupted");
  return failure;
}

}  // namespace

Result<CatchupResult> run_catchup(System& sys, const Options& o) {
  auto leader = sys.leader();
  if (!leader.is_ok()) return leader.status();
  int reader = (*leader + 1) % static_cast<int>(sys.members().size());
  auto lc = make_client({sys.members()[static_cast<size_t>(*leader)].client}, kWriteTimeout);
  if (!lc.is_ok()) return lc.status();
  auto since = sys.feed_position(**lc);
  if (!since.is_ok()) return since.status();

  CatchupResult r;
  auto t0 = Clock::now();
  if (Status s = preload(sys, o, *leader); !s.is_ok()) return s;
  r.preload_seconds = ms_between(t0, Clock::now()) / 1000;
  r.preload_per_second = static_cast<double>(o.catchup_changes) / r.preload_seconds;
  auto last = sys.feed_position(**lc);
  if (!last.is_ok()) return last.status();
  auto deadline = Clock::now() + seconds_to(o.catchup_wait_max_seconds);
  if (Status s = sys.wait_caught_up(reader, deadline); !s.is_ok()) return s;

  // Paged reads from a follower, one page after another.
  auto rc = make_client({sys.members()[static_cast<size_t>(reader)].client}, kWriteTimeout);
  if (!rc.is_ok()) return rc.status();
  uint64_t since_id = *since;
  std::string after_key;
  double cpu0 = process_cpu_seconds();
  double server0 = sys.member_cpu_seconds(reader);
  t0 = Clock::now();
  auto read_stop = std::min(deadline, t0 + seconds_to(o.read_seconds_max));
  while (!g_stop && r.changes < o.catchup_changes && Clock::now() < read_stop) {
    auto page = sys.read_page(**rc, since_id, after_key, o.page_limit);
    if (!page.is_ok()) return page.status();
    r.changes += page->count;
    since_id = page->last_id;
    after_key = page->last_key;
    if (!page->more || page->count == 0) break;
  }
  r.paged_seconds = ms_between(t0, Clock::now()) / 1000;
  r.paged_per_second = static_cast<double>(r.changes) / r.paged_seconds;
  r.paged_client_cpu = (process_cpu_seconds() - cpu0) / r.paged_seconds;
  r.paged_server_cpu = (sys.member_cpu_seconds(reader) - server0) / r.paged_seconds;

  if (sys.name() == "changeagent") {
    t0 = Clock::now();
    auto stop_at = std::min(deadline, t0 + seconds_to(o.stream_seconds_max));
    auto n = read_sse(sys.members()[static_cast<size_t>(reader)].client, *since, *last, stop_at);
    if (!n.is_ok()) return n.status();
    r.stream_seconds = ms_between(t0, Clock::now()) / 1000;
    r.stream_changes = *n;
    r.stream_per_second = static_cast<double>(*n) / r.stream_seconds;
  }
  return r;
}

Result<uint64_t> read_sse(const std::string& endpoint, uint64_t since, uint64_t last_id,
                          Clock::time_point stop_at) {
  auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) return Status(Code::kInvalidArgument, "endpoint " + endpoint);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* ai = nullptr;
  if (::getaddrinfo(endpoint.substr(0, colon).c_str(), endpoint.substr(colon + 1).c_str(), &hints,
                    &ai) != 0) {
    return Status(Code::kUnavailable, "cannot resolve " + endpoint);
  }
  int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool connected = fd >= 0 && ::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
  ::freeaddrinfo(ai);
  if (!connected) {
    if (fd >= 0) ::close(fd);
    return Status(Code::kUnavailable, "cannot connect to " + endpoint);
  }
  timeval tv{1, 0};  // recv wakes at least every second to check the deadline
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string req = "GET /changes/stream?since=" + std::to_string(since) +
                    " HTTP/1.1\r\nHost: " + endpoint + "\r\nAccept: text/event-stream\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return Status(Code::kUnavailable, "cannot send to " + endpoint);
  }
  std::string buf;
  std::vector<char> chunk(1 << 18);
  uint64_t events = 0, id = 0;
  size_t pos = 0;
  bool headers_done = false;
  Status result = Status::ok();
  while (id < last_id && !g_stop) {
    if (Clock::now() >= stop_at) break;
    ssize_t n = ::recv(fd, chunk.data(), chunk.size(), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    if (n <= 0) {
      result = Status(Code::kUnavailable, "SSE stream closed at id " + std::to_string(id));
      break;
    }
    buf.append(chunk.data(), static_cast<size_t>(n));
    if (!headers_done) {
      auto h = buf.find("\r\n\r\n");
      if (h == std::string::npos) continue;
      if (buf.compare(0, 12, "HTTP/1.1 200") != 0) {
        result = Status(Code::kUnavailable, "SSE answer: " + buf.substr(0, buf.find('\r')));
        break;
      }
      headers_done = true;
      pos = h + 4;
    }
    // Complete events end with a blank line. The data is parsed, as the
    // paged reader parses its pages, so both pay for JSON.
    for (auto e = buf.find("\n\n", pos); e != std::string::npos; e = buf.find("\n\n", pos)) {
      std::string_view ev(buf.data() + pos, e - pos);
      pos = e + 2;
      if (!ev.starts_with("id: ")) continue;  // heartbeat comment
      id = std::strtoull(ev.data() + 4, nullptr, 10);
      auto d = ev.find("\ndata: ");
      if (d != std::string_view::npos) {
        boost::system::error_code ec;
        auto v = boost::json::parse(ev.substr(d + 7), ec);
        if (ec) {
          result = Status(Code::kInternal, "SSE event " + std::to_string(id) + " is not JSON");
          break;
        }
      }
      events++;
    }
    if (!result.is_ok()) break;
    buf.erase(0, pos);
    pos = 0;
  }
  ::close(fd);
  if (!result.is_ok()) return result;
  return events;
}

Result<FailoverResult> run_failover(System& sys, const Options& o) {
  if (!sys.managed()) {
    return Status(Code::kFailedPrecondition, "failover needs --start-cluster (it kills members)");
  }
  FailoverResult r;
  for (uint32_t trial = 0; trial < o.failover_trials && !g_stop; trial++) {
    auto ready_by = Clock::now() + seconds_to(o.ready_max_seconds);
    if (Status s = sys.wait_ready(ready_by); !s.is_ok()) return s;
    auto leader = sys.leader();
    if (!leader.is_ok()) return leader.status();
    const std::string victim = sys.members()[static_cast<size_t>(*leader)].client;
    auto c =
        make_client(sys.endpoints_from(*leader), std::chrono::milliseconds(o.failover_timeout_ms));
    if (!c.is_ok()) return c.status();

    struct Ack {
      Clock::time_point at;
      bool from_victim;
    };
    std::mutex mu;
    std::vector<Ack> acks;
    uint64_t errors = 0;
    std::atomic<bool> stop_writer{false};
    std::thread writer([&] {
      std::string target, body;
      uint64_t seq = 0;
      while (!stop_writer && !g_stop) {
        sys.write_request(9000 + trial, seq++, target, body);
        auto res = (*c)->request("POST", target, std::move(body));
        auto t = Clock::now();
        bool ok = res.is_ok() && ok_status(res->status);
        {
          std::lock_guard lock(mu);
          if (ok) acks.push_back(Ack{t, (*c)->current_endpoint() == victim});
          if (!ok) errors++;
        }
        if (!ok) std::this_thread::sleep_for(kErrorPause);
      }
    });
    sleep_for(o.failover_steady_seconds);
    auto kill_at = Clock::now();
    sys.kill_member(*leader);
    // Recovered: an acknowledgement from another member after the kill.
    auto give_up = kill_at + seconds_to(o.failover_gap_max_seconds);
    std::optional<double> gap_ms;
    while (!g_stop && Clock::now() < give_up && !gap_ms) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      std::lock_guard lock(mu);
      Clock::time_point last_before{}, first_after{};
      for (const Ack& a : acks) {
        // The victim is dead after kill_member(): its acks all precede that.
        if (a.from_victim) last_before = a.at;
        if (!a.from_victim && a.at > kill_at && first_after == Clock::time_point{}) {
          first_after = a.at;
        }
      }
      if (first_after != Clock::time_point{} && last_before != Clock::time_point{}) {
        gap_ms = ms_between(last_before, first_after);
      }
    }
    std::this_thread::sleep_for(kAfterRecovery);
    stop_writer = true;
    writer.join();
    if (gap_ms) {
      r.gaps_ms.push_back(*gap_ms);
    } else {
      r.failed_trials++;
      r.notes.push_back("trial " + std::to_string(trial + 1) + ": no write acknowledged within " +
                        std::to_string(o.failover_gap_max_seconds) + " s of the kill");
    }
    std::fprintf(stderr, "  %s failover trial %u: %s (%llu error answers while failing over)\n",
                 sys.name().c_str(), trial + 1,
                 gap_ms ? (std::to_string(*gap_ms) + " ms").c_str() : "no recovery",
                 static_cast<unsigned long long>(errors));
    if (Status s = sys.restart_member(*leader); !s.is_ok()) return s;
    auto caught_by = Clock::now() + seconds_to(o.catchup_wait_max_seconds);
    if (Status s = sys.wait_caught_up(*leader, caught_by); !s.is_ok()) return s;
  }
  if (!r.gaps_ms.empty()) {
    auto v = r.gaps_ms;
    std::sort(v.begin(), v.end());
    r.median_ms = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  }
  return r;
}

}  // namespace cabench
