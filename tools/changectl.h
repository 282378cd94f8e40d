// What changectl's command files share: global options, usage errors, exit
// codes, and the sub-command option parser. See changectl.cc for the usage.
#pragma once

#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "api/client.h"
#include "tools/changectl_output.h"

namespace changectl {

// Exit codes for scripts (documented in --help).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotFound = 3;
inline constexpr int kExitRevisionMismatch = 4;

struct UsageError {
  std::string message;
};

struct Global {
  std::string endpoints;
  std::string output = "table";
  double timeout_seconds = 10;
  std::string cluster_id;
  std::string ca, cert, key;  // HTTPS: PEM files (env CHANGECTL_CA/CERT/KEY)
  std::string user;           // user:password for basic auth, or empty
  std::string group;
  std::string command;
  std::vector<std::string> rest;  // the command's own arguments
  Format format() const { return output == "json" ? Format::kJson : Format::kTable; }
};

// The client options the global flags describe.
api::ClientOptions client_options(const Global& g);

// Prints the failure on stderr; kExitNotFound for kNotFound, else kExitFailed.
int fail(const common::Status& s);

boost::program_options::variables_map parse_sub(
    const std::vector<std::string>& args, const boost::program_options::options_description& desc,
    const boost::program_options::positional_options_description& pos);

// A non-negative integer argument; UsageError naming `what` otherwise
// (program_options would read "-1" as 18446744073709551615).
uint64_t parse_count(const std::string& text, const std::string& what);

// keys get|put|del|list|watch and lease grant|keepalive|revoke|get
// (changectl_keys.cc).
int run_keys(api::Client& c, const Global& g);
int run_lease(api::Client& c, const Global& g);

// cluster add|remove|promote|move-leader|update (changectl_cluster.cc); the
// caller handles cluster status|members.
int run_cluster_change(api::Client& c, const Global& g);

// pgha list|switchover|failover|pause|resume|history|edit-desired (changectl_pgha.cc).
int run_pgha(api::Client& c, const Global& g);

// changes tail (a FeedReader, from a cursor or time), cursors
// list|get|set|delete, checkpoints post|latest (changectl_feed.cc).
int run_changes_tail(const Global& g);
int run_cursors(api::Client& c, const Global& g);
int run_checkpoints(api::Client& c, const Global& g);

// config get|set (changectl_config.cc).
int run_config(api::Client& c, const Global& g);

}  // namespace changectl
