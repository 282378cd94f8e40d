// changeagent: one node of a replicated change log. Thin main: flags and
// config file -> NodeOptions/HttpOptions, signals -> graceful shutdown.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <boost/json.hpp>
#include <filesystem>

#include "api/client.h"
#include "api/http_server.h"
#include "api/node.h"
#include "discovery/peer_list.h"
#include "discovery/report.h"
#include "tools/changeagent_discovery.h"
#include "tools/changeagent_security.h"
#include "tools/changeagent_tls.h"

namespace po = boost::program_options;

namespace {

// "http://host:port/" or "host:port" -> "host:port".
std::string strip_url(std::string s) {
  auto scheme = s.find("://");
  if (scheme != std::string::npos) s = s.substr(scheme + 3);
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::pair<std::string, uint16_t> split_host_port(const std::string& hp, const char* flag) {
  auto s = strip_url(hp);
  auto colon = s.rfind(':');
  if (colon == std::string::npos)
    throw std::runtime_error(std::string(flag) + " '" + hp + "' must be host:port");
  unsigned long port = std::stoul(s.substr(colon + 1));
  if (port > 65535) throw std::runtime_error(std::string(flag) + " port out of range");
  return {s.substr(0, colon), static_cast<uint16_t>(port)};
}

// A YAML config file holds the same keys as the long flags; flags win.
std::vector<std::string> yaml_to_args(const std::string& path) {
  YAML::Node root = YAML::LoadFile(path);
  if (!root.IsMap()) throw std::runtime_error("config file " + path + " is not a YAML mapping");
  std::vector<std::string> args{"changeagent"};
  for (const auto& kv : root) {
    args.push_back("--" + kv.first.as<std::string>() + "=" + kv.second.as<std::string>());
  }
  return args;
}

// The leader's client URL as the cluster reports it, or "".
std::string leader_client_url(api::Client& client) {
  auto r = client.request("GET", "/cluster");
  if (!r.is_ok() || r->status != 200) return {};
  boost::system::error_code ec;
  auto v = boost::json::parse(r->body, ec);
  if (ec || !v.is_object()) return {};
  auto* leader = v.as_object().if_contains("leader");
  auto* details = v.as_object().if_contains("details");
  if (!leader || !leader->is_number() || !details || !details->is_array()) return {};
  uint64_t id = leader->to_number<uint64_t>(ec);
  for (const auto& m : details->as_array()) {
    if (!m.is_object()) continue;
    auto* mid = m.as_object().if_contains("id");
    auto* url = m.as_object().if_contains("clientUrl");
    if (mid && mid->is_number() && mid->to_number<uint64_t>(ec) == id && url && url->is_string()) {
      return std::string(url->as_string());
    }
  }
  return {};
}

// Asks a member of an existing cluster (any; the client fails over to the
// leader) to add this node; returns the cluster id and this node's id.
// RocksDB opening on a full disk dies on an internal assertion (found by
// the chaos disk-full fault, tests/chaos/FINDINGS.md), not with a message:
// refuse first, in words, and say what to do.
common::Status check_free_space(const std::string& data_dir, uint32_t min_mb) {
  std::filesystem::path p(data_dir);
  std::error_code ec;
  while (!p.empty() && !std::filesystem::exists(p, ec)) p = p.parent_path();
  if (p.empty()) p = ".";
  auto space = std::filesystem::space(p, ec);
  if (ec) return common::Status::ok();  // cannot tell: let the store report
  uint64_t free_mb = space.available >> 20;
  if (free_mb >= min_mb) return common::Status::ok();
  return common::Status(common::Code::kUnavailable,
                        "data dir " + data_dir + ": only " + std::to_string(free_mb) +
                            " MB free on its filesystem, need " + std::to_string(min_mb) +
                            " MB (--min-free-disk-mb); free space and start again");
}

common::Status join_cluster(const std::string& urls, api::NodeOptions& nopts,
                            api::ClientOptions co) {
  size_t pos = 0;
  while (pos <= urls.size()) {
    size_t comma = urls.find(',', pos);
    co.endpoints.push_back(
        urls.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  auto client = api::Client::create(co);
  if (!client.is_ok()) return client.status();
  boost::json::object body{
      {"name", nopts.name}, {"peerURL", nopts.advertise_peer}, {"clientURL", nopts.client_url}};
  common::Status last;
  // The leader may be busy with another change; retry briefly.
  for (int attempt = 0; attempt < 20; attempt++) {
    auto r = (*client)->request("POST", "/cluster/members", boost::json::serialize(body));
    if (!r.is_ok()) {
      last = r.status();
    } else if (r->status == 201 || r->status == 200) {
      boost::system::error_code ec;
      auto v = boost::json::parse(r->body, ec);
      if (ec || !v.is_object() || !v.as_object().contains("id") ||
          !v.as_object().contains("clusterId")) {
        return common::Status(common::Code::kInternal, "unexpected join answer: " + r->body);
      }
      nopts.join_node_id = raftlog::NodeId(v.at("id").to_number<uint64_t>());
      nopts.join_cluster_id =
          raftlog::ClusterId(std::stoull(std::string(v.at("clusterId").as_string()), nullptr, 16));
      return common::Status::ok();
    } else if (r->status == 409 || r->status == 400) {
      return common::Status(common::Code::kConflict, "the cluster refused the join: " + r->body);
    } else if (r->status == 503) {
      // Not the leader: ask it who is, and go there (only the leader adds).
      last = common::Status(common::Code::kUnavailable, r->body);
      if (auto leader_url = leader_client_url(**client); !leader_url.empty()) {
        co.endpoints.insert(co.endpoints.begin(), leader_url);
        auto c2 = api::Client::create(co);
        if (c2.is_ok()) *client = std::move(*c2);
        continue;
      }
    } else {
      last = common::Status(common::Code::kUnavailable,
                            "join answered " + std::to_string(r->status) + ": " + r->body);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return common::Status(last.code(), "could not join via " + urls + ": " + last.message());
}

int fail(const std::string& why) {
  std::fprintf(stderr, "changeagent: %s\n", why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description desc("changeagent options");
  desc.add_options()("help,h", "show this help")("config", po::value<std::string>(),
                                                 "YAML file with the same keys as these flags")(
      "name", po::value<std::string>(), "this node's name (unique in the cluster)")(
      "data-dir", po::value<std::string>(), "directory of this node's RocksDB store")(
      "listen-client", po::value<std::string>()->default_value("127.0.0.1:8080"),
      "host:port for the HTTP API")("listen-peer",
                                    po::value<std::string>()->default_value("127.0.0.1:2380"),
                                    "host:port for peer traffic")(
      "advertise-peer", po::value<std::string>(), "host:port peers dial (default: listen-peer)")(
      "advertise-client", po::value<std::string>(),
      "URL clients use (default: from listen-client)")(
      "initial-cluster", po::value<std::string>(),
      "new cluster: name=host:port,... of every initial member, this node included")(
      "join", po::value<std::string>(),
      "join an existing cluster through any of these member URLs (comma separated); "
      "ignored when the data dir already holds a cluster")(
      "initial-cluster-token", po::value<std::string>()->default_value(""),
      "distinguishes clusters that share member names and addresses")(
      "discovery-file", po::value<std::string>(),
      "new cluster from a file of peers, one name=url or url a line (# comments); "
      "polled, so it may start empty")(
      "discovery-srv", po::value<std::string>(),
      "new cluster from the DNS SRV records _changeagent._tcp.DOMAIN (target host name = "
      "member name)")("dns-server", po::value<std::string>(),
                      "ip:port of the DNS server for --discovery-srv (default: /etc/resolv.conf)")(
      "discovery-interval", po::value<std::string>()->default_value("10s"),
      "how often the discovery source is polled (500ms, 10s, 1m)")(
      "initial-cluster-size", po::value<size_t>(),
      "with discovery: bootstrap once exactly this many peers are discovered")(
      "tick-ms", po::value<uint32_t>()->default_value(25), "raft tick in milliseconds")(
      "heartbeat-ticks", po::value<uint32_t>()->default_value(2), "ticks between heartbeats")(
      "election-ticks", po::value<uint32_t>()->default_value(10),
      "base election timeout in ticks (randomized up to twice that)")(
      "body-bytes-max", po::value<uint64_t>()->default_value(1 << 20), "largest request body")(
      "request-timeout-ms", po::value<uint32_t>()->default_value(10000),
      "an append not committed by then answers 504 outcome_unknown")(
      "retention-min-records", po::value<uint64_t>(),
      "retention: keep at least this many newest changes (default: keep everything)")(
      "retention-min-duration", po::value<std::string>(),
      "retention: keep at least this much history, e.g. 24h, 7d (default: keep everything)")(
      "snapshot-lag-entries", po::value<uint64_t>()->default_value(10000),
      "a follower this far behind (or empty) catches up by a chunked snapshot stream; 0 = only "
      "when the entries it needs were purged")(
      "retention-ignore-cursors", po::bool_switch(),
      "retention: purge past the oldest consumer cursor (_cursors/) instead of waiting for it")(
      "min-free-disk-mb", po::value<uint32_t>()->default_value(64),
      "refuse to start with less free space than this on the data dir's filesystem")(
      "storage-failure-exit-ms", po::value<uint32_t>()->default_value(5000),
      "after a failed disk write (disk full, read-only, I/O error) the node stops acknowledging "
      "and reports it in /health; it exits with status 75 this long after, so that a supervisor "
      "restarts it once the disk works (0 = stay up until restarted by hand)")(
      "log-level", po::value<std::string>()->default_value("info"), "trace|debug|info|warn|error");
  tools::add_tls_options(desc);
  changeagent::add_security_flags(desc);

  po::variables_map vm;
  api::NodeOptions nopts;
  api::HttpOptions hopts;
  changeagent::DiscoveryFlags dflags;
  tools::TlsSetup tls;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("config")) {
      auto args = yaml_to_args(vm["config"].as<std::string>());
      std::vector<const char*> cargs;
      for (auto& a : args) cargs.push_back(a.c_str());
      po::store(po::parse_command_line(static_cast<int>(cargs.size()), cargs.data(), desc), vm);
    }
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    if (!vm.count("name")) return fail("--name is required");
    if (!vm.count("data-dir")) return fail("--data-dir is required");
    nopts.name = vm["name"].as<std::string>();
    nopts.data_dir = vm["data-dir"].as<std::string>();
    auto [phost, pport] = split_host_port(vm["listen-peer"].as<std::string>(), "--listen-peer");
    nopts.peer_listen = phost + ":" + std::to_string(pport);
    nopts.advertise_peer = vm.count("advertise-peer")
                               ? strip_url(vm["advertise-peer"].as<std::string>())
                               : nopts.peer_listen;
    auto [chost, cport] = split_host_port(vm["listen-client"].as<std::string>(), "--listen-client");
    hopts.host = chost;
    hopts.port = cport;
    hopts.body_bytes_max = vm["body-bytes-max"].as<uint64_t>();
    auto tls_r = tools::tls_from_flags(vm);
    if (!tls_r.is_ok()) return fail(tls_r.status().message());
    tls = std::move(*tls_r);
    nopts.peer_tls = tls.peer;
    nopts.webhook_tls = tls.webhook;
    // Peers speak TLS: SRV discovery also asks for _changeagent-ssl._tcp.
    dflags.tls = tls.peer != nullptr;
    nopts.client_url = vm.count("advertise-client")
                           ? vm["advertise-client"].as<std::string>()
                           : "http://" + chost + ":" + std::to_string(cport);
    if (!tls.https_listen.empty() && !vm.count("advertise-client")) {
      nopts.client_url = "https://" + strip_url(tls.https_listen);
    }
    if (vm.count("initial-cluster")) {
      auto ic = discovery::parse_initial_cluster(vm["initial-cluster"].as<std::string>());
      if (!ic.is_ok()) return fail(ic.status().message());
      for (const auto& p : *ic) nopts.initial_cluster.push_back(api::PeerSpec{p.name, p.address});
    }
    if (vm.count("discovery-file")) dflags.file = vm["discovery-file"].as<std::string>();
    if (vm.count("discovery-srv")) dflags.srv_domain = vm["discovery-srv"].as<std::string>();
    if (vm.count("dns-server")) dflags.dns_server = vm["dns-server"].as<std::string>();
    auto interval = discovery::parse_interval(vm["discovery-interval"].as<std::string>(),
                                              "--discovery-interval");
    if (!interval.is_ok()) return fail(interval.status().message());
    dflags.interval = *interval;
    if (vm.count("initial-cluster-size")) {
      dflags.initial_cluster_size = vm["initial-cluster-size"].as<size_t>();
    }
    if (dflags.enabled() && (vm.count("initial-cluster") || vm.count("join"))) {
      return fail("--discovery-file/--discovery-srv exclude --initial-cluster and --join");
    }
    if (!dflags.enabled() && (vm.count("dns-server") || vm.count("initial-cluster-size"))) {
      return fail(
          "--dns-server and --initial-cluster-size need --discovery-file or --discovery-srv");
    }
    nopts.cluster_token = vm["initial-cluster-token"].as<std::string>();
    nopts.tick_ms = vm["tick-ms"].as<uint32_t>();
    nopts.heartbeat_ticks = vm["heartbeat-ticks"].as<uint32_t>();
    nopts.election_ticks = vm["election-ticks"].as<uint32_t>();
    nopts.request_timeout = std::chrono::milliseconds(vm["request-timeout-ms"].as<uint32_t>());
    if (nopts.tick_ms == 0) return fail("--tick-ms must be > 0");
    if (vm.count("retention-min-records")) {
      nopts.retention.min_records = vm["retention-min-records"].as<uint64_t>();
      if (nopts.retention.min_records == 0) return fail("--retention-min-records must be > 0");
    }
    if (vm.count("retention-min-duration")) {
      auto d = storage::parse_duration(vm["retention-min-duration"].as<std::string>());
      if (!d.is_ok()) return fail("--retention-min-duration: " + d.status().message());
      nopts.retention.min_duration = *d;
    }
    nopts.retention.ignore_cursors = vm["retention-ignore-cursors"].as<bool>();
    nopts.snapshot_lag_entries = vm["snapshot-lag-entries"].as<uint64_t>();
  } catch (const std::exception& e) {
    return fail(std::string(e.what()) + " (see --help)");
  }

  auto console = spdlog::stderr_color_mt("changeagent");
  spdlog::set_default_logger(console);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] " + nopts.name + ": %v");
  spdlog::set_level(spdlog::level::from_str(vm["log-level"].as<std::string>()));
  if (auto s = changeagent::apply_security_flags(vm, hopts); !s.is_ok()) return fail(s.message());

  if (vm.count("join")) {
    if (vm.count("initial-cluster")) return fail("--join and --initial-cluster exclude each other");
    std::error_code ec;
    bool has_data = std::filesystem::exists(std::filesystem::path(nopts.data_dir) / "CURRENT", ec);
    if (!has_data) {
      api::ClientOptions co;
      co.ca_file = tls.client_ca;
      co.cert_file = tls.client_cert;
      co.key_file = tls.client_key;
      if (auto s = join_cluster(vm["join"].as<std::string>(), nopts, co); !s.is_ok()) {
        return fail(s.message());
      }
      spdlog::info("joined cluster {:016x} as node {:016x}; catching up as a learner",
                   nopts.join_cluster_id.value(), nopts.join_node_id.value());
    }
  }

  // Discovery: a new data dir waits here for the cluster's peers; an
  // existing one starts at once and only watches for changes to propose.
  std::unique_ptr<discovery::Watcher> watcher;
  if (dflags.enabled()) {
    auto w = changeagent::start_watcher(dflags);
    if (!w.is_ok()) return fail(w.status().message());
    watcher = std::move(*w);
    std::error_code ec;
    bool has_data = std::filesystem::exists(std::filesystem::path(nopts.data_dir) / "CURRENT", ec);
    if (!has_data) {
      if (dflags.initial_cluster_size == 0) {
        return fail("--initial-cluster-size is required to bootstrap from discovery");
      }
      auto peers = changeagent::wait_for_bootstrap(*watcher, nopts.name, nopts.advertise_peer,
                                                   dflags.initial_cluster_size);
      if (!peers.is_ok()) return fail(peers.status().message());
      nopts.initial_cluster = std::move(*peers);
    }
  }

  if (auto s = check_free_space(nopts.data_dir, vm["min-free-disk-mb"].as<uint32_t>());
      !s.is_ok()) {
    return fail(s.message());
  }

  boost::asio::io_context io(1);
  // A failed write leaves the durable state unknown to this process: only a
  // restart, which re-reads the disk, may acknowledge anything again (etcd
  // exits on a failed WAL write for the same reason). Until the exit, /health
  // says why, so monitoring sees it.
  boost::asio::steady_timer storage_exit(io);
  uint32_t storage_exit_ms = vm["storage-failure-exit-ms"].as<uint32_t>();
  nopts.on_storage_failure = [&](const common::Status& st) {
    if (storage_exit_ms == 0) return;
    storage_exit.expires_after(std::chrono::milliseconds(storage_exit_ms));
    storage_exit.async_wait([st](boost::system::error_code ec) {
      if (ec) return;
      spdlog::critical("exiting (status 75) after a failed disk write: {}", st.to_string());
      spdlog::default_logger()->flush();
      std::_Exit(75);
    });
  };
  auto node = api::Node::start(io, nopts);
  if (!node.is_ok()) return fail(node.status().message());
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>((*node)->cluster_id().value()));
  hopts.cluster_id_hex = hex;
  std::unique_ptr<changeagent::ProposalTracker> proposals;
  if (watcher) {
    proposals =
        std::make_unique<changeagent::ProposalTracker>(io, **node, *watcher, nopts.client_url, hex);
    proposals->attach(hopts);
  }
  auto reload_auth = changeagent::reload_auth_on_sighup(io, hopts.auth);
  std::unique_ptr<api::HttpServer> http, https;
  if (tls.plain_http) {
    auto h = api::HttpServer::start(io, **node, hopts);
    if (!h.is_ok()) return fail(h.status().message());
    http = std::move(*h);
    spdlog::info("serving cluster {} at http://{}:{} (peers on {}{})", hex, hopts.host,
                 http->port(), nopts.peer_listen, tls.peer ? ", mutual TLS" : "");
  }
  if (tls.client) {
    auto [shost, sport] = split_host_port(tls.https_listen, "--listen-client-https");
    api::HttpOptions sopts = hopts;
    sopts.host = shost;
    sopts.port = sport;
    sopts.tls = tls.client;
    auto h = api::HttpServer::start(io, **node, sopts);
    if (!h.is_ok()) return fail(h.status().message());
    https = std::move(*h);
    spdlog::info("serving cluster {} at https://{}:{}{} (peers on {}{})", hex, sopts.host,
                 https->port(),
                 tls.client->require_peer_cert() ? ", client certificates required" : "",
                 nopts.peer_listen, tls.peer ? ", mutual TLS" : "");
  }
  tools::reload_tls_on_sighup(io, tls);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  bool stopping = false;
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec || stopping) return;
    stopping = true;
    spdlog::info("signal {}: stopping", sig);
    if (http) http->stop();
    if (https) https->stop();
    if (proposals) proposals->stop();
    (*node)->shutdown([&] { io.stop(); });
  });
  io.run();
  return 0;
}
