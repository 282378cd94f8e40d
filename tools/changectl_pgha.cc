// changectl pgha: the operator's view of and hand on a pgha cluster.
//
//   pgha list                       desired, decided and observed state, one row a member
//   pgha switchover --to X [--wait S]   ask the coordinator for a planned switchover
//   pgha failover [--to X] [--wait S]   ask for a failover (no catch-up wait);
//                                   --wait: until it is decided, exit 1 if not as asked
//   pgha pause | resume             stop / restart automatic actions
//   pgha history [--since N] [--limit N] [--follow]   the cluster's events from the log
//   pgha edit-desired [FILE|-]      replace the desired state (JSON or YAML), or edit
//                                   it in $EDITOR; validated before it is written
//
// Every command takes --name CLUSTER (env PGHA_CLUSTER, default "main").
// Writes to /pgha/<cluster>/desired are compare-and-set on the revision that
// was read, so an edit never overwrites one made meanwhile (exit 4); each
// write bumps the desired generation.
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>
#include <thread>

#include "common/yaml_json.h"
#include "pgha/core/model.h"
#include "tools/changectl_pgha.h"

namespace po = boost::program_options;
namespace json = boost::json;

namespace changectl {

namespace {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// ---- JSON and YAML in, pretty JSON out ----

void pretty(std::ostream& out, const json::value& v, int indent) {
  std::string pad(static_cast<size_t>(indent) * 2, ' ');
  if (v.is_object() && !v.as_object().empty()) {
    out << "{\n";
    size_t i = 0;
    for (const auto& kv : v.as_object()) {
      out << pad << "  " << json::serialize(json::string(kv.key())) << ": ";
      pretty(out, kv.value(), indent + 1);
      out << (++i < v.as_object().size() ? ",\n" : "\n");
    }
    out << pad << "}";
  } else if (v.is_array() && !v.as_array().empty()) {
    out << "[\n";
    size_t i = 0;
    for (const auto& item : v.as_array()) {
      out << pad << "  ";
      pretty(out, item, indent + 1);
      out << (++i < v.as_array().size() ? ",\n" : "\n");
    }
    out << pad << "]";
  } else {
    out << json::serialize(v);
  }
}

std::string pretty_json(std::string_view compact) {
  std::ostringstream out;
  pretty(out, json::parse(compact), 0);
  out << "\n";
  return out.str();
}

// The text of a desired state as JSON: JSON as is, YAML converted (by the
// file's extension, else by whether it starts with '{').
std::string as_json(const std::string& text, const std::string& source) {
  if (!common::looks_like_yaml(text, source)) return text;
  auto converted = common::yaml_to_json(text);
  if (!converted.is_ok()) throw UsageError{source + ": " + converted.status().message()};
  return *converted;
}

std::string read_file(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream in(path);
  if (!in) throw UsageError{"cannot read " + path};
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// ---- the store ----

struct DesiredRead {
  pgha::Desired desired;
  uint64_t revision = 0;  // 0 = absent
};

// The desired state and its revision; kNotFound says how to create one.
common::Result<DesiredRead> read_desired(api::Client& c, const std::string& cluster,
                                         bool must_exist) {
  auto kv = c.get_key(pgha::desired_key(cluster), true);
  if (!kv.is_ok()) {
    if (kv.status().code() != common::Code::kNotFound || must_exist) {
      if (kv.status().code() == common::Code::kNotFound) {
        return common::Status(common::Code::kNotFound,
                              "no desired state for pgha cluster '" + cluster +
                                  "': create one with changectl pgha edit-desired FILE");
      }
      return kv.status();
    }
    return DesiredRead{};
  }
  auto d = pgha::parse_desired(kv->value_json);
  if (!d.is_ok()) {
    return common::Status(common::Code::kCorruption, "the stored desired state of '" + cluster +
                                                         "' is invalid: " + d.status().message());
  }
  return DesiredRead{std::move(*d), kv->mod_revision};
}

// Validates and writes `d` (generation bumped past the stored one) if the
// key is still at `revision`.
int write_desired(api::Client& c, const Global& g, const std::string& cluster, pgha::Desired d,
                  const DesiredRead& read, const std::string& what,
                  uint64_t* written_revision = nullptr) {
  d.generation = std::max(d.generation, read.desired.generation) + 1;
  if (auto s = pgha::validate_desired(d); !s.is_ok()) {
    throw UsageError{"desired state refused: " + s.message()};
  }
  std::string key = pgha::desired_key(cluster);
  auto r = c.put_key(key, pgha::to_json(d), read.revision);
  if (!r.is_ok()) return fail(r.status());
  if (!r->succeeded) {
    std::cerr << "changectl: the desired state of '" << cluster
              << "' changed meanwhile (someone else wrote it); nothing was written: read it "
                 "again and retry\n";
    return kExitRevisionMismatch;
  }
  if (g.format() == Format::kJson) {
    std::cout << json::serialize(
                     json::object{{"key", key}, {"revision", r->id}, {"generation", d.generation}})
              << "\n";
  } else {
    std::cout << what << " (generation " << d.generation << ", revision " << r->id << ")\n";
  }
  if (written_revision) *written_revision = r->id;
  return kExitOk;
}

// The message of the newest event of one of `kinds` after `since` in the
// cluster's history, "" if none.
std::string last_event(api::Client& c, const std::string& cluster, uint64_t since,
                       std::initializer_list<std::string_view> kinds) {
  api::FeedRequest req;
  req.since = since;
  req.tags = {pgha::cluster_tag(cluster)};
  req.limit = 1000;
  std::string found;
  for (int pages = 0; pages < 100; ++pages) {
    auto page = c.get_feed(req);
    if (!page.is_ok()) break;
    for (const auto& ch : page->changes) {
      auto e = pgha::parse_event(ch.data_json);
      if (!e.is_ok()) continue;
      for (auto k : kinds) {
        if (e->kind == k) found = e->kind + ": " + e->message;
      }
    }
    if (page->at_end || page->scanned <= req.since) break;
    req.since = page->scanned;
  }
  return found;
}

// Waits until the coordinator has handled request `id` (its status names
// the request and no handover for it is in progress), then says how it
// ended: 0 when the primary moved as asked, 1 otherwise (with the event
// that says why), 1 with kTimeout when nothing decided it in time.
int wait_for_handover(api::Client& c, const Global& g, const std::string& cluster,
                      const std::string& id, const std::string& to, const std::string& old_primary,
                      uint64_t since, double wait_seconds) {
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::milliseconds(static_cast<int64_t>(wait_seconds * 1000));
  for (;;) {
    auto kv = c.get_key(pgha::status_key(cluster), true);
    if (kv.is_ok()) {
      auto s = pgha::parse_status(kv->value_json);
      // Handled, and no handover in progress (an automatic failover that
      // superseded the request decides the outcome too).
      bool handled = s.is_ok() && s->last_request_id == id && !s->handover;
      if (handled) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
        bool moved = to.empty() ? s->primary != old_primary : s->primary == to;
        if (g.format() == Format::kJson) {
          std::cout << json::serialize(json::object{{"done", moved},
                                                    {"primary", s->primary},
                                                    {"timeline", s->timeline},
                                                    {"epoch", s->epoch},
                                                    {"waitedMs", ms}})
                    << "\n";
        }
        if (moved) {
          if (g.format() == Format::kTable) {
            std::cout << s->primary << " is the primary on timeline " << s->timeline << " (waited "
                      << ms << " ms)\n";
          }
          return kExitOk;
        }
        std::string why = last_event(c, cluster, since,
                                     {pgha::kEventSwitchoverRefused, pgha::kEventSwitchoverAborted,
                                      pgha::kEventFailoverBlocked, pgha::kEventFailoverAborted});
        std::cerr << "changectl: the request was handled but " << s->primary
                  << " is still the primary"
                  << (why.empty() ? (s->blocked.empty() ? "" : ": " + s->blocked) : ": " + why)
                  << "\n";
        return kExitFailed;
      }
    } else {
      // Absent (no coordinator yet) or an election in the store: try again.
      common::Code code = kv.status().code();
      bool transient = code == common::Code::kNotFound || code == common::Code::kUnavailable ||
                       code == common::Code::kTimeout || code == common::Code::kBusy ||
                       code == common::Code::kNotLeader;
      if (!transient) return fail(kv.status());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail(common::Status(common::Code::kTimeout,
                                 "no coordinator handled the request within " +
                                     std::to_string(wait_seconds) +
                                     " s (is a pgha agent running?); the request stands"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string new_request_id() {
  std::random_device rd;
  std::uniform_int_distribution<uint64_t> dist;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(dist(rd)));
  return buf;
}

// ---- commands ----

int pgha_handover(api::Client& c, const Global& g, pgha::HandoverKind kind) {
  bool switchover = kind == pgha::HandoverKind::kSwitchover;
  auto desc = pgha_options(switchover ? "pgha switchover" : "pgha failover");
  desc.add_options()(
      "to", po::value<std::string>(),
      switchover ? "the member to promote" : "the member to promote (else the best)")(
      "wait", po::value<double>(), "seconds to wait for the outcome (exit 1 if not as asked)");
  auto vm = parse_sub(g.rest, desc, {});
  double wait_seconds = vm.count("wait") ? vm["wait"].as<double>() : 0;
  if (wait_seconds < 0) throw UsageError{"--wait must be >= 0 seconds"};
  std::string cluster = pgha_cluster(vm);
  std::string to = vm.count("to") ? vm["to"].as<std::string>() : "";
  if (switchover && to.empty()) throw UsageError{"usage: changectl pgha switchover --to MEMBER"};
  auto read = read_desired(c, cluster, true);
  if (!read.is_ok()) return fail(read.status());
  pgha::Desired d = read->desired;
  if (!to.empty() && !pgha::find_member(d, to)) {
    throw UsageError{"'" + to + "' is not a member of pgha cluster '" + cluster + "'"};
  }
  std::string id = new_request_id();
  d.handover = pgha::HandoverRequest{id, kind, to, now_ms()};
  // An intended primary would pull the primary back: it follows the request.
  if (!d.primary.empty() && !to.empty()) d.primary = to;
  std::string what = std::string(switchover ? "switchover" : "failover") + " requested" +
                     (to.empty() ? "" : " to " + to) + " (request " + id + ")" +
                     (wait_seconds > 0 ? "" : "; follow it with changectl pgha history --follow");
  std::string old_primary;
  if (auto st = c.get_key(pgha::status_key(cluster), true); st.is_ok()) {
    if (auto s = pgha::parse_status(st->value_json); s.is_ok()) old_primary = s->primary;
  }
  uint64_t revision = 0;
  int rc = write_desired(c, g, cluster, std::move(d), *read, what, &revision);
  if (rc != kExitOk || wait_seconds == 0) return rc;
  return wait_for_handover(c, g, cluster, id, to, old_primary, revision, wait_seconds);
}

int pgha_pause(api::Client& c, const Global& g, bool pause) {
  auto vm = parse_sub(g.rest, pgha_options(pause ? "pgha pause" : "pgha resume"), {});
  std::string cluster = pgha_cluster(vm);
  auto read = read_desired(c, cluster, true);
  if (!read.is_ok()) return fail(read.status());
  if (read->desired.paused == pause) {
    std::cout << "pgha cluster '" << cluster << "' is already " << (pause ? "paused" : "running")
              << "\n";
    return kExitOk;
  }
  pgha::Desired d = read->desired;
  d.paused = pause;
  return write_desired(c, g, cluster, std::move(d), *read,
                       pause ? "paused: pgha observes only" : "resumed");
}

int edit_in_editor(const std::string& current_json, std::string& edited) {
  char path[] = "/tmp/pgha-desired-XXXXXX.json";
  int fd = mkstemps(path, 5);
  if (fd < 0) throw UsageError{"cannot create a temporary file for the editor"};
  std::string text = pretty_json(current_json);
  bool wrote = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!wrote) throw UsageError{std::string("cannot write ") + path};
  const char* editor = std::getenv("VISUAL");
  if (!editor || !*editor) editor = std::getenv("EDITOR");
  std::string cmd = std::string(editor && *editor ? editor : "vi") + " '" + path + "'";
  int rc = std::system(cmd.c_str());
  if (rc != 0) {
    std::remove(path);
    throw UsageError{"the editor exited with status " + std::to_string(rc) + "; nothing written"};
  }
  edited = read_file(path);
  if (edited == text) {
    std::remove(path);
    return 1;  // unchanged
  }
  std::remove(path);
  return 0;
}

int pgha_edit_desired(api::Client& c, const Global& g) {
  auto desc = pgha_options("pgha edit-desired");
  desc.add_options()("file", po::value<std::string>(), "JSON or YAML file, - for stdin");
  po::positional_options_description pos;
  pos.add("file", 1);
  auto vm = parse_sub(g.rest, desc, pos);
  std::string cluster = pgha_cluster(vm);
  auto read = read_desired(c, cluster, false);
  if (!read.is_ok()) return fail(read.status());
  std::string text;
  std::string source;
  if (vm.count("file")) {
    source = vm["file"].as<std::string>();
    text = as_json(read_file(source), source);
  } else {
    std::string current = read->revision ? pgha::to_json(read->desired)
                                         : R"({"members":[{"name":"pg1"}],"mode":"async"})";
    if (edit_in_editor(current, text) == 1) {
      std::cout << "no change; nothing written\n";
      return kExitOk;
    }
    source = "the edited desired state";
  }
  auto d = pgha::parse_desired(text);
  if (!d.is_ok()) throw UsageError{source + ": " + d.status().message()};
  // Dropping the primary would leave it serving unmanaged: move it first.
  // (The coordinator also keeps it a member until then.)
  if (auto st = c.get_key(pgha::status_key(cluster), true); st.is_ok()) {
    auto status = pgha::parse_status(st->value_json);
    if (status.is_ok() && !status->primary.empty() && !pgha::find_member(*d, status->primary)) {
      throw UsageError{source + " drops '" + status->primary +
                       "', the current primary: switch over to another member first "
                       "(changectl pgha switchover --to MEMBER)"};
    }
  } else if (st.status().code() != common::Code::kNotFound) {
    return fail(st.status());
  }
  return write_desired(c, g, cluster, std::move(*d), *read,
                       "desired state of '" + cluster + "' written");
}

}  // namespace

po::options_description pgha_options(const char* caption) {
  po::options_description desc(caption);
  const char* env = std::getenv("PGHA_CLUSTER");
  desc.add_options()("name", po::value<std::string>()->default_value(env ? env : "main"),
                     "the pgha cluster (env PGHA_CLUSTER)");
  return desc;
}

std::string pgha_cluster(const po::variables_map& vm) {
  std::string name = vm["name"].as<std::string>();
  if (auto s = pgha::validate_name("--name", name); !s.is_ok()) throw UsageError{s.message()};
  return name;
}

int run_pgha(api::Client& c, const Global& g) {
  if (g.command == "list" || g.command == "status") return pgha_list(c, g);
  if (g.command == "switchover") return pgha_handover(c, g, pgha::HandoverKind::kSwitchover);
  if (g.command == "failover") return pgha_handover(c, g, pgha::HandoverKind::kFailover);
  if (g.command == "pause") return pgha_pause(c, g, true);
  if (g.command == "resume") return pgha_pause(c, g, false);
  if (g.command == "history") return pgha_history(c, g);
  if (g.command == "edit-desired") return pgha_edit_desired(c, g);
  throw UsageError{"unknown command 'pgha " + g.command +
                   "'; pgha has list, switchover, failover, pause, resume, history, edit-desired"};
}

}  // namespace changectl
