#include "tests/chaos/cluster.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace chaos {

using common::Code;
using common::Result;
using common::Status;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;
namespace fs = std::filesystem;

namespace {

constexpr uint16_t kClientPort = 2379;  // netns mode: every node has its own IP
constexpr uint16_t kPeerPort = 2380;
constexpr Millis kReapTimeout{5000};
constexpr Millis kPollInterval{20};

// The harness's subnet: a 10.214.X.0/24 that no interface on this machine
// has yet (.1 is the bridge), chosen and taken under an exclusive lock so
// that two runs starting together cannot pick the same X. Picking X from
// the pid alone once gave two concurrent runs the same subnet, and one
// run's clients wrote into the other's cluster (tests/chaos/FINDINGS.md
// #6). 10.214, not the 10.213 of the harness before that fix, so that an
// older binary still running beside this one cannot collide either.
class SubnetLock {
 public:
  SubnetLock() : fd_(::open("/run/lock/chaos-subnet.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~SubnetLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  SubnetLock(const SubnetLock&) = delete;
  SubnetLock& operator=(const SubnetLock&) = delete;

 private:
  int fd_;
};

Result<std::string> free_subnet_prefix() {
  std::string addrs;
  if (run_command("ip -o -4 addr show", &addrs) != 0) {
    return Status(Code::kUnavailable, "ip -o -4 addr show: " + addrs);
  }
  for (int k = 0; k < 250; k++) {
    std::string pre = "10.214." + std::to_string((::getpid() + k) % 250) + ".";
    if (addrs.find(" " + pre) == std::string::npos) return pre;
  }
  return Status(Code::kUnavailable, "every 10.214.X.0/24 is in use");
}

// A command prefix that runs in the node's network namespace and nowhere
// else. Not `ip netns exec`: that also makes a new mount namespace with a
// copy of every mount of the machine, and mounts here are private, so the
// copy keeps a filesystem alive that another run (or this one) unmounts at
// that moment; its next mount then reuses the old superblock
// (tests/chaos/FINDINGS.md #7).
std::string in_netns(const std::string& ns) {
  return "nsenter --net=/var/run/netns/" + ns + " ";
}

void reap(pid_t pid) {
  auto deadline = Clock::now() + kReapTimeout;
  while (Clock::now() < deadline) {
    int st = 0;
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid || r < 0) return;
    std::this_thread::sleep_for(Millis(2));
  }
  std::fprintf(stderr, "chaos: pid %d not reaped after SIGKILL\n", pid);
}

}  // namespace

int run_command(const std::string& cmd, std::string* out) {
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return -1;
  char buf[512];
  std::string text;
  while (size_t n = std::fread(buf, 1, sizeof buf, f)) text.append(buf, n);
  int st = ::pclose(f);
  if (out) *out = text;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Namespaces and bridges of earlier runs whose process is gone (killed by a
// second Ctrl-C or -9): ours by name, so removing them touches nothing else.
void remove_stale_networks() {
  std::string out;
  run_command("ip -o netns list; ip -o link show type bridge", &out);
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::string name = line.substr(0, line.find(' '));
    bool bridge = false;
    if (name.size() > 3 && std::isdigit(static_cast<unsigned char>(name[0]))) {
      // "12: chb123: <...>" from ip -o link
      auto colon = line.find(": ");
      name = line.substr(colon + 2, line.find(':', colon + 2) - colon - 2);
      bridge = true;
    }
    std::string prefix = bridge ? "chb" : "chaos";
    if (name.rfind(prefix, 0) != 0) continue;
    size_t end = prefix.size();
    while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) end++;
    if (end == prefix.size()) continue;
    std::string pid = name.substr(prefix.size(), end - prefix.size());
    if (fs::exists("/proc/" + pid)) continue;
    run_command(bridge ? "ip link del " + name : "ip netns del " + name);
  }
}

Result<std::unique_ptr<ChaosCluster>> ChaosCluster::create(ClusterConfig cfg) {
  remove_stale_networks();
  std::unique_ptr<ChaosCluster> c(new ChaosCluster(std::move(cfg)));
  c->tag_ = std::to_string(::getpid());
  std::error_code ec;
  fs::create_directories(c->cfg_.work_dir, ec);
  if (ec) return Status(Code::kIoError, "cannot create " + c->cfg_.work_dir + ": " + ec.message());
  c->nodes_.resize(c->cfg_.nodes);
  for (size_t i = 0; i < c->nodes_.size(); i++) {
    c->nodes_[i].name = "n" + std::to_string(i + 1);
    c->nodes_[i].log_path = c->cfg_.work_dir + "/" + c->nodes_[i].name + ".log";
  }
  bool netns_ok = false;
  if (c->cfg_.want_netns && run_command("unshare --net true") == 0) {
    Status s = c->setup_netns();
    if (s.is_ok()) {
      netns_ok = true;
    } else {
      std::fprintf(stderr, "chaos: netns mode unavailable (%s); using loopback\n",
                   s.message().c_str());
      c->teardown();
    }
  }
  if (!netns_ok) {
    if (Status s = c->setup_loopback(); !s.is_ok()) return s;
  }
  if (c->cfg_.power_loss) {
    if (Status s = c->mount_data(); !s.is_ok()) return s;
  }
  std::string base = c->cfg_.power_loss ? c->mount_ : c->cfg_.work_dir;
  // A run always starts from empty stores: an out dir reused from an
  // earlier run holds another cluster (its id derives from the addresses).
  for (auto& n : c->nodes_) {
    n.data_dir = base + "/" + n.name + ".data";
    fs::remove_all(n.data_dir, ec);
    fs::remove(n.log_path, ec);
    if (c->cfg_.disk_faults && !c->cfg_.power_loss) {
      if (Status s = c->mount_small_disk(n); !s.is_ok()) return s;
    }
  }
  return c;
}

Status ChaosCluster::setup_netns() {
  bridge_ = "chb" + tag_;
  SubnetLock lock;  // until our bridge holds its address
  auto free = free_subnet_prefix();
  if (!free.is_ok()) return free.status();
  std::string pre = subnet_ = *free;
  auto sh = [](const std::string& cmd) -> Status {
    std::string out;
    if (run_command(cmd, &out) != 0) return Status(Code::kUnavailable, cmd + ": " + out);
    return Status::ok();
  };
  if (Status s = sh("ip link add " + bridge_ + " type bridge"); !s.is_ok()) return s;
  if (Status s = sh("ip addr add " + pre + "1/24 dev " + bridge_); !s.is_ok()) return s;
  if (Status s = sh("ip link set " + bridge_ + " up"); !s.is_ok()) return s;
  for (size_t i = 0; i < nodes_.size(); i++) {
    NodeProc& n = nodes_[i];
    n.netns = "chaos" + tag_ + n.name;
    n.ip = pre + std::to_string(11 + i);
    n.client_port = kClientPort;
    n.peer_port = kPeerPort;
    std::string veth = "chv" + tag_ + n.name;
    std::string in_ns = in_netns(n.netns);
    for (const std::string& cmd :
         {"ip netns add " + n.netns,
          "ip link add " + veth + " type veth peer name eth0 netns " + n.netns,
          "ip link set " + veth + " master " + bridge_, "ip link set " + veth + " up",
          in_ns + "ip addr add " + n.ip + "/24 dev eth0", in_ns + "ip link set eth0 up",
          in_ns + "ip link set lo up"}) {
      if (Status s = sh(cmd); !s.is_ok()) return s;
    }
  }
  // Partitions need nft inside the namespaces; without it, netns mode would
  // silently skip them, so say no here instead.
  if (Status s = sh(in_netns(nodes_[0].netns) + "nft list tables"); !s.is_ok()) {
    return Status(Code::kUnavailable,
                  "nft does not work in a namespace (apt-get install nftables)");
  }
  netns_ = true;
  return Status::ok();
}

Status ChaosCluster::setup_loopback() {
  netns_ = false;
  bridge_.clear();
  // Ports from our pid so that concurrent runs do not collide; a collision
  // shows as a node that exits at once, reported by start().
  uint16_t base = static_cast<uint16_t>(20000 + (::getpid() % 2000) * 10);
  for (size_t i = 0; i < nodes_.size(); i++) {
    nodes_[i].netns.clear();
    nodes_[i].ip = "127.0.0.1";
    nodes_[i].client_port = static_cast<uint16_t>(base + 2 * i);
    nodes_[i].peer_port = static_cast<uint16_t>(base + 2 * i + 1);
  }
  return Status::ok();
}

Status ChaosCluster::mount_data() {
  if (run_command("command -v mkfs.xfs && command -v xfs_io") != 0) {
    return Status(Code::kUnavailable, "--power-loss needs xfsprogs (apt-get install xfsprogs)");
  }
  image_ = cfg_.work_dir + "/data.xfs";
  mount_ = cfg_.work_dir + "/mnt";
  fs::create_directories(mount_);
  std::string out;
  // 320 MiB: XFS refuses filesystems under 300 MiB.
  if (run_command("truncate -s 320M " + image_ + " && mkfs.xfs -q -f " + image_, &out) != 0) {
    return Status(Code::kIoError, "mkfs.xfs failed: " + out);
  }
  if (run_command("losetup -f --show " + image_, &out) != 0) {
    return Status(Code::kUnavailable, "no loop device: " + out);
  }
  loopdev_ = out.substr(0, out.find('\n'));
  if (run_command("mount " + loopdev_ + " " + mount_, &out) != 0) {
    return Status(Code::kUnavailable, "cannot mount the XFS image: " + out);
  }
  return Status::ok();
}

// 256 MiB: room for the run's data (a few MB) and RocksDB's preallocated
// WAL, small enough that filling it is instant. ext4 on a loop device, not
// tmpfs: tmpfs refuses remount,ro while files are open for writing, and
// ext4 mounted errors=remount-ro goes read-only on an fs error exactly as
// it would on a failing disk (disk-ro). No reserved blocks (-m 0): the
// servers run as root and would otherwise write into the reserve after
// disk-full "filled" the disk.
Status ChaosCluster::mount_small_disk(NodeProc& n) {
  if (run_command("command -v mkfs.ext4 && command -v e2fsck") != 0) {
    return Status(Code::kUnavailable, "--disk-faults needs e2fsprogs (mkfs.ext4, e2fsck)");
  }
  n.disk_image = cfg_.work_dir + "/" + n.name + ".ext4";
  std::string out;
  if (run_command("truncate -s 256M " + n.disk_image + " && mkfs.ext4 -q -F -m 0 -E " +
                      "lazy_itable_init=0,lazy_journal_init=0 " + n.disk_image,
                  &out) != 0) {
    return Status(Code::kIoError, "mkfs.ext4 failed: " + out);
  }
  if (run_command("losetup -f --show " + n.disk_image, &out) != 0) {
    return Status(Code::kUnavailable, "no loop device: " + out);
  }
  n.disk_loop = out.substr(0, out.find('\n'));
  n.disk_mount = n.data_dir + ".mnt";
  fs::create_directories(n.disk_mount);
  if (run_command("mount -o errors=remount-ro " + n.disk_loop + " " + n.disk_mount, &out) != 0) {
    n.disk_mount.clear();
    return Status(Code::kUnavailable, "cannot mount the ext4 image for disk faults: " + out);
  }
  n.data_dir = n.disk_mount + "/data";
  return Status::ok();
}

Status ChaosCluster::fail_disk_readonly(size_t i) {
  const NodeProc& n = nodes_[i];
  if (n.disk_loop.empty()) return Status(Code::kFailedPrecondition, "not started with disk faults");
  // What ext4_error() does on a real I/O or corruption error: the journal
  // aborts and, with errors=remount-ro, the filesystem turns read-only
  // under the open files; every later write and fsync fails with EROFS.
  std::string dev = n.disk_loop.substr(n.disk_loop.rfind('/') + 1);
  std::ofstream trigger("/sys/fs/ext4/" + dev + "/trigger_fs_error");
  trigger << "chaos disk-ro fault\n";
  trigger.flush();
  if (!trigger) {
    return Status(Code::kIoError, "cannot write /sys/fs/ext4/" + dev + "/trigger_fs_error");
  }
  trigger.close();
  if (!disk_readonly(i)) {
    return Status(Code::kIoError, n.disk_mount + " still read-write after an ext4 error");
  }
  return Status::ok();
}

namespace {

bool mounted(const std::string& dir) {
  std::ifstream mounts("/proc/mounts");
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream f(line);
    std::string dev, mount_point;
    f >> dev >> mount_point;
    if (mount_point == dir) return true;
  }
  return false;
}

}  // namespace

bool ChaosCluster::disk_readonly(size_t i) const {
  std::ifstream mounts("/proc/mounts");
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream f(line);
    std::string dev, dir, type, options;
    f >> dev >> dir >> type >> options;
    if (dir != nodes_[i].disk_mount) continue;
    // A remount after an error shows as "emergency_ro" on recent kernels,
    // as plain "ro" on older ones.
    options = "," + options + ",";
    return options.find(",ro,") != std::string::npos ||
           options.find(",emergency_ro,") != std::string::npos;
  }
  return false;
}

Status ChaosCluster::repair_disk(size_t i) {
  NodeProc& n = nodes_[i];
  if (n.pid > 0) return Status(Code::kFailedPrecondition, n.name + " still runs on its disk");
  if (n.disk_loop.empty()) return Status(Code::kFailedPrecondition, "not started with disk faults");
  std::string out;
  // What an operator does after a disk error: unmount, let e2fsck replay
  // the journal and fix the counters the abort left, mount again.
  if (run_command("umount " + n.disk_mount, &out) != 0) {
    return Status(Code::kIoError, "umount " + n.disk_mount + ": " + out);
  }
  // Until whatever else still held the old superblock lets go (an `ip
  // netns exec` of another run: FINDINGS #7), e2fsck finds the device busy
  // or the mount gets the old, read-only filesystem back: try again.
  std::string why;
  for (int attempt = 0; attempt < 26; attempt++) {
    if (attempt > 0) std::this_thread::sleep_for(Millis(200));
    int fsck = run_command("e2fsck -fy " + n.disk_loop, &out);
    // 0: clean, 1: errors fixed; 4 and above: left uncorrected or failed.
    if (fsck < 0 || fsck >= 4) {
      why = "e2fsck " + n.disk_loop + " exited " + std::to_string(fsck) + ": " + out;
      continue;
    }
    if (run_command("mount -o errors=remount-ro " + n.disk_loop + " " + n.disk_mount, &out) != 0) {
      why = "mount " + n.disk_mount + " after fsck: " + out;
      continue;
    }
    std::string probe = n.disk_mount + "/.chaos-rw";
    if (run_command("touch " + probe + " && rm " + probe, &out) == 0) return Status::ok();
    why = n.disk_mount + " still read-only after fsck and mount: " + out;
    run_command("umount " + n.disk_mount);
  }
  return Status(Code::kIoError, why);
}

Status ChaosCluster::slow_links(const std::set<std::pair<size_t, size_t>>& pairs, Millis delay,
                                Millis jitter, uint64_t seed) {
  if (!netns_) return Status(Code::kFailedPrecondition, "network faults need netns mode");
  if (Status s = heal_network(); !s.is_ok()) return s;
  partitioned_ = true;
  const std::string bridge_ip = subnet_ + "1";
  std::map<size_t, std::string> rules;  // node -> its DNAT rules
  std::set<std::pair<size_t, size_t>> dialled;
  for (auto [a, b] : pairs) {
    // Each node dials the other to send to it: both connections are slowed.
    for (auto [from, to] : {std::pair{a, b}, std::pair{b, a}}) {
      DelayProxyOptions o;
      o.listen_host = bridge_ip;
      o.target_host = nodes_[to].ip;
      o.target_port = nodes_[to].peer_port;
      o.delay = delay;
      o.jitter = jitter;
      o.seed = seed + proxies_.size();
      auto p = DelayProxy::start(o);
      if (!p.is_ok()) return p.status();
      rules[from] += "add rule ip chaosdelay out ip daddr " + nodes_[to].ip + " tcp dport " +
                     std::to_string(nodes_[to].peer_port) + " dnat to " + bridge_ip + ":" +
                     std::to_string((*p)->port()) + "\n";
      proxies_.push_back(std::move(p.value()));
      dialled.insert({from, to});
    }
  }
  for (const auto& [i, node_rules] : rules) {
    // The output hook sees the node's own connections; nat rules apply to
    // a connection's first packet only, hence the resets below.
    std::string script =
        "add table ip chaosdelay\n"
        "add chain ip chaosdelay out { type nat hook output priority -100; }\n" +
        node_rules;
    std::string path = cfg_.work_dir + "/nft-delay-" + nodes_[i].name;
    std::ofstream(path) << script;
    std::string out;
    if (run_command(in_netns(nodes_[i].netns) + "nft -f " + path, &out) != 0) {
      return Status(Code::kIoError, "nft in " + nodes_[i].netns + ": " + out);
    }
  }
  for (auto [from, to] : dialled) {
    // SOCK_DESTROY (ss -K) aborts the socket and sends the peer a reset:
    // both nodes drop the direct connection and the dialler redials, now
    // through the proxy.
    std::string out;
    run_command(in_netns(nodes_[from].netns) + "ss -K -tn dst " + nodes_[to].ip +
                    " dport = :" + std::to_string(nodes_[to].peer_port),
                &out);
  }
  return Status::ok();
}

ChaosCluster::LinkTraffic ChaosCluster::slow_link_traffic() const {
  LinkTraffic t;
  for (const auto& p : proxies_) {
    t.connections += p->connections_accepted();
    t.bytes += p->bytes_forwarded();
  }
  return t;
}

void ChaosCluster::stop_proxies() {
  // Each stop() resets the connections it carried: the nodes redial, and
  // with the DNAT rules gone they reach each other directly again.
  for (auto& p : proxies_) p->stop();
  proxies_.clear();
}

Status ChaosCluster::fill_disk(size_t i) {
  const NodeProc& n = nodes_[i];
  if (n.disk_mount.empty())
    return Status(Code::kFailedPrecondition, "not started with disk faults");
  std::string out;
  // Most of the space at once, then dd writes the last pages until ENOSPC.
  std::string m = n.disk_mount;
  std::string cmd = "avail=$(df -B1 --output=avail " + m + " | tail -1); fallocate -l $((avail - " +
                    "65536)) " + m + "/ballast && { dd if=/dev/zero of=" + m +
                    "/ballast2 bs=4096 2>/dev/null; true; }";
  if (run_command("sh -c '" + cmd + "'", &out) != 0) {
    return Status(Code::kIoError, "filling " + n.disk_mount + ": " + out);
  }
  return Status::ok();
}

Status ChaosCluster::free_disk(size_t i) {
  const NodeProc& n = nodes_[i];
  std::error_code ec;
  fs::remove(n.disk_mount + "/ballast", ec);
  fs::remove(n.disk_mount + "/ballast2", ec);
  return Status::ok();
}

Status ChaosCluster::power_cycle() {
  if (mount_.empty()) return Status(Code::kFailedPrecondition, "not started with --power-loss");
  kill9_all();
  std::string out;
  // shutdown without -f: the log is not flushed, dirty pages are dropped.
  if (run_command("xfs_io -x -c shutdown " + mount_, &out) != 0) {
    return Status(Code::kIoError, "xfs_io shutdown failed: " + out);
  }
  // The mount must give a new superblock (log recovery). Once (seed
  // 910389, FINDINGS #7) umount and mount both succeeded without the
  // kernel unmounting the filesystem (no "Unmounting" in dmesg): something
  // still held the old superblock, the mount reused it, and the nodes
  // found a shut-down filesystem (EIO). So check, and retry for a while.
  for (int attempt = 0;; attempt++) {
    if (run_command("umount " + mount_ + " && mount " + loopdev_ + " " + mount_, &out) != 0) {
      return Status(Code::kIoError, "remount after power loss failed: " + out);
    }
    if (run_command("ls " + mount_, &out) == 0) break;
    if (attempt == 25) {
      return Status(Code::kIoError, "the XFS filesystem is still shut down after " +
                                        std::to_string(attempt + 1) + " remounts: " + out);
    }
    std::fprintf(stderr, "chaos: %s still shut down after a remount; again\n", mount_.c_str());
    std::this_thread::sleep_for(Millis(200));
  }
  return start_all();
}

void ChaosCluster::teardown() {
  for (size_t i = 0; i < nodes_.size(); i++) {
    if (nodes_[i].pid > 0) kill9(i);
  }
  stop_proxies();
  for (auto& n : nodes_) {
    if (!n.netns.empty()) run_command("ip netns del " + n.netns);
    n.netns.clear();
  }
  if (!bridge_.empty()) run_command("ip link del " + bridge_);
  bridge_.clear();
  if (!mount_.empty()) {
    run_command("umount " + mount_);
    mount_.clear();
  }
  for (auto& n : nodes_) {
    if (!n.disk_mount.empty()) run_command("umount " + n.disk_mount);
    n.disk_mount.clear();
    if (!n.disk_loop.empty()) run_command("losetup -d " + n.disk_loop);
    n.disk_loop.clear();
    if (!n.disk_image.empty()) std::remove(n.disk_image.c_str());
    n.disk_image.clear();
  }
  if (!loopdev_.empty()) {
    run_command("losetup -d " + loopdev_);
    loopdev_.clear();
  }
  if (!image_.empty()) std::remove(image_.c_str());
}

ChaosCluster::~ChaosCluster() {
  teardown();
}

std::string ChaosCluster::mode_description() const {
  std::string m = netns_ ? "netns (one namespace per node on bridge " + bridge_ + ", " + subnet_ +
                               "0/24" + ", partitions by nft inside the namespaces)"
                         : "loopback (127.0.0.1; partitions unavailable)";
  if (!mount_.empty()) m += ", data on XFS loop mount (power loss by xfs_io shutdown)";
  if (cfg_.disk_faults) m += ", each data dir on its own ext4 loop mount (disk-full, disk-ro)";
  if (cfg_.eatmydata) m += ", servers under eatmydata (fsync disabled)";
  return m;
}

std::vector<std::string> ChaosCluster::endpoints() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_) out.push_back(n.client_address());
  return out;
}

std::vector<std::string> ChaosCluster::node_argv(size_t i) const {
  const NodeProc& n = nodes_[i];
  std::string ic;
  for (const auto& m : nodes_) {
    ic += (ic.empty() ? "" : ",") + m.name + "=" + m.ip + ":" + std::to_string(m.peer_port);
  }
  std::vector<std::string> argv;
  if (cfg_.eatmydata) argv.push_back("/usr/bin/eatmydata");
  argv.insert(
      argv.end(),
      {cfg_.changeagent_bin, "--name=" + n.name, "--data-dir=" + n.data_dir,
       "--listen-client=" + n.client_address(),
       "--listen-peer=" + n.ip + ":" + std::to_string(n.peer_port), "--initial-cluster=" + ic,
       "--initial-cluster-token=chaos", "--tick-ms=" + std::to_string(cfg_.tick_ms),
       "--heartbeat-ticks=2", "--election-ticks=" + std::to_string(cfg_.election_ticks),
       "--request-timeout-ms=" + std::to_string(cfg_.request_timeout_ms), "--log-level=info",
       // Three nodes share the 320 MiB power-loss filesystem, so the default
       // 64 MB floor would refuse restarts; disk-full still fills to ~0.
       "--min-free-disk-mb=4"});
  // A node whose disk failed exits (75) for a supervisor to restart it;
  // sooner than the default 5 s so that disk-ro's hold sees the exit.
  if (cfg_.disk_faults) argv.push_back("--storage-failure-exit-ms=1000");
  return argv;
}

Status ChaosCluster::start(size_t i) {
  NodeProc& n = nodes_[i];
  // A node that exited on its own (status 75 after a disk error) is
  // restarted, not taken for running.
  if (n.pid > 0) (void)wait_exit(i, Millis(0));
  if (n.pid > 0) return Status::ok();
  // Never on the bare mount point of a disk that a failed repair left
  // unmounted: the node would start with an empty store under its old
  // identity, a lost disk, which is not the fault being tested.
  if (!n.disk_mount.empty() && !mounted(n.disk_mount)) {
    return Status(Code::kFailedPrecondition,
                  n.name + "'s disk " + n.disk_mount + " is not mounted");
  }
  auto argv = node_argv(i);
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::string ns_path = n.netns.empty() ? "" : "/var/run/netns/" + n.netns;
  {
    std::ofstream log(n.log_path, std::ios::app);
    log << "=== chaos: starting " << n.name << "\n";
  }
  pid_t pid = ::fork();
  if (pid < 0) return Status(Code::kIoError, "fork failed");
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (!ns_path.empty()) {
      int fd = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) ::_exit(126);
    }
    int log = ::open(n.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  n.pid = pid;
  n.stopped = false;
  // Serving means the HTTP port answers; an early exit is a start failure.
  auto deadline = Clock::now() + Millis(10000);
  auto c = client(i, Millis(500));
  while (Clock::now() < deadline) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      n.pid = -1;
      return Status(Code::kUnavailable, n.name + " exited at start:\n" + log_tail(i, 15));
    }
    if (c->diagnostics().is_ok()) return Status::ok();
    std::this_thread::sleep_for(kPollInterval);
  }
  return Status(Code::kTimeout, n.name + " did not serve within 10 s:\n" + log_tail(i, 15));
}

Status ChaosCluster::start_all() {
  for (size_t i = 0; i < nodes_.size(); i++) {
    if (Status s = start(i); !s.is_ok()) return s;
  }
  return Status::ok();
}

int ChaosCluster::wait_exit(size_t i, Millis timeout) {
  NodeProc& n = nodes_[i];
  if (n.pid <= 0) return -1;
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int st = 0;
    if (::waitpid(n.pid, &st, WNOHANG) == n.pid) {
      n.pid = -1;
      n.stopped = false;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    if (Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(Millis(5));
  }
}

void ChaosCluster::kill9(size_t i) {
  NodeProc& n = nodes_[i];
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGKILL);
  reap(n.pid);
  n.pid = -1;
  n.stopped = false;
}

void ChaosCluster::kill9_all() {
  // Signal all before reaping any: one instant for the whole cluster.
  for (auto& n : nodes_) {
    if (n.pid > 0) ::kill(n.pid, SIGKILL);
  }
  for (size_t i = 0; i < nodes_.size(); i++) kill9(i);
}

void ChaosCluster::sigstop(size_t i) {
  if (nodes_[i].pid <= 0) return;
  ::kill(nodes_[i].pid, SIGSTOP);
  nodes_[i].stopped = true;
}

void ChaosCluster::sigcont(size_t i) {
  if (nodes_[i].pid <= 0) return;
  ::kill(nodes_[i].pid, SIGCONT);
  nodes_[i].stopped = false;
}

Status ChaosCluster::partition(const std::set<size_t>& side_a) {
  std::map<size_t, std::string> rules;
  for (size_t i = 0; i < nodes_.size(); i++) {
    for (size_t j = 0; j < nodes_.size(); j++) {
      if (side_a.count(i) == side_a.count(j)) continue;
      rules[i] += "add rule inet chaos in ip saddr " + nodes_[j].ip + " drop\n";
      rules[i] += "add rule inet chaos out ip daddr " + nodes_[j].ip + " drop\n";
    }
  }
  return install_rules(rules);
}

Status ChaosCluster::drop_one_way(size_t from, size_t to) {
  // Dropped on arrival at `to`: `from` still hears everything `to` sends,
  // so it keeps believing the link works (the asymmetric case a
  // symmetric partition never shows).
  return install_rules({{to, "add rule inet chaos in ip saddr " + nodes_[from].ip + " drop\n"}});
}

Status ChaosCluster::random_loss(uint32_t percent) {
  std::map<size_t, std::string> rules;
  for (size_t i = 0; i < nodes_.size(); i++) {
    for (size_t j = 0; j < nodes_.size(); j++) {
      if (i == j) continue;
      // Inbound only: each direction of a link is then lost at `percent`.
      rules[i] += "add rule inet chaos in ip saddr " + nodes_[j].ip + " numgen random mod 100 < " +
                  std::to_string(percent) + " drop\n";
    }
  }
  return install_rules(rules);
}

Status ChaosCluster::install_rules(const std::map<size_t, std::string>& rules) {
  if (!netns_) return Status(Code::kFailedPrecondition, "network faults need netns mode");
  if (Status s = heal_network(); !s.is_ok()) return s;
  partitioned_ = true;
  for (const auto& [i, node_rules] : rules) {
    std::string script =
        "add table inet chaos\n"
        "add chain inet chaos in { type filter hook input priority 0; }\n"
        "add chain inet chaos out { type filter hook output priority 0; }\n" +
        node_rules;
    std::string path = cfg_.work_dir + "/nft-" + nodes_[i].name;
    std::ofstream(path) << script;
    std::string out;
    if (run_command(in_netns(nodes_[i].netns) + "nft -f " + path, &out) != 0) {
      return Status(Code::kIoError, "nft in " + nodes_[i].netns + ": " + out);
    }
  }
  return Status::ok();
}

Status ChaosCluster::heal_network() {
  if (!netns_) return Status::ok();
  for (const auto& n : nodes_) {
    // Absent table: nothing to heal, and nft says so; not an error.
    run_command(in_netns(n.netns) + "nft delete table inet chaos");
    if (!proxies_.empty()) run_command(in_netns(n.netns) + "nft delete table ip chaosdelay");
  }
  stop_proxies();
  partitioned_ = false;
  return Status::ok();
}

std::unique_ptr<api::Client> ChaosCluster::client(size_t i, Millis timeout) {
  api::ClientOptions o;
  o.endpoints = {nodes_[i].client_address()};
  o.connect_timeout = timeout;
  o.request_timeout = timeout;
  auto c = api::Client::create(o);
  return c.is_ok() ? std::move(c.value()) : nullptr;
}

Result<api::RaftDiagnostics> ChaosCluster::diagnostics(size_t i) {
  if (nodes_[i].pid <= 0 || nodes_[i].stopped) {
    return Status(Code::kUnavailable, nodes_[i].name + " is not running");
  }
  return client(i, Millis(500))->diagnostics();
}

int ChaosCluster::leader() {
  int agreed = -1;
  uint64_t leader_id = 0, term = 0;
  for (size_t i = 0; i < nodes_.size(); i++) {
    if (nodes_[i].pid <= 0 || nodes_[i].stopped) continue;
    auto d = diagnostics(i);
    if (!d.is_ok() || d->leader == 0) return -1;
    if (leader_id && (d->leader != leader_id || d->term != term)) return -1;
    leader_id = d->leader;
    term = d->term;
    if (d->id == d->leader) agreed = static_cast<int>(i);
  }
  return agreed;
}

Status ChaosCluster::wait_converged(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  std::string last = "no answer";
  while (Clock::now() < deadline) {
    int l = leader();
    if (l >= 0) {
      auto ld = diagnostics(static_cast<size_t>(l));
      bool all = ld.is_ok();
      for (size_t i = 0; all && i < nodes_.size(); i++) {
        auto d = diagnostics(i);
        all = d.is_ok() && d->applied_index == ld->committed_index;
        if (d.is_ok() && !all) {
          last = nodes_[i].name + " applied " + std::to_string(d->applied_index) + " of " +
                 std::to_string(ld->committed_index);
        }
      }
      if (all) return Status::ok();
    } else {
      last = "no agreed leader";
    }
    std::this_thread::sleep_for(Millis(50));
  }
  return Status(Code::kTimeout, "not converged: " + last);
}

std::string ChaosCluster::sockets(size_t i) const {
  if (nodes_[i].netns.empty()) return "";
  std::string out;
  run_command(in_netns(nodes_[i].netns) + "ss -tnoi", &out);
  return out;
}

std::string ChaosCluster::log_tail(size_t i, size_t lines) const {
  std::ifstream f(nodes_[i].log_path);
  std::vector<std::string> all;
  for (std::string l; std::getline(f, l);) all.push_back(l);
  std::ostringstream out;
  for (size_t k = all.size() > lines ? all.size() - lines : 0; k < all.size(); k++) {
    out << "  " << nodes_[i].name << "| " << all[k] << "\n";
  }
  return out.str();
}

}  // namespace chaos
