// dump_bench: changeagent-admin dump and load throughput.
//
//   dump_bench [--changes=1000000] [--bytes=100] [--dir=/tmp/...]
//
// Builds the data dir of a one-node cluster holding N changes (real change
// payloads of ~`bytes` JSON each, written straight into the store), then
// times, with the real binaries: an offline dump of that dir, a load of the
// dump into a new dir, a verify of the dump, and a live dump over HTTP from
// a changeagent serving the dir. Prints one markdown table row per step:
// seconds, changes/s and MB/s (of the dump file).
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "api/node.h"
#include "api/node_impl.h"
#include "storage/store.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "dump_bench: %s\n", why.c_str());
  std::exit(1);
}

void build_store(const std::string& dir, uint64_t n, size_t bytes, const std::string& peer,
                 const std::string& client, const std::string& token) {
  storage::OpenOptions o;
  o.dir = dir;
  o.create_if_missing = true;
  o.node_id = api::node_id_for("bench");
  o.cluster_id = api::cluster_id_for({api::PeerSpec{"bench", peer}}, token);
  auto st = storage::Store::open(o);
  if (!st.is_ok()) die(st.status().to_string());
  raftlog::Membership m;
  m.members.emplace(o.node_id, raftlog::Member{false, api::encode_member_address(api::MemberAddress{
                                                          "bench", peer, client, false})});
  storage::PersistBatch boot;
  boot.snapshot =
      raftlog::Snapshot{raftlog::SnapshotMeta{raftlog::Index(0), raftlog::Term(0), m}, nullptr};
  if (auto s = (*st)->write(boot); !s.is_ok()) die(s.to_string());
  uint64_t ts = 1700000000000000000ull;
  std::string pad(bytes > 40 ? bytes - 40 : 1, 'x');
  storage::PersistBatch b;
  for (uint64_t i = 1; i <= n; i++) {
    api::ChangeInput in;
    in.data_json = "{\"seq\":" + std::to_string(i) + ",\"pad\":\"" + pad + "\"}";
    in.tags = {"bench"};
    b.entries.push_back(raftlog::Entry{raftlog::Term(1), raftlog::Index(i),
                                       raftlog::EntryType::kNormal,
                                       api::encode_change(in, ts + i)});
    if (b.entries.size() == 10000 || i == n) {
      if (i == n) {
        b.hard_state = raftlog::HardState{raftlog::Term(1), o.node_id, raftlog::Index(n)};
        b.applied = raftlog::Index(n);
        b.sync = true;
      }
      if (auto s = (*st)->write(b); !s.is_ok()) die(s.to_string());
      b = storage::PersistBatch();
    }
  }
}

double run_timed(const std::string& cmd) {
  auto t0 = Clock::now();
  int rc = std::system((cmd + " > /dev/null").c_str());
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (rc != 0) die("failed (" + std::to_string(rc) + "): " + cmd);
  return secs;
}

void row(const char* step, uint64_t n, uint64_t file_bytes, double secs) {
  std::printf("| %s | %llu | %.2f | %.0f | %.1f |\n", step, static_cast<unsigned long long>(n),
              secs, static_cast<double>(n) / secs, static_cast<double>(file_bytes) / 1e6 / secs);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t n = 1000000;
  size_t bytes = 100;
  std::string dir;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a.rfind("--changes=", 0) == 0)
      n = std::stoull(a.substr(10));
    else if (a.rfind("--bytes=", 0) == 0)
      bytes = std::stoul(a.substr(8));
    else if (a.rfind("--dir=", 0) == 0)
      dir = a.substr(6);
    else
      die("unknown flag " + a + " (flags: --changes=N --bytes=N --dir=PATH)");
  }
  if (dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "dump_bench.XXXXXX").string();
    if (!mkdtemp(tmpl.data())) die("mkdtemp failed");
    dir = tmpl;
  }
  const std::string admin = CHANGEAGENT_ADMIN_BIN, server = CHANGEAGENT_BIN;
  uint16_t cport = free_port(), pport = free_port();
  std::string peer = "127.0.0.1:" + std::to_string(pport);
  std::string client = "127.0.0.1:" + std::to_string(cport);
  auto t0 = Clock::now();
  build_store(dir + "/src", n, bytes, peer, "http://" + client, "bench");
  std::fprintf(stderr, "built %llu changes in %.1f s under %s\n",
               static_cast<unsigned long long>(n),
               std::chrono::duration<double>(Clock::now() - t0).count(), dir.c_str());

  std::printf(
      "| step | changes | seconds | changes/s | MB/s (dump file) |\n|---|---|---|---|---|\n");
  double s = run_timed(admin + " dump --no-verify --data-dir " + dir + "/src --out " + dir +
                       "/offline.dump");
  uint64_t size = fs::file_size(dir + "/offline.dump");
  row("dump, offline data dir", n, size, s);
  s = run_timed(admin + " verify " + dir + "/offline.dump");
  row("verify dump", n, size, s);
  s = run_timed(admin + " load " + dir + "/offline.dump --data-dir " + dir +
                "/loaded --name b2 --advertise-peer 127.0.0.1:1 --initial-cluster-token x");
  row("load into a new data dir", n, size, s);

  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::string a1 = "--name=bench", a2 = "--data-dir=" + dir + "/src",
                a3 = "--listen-client=" + client, a4 = "--listen-peer=" + peer,
                a5 = "--initial-cluster=bench=" + peer, a6 = "--initial-cluster-token=bench";
    ::execl(server.c_str(), server.c_str(), a1.c_str(), a2.c_str(), a3.c_str(), a4.c_str(),
            a5.c_str(), a6.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  bool up = false;
  for (int i = 0; i < 200 && !up; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    up = std::system(("curl -sf http://" + client + "/health > /dev/null 2>&1").c_str()) == 0;
  }
  if (!up) {
    ::kill(pid, SIGKILL);
    die("changeagent did not become healthy");
  }
  s = run_timed(admin + " dump --no-verify --url http://" + client + " --out " + dir +
                "/live.dump");
  row("dump, live over HTTP", n, fs::file_size(dir + "/live.dump"), s);
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
