#include "tools/changeagent_discovery.h"

#include <spdlog/spdlog.h>

#include "discovery/bootstrap.h"
#include "discovery/log.h"
#include "discovery/report.h"

namespace changeagent {

using common::Code;
using common::Status;

common::Result<std::unique_ptr<discovery::Watcher>> start_watcher(const DiscoveryFlags& flags) {
  if (!flags.file.empty() && !flags.srv_domain.empty()) {
    return Status(Code::kInvalidArgument,
                  "--discovery-file and --discovery-srv exclude each other; give one");
  }
  std::unique_ptr<discovery::Source> source;
  if (!flags.file.empty()) {
    if (!flags.dns_server.empty()) {
      return Status(Code::kInvalidArgument, "--dns-server applies to --discovery-srv only");
    }
    source = std::make_unique<discovery::FileSource>(flags.file);
  } else {
    discovery::DnsOptions dns;
    dns.server = flags.dns_server;
    // A lookup must end well within one interval.
    dns.timeout = std::min(std::chrono::milliseconds(2000),
                           flags.interval / 2 + std::chrono::milliseconds(1));
    auto srv = discovery::SrvSource::create(flags.srv_domain, flags.tls, dns);
    if (!srv.is_ok()) return srv.status();
    source = std::move(*srv);
  }
  return std::make_unique<discovery::Watcher>(std::move(source), flags.interval);
}

common::Result<std::vector<api::PeerSpec>> wait_for_bootstrap(discovery::Watcher& watcher,
                                                              const std::string& self_name,
                                                              const std::string& self_address,
                                                              size_t size) {
  auto log = discovery::logger();
  std::string last_reason;
  uint64_t generation = 0;
  for (;;) {
    discovery::Snapshot snap = watcher.wait_newer(generation, std::chrono::seconds(60));
    generation = snap.generation;
    if (snap.polls == 0) continue;
    auto d = discovery::decide_bootstrap(snap.last, self_name, self_address, size);
    using Kind = discovery::BootstrapDecision::Kind;
    if (d.kind == Kind::kFail) return Status(Code::kInvalidArgument, d.reason);
    if (d.kind == Kind::kReady) {
      std::vector<api::PeerSpec> out;
      for (const auto& p : d.peers) {
        if (p.name == self_name && p.address != self_address) {
          log->warn("discovery lists this node at {} but it advertises {}; peers will dial {}",
                    p.address, self_address, p.address);
        }
        out.push_back(api::PeerSpec{p.name, p.address});
      }
      log->info("bootstrapping a new cluster of {} from {}: {}", size, snap.source,
                discovery::describe(d.peers));
      return out;
    }
    if (d.reason != last_reason) {
      log->info("waiting to bootstrap a cluster of {} from {}: {}", size, snap.source, d.reason);
      last_reason = d.reason;
    }
  }
}

ProposalTracker::ProposalTracker(boost::asio::io_context& io, api::Node& node,
                                 discovery::Watcher& watcher, std::string client_url,
                                 std::string cluster_id_hex)
    : node_(node),
      watcher_(watcher),
      target_{std::move(client_url), std::move(cluster_id_hex)},
      timer_(io) {
  schedule();
}

void ProposalTracker::attach(api::HttpOptions& http) {
  http.diagnostics_sections.emplace_back(
      "discovery", [this] { return discovery::render_report(watcher_.snapshot(), current_); });
  http.metrics_sections.emplace_back(
      [this] { return discovery::render_metrics(watcher_.snapshot(), current_.size()); });
}

void ProposalTracker::stop() {
  stopped_ = true;
  timer_.cancel();
}

void ProposalTracker::schedule() {
  timer_.expires_after(std::min(watcher_.interval(), std::chrono::milliseconds(1000)));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    check();
    schedule();
  });
}

void ProposalTracker::check() {
  discovery::Snapshot snap = watcher_.snapshot();
  if (snap.good.empty()) return;  // nothing discovered yet: nothing to say
  std::vector<discovery::Member> members;
  for (const auto& m : node_.cluster().members) members.push_back({m.id, m.name, m.peer_url});
  if (members.empty()) return;  // a joining node that has no membership yet
  bool complete = snap.good_complete && snap.last.complete();
  auto proposals = discovery::propose(snap.good, complete, members, target_);
  if (proposals == current_) return;
  auto log = discovery::logger();
  for (const auto& p : proposals) {
    if (std::find(current_.begin(), current_.end(), p) != current_.end()) continue;
    log->warn(
        "proposed membership change ({}; not applied: discovery never changes membership "
        "by itself): {}",
        p.reason, p.command);
  }
  if (proposals.empty()) log->info("membership matches {} again", snap.source);
  current_ = std::move(proposals);
}

}  // namespace changeagent
