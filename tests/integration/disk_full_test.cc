// A follower whose disk fills up under real write load (real processes,
// real RocksDB, a real tmpfs): the other two keep acknowledging, the full
// node says "storage failed" in /health and exits with status 75, refuses
// to start while still full (one line, "MB free"), and once given room it
// restarts and catches up to hold every acknowledged change.
//
// The follower's data dir lives on its own small tmpfs. RocksDB preallocates
// its WAL (fallocate), so a few small writes on a full disk succeed: the
// test fills the rest of the tmpfs with a ballast file and then writes large
// changes until the node's writes really fail.
//
// Needs root (mount); skipped otherwise.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "tests/integration/test_util.h"

namespace integration {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSmallDiskSize = "size=96m";
// Room to restart: the WAL written before the failure is replayed and
// flushed to an SST while the WAL still exists.
constexpr const char* kRoomyDiskSize = "size=512m";
constexpr size_t kPayloadBytes = 256 * 1024;
// 150 MiB of changes at most before the node must have failed: more than
// the tmpfs holds in total.
constexpr uint64_t kFillWritesMax = 600;
constexpr Millis kFillTimeout{45000};
constexpr uint32_t kStorageFailureExitMs = 1500;
// Writes acknowledged by the two healthy nodes after the full one is gone.
constexpr uint64_t kWritesAfterExit = 20;
constexpr size_t kFeedPageLimit = 16;  // 4 MiB pages of 256 KiB changes
// How long a write may go unacknowledged after leadership moved (below).
constexpr Millis kElectionRetryWindow{20000};
// The restarted node replays its WAL and fetches ~50 MiB of changes; on a
// machine loaded by other builds that took more than 30 s.
constexpr Millis kCatchUpTimeout{60000};

// A tmpfs at a fresh dir, unmounted (lazily, so that a process still
// holding a file cannot keep it) and removed on every way out of the test.
// Declared before the Cluster so that the nodes are killed first.
class TmpfsMount {
 public:
  TmpfsMount() {
    std::string tmpl = (fs::temp_directory_path() / "changeagent-diskfull-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      error_ = "mkdtemp: " + std::string(std::strerror(errno));
      return;
    }
    path_ = buf.data();
    if (::mount("changeagent-diskfull", path_.c_str(), "tmpfs", 0, kSmallDiskSize) != 0) {
      error_ = "mount -t tmpfs -o " + std::string(kSmallDiskSize) + " " + path_ + ": " +
               std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
    if (!path_.empty()) ::rmdir(path_.c_str());
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }

  Status resize(const char* size_option) {
    if (::mount("changeagent-diskfull", path_.c_str(), "tmpfs", MS_REMOUNT, size_option) != 0) {
      return Status(common::Code::kIoError,
                    "remount " + path_ + " " + size_option + ": " + std::strerror(errno));
    }
    return Status::ok();
  }

  uint64_t free_bytes() const {
    struct statvfs v {};
    if (::statvfs(path_.c_str(), &v) != 0) return 0;
    return static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
  }

  // Takes every free byte: 1 MiB fallocate steps (a tmpfs fallocate that
  // does not fit undoes the whole range, and the running node takes pages
  // meanwhile), then the last pages by writing until ENOSPC.
  Status fill() {
    std::string big = path_ + "/ballast";
    int fd = ::open(big.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Status(common::Code::kIoError, big + ": " + std::strerror(errno));
    constexpr off_t kStep = 1 << 20;
    off_t size = 0;
    while (::fallocate(fd, 0, size, kStep) == 0) size += kStep;
    int err = errno;
    ::close(fd);
    if (err != ENOSPC) {
      return Status(common::Code::kIoError, "fallocate " + big + ": " + std::strerror(err));
    }
    std::string rest = path_ + "/ballast2";
    fd = ::open(rest.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Status(common::Code::kIoError, rest + ": " + std::strerror(errno));
    std::vector<char> zeros(4096, 0);
    while (::write(fd, zeros.data(), zeros.size()) > 0) {
    }
    ::close(fd);
    return Status::ok();
  }

  void remove_ballast() {
    std::error_code ec;
    fs::remove(path_ + "/ballast", ec);
    fs::remove(path_ + "/ballast2", ec);
  }

 private:
  std::string path_;
  std::string error_;
  bool mounted_ = false;
};

// Every change of node i, in pages small enough for 256 KiB changes.
Result<std::vector<api::Change>> feed_of(Cluster& c, size_t i) {
  auto client = c.client(i, Millis(20000));
  std::vector<api::Change> out;
  api::FeedRequest req;
  req.limit = kFeedPageLimit;
  for (int page_n = 0; page_n < 10000; page_n++) {
    auto page = client->get_feed(req);
    if (!page.is_ok()) return page.status();
    if (page->changes.empty()) return out;
    for (auto& ch : page->changes) out.push_back(std::move(ch));
    req.since = out.back().id;
  }
  return Status(common::Code::kInternal, "feed longer than 10000 pages");
}

// The lines a node wrote at its last start (after the harness's
// "=== harness: starting" line), harness lines left out.
std::vector<std::string> last_start_lines(const std::string& log) {
  auto start = log.rfind("=== harness: starting");
  std::vector<std::string> out;
  if (start == std::string::npos) return out;
  std::istringstream in(log.substr(start));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.rfind("=== harness:", 0) == 0) continue;
    out.push_back(line);
  }
  return out;
}

std::string payload_of(uint64_t seq) {
  // Not compressible to nothing by accident: the seq is spread through it.
  std::string pad(kPayloadBytes, 'a');
  for (size_t k = 0; k < pad.size(); k += 4096) pad[k] = static_cast<char>('a' + (seq + k) % 26);
  return "{\"w\":\"diskfull\",\"seq\":" + std::to_string(seq) + ",\"pad\":\"" + pad + "\"}";
}

// The highest term any of `nodes` reports (0 if none answers).
uint64_t max_term(Cluster& c, std::initializer_list<size_t> nodes) {
  uint64_t term = 0;
  for (size_t i : nodes) {
    auto d = c.client(i, Millis(2000))->diagnostics();
    if (d.is_ok()) term = std::max(term, d->term);
  }
  return term;
}

// Was disabled while the full follower aborted inside RocksDB 7.8 in about
// 1 run in 4 (tests/integration/FINDINGS.md F11: RocksDB's LOG file on the
// full disk; fixed, tests/chaos/FINDINGS.md #5).
TEST(DiskFullTest, FullFollowerExits75RefusesWhileFullAndCatchesUpWithRoom) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root: the follower's data dir is on its own tmpfs (mount -t tmpfs)";
  }
  TmpfsMount disk;
  ASSERT_TRUE(disk.mounted()) << disk.error();

  ClusterOptions o;
  o.body_bytes_max = 2 * kPayloadBytes;
  // The harness's 100-200 ms election timeout is too tight for 256 KiB
  // changes fsynced on a shared machine: followers lost the leader under
  // this load (and the small-disk node once became leader). The subject
  // here is a follower's disk, so leadership should hold: 1.5-3 s (0.5-1 s
  // still saw elections with the machine's load at 18 on 2 cores).
  o.heartbeat_ticks = 5;
  o.election_ticks = 150;
  Cluster cluster(o);
  struct ReportOnFailure {
    Cluster& c;
    ~ReportOnFailure() { report_on_failure(&c); }
  } report{cluster};

  ASSERT_TRUE(ok(cluster.start_all()));
  auto l = cluster.wait_for_leader(Millis(10000));
  ASSERT_TRUE(ok(l));
  const size_t leader = *l;
  const size_t full = cluster.followers(leader).front();

  // Move that follower's (still nearly empty) data dir onto the tmpfs.
  cluster.kill9(full);
  std::string small_dir = disk.path() + "/data";
  std::error_code ec;
  fs::copy(cluster.node(full).data_dir, small_dir, fs::copy_options::recursive, ec);
  ASSERT_FALSE(ec) << "copying the data dir onto the tmpfs: " << ec.message();
  cluster.node(full).data_dir = small_dir;
  cluster.node(full).extra_args = {
      "--min-free-disk-mb=8", "--storage-failure-exit-ms=" + std::to_string(kStorageFailureExitMs)};
  ASSERT_TRUE(ok(cluster.start(full)));
  ASSERT_TRUE(ok(cluster.wait_converged(Millis(10000))));
  ASSERT_EQ(cluster.leader(), std::optional<size_t>(leader));

  // The node has opened its store (and preallocated its WAL): take the rest.
  ASSERT_TRUE(ok(disk.fill()));
  EXPECT_LT(disk.free_bytes(), 64u * 1024) << "the ballast left room";

  // Writes through the leader until the full node fails. Every one must be
  // acknowledged (the leader and the other follower are a majority), with
  // one exception that is not the full disk's doing: an election. Under load the full node can win
  // one (its log is as long as anyone's until its disk fills); as leader it cannot write, so it
  // fails and exits, and the other two elect a leader between them. A write that fails is retried
  // (same seq) only if the term moves past the one seen just before it was sent, within the time
  // that takes (the full node's exit plus two election timeouts); its outcome was unknown, so that
  // seq may be in the log twice, and only acknowledged writes are checked below. Any other failure
  // fails the test.
  size_t healthy = leader;
  for (size_t i = 0; i < cluster.size(); i++) {
    if (i != leader && i != full) healthy = i;
  }
  ASSERT_NE(healthy, leader);
  const Millis election_shows = Millis(kStorageFailureExitMs) + 2 * cluster.election_timeout_max();
  uint64_t retried = 0;
  auto writer = cluster.client(leader, Millis(10000));
  auto health_full = cluster.client(full, Millis(2000));
  std::vector<Acked> acked;
  uint64_t seq = 0;
  auto post_one = [&]() -> ::testing::AssertionResult {
    seq++;
    auto window_end = Clock::now() + kElectionRetryWindow;
    for (;;) {
      uint64_t term_before = max_term(cluster, {leader, healthy});
      auto r = writer->post_change(change_of(payload_of(seq), {"diskfull"}));
      if (r.is_ok()) {
        acked.push_back(Acked{r->id, seq, Clock::now()});
        return ::testing::AssertionSuccess();
      }
      auto until = std::min(Clock::now() + election_shows, window_end);
      uint64_t term = max_term(cluster, {leader, healthy});
      while (term <= term_before && Clock::now() < until) {
        std::this_thread::sleep_for(Millis(100));
        term = max_term(cluster, {leader, healthy});
      }
      if (term <= term_before || Clock::now() >= window_end) {
        return ::testing::AssertionFailure()
               << "write seq " << seq << " not acknowledged: " << r.status().to_string()
               << " (term " << term_before << " before it, " << term << " after)";
      }
      std::cerr << "write seq " << seq << " failed while leadership moved (term " << term_before
                << " -> " << term << "), retrying: " << r.status().to_string() << "\n";
      retried++;
    }
  };

  std::optional<std::string> unhealthy_body;
  auto began = Clock::now();
  bool exited = false;
  while (!unhealthy_body && !exited) {
    ASSERT_LT(seq, kFillWritesMax)
        << "the full node never failed; free bytes " << disk.free_bytes();
    ASSERT_LT(ms_since(began), kFillTimeout.count()) << "the full node never failed";
    ASSERT_TRUE(post_one());
    // Only "storage failed" ends the fill: the node can be briefly unhealthy
    // for another reason (a 503 "no leader" while its fsyncs lag under this
    // load), which is not what this test waits for.
    auto h = health_full->request("GET", "/health", "", "application/json");
    if (h.is_ok() && h->status != 200 && h->body.find("storage failed") != std::string::npos) {
      EXPECT_EQ(h->status, 503) << h->body;
      unhealthy_body = h->body;
    }
    exited = cluster.poll_exit(full).has_value();
  }
  auto failed_at = Clock::now();
  std::cerr << "full node failed after " << seq << " writes of " << kPayloadBytes << " bytes in "
            << ms_since(began) << " ms\n";
  ASSERT_TRUE(unhealthy_body.has_value())
      << "the full node exited before /health said why (within one write): "
      << cluster.read_log(full);
  EXPECT_NE(unhealthy_body->find("storage"), std::string::npos) << *unhealthy_body;
  EXPECT_NE(cluster.read_log(full).find("storage write failed"), std::string::npos)
      << "no critical log line about the failed write";

  // It exits by itself with 75 (EX_TEMPFAIL), not a crash; meanwhile the
  // other two keep acknowledging.
  std::optional<Exit> exit;
  while (!(exit = cluster.poll_exit(full)) && ms_since(failed_at) < 10000) {
    ASSERT_TRUE(post_one());
  }
  ASSERT_TRUE(exit.has_value()) << "the full node did not exit within 10 s of failing";
  EXPECT_FALSE(exit->signaled) << "killed by signal " << exit->signal << ": "
                               << cluster.read_log(full);
  EXPECT_EQ(exit->code, 75) << cluster.read_log(full);
  EXPECT_NE(cluster.read_log(full).find("exiting (status 75)"), std::string::npos);
  for (uint64_t k = 0; k < kWritesAfterExit; k++) ASSERT_TRUE(post_one());

  // Started again while still full: refused, in one line that says why.
  Status refused = cluster.start(full, Millis(10000));
  ASSERT_FALSE(refused.is_ok()) << "started on a full disk";
  ASSERT_TRUE(cluster.node(full).last_exit.has_value());
  EXPECT_FALSE(cluster.node(full).last_exit->signaled)
      << "signal " << cluster.node(full).last_exit->signal << ": " << cluster.read_log(full);
  EXPECT_NE(cluster.node(full).last_exit->code, 0);
  auto lines = last_start_lines(cluster.read_log(full));
  ASSERT_EQ(lines.size(), 1u) << cluster.read_log(full);
  EXPECT_NE(lines[0].find("MB free"), std::string::npos) << lines[0];

  // With the ballast gone and room to replay its WAL, it restarts and
  // catches up.
  disk.remove_ballast();
  ASSERT_TRUE(ok(disk.resize(kRoomyDiskSize)));
  ASSERT_TRUE(ok(cluster.start(full, Millis(20000))));
  ASSERT_TRUE(ok(cluster.wait_converged(kCatchUpTimeout, acked.back().id)));

  auto leader_feed = feed_of(cluster, leader);
  ASSERT_TRUE(ok(leader_feed));
  auto full_feed_r = feed_of(cluster, full);
  ASSERT_TRUE(ok(full_feed_r));
  const auto& a = *leader_feed;
  const auto& b = *full_feed_r;
  ASSERT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size(); k++) {
    ASSERT_TRUE(same_change(a[k], b[k]))
        << "position " << k << ": id " << a[k].id << " vs " << b[k].id;
  }
  std::map<uint64_t, const api::Change*> by_id;
  for (const auto& ch : b) by_id[ch.id] = &ch;
  for (const auto& ack : acked) {
    auto it = by_id.find(ack.id);
    ASSERT_NE(it, by_id.end()) << "acknowledged seq " << ack.seq << " (_id " << ack.id
                               << ") missing on the restarted node";
    auto v = parse_json(it->second->data_json);
    ASSERT_TRUE(v && v->is_object());
    EXPECT_EQ(as_u64(v->as_object().if_contains("seq")), std::optional<uint64_t>(ack.seq));
    EXPECT_EQ(it->second->data_json, payload_of(ack.seq)) << "payload of seq " << ack.seq;
  }
  std::cerr << acked.size() << " acknowledged changes, all on the restarted node; " << retried
            << " writes retried after an election\n";
}

}  // namespace
}  // namespace integration
