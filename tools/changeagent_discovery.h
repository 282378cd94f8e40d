// changeagent's use of discovery/: the flags, the wait for the bootstrap
// set before the node starts, and afterwards a timer on the io_context that
// compares the discovered set with the membership and logs each difference
// once as a proposal with its changectl command (also in /diagnostics and
// /metrics). It never changes membership itself.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "api/node.h"
#include "discovery/proposals.h"
#include "discovery/watcher.h"

namespace changeagent {

struct DiscoveryFlags {
  std::string file;        // --discovery-file
  std::string srv_domain;  // --discovery-srv
  std::string dns_server;  // --dns-server ip:port
  bool tls = false;        // peers speak TLS: also _changeagent-ssl._tcp
  std::chrono::milliseconds interval{10000};
  size_t initial_cluster_size = 0;  // 0 = not given
  bool enabled() const { return !file.empty() || !srv_domain.empty(); }
};

// The source the flags name, polled from its own thread. kInvalidArgument
// for both sources at once or a bad --dns-server.
common::Result<std::unique_ptr<discovery::Watcher>> start_watcher(const DiscoveryFlags& flags);

// Blocks the caller (main, before the node exists) until the discovered set
// can form the cluster; logs what it waits for once per change. An error
// when it never can with that set (this node is not in it).
common::Result<std::vector<api::PeerSpec>> wait_for_bootstrap(discovery::Watcher& watcher,
                                                              const std::string& self_name,
                                                              const std::string& self_address,
                                                              size_t size);

class ProposalTracker {
 public:
  // Checks every `watcher.interval()` (at most 1 s) on `io`; adds its
  // sections to `http`. `node` and `watcher` must outlive it.
  ProposalTracker(boost::asio::io_context& io, api::Node& node, discovery::Watcher& watcher,
                  std::string client_url, std::string cluster_id_hex);
  void attach(api::HttpOptions& http);
  void stop();

 private:
  void check();
  void schedule();

  api::Node& node_;
  discovery::Watcher& watcher_;
  discovery::CommandTarget target_;
  boost::asio::steady_timer timer_;
  std::vector<discovery::Proposal> current_;
  bool stopped_ = false;
};

}  // namespace changeagent
