#include "tests/chaos/cluster.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
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

// The harness's subnet: 10.213.X.0/24 with X from our pid, so that two runs
// on one machine (not recommended) rarely collide; .1 is the bridge.
std::string subnet_prefix(pid_t pid) {
  return "10.213." + std::to_string(pid % 250) + ".";
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
  std::string pre = subnet_prefix(::getpid());
  bridge_ = "chb" + tag_;
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
    std::string in_ns = "ip netns exec " + n.netns + " ";
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
  if (Status s = sh("ip netns exec " + nodes_[0].netns + " nft list tables"); !s.is_ok()) {
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
// WAL, small enough that filling it is instant. tmpfs, not a loop device:
// ENOSPC and EROFS are what is under test here, not fsync.
Status ChaosCluster::mount_small_disk(NodeProc& n) {
  n.disk_mount = n.data_dir + ".mnt";
  fs::create_directories(n.disk_mount);
  std::string out;
  if (run_command("mount -t tmpfs -o size=256m chaos-" + n.name + " " + n.disk_mount, &out) != 0) {
    n.disk_mount.clear();
    return Status(Code::kUnavailable, "cannot mount a tmpfs for disk faults: " + out);
  }
  n.data_dir = n.disk_mount + "/data";
  return Status::ok();
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
  if (run_command("umount " + mount_ + " && mount " + loopdev_ + " " + mount_, &out) != 0) {
    return Status(Code::kIoError, "remount after power loss failed: " + out);
  }
  return start_all();
}

void ChaosCluster::teardown() {
  for (size_t i = 0; i < nodes_.size(); i++) {
    if (nodes_[i].pid > 0) kill9(i);
  }
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
    if (n.disk_mount.empty()) continue;
    run_command("umount " + n.disk_mount);
    n.disk_mount.clear();
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
  std::string m = netns_ ? "netns (one namespace per node on bridge " + bridge_ +
                               ", partitions by nft inside the namespaces)"
                         : "loopback (127.0.0.1; partitions unavailable)";
  if (!mount_.empty()) m += ", data on XFS loop mount (power loss by xfs_io shutdown)";
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
  return argv;
}

Status ChaosCluster::start(size_t i) {
  NodeProc& n = nodes_[i];
  if (n.pid > 0) return Status::ok();
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
    if (run_command("ip netns exec " + nodes_[i].netns + " nft -f " + path, &out) != 0) {
      return Status(Code::kIoError, "nft in " + nodes_[i].netns + ": " + out);
    }
  }
  return Status::ok();
}

Status ChaosCluster::heal_network() {
  if (!netns_) return Status::ok();
  for (const auto& n : nodes_) {
    // Absent table: nothing to heal, and nft says so; not an error.
    run_command("ip netns exec " + n.netns + " nft delete table inet chaos");
  }
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
  run_command("ip netns exec " + nodes_[i].netns + " ss -tnoi", &out);
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
