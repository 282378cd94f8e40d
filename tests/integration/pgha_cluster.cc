#include "tests/integration/pgha_cluster.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pgha/pg/conn.h"

#ifndef PGHA_BIN
#error "PGHA_BIN must name the pgha binary"
#endif

namespace integration::pgha {

using common::Code;
using common::Result;
using common::Status;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

void reap(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
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

}  // namespace

PghaCluster::PghaCluster(PghaOptions o) : opts_(std::move(o)) {
  // A copy of the agent binary the PostgreSQL user can run, whatever the
  // permissions of the build tree.
  pgha_bin_ = dir_.path() + "/pgha";
  std::error_code ec;
  std::filesystem::copy_file(PGHA_BIN, pgha_bin_, ec);
  if (ec) {
    std::fprintf(stderr, "cannot copy %s: %s\n", PGHA_BIN, ec.message().c_str());
    std::exit(2);
  }
  ::chmod(pgha_bin_.c_str(), 0755);
  for (size_t i = 0; i < opts_.members; ++i) {
    AgentSpec a;
    a.name = "n" + std::to_string(i + 1);
    a.pg_port = free_port();
    a.http_port = free_port();
    a.data_dir = dir_.path() + "/pg-" + a.name;
    a.log_path = dir_.path() + "/agent-" + a.name + ".log";
    register_data_dir(a.data_dir);
    agents_.push_back(a);
  }
}

PghaCluster::~PghaCluster() {
  for (auto& a : agents_) {
    if (a.pid > 0) {
      ::kill(a.pid, SIGCONT);
      ::kill(a.pid, SIGKILL);
      reap(a.pid);
    }
  }
  stop_registered_postgres();
}

Status PghaCluster::start_store() {
  ClusterOptions o;
  o.nodes = 3;
  store_ = std::make_unique<Cluster>(o);
  if (auto s = store_->start_all(); !s.is_ok()) return s;
  auto l = store_->wait_for_leader(milliseconds(10000));
  return l.status();
}

std::string PghaCluster::store_endpoints() const {
  std::string out;
  for (size_t i = 0; i < store_->size(); ++i) {
    if (!out.empty()) out += ",";
    out += store_->node(i).client_address();
  }
  return out;
}

Result<size_t> PghaCluster::bootstrap(const BootstrapSpec& spec, milliseconds timeout) {
  if (auto s = start_store(); !s.is_ok()) return s;
  if (spec.write_desired) {
    ::pgha::Desired d;
    for (const auto& a : agents_) d.members.push_back({a.name});
    if (spec.primary) d.primary = agents_.at(*spec.primary).name;
    d.mode = spec.mode;
    d.quorum_n = spec.mode == ::pgha::ReplicationMode::kSync ? 1 : spec.quorum_n;
    d.generation = 1;
    if (auto s = write_desired(d, 0); !s.is_ok()) return s;
  }
  for (size_t i = 0; i < agents_.size(); ++i) {
    if (auto s = start_agent(i); !s.is_ok()) return s;
  }
  return wait_healthy(timeout);
}

bool PghaCluster::wait_replica(size_t i, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (agent_get(i, "/replica") == 200) return true;
    std::this_thread::sleep_for(milliseconds(100));
  }
  return false;
}

Status PghaCluster::start_agent(size_t i, const std::vector<std::string>& extra_args) {
  AgentSpec& a = agents_[i];
  if (a.pid > 0) return Status(Code::kFailedPrecondition, a.name + " runs already");
  std::string members;
  for (const auto& x : agents_) members += (members.empty() ? "" : ",") + x.name;
  std::vector<std::string> args = {pgha_bin_,
                                   "--name=" + a.name,
                                   "--cluster=" + opts_.cluster,
                                   "--store=" + store_endpoints(),
                                   "--pg-data=" + a.data_dir,
                                   "--pg-port=" + std::to_string(a.pg_port),
                                   "--pg-bin=" + std::string(kPgBinDir),
                                   "--listen=127.0.0.1:" + std::to_string(a.http_port),
                                   "--lease-ttl=" + std::to_string(opts_.lease_ttl_s),
                                   "--loop-ms=" + std::to_string(opts_.loop_ms),
                                   "--bootstrap-members=" + members};
  for (const auto& e : extra_args) args.push_back(e);
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  int out = ::open(a.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return Status(Code::kIoError, "cannot open " + a.log_path);
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
      // PostgreSQL refuses root: the agent (and the servers it starts) run
      // as the postgres user.
      if (::setgroups(0, nullptr) != 0 || ::setgid(user.gid) != 0 || ::setuid(user.uid) != 0) {
        ::_exit(126);
      }
      ::setenv("HOME", "/tmp", 1);
      ::setenv("USER", user.name.c_str(), 1);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out);
  if (pid < 0) return Status(Code::kIoError, std::string("fork: ") + std::strerror(errno));
  a.pid = pid;
  // Wait until its HTTP endpoint answers (it binds before anything else).
  auto deadline = Clock::now() + milliseconds(10000);
  while (Clock::now() < deadline) {
    if (agent_get(i, "/health") != 0) return Status::ok();
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      a.pid = -1;
      return Status(Code::kUnavailable, a.name + " exited at start: " + tail(a.log_path, 5));
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return Status(Code::kTimeout, a.name + " did not answer HTTP within 10 s");
}

void PghaCluster::kill9_agent(size_t i) {
  AgentSpec& a = agents_[i];
  if (a.pid <= 0) return;
  ::kill(a.pid, SIGKILL);
  reap(a.pid);
  a.pid = -1;
}

void PghaCluster::sigstop_agent(size_t i) {
  if (agents_[i].pid > 0) ::kill(agents_[i].pid, SIGSTOP);
}
void PghaCluster::sigcont_agent(size_t i) {
  if (agents_[i].pid > 0) ::kill(agents_[i].pid, SIGCONT);
}

void PghaCluster::kill9_postgres(size_t i) {
  std::ifstream in(agents_[i].data_dir + "/postmaster.pid");
  long pid = 0;
  if (in >> pid && pid > 0) ::kill(static_cast<pid_t>(pid), SIGKILL);
}

int PghaCluster::agent_get(size_t i, const std::string& path, std::string* body) {
  api::ClientOptions o;
  o.endpoints = {"127.0.0.1:" + std::to_string(agents_[i].http_port)};
  o.connect_timeout = milliseconds(300);
  o.request_timeout = milliseconds(1000);
  auto c = api::Client::create(o);
  if (!c.is_ok()) return 0;
  auto r = (*c)->request("GET", path);
  if (!r.is_ok()) return 0;
  if (body) *body = r->body;
  return r->status;
}

std::vector<size_t> PghaCluster::primaries() {
  std::vector<size_t> out;
  for (size_t i = 0; i < agents_.size(); ++i) {
    if (agents_[i].pid > 0 && agent_get(i, "/primary") == 200) out.push_back(i);
  }
  return out;
}

Result<size_t> PghaCluster::wait_healthy(milliseconds timeout, bool replicas_too) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto p = primaries();
    if (p.size() == 1) {
      bool all = true;
      for (size_t i = 0; replicas_too && i < agents_.size(); ++i) {
        if (i != p[0] && agents_[i].pid > 0 && agent_get(i, "/replica") != 200) all = false;
      }
      if (all) return p[0];
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  return Status(Code::kTimeout, "the cluster did not become healthy in time");
}

Result<size_t> PghaCluster::wait_new_primary(size_t not_this, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    for (size_t i : primaries()) {
      if (i != not_this) return i;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return Status(Code::kTimeout, "no new primary in time");
}

Result<::pgha::Desired> PghaCluster::read_desired(uint64_t* revision) {
  auto c = store_->client_all();
  auto kv = c->get_key(::pgha::desired_key(opts_.cluster), true);
  if (!kv.is_ok()) return kv.status();
  if (revision) *revision = kv->mod_revision;
  return ::pgha::parse_desired(kv->value_json);
}

Status PghaCluster::write_desired(const ::pgha::Desired& d, uint64_t revision) {
  if (auto s = ::pgha::validate_desired(d); !s.is_ok()) return s;
  auto c = store_->client_all();
  auto r = c->put_key(::pgha::desired_key(opts_.cluster), ::pgha::to_json(d), revision);
  if (!r.is_ok()) return r.status();
  if (!r->succeeded) return Status(Code::kConflict, "the desired state changed meanwhile");
  return Status::ok();
}

Result<std::vector<::pgha::Event>> PghaCluster::history() {
  auto c = store_->client_all();
  std::vector<::pgha::Event> out;
  api::FeedRequest req;
  req.tags = {::pgha::cluster_tag(opts_.cluster)};
  req.limit = 1000;
  for (;;) {
    auto page = c->get_feed(req);
    if (!page.is_ok()) return page.status();
    for (const auto& ch : page->changes) {
      auto e = ::pgha::parse_event(ch.data_json);
      if (e.is_ok()) out.push_back(std::move(*e));
    }
    if (page->changes.empty() || page->at_end) break;
    req.since = page->changes.back().id;
  }
  return out;
}

Status PghaCluster::wait_sync_settled(size_t i, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    std::string body;
    if (agent_get(i, "/status", &body) == 200) {
      try {
        auto v = boost::json::parse(body);
        const auto& st = v.at("status").as_object();
        std::string primary = boost::json::value_to<std::string>(st.at("primary"));
        const auto& names = st.at("sync").at("names").as_array();
        bool on_primary = false;
        for (const auto& n : names) on_primary |= n.as_string() == primary;
        if (!names.empty() && !on_primary) return Status::ok();
      } catch (...) {
      }
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  return Status(Code::kTimeout, "the sync guarantee did not move to a standby in time");
}

uint32_t PghaCluster::timeline_of(size_t i) {
  std::string body;
  if (agent_get(i, "/status", &body) != 200) return 0;
  try {
    auto v = boost::json::parse(body);
    return static_cast<uint32_t>(v.at("observation").at("timeline").to_number<uint64_t>());
  } catch (...) {
    return 0;
  }
}

std::string PghaCluster::writable_conninfo() const {
  std::string hosts, ports;
  for (const auto& a : agents_) {
    hosts += (hosts.empty() ? "" : ",") + std::string("127.0.0.1");
    ports += (ports.empty() ? "" : ",") + std::to_string(a.pg_port);
  }
  return "host=" + hosts + " port=" + ports + " user=" + pg_os_user().name +
         " dbname=postgres connect_timeout=2 target_session_attrs=read-write "
         "application_name=seq-writer options='-c statement_timeout=5000'";
}

std::string PghaCluster::log_tails(size_t lines) const {
  std::string out;
  for (const auto& a : agents_) {
    out += "---- agent " + a.name + " (" + a.log_path + ")\n" + tail(a.log_path, lines);
    out += "---- postgres " + a.name + "\n" + tail(a.data_dir + ".log", lines / 3);
  }
  return out;
}

// ---- SeqWriter ----

SeqWriter::SeqWriter(std::string conninfo) : conninfo_(std::move(conninfo)) {
  last_ack_ = Clock::now();
  thread_ = std::thread([this] { run(); });
}

SeqWriter::~SeqWriter() {
  stop();
}

void SeqWriter::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void SeqWriter::run() {
  int64_t n = 0;
  std::unique_ptr<::pgha::pg::Conn> c;
  while (!stop_) {
    if (!c) {
      auto r = ::pgha::pg::Conn::open_conninfo(conninfo_);
      if (!r.is_ok()) {
        std::this_thread::sleep_for(milliseconds(20));
        continue;
      }
      c = std::move(*r);
    }
    ++n;
    Status s = c->exec("INSERT INTO seq (n) VALUES (" + std::to_string(n) + ")");
    if (!s.is_ok()) {
      c.reset();  // reconnect: maybe to another node
      continue;
    }
    std::lock_guard lock(mu_);
    auto now = Clock::now();
    longest_gap_ms_ = std::max<int64_t>(
        longest_gap_ms_, std::chrono::duration_cast<milliseconds>(now - last_ack_).count());
    last_ack_ = now;
    acked_.push_back(n);
  }
}

std::vector<int64_t> SeqWriter::acked() const {
  std::lock_guard lock(mu_);
  return acked_;
}
int64_t SeqWriter::longest_gap_ms() const {
  std::lock_guard lock(mu_);
  return longest_gap_ms_;
}
void SeqWriter::reset_longest_gap() {
  std::lock_guard lock(mu_);
  longest_gap_ms_ = 0;
}
int64_t SeqWriter::last_ack_ms_ago() const {
  std::lock_guard lock(mu_);
  return std::chrono::duration_cast<milliseconds>(Clock::now() - last_ack_).count();
}

// ---- WriteProbe ----

WriteProbe::WriteProbe(std::vector<uint16_t> ports) : ports_(std::move(ports)) {
  thread_ = std::thread([this] { run(); });
}

WriteProbe::~WriteProbe() {
  stop();
}

void WriteProbe::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

namespace {

bool write_accepted(uint16_t port) {
  ::pgha::pg::ConnTarget t;
  t.port = port;
  t.user = pg_os_user().name;
  t.connect_timeout_s = 2;
  t.statement_timeout_ms = 1000;
  t.application_name = "write-probe";
  auto c = ::pgha::pg::Conn::open(t);
  if (!c.is_ok()) return false;
  return (*c)->exec("INSERT INTO probe (port) VALUES (" + std::to_string(port) + ")").is_ok();
}

}  // namespace

void WriteProbe::run() {
  while (!stop_) {
    std::vector<uint16_t> accepted;
    for (uint16_t p : ports_) {
      if (write_accepted(p)) accepted.push_back(p);
    }
    // Two accepted writes in one round could be a handover between the two
    // probes: ask again in the reverse order; both accepting again means
    // each accepted a write after the other did.
    if (accepted.size() >= 2) {
      std::vector<uint16_t> again;
      for (auto it = accepted.rbegin(); it != accepted.rend(); ++it) {
        if (write_accepted(*it)) again.push_back(*it);
      }
      if (again.size() >= 2) {
        std::lock_guard lock(mu_);
        std::string v = "ports";
        for (uint16_t p : again) v += " " + std::to_string(p);
        violations_.push_back(v + " all accepted writes");
      }
    }
    ++rounds_;
    std::this_thread::sleep_for(milliseconds(100));
  }
}

std::vector<std::string> WriteProbe::violations() const {
  std::lock_guard lock(mu_);
  return violations_;
}

}  // namespace integration::pgha
