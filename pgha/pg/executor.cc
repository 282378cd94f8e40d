#include "pgha/pg/executor.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/logger.h"
#include "pgha/pg/process.h"

namespace pgha::pg {

using common::Code;
using common::Result;
using common::Status;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

constexpr const char* kIncludeDir = "pgha.conf.d";
constexpr const char* kIncludeMarker = "# pgha: the settings pgha owns live in pgha.conf.d/";
// How long the fence waits for its own session to see the reloaded setting,
// which proves that the postmaster reloaded (new sessions start read-only).
constexpr milliseconds kFenceReloadWaitMax{2000};

std::shared_ptr<spdlog::logger> log() {
  return common::component_logger("executor");
}

// A GUC value in a config file: always single-quoted ('' for a quote),
// which PostgreSQL accepts for every type.
std::string conf_quote(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

Status write_file_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return Status(Code::kIoError, "cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status(Code::kIoError, "cannot rename " + tmp + ": " + ec.message());
  return Status::ok();
}

Status append_line(const std::string& path, const std::string& line) {
  std::ofstream out(path, std::ios::app);
  out << line << "\n";
  out.flush();
  if (!out) return Status(Code::kIoError, "cannot append to " + path);
  return Status::ok();
}

bool file_contains(const std::string& path, const std::string& needle) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str().find(needle) != std::string::npos;
}

Status run_tool(const std::string& what, const std::vector<std::string>& argv,
                std::chrono::seconds timeout) {
  auto r = run_process(argv, std::chrono::duration_cast<milliseconds>(timeout));
  if (!r.is_ok()) return r.status();
  if (r->exit_code != 0) return process_failure(what, *r);
  return Status::ok();
}

bool has_cluster(const std::string& data_dir) {
  std::error_code ec;
  return fs::exists(data_dir + "/PG_VERSION", ec);
}

}  // namespace

Status fence_over(Conn& c) {
  if (auto s = c.exec("ALTER SYSTEM SET default_transaction_read_only = on"); !s.is_ok()) return s;
  if (auto s = c.exec("SELECT pg_reload_conf()"); !s.is_ok()) return s;
  auto deadline = std::chrono::steady_clock::now() + kFenceReloadWaitMax;
  for (;;) {
    auto v = c.scalar("SELECT current_setting('default_transaction_read_only')");
    if (!v.is_ok()) return v.status();
    if (*v && **v == "on") break;
    if (std::chrono::steady_clock::now() > deadline) {
      return Status(Code::kTimeout, "the read-only setting was not reloaded within 2 s");
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  // Sessions that began before the reload may be inside a writing
  // transaction: end them. Their uncommitted work was never acknowledged.
  return c.exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()");
}

Executor::Executor(ExecutorConfig cfg) : cfg_(std::move(cfg)) {
  if (cfg_.socket_dir.empty()) cfg_.socket_dir = fs::path(cfg_.data_dir).parent_path().string();
}

std::string Executor::log_path() const {
  return cfg_.log_path.empty() ? cfg_.data_dir + ".log" : cfg_.log_path;
}

ConnTarget Executor::local_target() const {
  ConnTarget t;
  t.host = cfg_.listen_host;
  t.port = cfg_.port;
  t.user = cfg_.superuser;
  t.application_name = "pgha-" + cfg_.node_name;
  return t;
}

ConnTarget Executor::target_of(const PgAddress& a) const {
  ConnTarget t = local_target();
  t.host = a.host;
  t.port = a.port;
  return t;
}

Observation Executor::observe() const {
  return pg::observe(cfg_.data_dir, local_target());
}

std::string Executor::primary_conninfo(const PgAddress& primary) const {
  ConnTarget t = target_of(primary);
  t.dbname = "postgres";
  t.application_name = cfg_.node_name;  // the name synchronous_standby_names uses
  t.statement_timeout_ms = 0;
  return conninfo(t);
}

Status Executor::with_local(const std::function<Status(Conn&)>& fn) const {
  auto c = Conn::open(local_target());
  if (!c.is_ok()) return c.status();
  return fn(**c);
}

Status Executor::initdb() {
  if (has_cluster(cfg_.data_dir)) {
    return Status(Code::kFailedPrecondition,
                  "refusing to initdb: " + cfg_.data_dir + " already holds a cluster");
  }
  log()->info("initdb in {}", cfg_.data_dir);
  std::vector<std::string> argv = {bin("initdb"), "-D", cfg_.data_dir, "-A",
                                   "trust",       "-E", "UTF8",        "--no-instructions"};
  if (!cfg_.superuser.empty()) {
    argv.push_back("-U");
    argv.push_back(cfg_.superuser);
  }
  if (auto s = run_tool("initdb", argv, std::chrono::seconds(120)); !s.is_ok()) return s;
  return write_config({});
}

Status Executor::write_config(const std::map<std::string, std::string>& settings) {
  std::string dir = cfg_.data_dir + "/" + kIncludeDir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status(Code::kIoError, "cannot create " + dir + ": " + ec.message());
  std::map<std::string, std::string> conf = {
      {"listen_addresses", cfg_.listen_host},
      {"port", std::to_string(cfg_.port)},
      {"unix_socket_directories", cfg_.socket_dir},
      {"wal_level", "replica"},
      {"hot_standby", "on"},
      // pg_rewind needs hint-bit changes WAL-logged (or data checksums).
      {"wal_log_hints", "on"},
      {"max_wal_senders", "10"},
      {"max_replication_slots", "10"},
      // Enough WAL kept for a rewound or lagging replica to catch up.
      {"wal_keep_size", "512MB"},
      {"hot_standby_feedback", "on"},
      {"wal_receiver_status_interval", "1s"},
      {"wal_sender_timeout", "10s"},
      {"wal_receiver_timeout", "10s"},
      // A standby whose upstream went away retries (and notices a promote
      // request) after this; the default 5 s would delay every failover.
      {"wal_retrieve_retry_interval", "250ms"},
      {"cluster_name", cfg_.node_name},
  };
  for (const auto& [k, v] : settings) conf[k] = v;  // the desired state wins
  std::string text = "# Written by pgha for node " + cfg_.node_name +
                     ". Rewritten at every change: put your own settings in postgresql.conf,\n"
                     "# or in the cluster's desired state (changectl pgha edit-desired).\n";
  for (const auto& [k, v] : conf) text += k + " = " + conf_quote(v) + "\n";
  if (auto s = write_file_atomically(dir + "/pgha.conf", text); !s.is_ok()) return s;
  std::string main_conf = cfg_.data_dir + "/postgresql.conf";
  if (!file_contains(main_conf, kIncludeMarker)) {
    std::string line = std::string("\n") + kIncludeMarker + "\ninclude_dir = '" + kIncludeDir + "'";
    if (auto s = append_line(main_conf, line); !s.is_ok()) return s;
  }
  settings_ = settings;
  return Status::ok();
}

Status Executor::start() {
  Observation o = observe();
  if (o.reach == Reach::kNoDataDir) return Status(Code::kFailedPrecondition, o.error);
  if (o.reach != Reach::kStopped) return Status::ok();  // a postmaster runs already
  log()->info("starting PostgreSQL on port {}", cfg_.port);
  return run_tool("pg_ctl start",
                  {bin("pg_ctl"), "start", "-D", cfg_.data_dir, "-l", log_path(), "-w", "-t",
                   std::to_string(cfg_.start_timeout.count()), "-s"},
                  cfg_.start_timeout + std::chrono::seconds(10));
}

Status Executor::stop(const std::string& mode) {
  Observation o = observe();
  if (o.reach == Reach::kNoDataDir || o.reach == Reach::kStopped) return Status::ok();
  log()->info("stopping PostgreSQL (mode {})", mode);
  return run_tool("pg_ctl stop",
                  {bin("pg_ctl"), "stop", "-D", cfg_.data_dir, "-m", mode, "-w", "-t",
                   std::to_string(cfg_.stop_timeout.count()), "-s"},
                  cfg_.stop_timeout + std::chrono::seconds(10));
}

Status Executor::reload() {
  return run_tool("pg_ctl reload", {bin("pg_ctl"), "reload", "-D", cfg_.data_dir, "-s"},
                  std::chrono::seconds(30));
}

Status Executor::promote(const std::string& synchronous_standby_names) {
  log()->info("promoting (synchronous_standby_names '{}')", synchronous_standby_names);
  return with_local([&](Conn& c) -> Status {
    // A clone carries its source's ALTER SYSTEM settings: a fence or a
    // standby list naming this very node would make the new primary refuse
    // or block writes. Set them for this primary BEFORE it accepts writes.
    std::string sql =
        "ALTER SYSTEM SET synchronous_standby_names = " + sql_literal(synchronous_standby_names);
    if (auto s = c.exec(sql); !s.is_ok()) return s;
    if (auto s = c.exec("ALTER SYSTEM RESET default_transaction_read_only"); !s.is_ok()) return s;
    if (auto s = c.exec("SELECT pg_reload_conf()"); !s.is_ok()) return s;
    if (auto s = c.exec("SET statement_timeout = 0"); !s.is_ok()) return s;
    auto r = c.scalar("SELECT pg_promote(true, 60)");
    if (!r.is_ok()) return r.status();
    if (!*r || **r != "t") return Status(Code::kTimeout, "pg_promote did not finish within 60 s");
    return Status::ok();
  });
}

Status Executor::repoint(const PgAddress& primary) {
  log()->info("repointing replication to {}:{}", primary.host, primary.port);
  return with_local([&](Conn& c) -> Status {
    std::string sql =
        "ALTER SYSTEM SET primary_conninfo = " + sql_literal(primary_conninfo(primary));
    if (auto s = c.exec(sql); !s.is_ok()) return s;
    return c.exec("SELECT pg_reload_conf()");
  });
}

Status Executor::configure_standby(const PgAddress& primary) {
  // The source's config files came along (pgha.conf with ITS port): write
  // ours again, then make this cluster a standby of the source.
  if (auto s = write_config(settings_); !s.is_ok()) return s;
  if (auto s = write_file_atomically(cfg_.data_dir + "/standby.signal", ""); !s.is_ok()) return s;
  // postgresql.auto.conf is ALTER SYSTEM's file; with the server stopped we
  // edit it as pg_basebackup -R does: our two settings replace any earlier
  // lines for them (the source's fence must not follow us around).
  std::string auto_conf = cfg_.data_dir + "/postgresql.auto.conf";
  std::ifstream in(auto_conf);
  std::string text, line;
  while (std::getline(in, line)) {
    if (line.rfind("primary_conninfo", 0) == 0) continue;
    if (line.rfind("default_transaction_read_only", 0) == 0) continue;
    text += line + "\n";
  }
  text += "primary_conninfo = " + conf_quote(primary_conninfo(primary)) + "\n";
  return write_file_atomically(auto_conf, text);
}

Status Executor::clone_from(const PgAddress& primary, bool replace_existing) {
  if (has_cluster(cfg_.data_dir) && !replace_existing) {
    return Status(Code::kFailedPrecondition,
                  "refusing to clone over the cluster in " + cfg_.data_dir);
  }
  if (replace_existing) {
    if (has_cluster(cfg_.data_dir)) {
      if (auto s = stop("immediate"); !s.is_ok()) return s;
      log()->warn("removing the cluster in {} to clone it afresh", cfg_.data_dir);
    }
    // pg_basebackup wants an empty dir: also clear a failed clone's leftovers.
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(cfg_.data_dir, ec)) {
      fs::remove_all(entry.path(), ec);
      if (ec) return Status(Code::kIoError, "cannot remove " + entry.path().string());
    }
  }
  std::error_code ec;
  fs::create_directories(cfg_.data_dir, ec);
  ::chmod(cfg_.data_dir.c_str(), 0700);
  log()->info("cloning from {}:{} (pg_basebackup)", primary.host, primary.port);
  ConnTarget src = target_of(primary);
  src.statement_timeout_ms = 0;
  auto s = run_tool("pg_basebackup",
                    {bin("pg_basebackup"), "-D", cfg_.data_dir, "-d", conninfo(src), "-X", "stream",
                     "-c", "fast", "--no-password"},
                    cfg_.clone_timeout);
  if (!s.is_ok()) return s;
  return configure_standby(primary);
}

Status Executor::rewind_from(const PgAddress& primary) {
  if (auto s = stop("fast"); !s.is_ok()) return s;
  // pg_rewind reads the source's timeline from its control file, which a
  // promotion updates only at its next checkpoint.
  auto src = Conn::open(target_of(primary));
  if (!src.is_ok()) return src.status();
  if (auto s = (*src)->exec("CHECKPOINT"); !s.is_ok()) return s;
  log()->info("pg_rewind from {}:{}", primary.host, primary.port);
  ConnTarget t = target_of(primary);
  t.statement_timeout_ms = 0;
  auto s = run_tool("pg_rewind",
                    {bin("pg_rewind"), "-D", cfg_.data_dir, "--source-server=" + conninfo(t)},
                    cfg_.clone_timeout);
  if (!s.is_ok()) return s;
  return configure_standby(primary);
}

Status Executor::make_standby(const PgAddress& primary) {
  if (auto s = stop("fast"); !s.is_ok()) return s;
  return configure_standby(primary);
}

Result<bool> Executor::was_primary() const {
  std::error_code ec;
  if (fs::exists(cfg_.data_dir + "/standby.signal", ec)) return false;  // configured as a standby
  auto r = run_process({bin("pg_controldata"), "-D", cfg_.data_dir}, milliseconds(30000));
  if (!r.is_ok()) return r.status();
  if (r->exit_code != 0) return process_failure("pg_controldata", *r);
  const std::string key = "Database cluster state:";
  auto at = r->output.find(key);
  if (at == std::string::npos) return Status(Code::kInternal, "pg_controldata printed no state");
  auto end = r->output.find('\n', at);
  std::string state = r->output.substr(at + key.size(), end - at - key.size());
  return state.find("recovery") == std::string::npos;
}

Status Executor::set_synchronous_standby_names(const std::string& value) {
  log()->info("synchronous_standby_names = '{}'", value);
  return with_local([&](Conn& c) -> Status {
    if (auto s = c.exec("ALTER SYSTEM SET synchronous_standby_names = " + sql_literal(value));
        !s.is_ok()) {
      return s;
    }
    return c.exec("SELECT pg_reload_conf()");
  });
}

Status Executor::fence() {
  log()->warn("fencing: PostgreSQL becomes read-only and client sessions are ended");
  return with_local([](Conn& c) { return fence_over(c); });
}

Status Executor::unfence() {
  log()->info("lifting the read-only fence");
  return with_local([](Conn& c) -> Status {
    if (auto s = c.exec("ALTER SYSTEM RESET default_transaction_read_only"); !s.is_ok()) return s;
    return c.exec("SELECT pg_reload_conf()");
  });
}

Status Executor::fence_remote(const PgAddress& target) const {
  log()->warn("fencing the PostgreSQL at {}:{} over libpq", target.host, target.port);
  auto c = Conn::open(target_of(target));
  if (!c.is_ok()) return c.status();
  return fence_over(**c);
}

}  // namespace pgha::pg
