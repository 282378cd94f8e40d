#include "tests/integration/pgha_harness.h"

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include "pgha/pg/conn.h"
#include "pgha/pg/process.h"

namespace integration::pgha {

namespace fs = std::filesystem;

void drop_root_to_postgres() {
  if (::geteuid() != 0) return;
  struct passwd* pw = ::getpwnam("postgres");
  if (pw == nullptr) {
    std::fprintf(stderr,
                 "pgha tests: running as root and there is no 'postgres' user "
                 "(install postgresql-15: tools/install-deps.sh)\n");
    std::exit(2);
  }
  if (::initgroups("postgres", pw->pw_gid) != 0 || ::setgid(pw->pw_gid) != 0 ||
      ::setuid(pw->pw_uid) != 0) {
    std::fprintf(stderr, "pgha tests: cannot become the postgres user: %s\n", std::strerror(errno));
    std::exit(2);
  }
  ::setenv("HOME", pw->pw_dir, 1);
  ::setenv("USER", "postgres", 1);
  ::setenv("LOGNAME", "postgres", 1);
  // Start in a dir the user may read (ctest's cwd is in the root's tree).
  if (::chdir("/tmp") != 0) std::exit(2);
}

namespace {

std::mutex& dirs_mu() {
  static auto* mu = new std::mutex;
  return *mu;
}
std::set<std::string>& data_dirs() {
  static auto* dirs = new std::set<std::string>;
  return *dirs;
}

}  // namespace

void stop_registered_postgres() {
  std::set<std::string> dirs;
  {
    std::lock_guard lock(dirs_mu());
    dirs = data_dirs();
  }
  for (const auto& d : dirs) {
    if (!fs::exists(d + "/postmaster.pid")) continue;
    (void)::pgha::pg::run_process(
        {std::string(kPgBinDir) + "/pg_ctl", "stop", "-D", d, "-m", "immediate", "-w", "-s"},
        std::chrono::seconds(20));
  }
}

void register_data_dir(const std::string& data_dir) {
  static std::once_flag once;
  std::call_once(once, [] { std::atexit(stop_registered_postgres); });
  std::lock_guard lock(dirs_mu());
  data_dirs().insert(data_dir);
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/pgha-test-XXXXXX";
  char* p = ::mkdtemp(tmpl);
  if (p == nullptr) {
    std::perror("mkdtemp");
    std::exit(2);
  }
  path_ = p;
}

TempDir::~TempDir() {
  stop_registered_postgres();
  if (keep_) {
    std::fprintf(stderr, "kept test files in %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

common::Result<std::vector<std::string>> psql(uint16_t port, const std::string& sql) {
  ::pgha::pg::ConnTarget t;
  t.port = port;
  t.connect_timeout_s = 2;
  t.application_name = "pgha-test";
  auto c = ::pgha::pg::Conn::open(t);
  if (!c.is_ok()) return c.status();
  auto rows = (*c)->query(sql);
  if (!rows.is_ok()) return rows.status();
  std::vector<std::string> out;
  for (const auto& r : *rows) out.push_back(r.empty() ? "" : r[0].value_or("NULL"));
  return out;
}

}  // namespace integration::pgha
