// changeagent_bench: changeagent against etcd on the same machine, through
// the same HTTP/JSON client code path (api::Client::request), for three
// loads: closed-loop small writes, catch-up reads of a large log, and
// leader failover under a steady writer. Shared declarations of the bench's
// files:
//   changeagent_bench.cc          flags, the run, table and JSON output
//   changeagent_bench_proc.cc     child processes, ports, /proc CPU, base64
//   changeagent_bench_systems.cc  changeagent and etcd as a System
//   changeagent_bench_loads.cc    the loads
//   changeagent_bench_cas.cc      the compare-and-set load and its table
//   changeagent_bench_report.cc   the table, ratios, targets and JSON
#pragma once

#include <sys/types.h>

#include <atomic>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/client.h"

namespace cabench {

using Clock = std::chrono::steady_clock;
using common::Code;
using common::Result;
using common::Status;

// Set by SIGINT/SIGTERM; every loop of the bench checks it.
extern std::atomic<bool> g_stop;
extern std::atomic<int> g_stop_signal;  // the signal that set g_stop

struct Options {
  std::vector<std::string> systems{"changeagent", "etcd"};
  std::vector<std::string> loads{"write", "cas", "catchup", "failover"};
  bool start_cluster = false;               // start both systems' clusters ourselves
  std::vector<std::string> endpoints;       // an existing changeagent cluster
  std::vector<std::string> etcd_endpoints;  // an existing etcd cluster
  std::string server_bin;                   // changeagent binary
  std::string etcd_bin = "/usr/bin/etcd";   //
  std::string data_parent = "/var/tmp";     // data dirs go below: a real disk, not tmpfs
  bool keep_data = false;                   // leave the data dirs for inspection
  std::string pid_file;                     // every child's pid is appended here
  std::string json_file;                    // machine-readable figures
  double seconds = 10;                      // measured time per write level
  double warmup_seconds = 1;                // unmeasured lead-in per write level
  std::vector<uint32_t> clients{1, 16, 64, 256};
  bool write_to_follower = false;  // send writes to a follower instead
  // changeagent writes carry a unique requestId (exactly-once appends): run
  // the write load with and without to measure the request-id table.
  bool request_ids = false;
  uint32_t payload_bytes = 100;          // JSON value per write
  uint64_t catchup_changes = 1000000;    //
  uint32_t preload_batch = 1000;         // changes per batch POST / puts per etcd txn
  uint32_t preload_threads = 4;          //
  uint32_t page_limit = 1000;            // changes per feed page / keys per range
  uint32_t failover_trials = 5;          //
  double failover_steady_seconds = 1.5;  // steady writes before each kill
  double failover_gap_max_seconds = 30;  // a trial without recovery by then fails
  // Failover writer: a write unanswered this long is abandoned and retried
  // (on the next member if the connection is gone), as a latency-minded
  // client would; without it a write forwarded to a dead leader waits for
  // the server's request timeout (etcd: about 5 s).
  uint32_t failover_timeout_ms = 100;
  // The SSE read stops after this long and reports the rate so far.
  double stream_seconds_max = 30;
  // The paged read stops after this long and reports the rate so far
  // (etcd 3.4 pages of a 1M-key range cost O(keys left), see BENCHMARKS.md).
  double read_seconds_max = 120;
  // Compare-and-set: read -> CAS(old+1) loops, per key count and client count.
  std::vector<uint32_t> cas_clients{1, 16, 64};
  std::vector<uint32_t> cas_keys{1, 1000};
  double cas_seconds = 5;                 // measured seconds per CAS level (after --warmup-seconds)
  double ready_max_seconds = 60;          // a cluster must elect and answer by then
  double catchup_wait_max_seconds = 120;  // a restarted member must catch up by then
};

// A process we started. Killed with SIGKILL when the object is destroyed;
// the child also gets SIGKILL if the bench dies (PR_SET_PDEATHSIG).
class Child {
 public:
  Child(std::vector<std::string> argv, std::string log_path, std::string pid_file);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  Status start();
  void kill9();  // SIGKILL, then reap
  void stop();   // SIGTERM, up to 10 s to exit, then SIGKILL
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // User + system CPU seconds of the live process (0 if not running).
  double cpu_seconds() const;

 private:
  std::vector<std::string> argv_;
  std::string log_path_;
  std::string pid_file_;
  pid_t pid_ = -1;  // -1: not running
};

struct Member {
  std::string name;
  std::string client;  // "127.0.0.1:port"
  std::string peer;    // "127.0.0.1:port" (empty when not started by us)
  std::unique_ptr<Child> proc;
};

struct Page {
  uint64_t count = 0;    // changes/keys in the page
  uint64_t last_id = 0;  // changeagent: last _id
  std::string last_key;  // etcd: last key (raw)
  bool more = false;
};

// The two systems under test behind one interface.
class System {
 public:
  virtual ~System();
  virtual std::string name() const = 0;
  // The interface used, for the report.
  virtual std::string interface() const = 0;
  virtual std::string settings() const = 0;

  std::vector<Member>& members() { return members_; }
  std::vector<std::string> endpoints() const;
  // Endpoints starting at member first (the client tries them in order).
  std::vector<std::string> endpoints_from(int first) const;
  bool managed() const { return !members_.empty() && members_[0].proc != nullptr; }

  // Starts the members (when managed) and waits for a leader that every
  // live member knows.
  virtual Status start(const Options& o) = 0;
  virtual Status wait_ready(Clock::time_point deadline) = 0;
  // The leader's index in members().
  virtual Result<int> leader() = 0;
  // One small write: target and body for api::Client::request("POST", ...).
  virtual void write_request(uint32_t client, uint64_t seq, std::string& target,
                             std::string& body) const = 0;
  // Preload: one batch of n changes/puts; body for POST target.
  virtual void batch_request(uint64_t first_seq, uint32_t n, std::string& target,
                             std::string& body) const = 0;
  // The position before the preload (changeagent: last index; etcd: unused).
  virtual Result<uint64_t> feed_position(api::Client& c) = 0;
  // One page of the catch-up read after `pos` (id or key).
  virtual Result<Page> read_page(api::Client& c, uint64_t since_id, const std::string& after_key,
                                 uint32_t limit) = 0;
  // Waits until member i has applied what the leader had committed.
  virtual Status wait_caught_up(int i, Clock::time_point deadline) = 0;

  // The member's fsync counter from GET /metrics (changeagent_fsyncs_total,
  // etcd_disk_wal_fsync_duration_seconds_count); kNotFound if absent.
  Result<double> fsyncs(int i);
  virtual std::string fsync_metric() const = 0;

  void kill_member(int i);
  Status restart_member(int i);
  void stop_all();
  double member_cpu_seconds(int i) const;

 protected:
  std::vector<Member> members_;
  std::string data_dir_;  // removed at the end unless keep_data
  bool keep_data_ = false;
};

std::unique_ptr<System> make_changeagent();
std::unique_ptr<System> make_etcd();

// --- helpers (changeagent_bench_proc.cc) ---
Result<std::vector<uint16_t>> free_loopback_ports(size_t n);
Result<std::string> make_data_dir(const std::string& parent, const std::string& prefix);
std::string base64_encode(std::string_view in);
std::string base64_decode(std::string_view in);
double process_cpu_seconds();  // this process, user + system
// A JSON object of exactly `bytes` bytes (at least 40) naming client and seq.
std::string payload_json(uint32_t client, uint64_t seq, uint32_t bytes);
Result<std::unique_ptr<api::Client>> make_client(std::vector<std::string> endpoints,
                                                 std::chrono::milliseconds request_timeout);
void sleep_for(double seconds);  // returns early on g_stop

// --- loads (changeagent_bench_loads.cc) ---
struct Latency {
  double p50_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
};

struct WriteResult {
  uint32_t clients = 0;
  uint64_t writes = 0;  // acknowledged in the measured window
  uint64_t errors = 0;  // non-2xx answers or failed requests, whole run
  double seconds = 0;
  double writes_per_second = 0;
  Latency latency;
  double leader_fsyncs_per_second = 0;  // from the leader's /metrics; 0 if unknown
  double client_cpu = 0;                // CPU seconds of the bench per wall second (cores)
  double leader_cpu = 0;                // cores used by the leader process (managed only)
  double total_server_cpu = 0;
};

struct CatchupResult {
  uint64_t changes = 0;
  double preload_seconds = 0;
  double preload_per_second = 0;
  double paged_seconds = 0;
  double paged_per_second = 0;
  double paged_client_cpu = 0;
  double paged_server_cpu = 0;  // cores used by the member read from
  double stream_seconds = 0;    // 0: not measured (etcd)
  double stream_per_second = 0;
  uint64_t stream_changes = 0;
};

struct FailoverResult {
  std::vector<double> gaps_ms;  // one per successful trial
  uint32_t failed_trials = 0;
  std::vector<std::string> notes;
  double median_ms = 0;
};

struct CasResult {
  uint32_t clients = 0;
  uint32_t keys = 0;
  double seconds = 0;
  uint64_t increments = 0;  // successful CAS writes in the measured window
  uint64_t attempts = 0;    // CAS writes answered in the window (won or mismatched)
  uint64_t mismatches = 0;  // of those, lost to another client's write
  // Reads right after a mismatch that returned the very revision the CAS
  // lost on: the winning write was not yet applied where the read went.
  uint64_t stale_rereads = 0;
  uint64_t errors = 0;   // failed reads or writes, whole level
  uint64_t unknown = 0;  // writes whose answer was lost (outcome unknown), whole level
  double increments_per_second = 0;
  double attempts_per_second = 0;
  Latency cas_latency;        // the successful conditional write alone
  Latency increment_latency;  // first read to success, retries included
  double client_cpu = 0;      // cores used by the bench
  double leader_cpu = 0;      // cores used by the leader process (managed only)
  // After the level: the counters' sum against the increments acknowledged
  // in the whole level (warm-up included); verified when
  // acked_total <= counter_sum <= acked_total + unknown.
  uint64_t acked_total = 0;
  uint64_t counter_sum = 0;
  bool verified = false;
  std::string last_error;
};

struct SystemResults {
  std::string name, interface, settings;
  std::string error;  // empty unless a load (or the start) failed
  std::vector<WriteResult> writes;
  std::vector<CasResult> cas;
  std::optional<CatchupResult> catchup;
  std::optional<FailoverResult> failover;
};

Result<WriteResult> run_write(System& sys, const Options& o, uint32_t clients);
Result<CatchupResult> run_catchup(System& sys, const Options& o);
Result<FailoverResult> run_failover(System& sys, const Options& o);
// `clients` closed-loop CAS incrementers on `keys` fresh counter keys.
Result<CasResult> run_cas(System& sys, const Options& o, uint32_t clients, uint32_t keys);

// --- report (changeagent_bench_report.cc) ---
// The human table (returned) and the JSON document (into json_text),
// with changeagent / etcd ratios and the targets.
std::string format_report(const Options& o, const std::vector<SystemResults>& rs,
                          std::string& json_text);
// The compare-and-set table (changeagent_bench_cas.cc), ratios appended.
std::string cas_table(const Options& o, const SystemResults* ca, const SystemResults* et,
                      boost::json::array& ratios);
boost::json::array cas_json(const std::vector<CasResult>& rs);

// Raw SSE reader (changeagent only): events after since until one has
// id >= last_id or until stop_at, whichever is first; returns the number
// of events read.
Result<uint64_t> read_sse(const std::string& endpoint, uint64_t since, uint64_t last_id,
                          Clock::time_point stop_at);

// Shared helpers (changeagent_bench_util.cc).
// p50/p99/p999/max of latencies in microseconds (sorts `us`).
Latency latency_of(std::vector<uint32_t>& us);
// A field as uint64: JSON numbers, or decimal strings as grpc-gateway renders them.
uint64_t get_u64(const boost::json::object& o, std::string_view key);
Result<boost::json::object> parse_object(const std::string& body);

}  // namespace cabench
