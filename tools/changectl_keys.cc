// changectl keys get|put|del|list|watch and lease grant|keepalive|revoke|get.
#include <signal.h>

#include <atomic>
#include <iostream>
#include <iterator>

#include "api/change_json.h"
#include "tools/changectl.h"

namespace po = boost::program_options;

namespace changectl {

namespace {

// The positional argument `name`, or a UsageError saying what is missing.
std::string positional(const po::variables_map& vm, const char* name, const std::string& usage) {
  if (!vm.count(name)) throw UsageError{"usage: changectl " + usage};
  return vm[name].as<std::string>();
}

std::optional<uint64_t> if_revision(const po::variables_map& vm) {
  if (!vm.count("if-revision")) return std::nullopt;
  return parse_count(vm["if-revision"].as<std::string>(), "--if-revision");
}

// A write's outcome: printed, and its exit code (4 when the compare lost).
int report_write(const Global& g, const std::string& key, const common::Result<api::TxnResult>& r) {
  if (!r.is_ok()) return fail(r.status());
  if (!r->succeeded) {
    print_revision_mismatch(std::cout, g.format(), *r);
    uint64_t current = r->current.empty() ? 0 : r->current.front().mod_revision;
    std::cerr << "changectl: revision mismatch: " << key << " is at revision " << current
              << (current == 0 ? " (absent)" : "") << "; nothing was written\n";
    return kExitRevisionMismatch;
  }
  print_key_write(std::cout, g.format(), key, *r);
  return kExitOk;
}

int keys_get(api::Client& c, const Global& g) {
  po::options_description desc("keys get");
  desc.add_options()("key", po::value<std::string>(), "the key")(
      "consistent", "read through the leader (linearizable)");
  po::positional_options_description pos;
  pos.add("key", 1);
  auto vm = parse_sub(g.rest, desc, pos);
  auto r = c.get_key(positional(vm, "key", "keys get KEY"), vm.count("consistent") > 0);
  if (!r.is_ok()) return fail(r.status());
  print_key(std::cout, g.format(), *r);
  return kExitOk;
}

int keys_put(api::Client& c, const Global& g) {
  po::options_description desc("keys put");
  desc.add_options()("key", po::value<std::string>(), "the key")("value", po::value<std::string>(),
                                                                 "JSON, or - for stdin")(
      "if-revision", po::value<std::string>(), "only if the key is at this revision (0: absent)")(
      "lease", po::value<std::string>(), "attach the key to this lease");
  po::positional_options_description pos;
  pos.add("key", 1).add("value", 1);
  auto vm = parse_sub(g.rest, desc, pos);
  const std::string usage = "keys put KEY JSON|- [--if-revision N] [--lease ID]";
  std::string key = positional(vm, "key", usage);
  std::string value = positional(vm, "value", usage);
  if (value == "-") value.assign(std::istreambuf_iterator<char>(std::cin), {});
  if (common::Status valid = api::validate_json(value); !valid.is_ok()) {
    throw UsageError{"keys put: the value " + valid.message()};
  }
  uint64_t lease = vm.count("lease") ? parse_count(vm["lease"].as<std::string>(), "--lease") : 0;
  auto r = c.put_key(key, value, if_revision(vm), lease);
  return report_write(g, key, r);
}

int keys_del(api::Client& c, const Global& g) {
  po::options_description desc("keys del");
  desc.add_options()("key", po::value<std::string>(), "the key")(
      "if-revision", po::value<std::string>(), "only if the key is at this revision");
  po::positional_options_description pos;
  pos.add("key", 1);
  auto vm = parse_sub(g.rest, desc, pos);
  std::string key = positional(vm, "key", "keys del KEY [--if-revision N]");
  auto r = c.delete_key(key, if_revision(vm));
  return report_write(g, key, r);
}

int keys_list(api::Client& c, const Global& g) {
  po::options_description desc("keys list");
  desc.add_options()("prefix", po::value<std::string>()->default_value(""), "only these keys")(
      "after", po::value<std::string>()->default_value(""), "start after this key")(
      "limit", po::value<std::string>()->default_value("100"), "at most this many")(
      "consistent", "read through the leader (linearizable)");
  auto vm = parse_sub(g.rest, desc, {});
  uint64_t limit = parse_count(vm["limit"].as<std::string>(), "--limit");
  if (limit == 0 || limit > UINT32_MAX) throw UsageError{"--limit must be positive"};
  auto r = c.list_keys(vm["prefix"].as<std::string>(), vm["after"].as<std::string>(),
                       static_cast<uint32_t>(limit), vm.count("consistent") > 0);
  if (!r.is_ok()) return fail(r.status());
  print_key_page(std::cout, g.format(), *r);
  return kExitOk;
}

int keys_watch(api::Client& c, const Global& g) {
  po::options_description desc("keys watch");
  desc.add_options()("prefix", po::value<std::string>(), "key prefix (\"\" = every key write)")(
      "since", po::value<std::string>()->default_value("0"), "after this change id");
  po::positional_options_description pos;
  pos.add("prefix", 1);
  auto vm = parse_sub(g.rest, desc, pos);
  api::WatchOptions w;
  w.prefix = positional(vm, "prefix", "keys watch PREFIX [--since N]");
  w.since = parse_count(vm["since"].as<std::string>(), "--since");
  // Lease expiry deletes keys through internal entries; with an empty prefix
  // the server would hide them. Grants write no key and are skipped below.
  w.include_internal = true;
  // Follows until Ctrl-C, a non-transient error, or stdout closing. An
  // empty prefix would match every change: only key writes are shown then.
  common::Status s = c.watch(w, [&](const api::Change& ch) {
    if (!ch.ops.empty()) print_key_event_line(std::cout, g.format(), ch);
    return static_cast<bool>(std::cout);
  });
  if (!s.is_ok()) return fail(s);
  return kExitOk;
}

uint64_t lease_id_arg(const Global& g, const char* usage) {
  po::options_description desc("lease");
  desc.add_options()("id", po::value<std::string>(), "lease id");
  po::positional_options_description pos;
  pos.add("id", 1);
  auto vm = parse_sub(g.rest, desc, pos);
  return parse_count(positional(vm, "id", usage), "the lease id");
}

// Keeps the lease alive until SIGINT/SIGTERM (exit 0) or its loss (exit 3
// when it expired or was revoked, 1 otherwise).
int lease_follow(const Global& g, uint64_t id, uint64_t ttl_seconds) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  // Blocked before the keeper's thread starts, so it inherits the mask and
  // the signals are taken here by sigtimedwait. A shell starts background
  // jobs with SIGINT ignored; Ctrl-C or kill -INT must still end us cleanly.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::atomic<bool> lost{false};
  common::Status lost_status;
  api::LeaseKeeper::Options opts;
  opts.client = client_options(g);
  opts.lease_id = id;
  opts.ttl_seconds = ttl_seconds;
  opts.on_lost = [&](const common::Status& s) {
    lost_status = s;
    lost = true;
  };
  opts.on_renewed = [&](const api::LeaseInfo& l) { print_lease(std::cout, g.format(), l); };
  auto keeper = api::LeaseKeeper::start(opts);
  if (!keeper.is_ok()) return fail(keeper.status());
  timespec poll{0, 200 * 1000 * 1000};
  // Bounded by a signal or the keeper's loss report.
  while (!lost) {
    if (sigtimedwait(&stop_signals, nullptr, &poll) > 0) return kExitOk;  // keeper stops in dtor
  }
  keeper.value().reset();  // joins: lost_status is complete
  return fail(lost_status);
}

int lease_keepalive(api::Client& c, const Global& g) {
  po::options_description desc("lease keepalive");
  desc.add_options()("id", po::value<std::string>(), "lease id")(
      "follow", "keep renewing every ttl/3 until Ctrl-C");
  po::positional_options_description pos;
  pos.add("id", 1);
  auto vm = parse_sub(g.rest, desc, pos);
  uint64_t id = parse_count(positional(vm, "id", "lease keepalive ID [--follow]"), "the lease id");
  auto r = c.lease_keepalive(id);
  if (!r.is_ok()) return fail(r.status());
  if (!vm.count("follow")) {
    print_lease(std::cout, g.format(), *r);
    return kExitOk;
  }
  return lease_follow(g, id, r->ttl_seconds);
}

}  // namespace

int run_keys(api::Client& c, const Global& g) {
  if (g.command == "get") return keys_get(c, g);
  if (g.command == "put") return keys_put(c, g);
  if (g.command == "del" || g.command == "delete") return keys_del(c, g);
  if (g.command == "list" || g.command == "ls") return keys_list(c, g);
  if (g.command == "watch") return keys_watch(c, g);
  throw UsageError{"unknown command 'keys " + g.command + "'; see changectl --help"};
}

int run_lease(api::Client& c, const Global& g) {
  if (g.command == "grant") {
    po::options_description desc("lease grant");
    desc.add_options()("ttl", po::value<std::string>(), "seconds");
    po::positional_options_description pos;
    pos.add("ttl", 1);
    auto vm = parse_sub(g.rest, desc, pos);
    uint64_t ttl = parse_count(positional(vm, "ttl", "lease grant TTL_SECONDS"), "the ttl");
    if (ttl < api::kLeaseTtlSecondsMin || ttl > api::kLeaseTtlSecondsMax) {
      throw UsageError{"the ttl must be from " + std::to_string(api::kLeaseTtlSecondsMin) + " to " +
                       std::to_string(api::kLeaseTtlSecondsMax) + " seconds"};
    }
    auto r = c.lease_grant(ttl);
    if (!r.is_ok()) return fail(r.status());
    print_lease(std::cout, g.format(), *r);
    return kExitOk;
  }
  if (g.command == "keepalive") return lease_keepalive(c, g);
  if (g.command == "revoke") {
    uint64_t id = lease_id_arg(g, "lease revoke ID");
    common::Status s = c.lease_revoke(id);
    if (!s.is_ok()) return fail(s);
    if (g.format() == Format::kJson) {
      std::cout << "{\"id\":" << id << "}\n";
    } else {
      std::cout << "lease " << id << " revoked\n";
    }
    return kExitOk;
  }
  if (g.command == "get") {
    auto r = c.lease_get(lease_id_arg(g, "lease get ID"));
    if (!r.is_ok()) return fail(r.status());
    print_lease(std::cout, g.format(), *r);
    return kExitOk;
  }
  throw UsageError{"unknown command 'lease " + g.command + "'; see changectl --help"};
}

}  // namespace changectl
