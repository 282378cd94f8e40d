#include "tests/integration/pgha_harness.h"

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

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

const PgOsUser& pg_os_user() {
  static const PgOsUser user = [] {
    PgOsUser u;
    if (::geteuid() == 0) {
      struct passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) {
        std::fprintf(stderr,
                     "pgha tests: running as root and there is no 'postgres' user "
                     "(install postgresql-15: tools/install-deps.sh)\n");
        std::exit(2);
      }
      u = {"postgres", pw->pw_uid, pw->pw_gid, true};
    } else {
      struct passwd* pw = ::getpwuid(::geteuid());
      u = {pw ? pw->pw_name : "", ::geteuid(), ::getegid(), false};
    }
    return u;
  }();
  return user;
}

void give_to_pg_user(const std::string& path) {
  const PgOsUser& u = pg_os_user();
  if (u.switch_needed && ::chown(path.c_str(), u.uid, u.gid) != 0) {
    std::fprintf(stderr, "pgha tests: cannot chown %s: %s\n", path.c_str(), std::strerror(errno));
    std::exit(2);
  }
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
  // SIGQUIT is PostgreSQL's immediate shutdown (pg_ctl -m immediate), and
  // works from root, where pg_ctl refuses to run.
  std::vector<pid_t> pids;
  for (const auto& d : dirs) {
    std::ifstream in(d + "/postmaster.pid");
    long pid = 0;
    if (in >> pid && pid > 0 && ::kill(static_cast<pid_t>(pid), SIGQUIT) == 0) {
      pids.push_back(static_cast<pid_t>(pid));
    }
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (pid_t pid : pids) {
    while (::kill(pid, 0) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid, SIGKILL);
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
  give_to_pg_user(path_);
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
  t.user = pg_os_user().name;
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
