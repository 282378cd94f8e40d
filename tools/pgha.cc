// pgha: the PostgreSQL HA agent, one beside each PostgreSQL instance, using
// changeagent as its only coordination store (docs/DESIGN.md "pgha").
//
//   pgha --name n1 --cluster main --store 127.0.0.1:8080,127.0.0.1:8081
//        --pg-data /var/lib/pgha/n1 --pg-port 5433 --listen 127.0.0.1:8008
//
// Run it as the database's owner (PostgreSQL refuses to run as root). A bad
// flag, or an agent that cannot start, exits non-zero with one line.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <pwd.h>
#include <atomic>
#include <boost/program_options.hpp>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "pgha/agent/agent.h"

namespace po = boost::program_options;

namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) {
  g_stop = true;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int fail(const std::string& why) {
  std::cerr << "pgha: " << why << "\n";
  return 2;
}

std::string current_user() {
  struct passwd* pw = ::getpwuid(::geteuid());
  return pw ? pw->pw_name : "";
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description desc("pgha options");
  desc.add_options()("help,h", "show this help")("name", po::value<std::string>(),
                                                 "this member's name (as in the desired state)")(
      "cluster", po::value<std::string>(), "the pgha cluster's name (keys under /pgha/<cluster>/)")(
      "store", po::value<std::string>(), "changeagent client URLs, comma separated")(
      "pg-data", po::value<std::string>(), "PostgreSQL data directory (created when empty)")(
      "pg-port", po::value<uint32_t>()->default_value(5432), "PostgreSQL port")(
      "pg-host", po::value<std::string>()->default_value("127.0.0.1"),
      "address PostgreSQL listens on and the others dial")(
      "pg-bin", po::value<std::string>()->default_value("/usr/lib/postgresql/15/bin"),
      "directory of initdb, pg_ctl, pg_basebackup, pg_rewind")(
      "pg-user", po::value<std::string>(),
      "PostgreSQL superuser pgha connects as (default: OS user)")(
      "pg-log", po::value<std::string>(), "PostgreSQL server log (default: <pg-data>.log)")(
      "listen", po::value<std::string>()->default_value("127.0.0.1:8008"),
      "host:port of the agent's HTTP endpoint (/primary, /replica, /health, /status)")(
      "advertise-url", po::value<std::string>(),
      "URL peers use for this agent (default: http://<listen>)")(
      "lease-ttl", po::value<uint64_t>()->default_value(2),
      "seconds without renewal after which this member counts as gone")(
      "loop-ms", po::value<uint32_t>()->default_value(500), "milliseconds between loops")(
      "replica-lag-max", po::value<uint64_t>()->default_value(16 * 1024 * 1024),
      "bytes of lag beyond which GET /replica answers 503")(
      "bootstrap-members", po::value<std::string>(),
      "when the cluster has no desired state yet, write one with these members (comma separated)")(
      "log-level", po::value<std::string>()->default_value("info"), "trace|debug|info|warn|error");

  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    return fail(std::string(e.what()) + " (see pgha --help)");
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  for (const char* required : {"name", "cluster", "store", "pg-data"}) {
    if (!vm.count(required)) return fail(std::string("--") + required + " is required");
  }
  if (::geteuid() == 0) {
    return fail(
        "PostgreSQL refuses to run as root: run pgha as the database's owner "
        "(e.g. runuser -u postgres -- pgha ...)");
  }
  uint32_t port = vm["pg-port"].as<uint32_t>();
  if (port == 0 || port > 65535) return fail("--pg-port must be in [1, 65535]");
  uint32_t loop_ms = vm["loop-ms"].as<uint32_t>();
  if (loop_ms < 50 || loop_ms > 60000) return fail("--loop-ms must be in [50, 60000]");
  auto level = spdlog::level::from_str(vm["log-level"].as<std::string>());
  if (level == spdlog::level::off && vm["log-level"].as<std::string>() != "off") {
    return fail("--log-level must be trace, debug, info, warn or error");
  }

  pgha::agent::AgentConfig cfg;
  cfg.name = vm["name"].as<std::string>();
  cfg.cluster = vm["cluster"].as<std::string>();
  cfg.store_endpoints = split_commas(vm["store"].as<std::string>());
  if (cfg.store_endpoints.empty()) return fail("--store names no endpoint");
  cfg.listen = vm["listen"].as<std::string>();
  if (vm.count("advertise-url")) cfg.advertise_url = vm["advertise-url"].as<std::string>();
  cfg.pg.bin_dir = vm["pg-bin"].as<std::string>();
  cfg.pg.data_dir = vm["pg-data"].as<std::string>();
  while (cfg.pg.data_dir.size() > 1 && cfg.pg.data_dir.back() == '/') cfg.pg.data_dir.pop_back();
  if (cfg.pg.data_dir.empty() || cfg.pg.data_dir[0] != '/') {
    return fail("--pg-data must be an absolute path, not '" + cfg.pg.data_dir + "'");
  }
  cfg.pg.port = static_cast<uint16_t>(port);
  cfg.pg.listen_host = vm["pg-host"].as<std::string>();
  cfg.pg.superuser = vm.count("pg-user") ? vm["pg-user"].as<std::string>() : current_user();
  if (vm.count("pg-log")) cfg.pg.log_path = vm["pg-log"].as<std::string>();
  if (::access((cfg.pg.bin_dir + "/pg_ctl").c_str(), X_OK) != 0) {
    return fail("no pg_ctl in --pg-bin " + cfg.pg.bin_dir + " (install postgresql-15)");
  }
  cfg.lease_ttl_s = vm["lease-ttl"].as<uint64_t>();
  cfg.loop_interval = std::chrono::milliseconds(loop_ms);
  cfg.replica_lag_bytes_max = vm["replica-lag-max"].as<uint64_t>();
  if (vm.count("bootstrap-members")) {
    cfg.bootstrap_members = split_commas(vm["bootstrap-members"].as<std::string>());
    for (const auto& m : cfg.bootstrap_members) {
      if (auto s = pgha::validate_name("--bootstrap-members", m); !s.is_ok())
        return fail(s.message());
    }
  }

  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] " + cfg.name + ": %v");
  spdlog::set_level(level);

  auto agent = pgha::agent::Agent::create(cfg);
  if (!agent.is_ok()) return fail(agent.status().message());
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  (*agent)->run(g_stop);
  return 0;
}
