// changectl's consumer commands (issue 10): changes tail through a
// FeedReader, named cursors, checkpoint records.
//
//   changes tail [--since N | --from-time T] [--cursor NAME] [--tag T]...
//                [--prefix P] [--follow] [--commit-every N]
//   cursors list | get NAME [--consistent] | delete NAME [--if-revision R]
//   cursors set NAME INDEX [--if-revision R] [--force]
//   checkpoints post --covers N --location L [--tag T]...
//   checkpoints latest [--tag T]
#include <iostream>

#include "api/cursors.h"
#include "api/feed_reader.h"
#include "tools/changectl.h"

namespace po = boost::program_options;

namespace changectl {

namespace {

int fail_write(const common::Status& s) {
  if (s.code() != common::Code::kConflict) return fail(s);
  std::cerr << "changectl: " << s.to_string() << "\n";
  return kExitRevisionMismatch;
}

void print_cursor(std::ostream& out, Format f, const api::Cursor& c, bool header) {
  if (f == Format::kJson) {
    out << api::render_cursor(c) << "\n";
    return;
  }
  if (header) out << "NAME\tINDEX\tLAG\tREVISION\tUPDATED\n";
  uint64_t lag = c.last_index > c.index ? c.last_index - c.index : 0;
  out << c.name << "\t" << c.index << "\t" << lag << "\t" << c.revision << "\t"
      << format_time(c.updated_ns) << "\n";
}

void print_checkpoint(std::ostream& out, Format f, const api::Checkpoint& c) {
  if (f == Format::kJson) {
    out << api::render_checkpoint(c) << "\n";
    return;
  }
  out << "id " << c.id << " at " << format_time(c.ts_ns) << " covers " << c.covers << " location "
      << c.location;
  for (const auto& t : c.tags) out << " tag=" << t;
  out << "\n";
}

std::optional<uint64_t> opt_u64(const po::variables_map& vm, const char* name) {
  if (!vm.count(name)) return std::nullopt;
  return parse_count(vm[name].as<std::string>(), std::string("--") + name);
}

}  // namespace

int run_changes_tail(const Global& g) {
  po::options_description desc("changes tail");
  desc.add_options()("since", po::value<std::string>(), "after this change id")(
      "from-time", po::value<std::string>(), "from this commit time (RFC 3339 or ns)")(
      "cursor", po::value<std::string>(), "resume from and commit to this named cursor")(
      "tag", po::value<std::vector<std::string>>(), "only with this tag (repeat = OR)")(
      "prefix", po::value<std::string>(), "only changes writing a key with this prefix")(
      "follow,f", "keep following new changes (else stop at the end)")(
      "commit-every", po::value<std::string>(), "commit the cursor every N changes (100)");
  auto vm = parse_sub(g.rest, desc, {});
  api::FeedReaderOptions o;
  o.client = client_options(g);
  o.since = opt_u64(vm, "since");
  if (vm.count("from-time")) o.since_time = vm["from-time"].as<std::string>();
  if (o.since && o.since_time) throw UsageError{"give --since or --from-time, not both"};
  if (vm.count("cursor")) {
    o.cursor = vm["cursor"].as<std::string>();
    if (auto s = api::validate_cursor_name(o.cursor); !s.is_ok()) {
      throw UsageError{"--cursor: " + s.message()};
    }
  }
  if (vm.count("tag")) o.tags = vm["tag"].as<std::vector<std::string>>();
  if (vm.count("prefix")) o.prefix = vm["prefix"].as<std::string>();
  if (auto n = opt_u64(vm, "commit-every")) o.commit_every_changes = *n;
  bool follow = vm.count("follow") > 0;
  o.block_seconds = follow ? 10 : 0;
  auto reader = api::FeedReader::open(o);
  if (!reader.is_ok()) return fail(reader.status());
  api::FeedReader& r = **reader;
  api::FeedReader::Handlers h;
  h.on_change = [&](const api::Change& c) {
    print_change_line(std::cout, g.format(), c);
    return static_cast<bool>(std::cout);  // stdout closed (| head): stop and commit
  };
  h.should_stop = [&] { return !follow && r.caught_up(); };
  common::Status s = r.run(h);
  std::cout.flush();
  if (!s.is_ok()) return fail(s);
  return kExitOk;
}

int run_cursors(api::Client& c, const Global& g) {
  po::options_description desc("cursors");
  desc.add_options()("name", po::value<std::string>(), "cursor name")(
      "index", po::value<std::string>(), "the last change consumed")(
      "if-revision", po::value<std::string>(), "only if the cursor's revision is this (0: absent)")(
      "force", "allow moving the cursor backwards")("consistent", "read through the leader");
  po::positional_options_description pos;
  pos.add("name", 1).add("index", 1);
  auto vm = parse_sub(g.rest, desc, pos);
  auto if_revision = opt_u64(vm, "if-revision");
  if (g.command == "list") {
    auto list = c.list_cursors(vm.count("consistent") > 0);
    if (!list.is_ok()) return fail(list.status());
    bool first = true;
    for (const auto& cur : *list) {
      print_cursor(std::cout, g.format(), cur, first);
      first = false;
    }
    return kExitOk;
  }
  if (!vm.count("name")) throw UsageError{"cursors " + g.command + " needs a cursor NAME"};
  std::string name = vm["name"].as<std::string>();
  if (auto s = api::validate_cursor_name(name); !s.is_ok()) throw UsageError{s.message()};
  if (g.command == "get") {
    auto cur = c.get_cursor(name, vm.count("consistent") > 0);
    if (!cur.is_ok()) return fail(cur.status());
    print_cursor(std::cout, g.format(), *cur, true);
    return kExitOk;
  }
  if (g.command == "set") {
    auto index = opt_u64(vm, "index");
    if (!index) throw UsageError{"cursors set needs NAME INDEX"};
    api::CursorWrite w{*index, if_revision, vm.count("force") > 0};
    auto cur = c.set_cursor(name, w);
    if (!cur.is_ok()) return fail_write(cur.status());
    print_cursor(std::cout, g.format(), *cur, true);
    return kExitOk;
  }
  if (g.command == "delete" || g.command == "del") {
    common::Status s = c.delete_cursor(name, if_revision);
    if (!s.is_ok()) return fail_write(s);
    if (g.format() == Format::kJson) {
      std::cout << "{\"name\":\"" << name << "\",\"deleted\":true}\n";
    } else {
      std::cout << "deleted " << name << "\n";
    }
    return kExitOk;
  }
  throw UsageError{"unknown command 'cursors " + g.command + "'; see changectl --help"};
}

int run_checkpoints(api::Client& c, const Global& g) {
  po::options_description desc("checkpoints");
  desc.add_options()("covers", po::value<std::string>(), "the last change the checkpoint holds")(
      "location", po::value<std::string>(), "where the checkpoint is stored")(
      "tag", po::value<std::vector<std::string>>(), "tag (repeatable; latest takes one)")(
      "consistent", "read through the leader");
  auto vm = parse_sub(g.rest, desc, {});
  std::vector<std::string> tags;
  if (vm.count("tag")) tags = vm["tag"].as<std::vector<std::string>>();
  if (g.command == "post") {
    auto covers = opt_u64(vm, "covers");
    if (!covers || !vm.count("location")) {
      throw UsageError{"checkpoints post needs --covers N and --location L"};
    }
    api::CheckpointInput in{*covers, vm["location"].as<std::string>(), tags};
    auto cp = c.post_checkpoint(in);
    if (!cp.is_ok()) return fail(cp.status());
    print_checkpoint(std::cout, g.format(), *cp);
    return kExitOk;
  }
  if (g.command == "latest") {
    if (tags.size() > 1) throw UsageError{"checkpoints latest takes at most one --tag"};
    auto cp = c.latest_checkpoint(tags.empty() ? std::string() : tags.front(),
                                  vm.count("consistent") > 0);
    if (!cp.is_ok()) return fail(cp.status());
    print_checkpoint(std::cout, g.format(), *cp);
    return kExitOk;
  }
  throw UsageError{"unknown command 'checkpoints " + g.command + "'; see changectl --help"};
}

}  // namespace changectl
