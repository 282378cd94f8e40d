// changectl: the command-line client of changeagent.
//
//   changectl [--endpoints a,b,c] [-o table|json] <group> <command> [options]
//     changes post [--tag t]... [--type N] [--no-wait] JSON|-
//     changes get [ID] [--since N] [--limit N] [--tag t]... [--consistent]
//     changes watch [--since N] [--tag t]... [--prefix P]
//     changes tail [--since N|--from-time T] [--cursor NAME] [--tag t]... [--follow]
//     cursors list|get|set|delete ...   checkpoints post|latest ...
//     keys get|put|del|list|watch ...   lease grant|keepalive|revoke|get ...
//     cluster status | cluster members | health
//     cluster add NAME PEER_URL [--client-url U] [--learner]
//     cluster remove|promote|move-leader ID|NAME   cluster update ID|NAME PEER_URL
//     config get | config set NAME=VALUE... [--revision N] | config set --file F|-
//     pgha list|switchover|failover|pause|resume|history|edit-desired (changectl_pgha.cc)
//
// Exit codes for scripts: 0 ok, 1 request failed or server error, 2 usage
// error, 3 not found, 4 revision mismatch (a compare-and-set lost). A
// failure prints one line on stderr.
#include "tools/changectl.h"

#include <charconv>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <sstream>

#include "api/change_json.h"

namespace po = boost::program_options;

namespace changectl {

int fail(const common::Status& s) {
  std::cerr << "changectl: " << s.to_string() << "\n";
  return s.code() == common::Code::kNotFound ? kExitNotFound : kExitFailed;
}

po::variables_map parse_sub(const std::vector<std::string>& args,
                            const po::options_description& desc,
                            const po::positional_options_description& pos) {
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
  po::notify(vm);
  return vm;
}

uint64_t parse_count(const std::string& text, const std::string& what) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    throw UsageError{what + " must be a non-negative integer, not '" + text + "'"};
  }
  return v;
}

namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

api::ClientOptions client_options(const Global& g) {
  api::ClientOptions opts;
  opts.endpoints = split_commas(g.endpoints);
  opts.request_timeout = std::chrono::milliseconds(static_cast<int64_t>(g.timeout_seconds * 1000));
  opts.cluster_id_hex = g.cluster_id;
  // One command may fail over between endpoints: never onto another cluster.
  opts.learn_cluster_id = true;
  opts.ca_file = g.ca;
  opts.cert_file = g.cert;
  opts.key_file = g.key;
  opts.basic_auth = g.user;
  return opts;
}

}  // namespace changectl

namespace {

using namespace changectl;

int changes_post(api::Client& c, const Global& g) {
  po::options_description desc("changes post");
  desc.add_options()("tag", po::value<std::vector<std::string>>(), "tag (repeatable)")(
      "type", po::value<uint32_t>()->default_value(0), "change type, >= 0")(
      "no-wait", "return once the leader accepted (202), before commit")(
      "data", po::value<std::string>(), "JSON, or - for stdin");
  po::positional_options_description pos;
  pos.add("data", 1);
  auto vm = parse_sub(g.rest, desc, pos);
  if (!vm.count("data")) throw UsageError{"changes post needs JSON data or - for stdin"};
  api::ChangeInput in;
  in.data_json = vm["data"].as<std::string>();
  if (in.data_json == "-") {
    in.data_json.assign(std::istreambuf_iterator<char>(std::cin), {});
  }
  if (common::Status valid = api::validate_json(in.data_json); !valid.is_ok()) {
    throw UsageError{"changes post: " + valid.message()};
  }
  if (vm.count("tag")) in.tags = vm["tag"].as<std::vector<std::string>>();
  in.type = vm["type"].as<uint32_t>();
  auto r = c.post_change(in, !vm.count("no-wait"));
  if (!r.is_ok()) return fail(r.status());
  changectl::print_appended(std::cout, g.format(), {*r});
  return kExitOk;
}

int changes_get(api::Client& c, const Global& g) {
  po::options_description desc("changes get");
  desc.add_options()("since", po::value<uint64_t>()->default_value(0), "after this id")(
      "limit", po::value<uint32_t>()->default_value(100), "at most this many")(
      "tag", po::value<std::vector<std::string>>(), "only with this tag (repeat = OR)")(
      "consistent", "read through the leader (linearizable)")("id", po::value<uint64_t>(),
                                                              "one change by id");
  po::positional_options_description pos;
  pos.add("id", 1);
  auto vm = parse_sub(g.rest, desc, pos);
  bool consistent = vm.count("consistent") > 0;
  if (vm.count("id")) {
    auto r = c.get_change(vm["id"].as<uint64_t>(), consistent);
    if (!r.is_ok()) return fail(r.status());
    changectl::print_change(std::cout, g.format(), *r);
    return kExitOk;
  }
  api::FeedRequest req;
  req.since = vm["since"].as<uint64_t>();
  req.limit = vm["limit"].as<uint32_t>();
  if (vm.count("tag")) req.tags = vm["tag"].as<std::vector<std::string>>();
  req.consistent = consistent;
  auto r = c.get_feed(req);
  if (!r.is_ok()) return fail(r.status());
  changectl::print_feed(std::cout, g.format(), *r);
  return kExitOk;
}

int changes_watch(api::Client& c, const Global& g) {
  po::options_description desc("changes watch");
  desc.add_options()("since", po::value<uint64_t>()->default_value(0), "after this id")(
      "tag", po::value<std::vector<std::string>>(), "only with this tag (repeat = OR)")(
      "prefix", po::value<std::string>(), "only changes writing a key with this prefix");
  auto vm = parse_sub(g.rest, desc, {});
  api::WatchOptions w;
  w.since = vm["since"].as<uint64_t>();
  if (vm.count("tag")) w.tags = vm["tag"].as<std::vector<std::string>>();
  if (vm.count("prefix")) w.prefix = vm["prefix"].as<std::string>();
  // Follows forever; ends on a non-transient error or when stdout closes.
  common::Status s = c.watch(w, [&](const api::Change& ch) {
    changectl::print_change_line(std::cout, g.format(), ch);
    return static_cast<bool>(std::cout);
  });
  if (!s.is_ok()) return fail(s);
  return kExitOk;
}

int run(api::Client& c, const Global& g) {
  if (g.group == "changes") {
    if (g.command == "post") return changes_post(c, g);
    if (g.command == "get") return changes_get(c, g);
    if (g.command == "watch") return changes_watch(c, g);
    if (g.command == "tail") return run_changes_tail(g);
  } else if (g.group == "cursors") {
    return run_cursors(c, g);
  } else if (g.group == "checkpoints") {
    return run_checkpoints(c, g);
  } else if (g.group == "keys") {
    return run_keys(c, g);
  } else if (g.group == "lease") {
    return run_lease(c, g);
  } else if (g.group == "pgha") {
    return run_pgha(c, g);
  } else if (g.group == "config") {
    return run_config(c, g);
  } else if (g.group == "cluster" &&
             !(g.rest.empty() && (g.command == "status" || g.command == "members"))) {
    return run_cluster_change(c, g);
  } else if (g.group == "cluster") {
    if (g.command == "status") {
      auto r = c.cluster();
      if (!r.is_ok()) return fail(r.status());
      changectl::print_cluster(std::cout, g.format(), *r);
      return kExitOk;
    }
    if (g.command == "members") {
      auto r = c.members();
      if (!r.is_ok()) return fail(r.status());
      changectl::print_members(std::cout, g.format(), *r);
      return kExitOk;
    }
  } else if (g.group == "health" && g.command.empty()) {
    common::Status s = c.health();
    if (!s.is_ok()) return fail(s);
    std::cout << "ok\n";
    return kExitOk;
  }
  throw UsageError{"unknown command '" + g.group + (g.command.empty() ? "" : " ") + g.command +
                   "'; see changectl --help"};
}

const char* kUsage =
    "usage: changectl [--endpoints a,b,c] [--user user:password] [-o table|json] [--ca F [--cert F "
    "--key F]] <command>\n"
    "  changes post [--tag t]... [--type N] [--no-wait] JSON|-\n"
    "  changes get [ID] [--since N] [--limit N] [--tag t]... [--consistent]\n"
    "  changes watch [--since N] [--tag t]... [--prefix P]   (follows until Ctrl-C)\n"
    "  changes tail [--since N | --from-time T] [--cursor NAME] [--tag t]... [--prefix P]\n"
    "               [--follow] [--commit-every N]   (--cursor: resume from it, commit to it)\n"
    "  cursors list | cursors get NAME [--consistent]\n"
    "  cursors set NAME INDEX [--if-revision N] [--force]   (--force: may move it back)\n"
    "  cursors delete NAME [--if-revision N]\n"
    "  checkpoints post --covers N --location L [--tag t]... | checkpoints latest [--tag t]\n"
    "  keys get KEY [--consistent]\n"
    "  keys put KEY JSON|- [--if-revision N] [--lease ID]   (--if-revision 0: must not exist)\n"
    "  keys del KEY [--if-revision N]\n"
    "  keys list [--prefix P] [--after KEY] [--limit N] [--consistent]\n"
    "  keys watch PREFIX [--since N]                       (follows until Ctrl-C)\n"
    "  lease grant TTL_SECONDS | lease get ID | lease revoke ID\n"
    "  lease keepalive ID [--follow]                       (--follow: until Ctrl-C)\n"
    "  cluster status | cluster members | health\n"
    "  config get | config set NAME=VALUE... [--revision N] | config set --file F|- [--revision "
    "N]\n"
    "  cluster add NAME PEER_URL [--client-url URL] [--learner]  (--learner: stays a learner)\n"
    "  cluster remove ID|NAME [--force]                  (--force: only for a dead node)\n"
    "  cluster promote ID|NAME | cluster move-leader ID|NAME\n"
    "  cluster update ID|NAME PEER_URL                   (a member's new peer address)\n"
    "  pgha list | pgha history [--since N] [--limit N] [--follow]   [--name CLUSTER]\n"
    "  pgha switchover --to MEMBER | pgha failover [--to MEMBER]   [--wait SECONDS]\n"
    "  pgha pause | pgha resume\n"
    "  pgha edit-desired [FILE|-]       (JSON or YAML; no FILE: $EDITOR; CAS on the revision)\n"
    "exit codes: 0 ok, 1 failed, 2 usage error, 3 not found, 4 revision mismatch or cursor "
    "behind\n";

std::string env_or(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Global parse_global(int argc, char** argv, po::options_description& desc) {
  Global g;
  const char* env = std::getenv("CHANGEAGENT_ENDPOINTS");
  desc.add_options()("help,h", "this help")(
      "endpoints,e", po::value(&g.endpoints)->default_value(env ? env : "127.0.0.1:8080"),
      "comma-separated host:port or http(s)://host:port list (env CHANGEAGENT_ENDPOINTS)")(
      "output,o", po::value(&g.output)->default_value("table"), "table or json")(
      "timeout", po::value(&g.timeout_seconds)->default_value(10), "seconds per request")(
      "cluster-id", po::value(&g.cluster_id),
      "expected cluster id (16 hex digits, as cluster status prints it); without it the id "
      "of the first answer is sent with every later request")(
      "ca", po::value(&g.ca)->default_value(env_or("CHANGECTL_CA"), ""),
      "PEM CA to verify HTTPS servers (env CHANGECTL_CA); endpoints without a scheme use https")(
      "cert", po::value(&g.cert)->default_value(env_or("CHANGECTL_CERT"), ""),
      "PEM client certificate for servers with --client-cert-auth (env CHANGECTL_CERT)")(
      "key", po::value(&g.key)->default_value(env_or("CHANGECTL_KEY"), ""),
      "PEM private key of --cert (env CHANGECTL_KEY)")(
      "user", po::value(&g.user)->default_value(env_or("CHANGECTL_USER"), ""),
      "user:password for HTTP basic auth (env CHANGECTL_USER)")("group", po::value(&g.group), "")(
      "command", po::value(&g.command), "")("rest", po::value<std::vector<std::string>>(), "");
  po::positional_options_description pos;
  pos.add("group", 1).add("command", 1).add("rest", -1);
  auto parsed =
      po::command_line_parser(argc, argv).options(desc).positional(pos).allow_unregistered().run();
  po::variables_map vm;
  po::store(parsed, vm);
  po::notify(vm);
  if (vm.count("help")) return g;
  // Everything after group and command belongs to the command.
  g.rest = po::collect_unrecognized(parsed.options, po::include_positional);
  size_t skip =
      std::min<size_t>(g.rest.size(), (g.group.empty() ? 0 : 1) + (g.command.empty() ? 0 : 1));
  g.rest.erase(g.rest.begin(), g.rest.begin() + static_cast<std::ptrdiff_t>(skip));
  if (g.output != "table" && g.output != "json") throw UsageError{"-o must be table or json"};
  if (g.timeout_seconds <= 0) throw UsageError{"--timeout must be positive"};
  if (!g.user.empty() && (g.user.find(':') == std::string::npos || g.user.front() == ':')) {
    throw UsageError{"--user must be user:password"};
  }
  return g;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    po::options_description desc("options");
    Global g = parse_global(argc, argv, desc);
    if (g.group.empty()) {
      std::cout << kUsage << desc;
      return argc > 1 ? kExitOk : kExitUsage;
    }
    auto client = api::Client::create(client_options(g));
    if (!client.is_ok()) throw UsageError{client.status().message()};
    return run(**client, g);
  } catch (const UsageError& e) {
    std::cerr << "changectl: " << e.message << "\n";
    return kExitUsage;
  } catch (const po::error& e) {
    std::cerr << "changectl: " << e.what() << "\n";
    return kExitUsage;
  }
}
