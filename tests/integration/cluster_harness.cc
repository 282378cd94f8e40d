#include "tests/integration/cluster_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#ifndef CHANGEAGENT_BIN
#error "CHANGEAGENT_BIN must name the changeagent binary"
#endif

namespace integration {

using common::Code;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

// Whole-cluster restarts after a port collision at first start.
constexpr int kStartAttemptsMax = 5;
// Between tries of a poll.
constexpr Millis kPollInterval{5};
// A SIGKILLed process is reaped within this, or something is badly wrong.
constexpr Millis kReapTimeout{5000};

// ---- every child we started, for the atexit safety net ----

std::mutex& live_mu() {
  static auto* mu = new std::mutex;
  return *mu;
}
std::set<pid_t>& live_pids() {
  static auto* pids = new std::set<pid_t>;
  return *pids;
}

void kill_live_at_exit() {
  std::lock_guard lock(live_mu());
  for (pid_t pid : live_pids()) ::kill(pid, SIGKILL);
}

void register_pid(pid_t pid) {
  static std::once_flag once;
  std::call_once(once, [] { std::atexit(kill_live_at_exit); });
  std::lock_guard lock(live_mu());
  live_pids().insert(pid);
}

void unregister_pid(pid_t pid) {
  std::lock_guard lock(live_mu());
  live_pids().erase(pid);
}

Exit decode_wait_status(int status) {
  Exit e;
  if (WIFSIGNALED(status)) {
    e.signaled = true;
    e.signal = WTERMSIG(status);
  } else {
    e.code = WEXITSTATUS(status);
  }
  return e;
}

// waitpid(WNOHANG) in a loop until the deadline.
std::optional<Exit> reap(pid_t pid, Clock::time_point deadline) {
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      unregister_pid(pid);
      return decode_wait_status(status);
    }
    if (r < 0 && errno != EINTR) {
      unregister_pid(pid);
      return Exit{true, 0, 0};  // not our child any more
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
}

// fork + exec of the server binary with stdout to `out_path` and stderr to
// `err_path` (both appended). Everything the child runs after fork is
// async-signal-safe: argv is built before.
Result<pid_t> spawn_process(const std::vector<std::string>& args, const std::string& out_path,
                            const std::string& err_path) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(CHANGEAGENT_BIN));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int err_fd = out_path == err_path
                   ? out_fd
                   : ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || err_fd < 0 || null_fd < 0) {
    return Status(Code::kIoError, "cannot open log files: " + std::string(std::strerror(errno)));
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    // The kernel kills us when the test process dies, however it dies.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::close_range(3, ~0U, 0);  // no test socket or file leaks into the server
    ::execv(CHANGEAGENT_BIN, argv.data());
    ::_exit(127);
  }
  int fork_errno = errno;
  ::close(out_fd);
  if (err_fd != out_fd) ::close(err_fd);
  ::close(null_fd);
  if (pid < 0) return Status(Code::kIoError, "fork: " + std::string(std::strerror(fork_errno)));
  register_pid(pid);
  return pid;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void append_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app);
  out << text;
}

std::string tail_lines(const std::string& text, size_t lines) {
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') pos--;
  for (size_t n = 0; n < lines && pos > 0; n++) {
    size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) {
      pos = 0;
      break;
    }
    pos = nl;
  }
  return text.substr(pos == 0 ? 0 : pos + 1);
}

// True when nothing listens on 127.0.0.1:port and we could take it.
bool port_free(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// `count` distinct ports the kernel handed out for port 0, all held until
// every one is picked so that they differ, then released.
Result<std::vector<uint16_t>> free_ports(size_t count) {
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  Status st = Status::ok();
  for (size_t i = 0; i < count && st.is_ok(); i++) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      st = Status(Code::kIoError, "cannot pick a free port: " + std::string(std::strerror(errno)));
    } else {
      ports.push_back(ntohs(a.sin_port));
    }
    if (fd >= 0) fds.push_back(fd);
  }
  for (int fd : fds) ::close(fd);
  if (!st.is_ok()) return st;
  return ports;
}

bool says_port_taken(const std::string& log) {
  return log.find("already in use") != std::string::npos;
}

}  // namespace

// ---------------------------------------------------------------- Cluster

Cluster::Cluster(ClusterOptions opts) : opts_(std::move(opts)) {
  std::string tmpl = (fs::temp_directory_path() / "changeagent-it-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    std::fprintf(stderr, "integration: mkdtemp failed: %s\n", std::strerror(errno));
    std::abort();
  }
  dir_ = buf.data();
  if (const char* keep = std::getenv("CA_IT_KEEP"); keep && std::string(keep) == "1") {
    opts_.keep_dir = true;
  }
  for (size_t i = 0; i < opts_.nodes; i++) {
    NodeSpec n;
    n.name = "n" + std::to_string(i + 1);
    n.data_dir = dir_ + "/" + n.name + ".data";
    n.log_path = dir_ + "/" + n.name + ".log";
    n.token = opts_.token;
    nodes_.push_back(std::move(n));
  }
}

Cluster::~Cluster() {
  for (size_t i = 0; i < nodes_.size(); i++) {
    if (running(i)) kill9(i);
  }
  if (opts_.keep_dir) {
    std::fprintf(stderr, "integration: kept data and logs in %s\n", dir_.c_str());
  } else {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

Status Cluster::pick_ports() {
  auto ports = free_ports(2 * nodes_.size());
  if (!ports.is_ok()) return ports.status();
  initial_cluster_.clear();
  for (size_t i = 0; i < nodes_.size(); i++) {
    nodes_[i].client_port = (*ports)[2 * i];
    nodes_[i].peer_port = (*ports)[2 * i + 1];
    if (!initial_cluster_.empty()) initial_cluster_ += ",";
    initial_cluster_ += nodes_[i].name + "=" + nodes_[i].peer_address();
  }
  return Status::ok();
}

std::string Cluster::initial_cluster() const {
  return initial_cluster_;
}

Result<uint16_t> Cluster::free_port() {
  auto p = free_ports(1);
  if (!p.is_ok()) return p.status();
  return p->front();
}

Result<size_t> Cluster::add_joining_node(Millis timeout) {
  std::string urls;
  for (const auto& n : nodes_) {
    if (n.pid <= 0 || n.retired) continue;
    urls += (urls.empty() ? "" : ",") + n.client_address();
  }
  if (urls.empty()) return Status(Code::kFailedPrecondition, "no running node to join through");
  auto ports = free_ports(2);
  if (!ports.is_ok()) return ports.status();
  NodeSpec n;
  n.name = "n" + std::to_string(nodes_.size() + 1);
  n.data_dir = dir_ + "/" + n.name + ".data";
  n.log_path = dir_ + "/" + n.name + ".log";
  n.token = opts_.token;
  n.client_port = (*ports)[0];
  n.peer_port = (*ports)[1];
  n.joined = true;
  n.join_urls = urls;
  nodes_.push_back(std::move(n));
  size_t i = nodes_.size() - 1;
  if (Status s = spawn(i); !s.is_ok()) return s;
  bool taken = false;
  if (Status s = wait_serving(i, timeout, taken); !s.is_ok()) {
    if (running(i)) kill9(i);
    return s;
  }
  return i;
}

void Cluster::retire(size_t i) {
  if (running(i)) kill9(i);
  nodes_[i].retired = true;
  append_file(nodes_[i].log_path, "=== harness: " + nodes_[i].name + " retired\n");
}

std::string Cluster::make_dir(const std::string& name) {
  std::string path = dir_ + "/" + name;
  fs::create_directories(path);
  return path;
}

std::vector<std::string> Cluster::node_args(size_t i) const {
  const NodeSpec& n = nodes_[i];
  std::vector<std::string> args{
      "--name=" + n.name,
      "--data-dir=" + n.data_dir,
      (opts_.https ? "--listen-client-https=" : "--listen-client=") + n.client_address(),
      "--listen-peer=" + n.peer_address(),
      n.joined ? "--join=" + n.join_urls : "--initial-cluster=" + initial_cluster(),
      "--initial-cluster-token=" + n.token,
      "--tick-ms=" + std::to_string(opts_.tick_ms),
      "--heartbeat-ticks=" + std::to_string(opts_.heartbeat_ticks),
      "--election-ticks=" + std::to_string(opts_.election_ticks),
      "--request-timeout-ms=" + std::to_string(opts_.request_timeout_ms),
      "--body-bytes-max=" + std::to_string(opts_.body_bytes_max),
      "--log-level=" + opts_.log_level};
  args.insert(args.end(), opts_.extra_args.begin(), opts_.extra_args.end());
  if (!n.bootstrap_args.empty()) {
    args.erase(args.begin() + 4);  // --initial-cluster or --join
    args.insert(args.end(), n.bootstrap_args.begin(), n.bootstrap_args.end());
  }
  args.insert(args.end(), n.extra_args.begin(), n.extra_args.end());
  return args;
}

Status Cluster::spawn(size_t i) {
  NodeSpec& n = nodes_[i];
  if (n.pid > 0) return Status(Code::kFailedPrecondition, n.name + " is already running");
  auto args = node_args(i);
  std::string line = "=== harness: starting " + n.name + ":";
  for (const auto& a : args) line += " " + a;
  append_file(n.log_path, line + "\n");
  auto pid = spawn_process(args, n.log_path, n.log_path);
  if (!pid.is_ok()) return pid.status();
  n.pid = *pid;
  n.stopped = false;
  n.last_exit.reset();
  return Status::ok();
}

std::optional<Exit> Cluster::poll_exit(size_t i) {
  NodeSpec& n = nodes_[i];
  if (n.pid <= 0) return n.last_exit;
  auto e = reap(n.pid, Clock::now());
  if (e) {
    append_file(n.log_path, "=== harness: " + n.name + " exited by itself\n");
    n.pid = -1;
    n.stopped = false;
    n.last_exit = e;
  }
  return e;
}

Status Cluster::wait_serving(size_t i, Millis timeout, bool& port_taken) {
  port_taken = false;
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto e = poll_exit(i)) {
      std::string log = read_log(i);
      port_taken = says_port_taken(log);
      return Status(Code::kUnavailable, nodes_[i].name + " exited at start-up (" +
                                            (e->signaled ? "signal " + std::to_string(e->signal)
                                                         : "code " + std::to_string(e->code)) +
                                            "): " + tail_lines(log, 3));
    }
    // Answering with its own name: not some other process on that port.
    auto d = diagnostics(i, Millis(500));
    if (d.is_ok() && d->name == nodes_[i].name) {
      nodes_[i].id = d->id;
      return Status::ok();
    }
    if (Clock::now() >= deadline) {
      return Status(Code::kTimeout, nodes_[i].name + " did not answer HTTP within " +
                                        std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(Millis(20));
  }
}

Status Cluster::start_all(Millis timeout) {
  if (nodes_.front().peer_port != 0) {
    // A restart: the ports are in the data dirs' membership and stay.
    for (size_t i = 0; i < nodes_.size(); i++) {
      if (running(i) || nodes_[i].retired) continue;
      if (auto s = start(i, timeout); !s.is_ok()) return s;
    }
    return Status::ok();
  }
  Status last = Status::ok();
  for (int attempt = 0; attempt < kStartAttemptsMax; attempt++) {
    if (auto s = pick_ports(); !s.is_ok()) return s;
    bool collided = false;
    last = Status::ok();
    for (size_t i = 0; i < nodes_.size() && last.is_ok(); i++) last = spawn(i);
    for (size_t i = 0; i < nodes_.size() && last.is_ok(); i++) {
      bool taken = false;
      last = wait_serving(i, timeout, taken);
      collided |= taken;
    }
    if (last.is_ok()) return last;
    for (size_t i = 0; i < nodes_.size(); i++) {
      if (running(i)) kill9(i);
    }
    if (!collided) return last;
    // Nothing was acknowledged yet: start over with empty dirs, new ports.
    for (auto& n : nodes_) {
      std::error_code ec;
      fs::remove_all(n.data_dir, ec);
      append_file(n.log_path, "=== harness: port collision, restarting with new ports\n");
    }
  }
  return last;
}

Status Cluster::start(size_t i, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto s = spawn(i); !s.is_ok()) return s;
    bool taken = false;
    Status s = wait_serving(i,
                            deadline - Clock::now() > Millis(0)
                                ? std::chrono::duration_cast<Millis>(deadline - Clock::now())
                                : Millis(0),
                            taken);
    if (s.is_ok() || !taken || Clock::now() >= deadline) {
      if (!s.is_ok() && running(i)) kill9(i);
      return s;
    }
    // The peer port is part of the membership and must stay; a taken
    // client port can move.
    if (!port_free(nodes_[i].client_port)) {
      auto p = free_ports(1);
      if (!p.is_ok()) return p.status();
      nodes_[i].client_port = p->front();
    }
    std::this_thread::sleep_for(Millis(50));
  }
}

void Cluster::kill9(size_t i) {
  NodeSpec& n = nodes_[i];
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGKILL);
  auto e = reap(n.pid, Clock::now() + kReapTimeout);
  append_file(n.log_path, "=== harness: " + n.name + " killed with SIGKILL\n");
  n.pid = -1;
  n.stopped = false;
  n.last_exit = e;
}

void Cluster::kill9_all() {
  for (const auto& n : nodes_) {
    if (n.pid > 0) ::kill(n.pid, SIGKILL);
  }
  for (size_t i = 0; i < nodes_.size(); i++) kill9(i);
}

Result<Exit> Cluster::terminate(size_t i, Millis timeout) {
  NodeSpec& n = nodes_[i];
  if (n.pid <= 0) return Status(Code::kFailedPrecondition, n.name + " is not running");
  append_file(n.log_path, "=== harness: sending SIGTERM to " + n.name + "\n");
  ::kill(n.pid, SIGTERM);
  if (n.stopped) ::kill(n.pid, SIGCONT);
  auto e = reap(n.pid, Clock::now() + timeout);
  if (!e) {
    kill9(i);
    return Status(Code::kTimeout, n.name + " did not exit within " +
                                      std::to_string(timeout.count()) + " ms of SIGTERM");
  }
  n.pid = -1;
  n.stopped = false;
  n.last_exit = e;
  return *e;
}

void Cluster::sigstop(size_t i) {
  if (nodes_[i].pid <= 0) return;
  ::kill(nodes_[i].pid, SIGSTOP);
  nodes_[i].stopped = true;
}

void Cluster::sigcont(size_t i) {
  if (nodes_[i].pid <= 0) return;
  ::kill(nodes_[i].pid, SIGCONT);
  nodes_[i].stopped = false;
}

// ---- observation ----

api::ClientOptions Cluster::client_options() const {
  api::ClientOptions o;
  o.ca_file = opts_.client_ca;
  o.cert_file = opts_.client_cert;
  o.key_file = opts_.client_key;
  return o;
}

std::string Cluster::client_url(size_t i) const {
  return (opts_.https ? "https://" : "http://") + nodes_[i].client_address();
}

std::unique_ptr<api::Client> Cluster::client(size_t i, Millis request_timeout) {
  api::ClientOptions o = client_options();
  o.endpoints = {client_url(i)};
  o.connect_timeout = Millis(1000);
  o.request_timeout = request_timeout;
  o.basic_auth = opts_.client_user;
  auto c = api::Client::create(o);
  return c.is_ok() ? std::move(c.value()) : nullptr;
}

std::unique_ptr<api::Client> Cluster::client_all(Millis request_timeout) {
  api::ClientOptions o = client_options();
  for (size_t i = 0; i < nodes_.size(); i++) o.endpoints.push_back(client_url(i));
  o.connect_timeout = Millis(1000);
  o.request_timeout = request_timeout;
  o.basic_auth = opts_.client_user;
  auto c = api::Client::create(o);
  return c.is_ok() ? std::move(c.value()) : nullptr;
}

Result<api::RaftDiagnostics> Cluster::diagnostics(size_t i, Millis timeout) {
  auto c = client(i, timeout);
  if (!c) return Status(Code::kInternal, "cannot make a client");
  return c->diagnostics();
}

std::optional<size_t> Cluster::leader() {
  std::map<size_t, api::RaftDiagnostics> seen;
  for (size_t i = 0; i < nodes_.size(); i++) {
    if (!running(i) || nodes_[i].stopped) continue;
    auto d = diagnostics(i, Millis(500));
    if (!d.is_ok()) continue;
    nodes_[i].id = d->id;
    seen[i] = *d;
  }
  size_t members = static_cast<size_t>(
      std::count_if(nodes_.begin(), nodes_.end(), [](const NodeSpec& n) { return !n.retired; }));
  size_t quorum = members / 2 + 1;
  for (const auto& [i, d] : seen) {
    if (d.state != "leader") continue;
    size_t agree = 0;
    for (const auto& [j, o] : seen) agree += o.leader == d.id && o.term == d.term;
    if (agree >= quorum) return i;
  }
  return std::nullopt;
}

Result<size_t> Cluster::wait_for_leader(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto l = leader()) return *l;
    if (Clock::now() >= deadline) {
      return Status(Code::kTimeout,
                    "no agreed leader within " + std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(Millis(10));
  }
}

std::vector<size_t> Cluster::followers(size_t leader) const {
  std::vector<size_t> out;
  for (size_t i = 0; i < nodes_.size(); i++) {
    if (i != leader && running(i)) out.push_back(i);
  }
  return out;
}

Status Cluster::wait_converged(Millis timeout, uint64_t min_index) {
  auto deadline = Clock::now() + timeout;
  std::string last_view;
  for (;;) {
    bool ok = true;
    uint64_t committed = 0;
    std::vector<uint64_t> applied;
    last_view.clear();
    for (size_t i = 0; i < nodes_.size() && ok; i++) {
      if (!running(i) || nodes_[i].stopped) continue;
      auto d = diagnostics(i, Millis(500));
      if (!d.is_ok()) {
        ok = false;
        last_view += nodes_[i].name + ": " + d.status().to_string() + "; ";
        break;
      }
      last_view += nodes_[i].name + ": " + d->state + " applied " +
                   std::to_string(d->applied_index) + " committed " +
                   std::to_string(d->committed_index) + "; ";
      if (d->state == "leader") committed = d->committed_index;
      applied.push_back(d->applied_index);
    }
    if (ok && committed > 0 && committed >= min_index && !applied.empty() &&
        std::all_of(applied.begin(), applied.end(), [&](uint64_t a) { return a == committed; })) {
      return Status::ok();
    }
    if (Clock::now() >= deadline) {
      return Status(Code::kTimeout, "not converged within " + std::to_string(timeout.count()) +
                                        " ms: " + last_view);
    }
    std::this_thread::sleep_for(Millis(10));
  }
}

Result<RunResult> Cluster::run_once(const std::vector<std::string>& args, Millis timeout) {
  static int runs = 0;
  std::string base = dir_ + "/run" + std::to_string(++runs);
  auto pid = spawn_process(args, base + ".out", base + ".err");
  if (!pid.is_ok()) return pid.status();
  auto e = reap(*pid, Clock::now() + timeout);
  if (!e) {
    ::kill(*pid, SIGKILL);
    (void)reap(*pid, Clock::now() + kReapTimeout);
    return Status(Code::kTimeout,
                  "the process did not exit within " + std::to_string(timeout.count()) +
                      " ms; its stderr: " + tail_lines(read_file(base + ".err"), 5));
  }
  return RunResult{*e, read_file(base + ".err"), read_file(base + ".out")};
}

std::string Cluster::read_log(size_t i) const {
  return read_file(nodes_[i].log_path);
}

std::string Cluster::log_tails(size_t lines) const {
  std::string out;
  for (size_t i = 0; i < nodes_.size(); i++) {
    out += "----- " + nodes_[i].name + " (" + nodes_[i].log_path + "), last " +
           std::to_string(lines) + " lines -----\n";
    out += tail_lines(read_log(i), lines);
    if (!out.empty() && out.back() != '\n') out += '\n';
  }
  return out;
}

}  // namespace integration
