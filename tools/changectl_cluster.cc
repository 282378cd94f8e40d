// changectl cluster add|remove|promote|move-leader|update: membership
// changes (issue 5). Members are named by id or by name; names are resolved
// through GET /cluster. The client fails over to the leader on 503, so give
// every member in --endpoints.
#include <boost/json.hpp>
#include <iostream>

#include "tools/changectl.h"

namespace po = boost::program_options;

namespace changectl {

namespace {

struct Args {
  po::variables_map vm;             // the options
  std::vector<std::string> values;  // the positional arguments, in order
};

// The command's options in `desc` plus positional arguments `names`, all
// required: a UsageError with `usage` if one is missing.
Args parse_args(const Global& g, const std::vector<const char*>& names,
                po::options_description& desc, const std::string& usage) {
  po::positional_options_description pos;
  for (const char* n : names) {
    desc.add_options()(n, po::value<std::string>(), n);
    pos.add(n, 1);
  }
  Args a;
  a.vm = parse_sub(g.rest, desc, pos);
  for (const char* n : names) {
    if (!a.vm.count(n) || a.vm[n].as<std::string>().empty()) {
      throw UsageError{"usage: changectl " + usage};
    }
    a.values.push_back(a.vm[n].as<std::string>());
  }
  return a;
}

struct Target {
  uint64_t id = 0;
  std::string name;  // empty when the cluster does not list it
};

// A member by name (exact), else by id. An id the cluster does not list is
// passed on as is: the node that answered GET /cluster may lag, and the
// leader answers 404 for a member it does not have.
common::Result<Target> resolve(api::Client& c, const std::string& arg) {
  auto view = c.cluster();
  if (!view.is_ok()) return view.status();
  for (const auto& m : view->members) {
    if (!m.name.empty() && m.name == arg) return Target{m.id, m.name};
  }
  uint64_t id = 0;
  try {
    id = parse_count(arg, "a member");
  } catch (const UsageError&) {
    return common::Status(common::Code::kNotFound,
                          "no member named '" + arg + "' (see changectl cluster status)");
  }
  if (id == 0) throw UsageError{"a member id is a positive integer"};
  for (const auto& m : view->members) {
    if (m.id == id) return Target{m.id, m.name};
  }
  return Target{id, {}};
}

std::string label(const Target& t) {
  return "member " + std::to_string(t.id) + (t.name.empty() ? "" : " (" + t.name + ")");
}

std::string json_of(boost::json::object o) {
  return boost::json::serialize(o);
}

int cluster_add(api::Client& c, const Global& g) {
  po::options_description desc("cluster add");
  desc.add_options()("client-url", po::value<std::string>(), "the member's HTTP URL")(
      "learner", "stays a learner (read-only replica) until promoted");
  const std::string usage = "cluster add NAME PEER_URL [--client-url URL] [--learner]";
  Args a = parse_args(g, {"name", "peer-url"}, desc, usage);
  api::MemberRequest req;
  req.name = a.values[0];
  req.peer_url = a.values[1];
  if (a.vm.count("client-url")) req.client_url = a.vm["client-url"].as<std::string>();
  req.auto_promote = !a.vm.count("learner");
  auto r = c.add_member(req);
  if (!r.is_ok()) return fail(r.status());
  print_member(std::cout, g.format(), *r);
  return kExitOk;
}

int cluster_remove(api::Client& c, const Global& g) {
  po::options_description desc("cluster remove");
  desc.add_options()("force", "remove even if fewer reachable voters than a quorum would remain");
  Args a = parse_args(g, {"member"}, desc, "cluster remove ID|NAME [--force]");
  bool force = a.vm.count("force") > 0;
  auto t = resolve(c, a.values[0]);
  if (!t.is_ok()) return fail(t.status());
  if (common::Status s = c.remove_member(t->id, force); !s.is_ok()) return fail(s);
  print_outcome(std::cout, g.format(), json_of({{"id", t->id}, {"removed", true}}),
                label(*t) + " removed");
  return kExitOk;
}

int cluster_promote(api::Client& c, const Global& g) {
  po::options_description desc("cluster promote");
  Args a = parse_args(g, {"member"}, desc, "cluster promote ID|NAME");
  auto t = resolve(c, a.values[0]);
  if (!t.is_ok()) return fail(t.status());
  if (common::Status s = c.promote_member(t->id); !s.is_ok()) return fail(s);
  print_outcome(std::cout, g.format(), json_of({{"id", t->id}, {"learner", false}}),
                label(*t) + " is a voter");
  return kExitOk;
}

int cluster_move_leader(api::Client& c, const Global& g) {
  po::options_description desc("cluster move-leader");
  Args a = parse_args(g, {"member"}, desc, "cluster move-leader ID|NAME");
  auto t = resolve(c, a.values[0]);
  if (!t.is_ok()) return fail(t.status());
  if (common::Status s = c.move_leader(t->id); !s.is_ok()) return fail(s);
  print_outcome(std::cout, g.format(), json_of({{"leader", t->id}}),
                "leadership moved to " + label(*t));
  return kExitOk;
}

int cluster_update(api::Client& c, const Global& g) {
  po::options_description desc("cluster update");
  Args a = parse_args(g, {"member", "peer-url"}, desc, "cluster update ID|NAME PEER_URL");
  const std::string& peer = a.values[1];
  auto t = resolve(c, a.values[0]);
  if (!t.is_ok()) return fail(t.status());
  if (common::Status s = c.update_member(t->id, peer); !s.is_ok()) return fail(s);
  print_outcome(std::cout, g.format(), json_of({{"id", t->id}, {"peerURL", peer}}),
                label(*t) + " now at " + peer);
  return kExitOk;
}

}  // namespace

int run_cluster_change(api::Client& c, const Global& g) {
  if (g.command == "add") return cluster_add(c, g);
  if (g.command == "remove" || g.command == "rm") return cluster_remove(c, g);
  if (g.command == "promote") return cluster_promote(c, g);
  if (g.command == "move-leader") return cluster_move_leader(c, g);
  if (g.command == "update") return cluster_update(c, g);
  throw UsageError{"unknown command 'cluster " + g.command + "'; see changectl --help"};
}

}  // namespace changectl
