#include "bench/pgha_patroni.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include "api/client.h"
#include "tests/integration/cluster_harness.h"
#include "tests/integration/pgha_cluster.h"

namespace bench {

using namespace integration::pgha;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t).count();
}

uint16_t port() {
  auto p = integration::Cluster::free_port();
  return p.is_ok() ? *p : 0;
}

// fork + exec as the PostgreSQL user, output to `log`; the child dies with us.
pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> a = args;
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return -1;
  const PgOsUser& user = pg_os_user();
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::close_range(3, ~0U, 0);
    if (user.switch_needed) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(user.gid) != 0 || ::setuid(user.uid) != 0) {
        ::_exit(126);
      }
    }
    ::setenv("HOME", "/tmp", 1);
    ::setenv("USER", user.name.c_str(), 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out);
  return pid;
}

void kill9(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  pid = -1;
}

std::string tail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += all[i] + "\n";
  }
  return out;
}

struct Node {
  std::string name;
  uint16_t pg_port = 0;
  uint16_t rest_port = 0;
  std::string data_dir;
  std::string config;
  std::string log;
  pid_t pid = -1;
};

class PatroniCluster {
 public:
  PatroniCluster() = default;
  ~PatroniCluster() {
    for (auto& n : nodes_) kill9(n.pid);
    stop_registered_postgres();
    kill9(etcd_pid_);
  }

  bool start(std::string& why) {
    const std::string root = dir_.path();
    uint16_t etcd_client = port(), etcd_peer = port();
    etcd_url_ = "127.0.0.1:" + std::to_string(etcd_client);
    std::string etcd_dir = root + "/etcd";
    std::string peer = "http://127.0.0.1:" + std::to_string(etcd_peer);
    etcd_log_ = root + "/etcd.log";
    etcd_pid_ = spawn(
        {kEtcdBin, "--name=e1", "--data-dir=" + etcd_dir,
         "--listen-client-urls=http://" + etcd_url_, "--advertise-client-urls=http://" + etcd_url_,
         "--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
         "--initial-cluster=e1=" + peer, "--log-level=warn"},
        etcd_log_);
    if (etcd_pid_ < 0) return fail(why, "cannot start etcd");
    for (int i = 1; i <= 3; ++i) {
      Node n;
      n.name = "p" + std::to_string(i);
      n.pg_port = port();
      n.rest_port = port();
      n.data_dir = root + "/" + n.name;
      n.config = root + "/" + n.name + ".yml";
      n.log = root + "/" + n.name + ".log";
      write_config(n, root);
      register_data_dir(n.data_dir);
      nodes_.push_back(n);
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!start_node(i)) return fail(why, "cannot start patroni " + nodes_[i].name);
    }
    return true;
  }

  bool start_node(size_t i) {
    Node& n = nodes_[i];
    n.pid = spawn({"/usr/bin/python3", kPatroniBin, n.config}, n.log);
    return n.pid > 0;
  }

  // SIGKILL to Patroni and to its postmaster (its backends follow).
  void kill_node(size_t i) {
    Node& n = nodes_[i];
    kill9(n.pid);
    std::ifstream in(n.data_dir + "/postmaster.pid");
    long pid = 0;
    if (in >> pid && pid > 0) ::kill(static_cast<pid_t>(pid), SIGKILL);
  }

  int rest(size_t i, const std::string& method, const std::string& path,
           const std::string& body = {}) {
    api::ClientOptions o;
    o.endpoints = {"127.0.0.1:" + std::to_string(nodes_[i].rest_port)};
    o.connect_timeout = milliseconds(300);
    o.request_timeout = milliseconds(method == "GET" ? 1000 : 30000);
    auto c = api::Client::create(o);
    if (!c.is_ok()) return 0;
    auto r = (*c)->request(method, path, body);
    return r.is_ok() ? r->status : 0;
  }

  // One /primary 200 and every other running node /replica 200.
  std::optional<size_t> healthy() {
    std::optional<size_t> primary;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (rest(i, "GET", "/primary") == 200) {
        if (primary) return std::nullopt;
        primary = i;
      } else if (rest(i, "GET", "/replica") != 200) {
        return std::nullopt;
      }
    }
    return primary;
  }
  std::optional<size_t> wait_healthy(milliseconds timeout) {
    auto t = Clock::now();
    while (ms_since(t) < timeout.count()) {
      if (auto p = healthy()) return p;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return std::nullopt;
  }
  std::optional<size_t> wait_new_primary(size_t not_this, milliseconds timeout) {
    auto t = Clock::now();
    while (ms_since(t) < timeout.count()) {
      for (size_t i = 0; i < nodes_.size(); ++i) {
        if (i != not_this && rest(i, "GET", "/primary") == 200) return i;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return std::nullopt;
  }

  std::string conninfo() const {
    std::string hosts, ports;
    for (const auto& n : nodes_) {
      hosts += (hosts.empty() ? "" : ",") + std::string("127.0.0.1");
      ports += (ports.empty() ? "" : ",") + std::to_string(n.pg_port);
    }
    return "host=" + hosts + " port=" + ports + " user=" + pg_os_user().name +
           " dbname=postgres connect_timeout=2 target_session_attrs=read-write "
           "application_name=seq-writer options='-c statement_timeout=5000'";
  }

  const Node& node(size_t i) const { return nodes_[i]; }

  bool fail(std::string& why, const std::string& what) {
    dir_.keep();
    why = what + " (files kept in " + dir_.path() + ")\n--- etcd\n" + tail(etcd_log_, 10);
    for (const auto& n : nodes_) why += "--- " + n.name + "\n" + tail(n.log, 15);
    return false;
  }

 private:
  void write_config(const Node& n, const std::string& root) {
    const std::string user = pg_os_user().name;
    std::ofstream f(n.config);
    f << "scope: bench\n"
      << "namespace: /service/\n"
      << "name: " << n.name << "\n"
      << "restapi:\n"
      << "  listen: 127.0.0.1:" << n.rest_port << "\n"
      << "  connect_address: 127.0.0.1:" << n.rest_port << "\n"
      << "watchdog:\n"
      << "  mode: 'off'\n"
      << "etcd3:\n"
      << "  hosts: " << etcd_url_ << "\n"
      << "bootstrap:\n"
      << "  dcs:\n"
      << "    ttl: " << kPatroniTtlS << "\n"
      << "    loop_wait: " << kPatroniLoopWaitS << "\n"
      << "    retry_timeout: " << kPatroniRetryTimeoutS << "\n"
      << "    maximum_lag_on_failover: 16777216\n"
      << "    synchronous_mode: true\n"
      << "    postgresql:\n"
      << "      use_pg_rewind: true\n"
      << "      parameters:\n"
      << "        wal_log_hints: 'on'\n"
      << "        wal_keep_size: 256MB\n"
      << "  initdb:\n"
      << "    - encoding: UTF8\n"
      << "  pg_hba:\n"
      << "    - local all all trust\n"
      << "    - host all all 127.0.0.1/32 trust\n"
      << "    - host replication all 127.0.0.1/32 trust\n"
      << "postgresql:\n"
      << "  listen: 127.0.0.1:" << n.pg_port << "\n"
      << "  connect_address: 127.0.0.1:" << n.pg_port << "\n"
      << "  data_dir: " << n.data_dir << "\n"
      << "  bin_dir: " << kPgBinDir << "\n"
      << "  pgpass: " << root << "/" << n.name << ".pgpass\n"
      << "  authentication:\n"
      << "    superuser:\n"
      << "      username: " << user << "\n"
      << "    replication:\n"
      << "      username: " << user << "\n"
      << "    rewind:\n"
      << "      username: " << user << "\n"
      << "  parameters:\n"
      << "    unix_socket_directories: " << root << "\n";
    f.close();
    give_to_pg_user(n.config);
  }

  TempDir dir_;
  std::string etcd_url_;
  std::string etcd_log_;
  pid_t etcd_pid_ = -1;
  std::vector<Node> nodes_;
};

}  // namespace

bool run_patroni(int rounds, HaFigures& out, std::string& why) {
  PatroniCluster c;
  if (!c.start(why)) return false;
  auto p = c.wait_healthy(milliseconds(120000));
  if (!p) return c.fail(why, "patroni: the cluster did not become healthy in 120 s");
  if (!psql(c.node(*p).pg_port, "CREATE TABLE seq (n bigint PRIMARY KEY)").is_ok()) {
    return c.fail(why, "patroni: cannot create the table");
  }
  SeqWriter writer(c.conninfo());
  std::this_thread::sleep_for(milliseconds(1000));

  for (int r = 0; r < rounds; ++r) {
    p = c.wait_healthy(milliseconds(90000));
    if (!p) return c.fail(why, "patroni: before failover " + std::to_string(r) + ": not healthy");
    std::this_thread::sleep_for(milliseconds(1000));
    writer.reset_longest_gap();
    auto t = Clock::now();
    c.kill_node(*p);
    auto q = c.wait_new_primary(*p, milliseconds(90000));
    if (!q) return c.fail(why, "patroni: failover " + std::to_string(r) + ": no new primary");
    out.failover_ms.push_back(ms_since(t));
    while (writer.last_ack_ms_ago() > 200 && ms_since(t) < 90000) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    out.failover_gap_ms.push_back(writer.longest_gap_ms());
    auto t2 = Clock::now();
    if (!c.start_node(*p)) return c.fail(why, "patroni: cannot restart " + c.node(*p).name);
    bool back = false;
    while (!back && ms_since(t2) < 90000) {
      back = c.rest(*p, "GET", "/replica") == 200;
      if (!back) std::this_thread::sleep_for(milliseconds(100));
    }
    if (!back) return c.fail(why, "patroni: the old primary did not rejoin");
    out.rejoin_ms.push_back(ms_since(t2));
    std::printf("patroni failover %d: %s -> %s in %lld ms, write gap %lld ms, rejoin %lld ms\n", r,
                c.node(*p).name.c_str(), c.node(*q).name.c_str(),
                static_cast<long long>(out.failover_ms.back()),
                static_cast<long long>(out.failover_gap_ms.back()),
                static_cast<long long>(out.rejoin_ms.back()));
  }

  for (int r = 0; r < rounds; ++r) {
    p = c.wait_healthy(milliseconds(90000));
    if (!p) return c.fail(why, "patroni: before switchover " + std::to_string(r) + ": not healthy");
    std::this_thread::sleep_for(milliseconds(1000));
    // In synchronous_mode Patroni switches over only to the sync standby:
    // ask for whichever it is (the /sync check answers 200 there).
    // After a switchover Patroni names the new sync standby a few loops later.
    std::optional<size_t> target;
    for (auto t = Clock::now(); !target && ms_since(t) < 60000;) {
      for (size_t i = 0; i < 3 && !target; ++i) {
        if (i != *p && c.rest(i, "GET", "/sync") == 200) target = i;
      }
      if (!target) std::this_thread::sleep_for(milliseconds(200));
    }
    if (!target) return c.fail(why, "patroni: no synchronous standby to switch over to");
    writer.reset_longest_gap();
    auto t = Clock::now();
    // What `patronictl switchover --leader X --candidate Y --force` sends.
    int st = c.rest(
        *p, "POST", "/switchover",
        "{\"leader\":\"" + c.node(*p).name + "\",\"candidate\":\"" + c.node(*target).name + "\"}");
    if (st != 200 && st != 202) {
      return c.fail(why, "patroni: POST /switchover answered " + std::to_string(st));
    }
    auto q = c.wait_new_primary(*p, milliseconds(60000));
    if (!q) return c.fail(why, "patroni: switchover " + std::to_string(r) + ": no new primary");
    out.switchover_ms.push_back(ms_since(t));
    while (writer.last_ack_ms_ago() > 200 && ms_since(t) < 60000) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    out.switchover_gap_ms.push_back(writer.longest_gap_ms());
    std::printf("patroni switchover %d: %s -> %s in %lld ms, write gap %lld ms\n", r,
                c.node(*p).name.c_str(), c.node(*q).name.c_str(),
                static_cast<long long>(out.switchover_ms.back()),
                static_cast<long long>(out.switchover_gap_ms.back()));
  }
  writer.stop();
  return true;
}

}  // namespace bench
