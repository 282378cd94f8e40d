// changeagent-admin: dump, load, recover and verify a changeagent store.
// Thin main: flags -> admin/ calls; one readable line and a non-zero exit
// on any failure (2 for a usage error).
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>

#include "admin/data_dir.h"
#include "admin/dump_export.h"
#include "admin/hex.h"
#include "admin/http_fetch.h"
#include "admin/load.h"
#include "admin/progress.h"
#include "admin/recover.h"
#include "admin/verify.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using common::Code;
using common::Status;
using admin::hex16;

namespace {

constexpr const char* kUsage =
    "usage:\n"
    "  changeagent-admin dump (--url URL[,URL...] | --data-dir DIR) --out FILE [--force]\n"
    "  changeagent-admin load FILE --data-dir DIR --name NAME --advertise-peer HOST:PORT\n"
    "                    [--advertise-client URL] [--initial-cluster-token T]\n"
    "                    [--keep-cluster-id] [--force]\n"
    "  changeagent-admin recover --force-new-cluster --data-dir DIR [--advertise-peer HOST:PORT]\n"
    "  changeagent-admin verify (FILE | --data-dir DIR)\n"
    "Run `changeagent-admin COMMAND --help` for a command's options.\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int fail(const Status& s) {
  std::fprintf(stderr, "changeagent-admin: %s\n", s.message().c_str());
  return 1;
}

po::variables_map parse(const po::options_description& desc, int argc, char** argv,
                        const po::positional_options_description* pos = nullptr) {
  po::variables_map vm;
  auto parser = po::command_line_parser(argc, argv).options(desc);
  if (pos) parser.positional(*pos);
  po::store(parser.run(), vm);
  po::notify(vm);
  return vm;
}

// ------------------------------------------------------------------ dump

// Writes `out` through a ".partial" file renamed into place at the end, so
// a dump that failed never looks complete.
class OutFile {
 public:
  static common::Result<std::unique_ptr<OutFile>> create(const std::string& path, bool force) {
    auto f = std::unique_ptr<OutFile>(new OutFile);
    f->path_ = path;
    if (path == "-") {
      f->fp_ = stdout;
      return f;
    }
    std::error_code ec;
    if (fs::exists(path, ec) && !force) {
      return Status(Code::kFailedPrecondition,
                    path +
                        " exists; dump never overwrites a file: choose another --out, or "
                        "pass --force");
    }
    f->partial_ = path + ".partial";
    f->fp_ = std::fopen(f->partial_.c_str(), "wb");
    if (!f->fp_) {
      return Status(Code::kIoError, "cannot create " + f->partial_ + ": " + std::strerror(errno));
    }
    return f;
  }
  ~OutFile() {
    if (fp_ && fp_ != stdout) {
      std::fclose(fp_);
      std::remove(partial_.c_str());
    }
  }
  Status write(std::string_view bytes) {
    if (std::fwrite(bytes.data(), 1, bytes.size(), fp_) != bytes.size()) {
      return Status(Code::kIoError, "writing " + path_ + ": " + std::strerror(errno));
    }
    bytes_ += bytes.size();
    return Status::ok();
  }
  // Flush, fsync and rename into place.
  Status commit() {
    if (std::fflush(fp_) != 0 || (fp_ != stdout && ::fsync(fileno(fp_)) != 0)) {
      return Status(Code::kIoError, "flushing " + path_ + ": " + std::strerror(errno));
    }
    if (fp_ == stdout) return Status::ok();
    std::fclose(fp_);
    fp_ = nullptr;
    std::error_code ec;
    fs::rename(partial_, path_, ec);
    if (ec)
      return Status(Code::kIoError, "renaming " + partial_ + " to " + path_ + ": " + ec.message());
    return Status::ok();
  }
  uint64_t bytes() const { return bytes_; }

 private:
  OutFile() = default;
  std::string path_, partial_;
  FILE* fp_ = nullptr;
  uint64_t bytes_ = 0;
};

Status dump_offline(const std::string& dir, OutFile& out, admin::Progress& bar) {
  auto store = admin::open_offline(dir, true);
  if (!store.is_ok()) return store.status();
  auto view = (*store)->export_view();
  if (!view.is_ok()) return view.status();
  auto header = admin::dump_header(**view, "dir:" + fs::absolute(dir).string());
  if (!header.is_ok()) return header.status();
  admin::DumpWriter w([&](std::string_view b) { return out.write(b); });
  admin::ExportHooks hooks;
  hooks.progress = [&](uint64_t d, uint64_t t, uint64_t b) { bar.update(d, t, b); };
  Status s = admin::write_dump(**view, *header, w, hooks);
  if (!s.is_ok()) w.abort(s.message());
  return s;
}

Status dump_live(const std::string& urls, OutFile& out, admin::Progress& bar) {
  Status last(Code::kInvalidArgument, "--url is empty");
  size_t pos = 0;
  while (pos <= urls.size()) {
    size_t comma = urls.find(',', pos);
    std::string url =
        urls.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? urls.size() + 1 : comma + 1;
    if (url.empty()) continue;
    admin::FetchOptions fo;
    fo.endpoint = url;
    fo.target = "/admin/dump";
    last = admin::http_get_stream(fo, [&](std::string_view b) {
      bar.update(0, 0, out.bytes() + b.size());
      return out.write(b);
    });
    // Only an endpoint that never sent a byte may be replaced by the next.
    if (last.is_ok() || out.bytes() > 0 || last.code() != Code::kUnavailable) return last;
  }
  return last;
}

int cmd_dump(int argc, char** argv) {
  po::options_description desc("changeagent-admin dump");
  desc.add_options()("help,h", "show this help")(
      "url", po::value<std::string>(),
      "dump a running node over HTTP (comma list: first that answers)")(
      "data-dir", po::value<std::string>(), "dump a stopped node's data dir")(
      "out,o", po::value<std::string>(), "the dump file to write ('-' = stdout)")(
      "force", po::bool_switch(), "overwrite --out if it exists")(
      "no-verify", po::bool_switch(), "skip reading the written file back");
  auto vm = parse(desc, argc, argv);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (vm.count("url") == vm.count("data-dir"))
    throw UsageError("dump needs exactly one of --url and --data-dir");
  if (!vm.count("out")) throw UsageError("dump needs --out FILE");
  std::string path = vm["out"].as<std::string>();
  auto out = OutFile::create(path, vm["force"].as<bool>());
  if (!out.is_ok()) return fail(out.status());
  Status s;
  {
    admin::Progress bar("dump");
    s = vm.count("url") ? dump_live(vm["url"].as<std::string>(), **out, bar)
                        : dump_offline(vm["data-dir"].as<std::string>(), **out, bar);
  }
  if (!s.is_ok()) return fail(s);
  if (Status c = (*out)->commit(); !c.is_ok()) return fail(c);
  if (path == "-" || vm["no-verify"].as<bool>()) {
    std::fprintf(stderr, "wrote %llu bytes to %s\n",
                 static_cast<unsigned long long>((*out)->bytes()), path.c_str());
    return 0;
  }
  admin::Progress bar("verify");
  auto v =
      admin::verify_dump(path, [&](uint64_t d, uint64_t t, uint64_t b) { bar.update(d, t, b); });
  bar.finish();
  if (!v.is_ok())
    return fail(
        Status(v.status().code(), "the written dump does not verify: " + v.status().message()));
  std::printf("%s\n", v->c_str());
  return 0;
}

// ------------------------------------------------------------------ load

std::string random_token() {
  std::random_device rd;
  return hex16((static_cast<uint64_t>(rd()) << 32) ^ rd());
}

int cmd_load(int argc, char** argv) {
  po::options_description desc("changeagent-admin load FILE");
  desc.add_options()("help,h", "show this help")("dump", po::value<std::string>(), "the dump file")(
      "data-dir", po::value<std::string>(), "the new node's data dir (must not exist or be empty)")(
      "name", po::value<std::string>(), "the new node's --name")(
      "advertise-peer", po::value<std::string>(),
      "host:port the node's peers will dial (its --advertise-peer, else --listen-peer)")(
      "listen-peer", po::value<std::string>(), "same as --advertise-peer")(
      "advertise-client", po::value<std::string>(), "URL clients use, recorded in the membership")(
      "initial-cluster-token", po::value<std::string>(),
      "new cluster id from --name, the peer address and this token (default: random)")(
      "keep-cluster-id", po::bool_switch(), "keep the dump's cluster id")(
      "force", po::bool_switch(), "replace a non-empty --data-dir");
  po::positional_options_description pos;
  pos.add("dump", 1);
  auto vm = parse(desc, argc, argv, &pos);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  for (const char* req : {"dump", "data-dir", "name"}) {
    if (!vm.count(req))
      throw UsageError(std::string("load needs ") +
                       (std::string(req) == "dump" ? "the dump FILE" : "--" + std::string(req)));
  }
  admin::LoadOptions o;
  o.dump_path = vm["dump"].as<std::string>();
  o.data_dir = vm["data-dir"].as<std::string>();
  o.name = vm["name"].as<std::string>();
  o.peer_address = vm.count("advertise-peer") ? vm["advertise-peer"].as<std::string>()
                   : vm.count("listen-peer")  ? vm["listen-peer"].as<std::string>()
                                              : "";
  if (auto p = o.peer_address.find("://"); p != std::string::npos)
    o.peer_address = o.peer_address.substr(p + 3);
  if (o.peer_address.empty()) throw UsageError("load needs --advertise-peer HOST:PORT");
  o.client_url = vm.count("advertise-client") ? vm["advertise-client"].as<std::string>() : "";
  o.keep_cluster_id = vm["keep-cluster-id"].as<bool>();
  if (o.keep_cluster_id && vm.count("initial-cluster-token")) {
    throw UsageError("--keep-cluster-id and --initial-cluster-token exclude each other");
  }
  o.token = vm.count("initial-cluster-token") ? vm["initial-cluster-token"].as<std::string>()
                                              : random_token();
  o.force = vm["force"].as<bool>();
  admin::Progress bar("load");
  o.progress = [&](uint64_t d, uint64_t t, uint64_t b) { bar.update(d, t, b); };
  auto r = admin::load_dump(o);
  bar.finish();
  if (!r.is_ok()) return fail(r.status());
  std::printf(
      "loaded %llu entries (%llu..%llu) and %llu state rows into %s\n"
      "cluster %s, node %s (%s), peers dial %s\n"
      "next: start it as the first node of the new cluster:\n"
      "  changeagent --name %s --data-dir %s --listen-peer %s --listen-client HOST:PORT%s\n"
      "then add members by starting each new node with --join <this node's client URL>\n"
      "(or `changectl cluster add`).\n",
      static_cast<unsigned long long>(r->entries),
      static_cast<unsigned long long>(r->base_index + 1),
      static_cast<unsigned long long>(r->last_index),
      static_cast<unsigned long long>(r->state_rows), o.data_dir.c_str(),
      hex16(r->cluster_id.value()).c_str(), hex16(r->node_id.value()).c_str(), o.name.c_str(),
      o.peer_address.c_str(), o.name.c_str(), o.data_dir.c_str(), o.peer_address.c_str(),
      o.keep_cluster_id ? ""
                        : (" [--initial-cluster " + o.name + "=" + o.peer_address +
                           " --initial-cluster-token " + o.token + "]")
                              .c_str());
  return 0;
}

// ------------------------------------------------------------------ recover

int cmd_recover(int argc, char** argv) {
  po::options_description desc("changeagent-admin recover");
  desc.add_options()("help,h", "show this help")(
      "force-new-cluster", po::bool_switch(),
      "required: make this node a one-node cluster, dropping every other member")(
      "data-dir", po::value<std::string>(), "the surviving node's data dir (node stopped)")(
      "advertise-peer", po::value<std::string>(), "new peer address (default: keep its own)");
  auto vm = parse(desc, argc, argv);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (!vm.count("data-dir")) throw UsageError("recover needs --data-dir");
  if (!vm["force-new-cluster"].as<bool>()) {
    throw UsageError(
        "recover rewrites the cluster's membership to this node alone; say you mean it with "
        "--force-new-cluster (only when a majority of the members is lost for good)");
  }
  admin::RecoverOptions o;
  o.data_dir = vm["data-dir"].as<std::string>();
  if (vm.count("advertise-peer")) o.peer_address = vm["advertise-peer"].as<std::string>();
  std::fprintf(stderr,
               "WARNING: recover --force-new-cluster makes the node in %s the ONLY member of its "
               "cluster.\nWARNING: every other member is dropped; their data is not consulted. "
               "Use this only when a majority of the members is gone for good.\n",
               o.data_dir.c_str());
  auto r = admin::recover_force_new_cluster(o);
  if (!r.is_ok()) return fail(r.status());
  std::string dropped;
  for (const auto& d : r->dropped) dropped += "\n    " + d;
  std::fprintf(stderr,
               "WARNING: the dropped members must NEVER be restarted with their old data dirs: "
               "wipe them, then add them back as new nodes.\n");
  std::printf(
      "recovered cluster %s: node %s (%s, peers dial %s) is now its only member.\n"
      "  dropped members:%s\n"
      "  entries kept: up to %llu (commit was %llu%s), new membership at %llu\n"
      "next:\n"
      "  1. start this node as before (same --name and --data-dir); it elects itself leader.\n"
      "  2. add fresh nodes (empty data dirs) one at a time: start each with\n"
      "       changeagent --name NEW --data-dir EMPTY --join <this node's client URL> ...\n"
      "     or `changectl cluster add`, and wait for each to catch up before the next.\n",
      hex16(r->cluster_id.value()).c_str(), hex16(r->node_id.value()).c_str(),
      r->name.empty() ? "?" : r->name.c_str(), r->peer_address.c_str(),
      dropped.empty() ? " none" : dropped.c_str(), static_cast<unsigned long long>(r->last_index),
      static_cast<unsigned long long>(r->commit_before),
      r->last_index > r->commit_before ? "; the entries above it are now committed too" : "",
      static_cast<unsigned long long>(r->config_index));
  return 0;
}

// ------------------------------------------------------------------ verify

int cmd_verify(int argc, char** argv) {
  po::options_description desc("changeagent-admin verify (FILE | --data-dir DIR)");
  desc.add_options()("help,h", "show this help")("dump", po::value<std::string>(), "a dump file")(
      "data-dir", po::value<std::string>(), "a stopped node's data dir");
  po::positional_options_description pos;
  pos.add("dump", 1);
  auto vm = parse(desc, argc, argv, &pos);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (vm.count("dump") == vm.count("data-dir"))
    throw UsageError("verify needs a dump FILE or --data-dir DIR");
  admin::Progress bar("verify");
  auto progress = [&](uint64_t d, uint64_t t, uint64_t b) { bar.update(d, t, b); };
  auto r = vm.count("dump") ? admin::verify_dump(vm["dump"].as<std::string>(), progress)
                            : admin::verify_data_dir(vm["data-dir"].as<std::string>(), progress);
  bar.finish();
  if (!r.is_ok()) return fail(r.status());
  std::printf("%s\n", r->c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string cmd = argv[1];
  try {
    if (cmd == "dump") return cmd_dump(argc - 1, argv + 1);
    if (cmd == "load") return cmd_load(argc - 1, argv + 1);
    if (cmd == "recover") return cmd_recover(argc - 1, argv + 1);
    if (cmd == "verify") return cmd_verify(argc - 1, argv + 1);
    std::fprintf(stderr, "changeagent-admin: unknown command '%s'\n%s", cmd.c_str(), kUsage);
    return 2;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "changeagent-admin %s: %s (see --help)\n", cmd.c_str(), e.what());
    return 2;
  } catch (const po::error& e) {
    std::fprintf(stderr, "changeagent-admin %s: %s (see --help)\n", cmd.c_str(), e.what());
    return 2;
  }
}
