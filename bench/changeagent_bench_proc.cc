// Child processes, loopback ports, data dirs, CPU accounting and small
// encoders for changeagent_bench.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "bench/changeagent_bench.h"

namespace cabench {

std::atomic<bool> g_stop{false};
std::atomic<int> g_stop_signal{0};

namespace {

// How long stop() waits for a SIGTERM to end a child before SIGKILL.
constexpr auto kStopWait = std::chrono::seconds(10);

}  // namespace

Child::Child(std::vector<std::string> argv, std::string log_path, std::string pid_file)
    : argv_(std::move(argv)), log_path_(std::move(log_path)), pid_file_(std::move(pid_file)) {}

Child::~Child() {
  kill9();
}

Status Child::start() {
  if (pid_ > 0) return Status(Code::kFailedPrecondition, "already running");
  // Everything the child touches is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed in a threaded process.
  std::vector<char*> args;
  for (auto& a : argv_) args.push_back(a.data());
  args.push_back(nullptr);
  int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status(Code::kIoError, "cannot open " + log_path_ + ": " + strerror(errno));
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fd);
    return Status(Code::kIoError, std::string("fork: ") + strerror(errno));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fd);
  pid_ = pid;
  if (!pid_file_.empty()) {
    std::ofstream(pid_file_, std::ios::app) << pid << "\n";
  }
  return Status::ok();
}

void Child::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st = 0;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
}

void Child::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  auto deadline = Clock::now() + kStopWait;
  while (Clock::now() < deadline) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill9();
}

double Child::cpu_seconds() const {
  if (pid_ <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid_) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return 0;
  // Fields after the ")" closing the command name: state is field 3,
  // utime 14 and stime 15 (man 5 proc).
  auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; i++) {
    if (i == 14) utime = std::strtod(field.c_str(), nullptr);
    if (i == 15) stime = std::strtod(field.c_str(), nullptr);
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

Result<std::vector<uint16_t>> free_loopback_ports(size_t n) {
  // Hold every socket open until all are chosen so the n ports differ; the
  // kernel may hand one out again after close, a race we accept (the
  // cluster then fails to start with a clear "address in use").
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  Status st = Status::ok();
  for (size_t i = 0; i < n; i++) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      st = Status(Code::kIoError, std::string("cannot pick a loopback port: ") + strerror(errno));
      if (fd >= 0) ::close(fd);
      break;
    }
    fds.push_back(fd);
    ports.push_back(ntohs(a.sin_port));
  }
  for (int fd : fds) ::close(fd);
  if (!st.is_ok()) return st;
  return ports;
}

Result<std::string> make_data_dir(const std::string& parent, const std::string& prefix) {
  std::string tmpl = parent + "/" + prefix + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return Status(Code::kIoError, "cannot create a directory in " + parent + ": " +
                                      strerror(errno) + "; pass --data-parent=DIR on a real disk");
  }
  return tmpl;
}

std::string base64_encode(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) continue;  // padding
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

double process_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

std::string payload_json(uint32_t client, uint64_t seq, uint32_t bytes) {
  char head[64];
  int n = std::snprintf(head, sizeof head, "{\"client\":%u,\"seq\":%llu,\"pad\":\"", client,
                        static_cast<unsigned long long>(seq));
  std::string out(head, static_cast<size_t>(n));
  size_t pad = bytes > out.size() + 2 ? bytes - out.size() - 2 : 0;
  out.append(pad, 'x');
  out += "\"}";
  return out;
}

Result<std::unique_ptr<api::Client>> make_client(std::vector<std::string> endpoints,
                                                 std::chrono::milliseconds request_timeout) {
  api::ClientOptions co;
  co.endpoints = std::move(endpoints);
  co.connect_timeout = std::chrono::milliseconds(1000);
  co.request_timeout = request_timeout;
  return api::Client::create(std::move(co));
}

void sleep_for(double seconds) {
  auto until = Clock::now() +
               std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (!g_stop && Clock::now() < until) {
    auto left = until - Clock::now();
    std::this_thread::sleep_for(std::min<Clock::duration>(left, std::chrono::milliseconds(50)));
  }
}

System::~System() = default;

std::vector<std::string> System::endpoints() const {
  return endpoints_from(0);
}

std::vector<std::string> System::endpoints_from(int first) const {
  std::vector<std::string> out;
  for (size_t n = 0; n < members_.size(); n++) {
    out.push_back(members_[(static_cast<size_t>(first) + n) % members_.size()].client);
  }
  return out;
}

void System::kill_member(int i) {
  auto& p = members_.at(static_cast<size_t>(i)).proc;
  if (p) p->kill9();
}

Status System::restart_member(int i) {
  auto& p = members_.at(static_cast<size_t>(i)).proc;
  if (!p) return Status(Code::kFailedPrecondition, "member not started by the bench");
  return p->start();
}

void System::stop_all() {
  for (auto& m : members_) {
    if (m.proc) m.proc->stop();
  }
  if (!data_dir_.empty() && !keep_data_) {
    std::error_code ec;
    std::filesystem::remove_all(data_dir_, ec);
  }
}

double System::member_cpu_seconds(int i) const {
  const auto& p = members_.at(static_cast<size_t>(i)).proc;
  return p ? p->cpu_seconds() : 0;
}

}  // namespace cabench
