#include "admin/load.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "admin/data_dir.h"
#include "admin/dump_format.h"
#include "admin/force_config.h"
#include "api/node.h"
#include "api/node_impl.h"
#include "proto/codec.h"
#include "storage/store.h"

namespace admin {

using common::Code;
using common::Result;
using common::Status;
using raftlog::Index;
using raftlog::Term;
namespace fs = std::filesystem;
namespace pb = changeagent::dump;

namespace {

constexpr uint64_t kBatchBytes = 4u << 20;  // one WriteBatch of entries or rows

// Streams records into a fresh store (the temporary dir).
class Loader {
 public:
  Loader(storage::Store& store, const pb::Header& h) : store_(store), h_(h) {}

  Status on_record(pb::Record& r, raftlog::Entry& e) {
    switch (r.kind_case()) {
      case pb::Record::kSnapshotMeta: {
        auto m = raftpb::decode_snapshot_meta(r.snapshot_meta());
        if (!m.is_ok()) return m.status();  // the checker decoded it already
        snapshot_ = raftlog::Snapshot{std::move(m).value(), nullptr};
        return Status::ok();
      }
      case pb::Record::kSnapshotData:
        snapshot_data_ += r.snapshot_data();
        return Status::ok();
      case pb::Record::kConf: {
        auto m = raftpb::decode_members(r.conf().members());
        if (!m.is_ok()) return m.status();
        confs_.emplace_back(Index(r.conf().index()), std::move(m).value());
        return Status::ok();
      }
      case pb::Record::kEntry: {
        if (Status s = ensure_base(); !s.is_ok()) return s;
        batch_bytes_ += e.data.size() + 32;
        Index i = e.index;
        batch_.entries.push_back(std::move(e));
        if (batch_bytes_ >= kBatchBytes || i == Index(h_.snapshot_index())) return flush();
        return Status::ok();
      }
      case pb::Record::kStateRow: {
        if (Status s = ensure_base(); !s.is_ok()) return s;
        if (!batch_.entries.empty()) {
          if (Status s = flush(); !s.is_ok()) return s;
        }
        batch_bytes_ += r.state_row().key().size() + r.state_row().value().size();
        batch_.state_rows.emplace_back(std::move(*r.mutable_state_row()->mutable_key()),
                                       std::move(*r.mutable_state_row()->mutable_value()));
        if (batch_bytes_ >= kBatchBytes) return flush();
        return Status::ok();
      }
      default:
        return Status::ok();
    }
  }

  // After the last record: everything written, applied index set.
  Status finish() {
    if (Status s = ensure_base(); !s.is_ok()) return s;
    batch_.applied = Index(h_.applied_index());
    if (Status s = flush(); !s.is_ok()) return s;
    if (snapshot_ && !snapshot_saved_) {
      return Status(Code::kCorruption, "the dump's snapshot at " +
                                           std::to_string(h_.snapshot_index()) +
                                           " was never reached by its log");
    }
    return Status::ok();
  }

 private:
  // The log base (and a snapshot sitting at it) before the first entry.
  Status ensure_base() {
    if (based_) return Status::ok();
    based_ = true;
    if (h_.base_index() > 0) {
      Status s = store_.restore_base(Index(h_.base_index()), Term(h_.base_term()), confs_);
      if (!s.is_ok()) return s;
    }
    if (snapshot_ && snapshot_->meta.index == Index(h_.base_index())) return save_snapshot();
    return Status::ok();
  }

  Status save_snapshot() {
    snapshot_->data = std::make_shared<const std::string>(std::move(snapshot_data_));
    snapshot_data_.clear();
    snapshot_saved_ = true;
    return store_.save_snapshot(*snapshot_);
  }

  Status flush() {
    Index written = batch_.entries.empty() ? Index(0) : batch_.entries.back().index;
    if (Status s = store_.write(batch_); !s.is_ok()) return s;
    batch_ = storage::PersistBatch();
    batch_bytes_ = 0;
    if (snapshot_ && !snapshot_saved_ && written == snapshot_->meta.index) return save_snapshot();
    return Status::ok();
  }

  storage::Store& store_;
  const pb::Header& h_;
  std::optional<raftlog::Snapshot> snapshot_;
  std::string snapshot_data_;
  bool snapshot_saved_ = false;
  std::vector<std::pair<Index, raftlog::Membership>> confs_;
  bool based_ = false;
  storage::PersistBatch batch_;
  uint64_t batch_bytes_ = 0;
};

Status check_target(const LoadOptions& o) {
  if (o.name.empty()) return Status(Code::kInvalidArgument, "--name is required");
  if (o.peer_address.empty() || o.peer_address.find(':') == std::string::npos) {
    return Status(Code::kInvalidArgument,
                  "--advertise-peer must be host:port (the address other members will dial)");
  }
  if (!dir_has_files(o.data_dir)) return Status::ok();
  if (!o.force) {
    return Status(Code::kFailedPrecondition,
                  "the data dir " + o.data_dir +
                      " exists and is not empty; load never overwrites one: choose a new "
                      "--data-dir, or pass --force to replace it");
  }
  return check_not_in_use(o.data_dir);
}

// The loaded data into a fresh store at `dir`; fills the report.
Status load_into(const std::string& dir, const LoadOptions& o, LoadReport& report) {
  auto reader = DumpReader::open_file(o.dump_path);
  if (!reader.is_ok()) return reader.status();
  DumpReader& rd = **reader;
  auto h = rd.header();
  if (!h.is_ok()) return h.status();
  auto checker = DumpChecker::create(*h, rd);
  if (!checker.is_ok()) return checker.status();

  report.node_id = api::node_id_for(o.name);
  report.cluster_id = o.keep_cluster_id
                          ? raftlog::ClusterId(h->cluster_id())
                          : api::cluster_id_for({api::PeerSpec{o.name, o.peer_address}}, o.token);
  report.base_index = h->base_index();
  report.last_index = h->last_index();
  storage::OpenOptions so;
  so.dir = dir;
  so.create_if_missing = true;
  so.cluster_id = report.cluster_id;
  so.node_id = report.node_id;
  auto store = storage::Store::open(so);
  if (!store.is_ok()) return store.status();

  Loader loader(**store, *h);
  const uint64_t total = h->last_index() - h->base_index();
  for (uint64_t n = 1;; n++) {
    auto r = rd.next();
    if (!r.is_ok()) return r.status();
    if (!*r) break;
    raftlog::Entry e;
    if (Status s = checker->check(**r, &e); !s.is_ok()) return s;
    if (Status s = loader.on_record(**r, e); !s.is_ok()) return s;
    if ((**r).has_entry()) report.entries++;
    if ((**r).has_state_row()) report.state_rows++;
    if (o.progress && n % 4096 == 0) o.progress(report.entries, total, rd.offset());
  }
  if (Status s = checker->finish(); !s.is_ok()) return s;
  if (Status s = loader.finish(); !s.is_ok()) return s;
  report.bytes = rd.offset();
  if (o.progress) o.progress(report.entries, total, rd.offset());

  raftlog::Membership m;
  api::MemberAddress a{o.name, o.peer_address, o.client_url, false};
  m.members.emplace(report.node_id, raftlog::Member{false, api::encode_member_address(a)});
  auto at = force_membership(**store, m);
  if (!at.is_ok()) return at.status();
  return Status::ok();
}

void sync_dir(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

Result<LoadReport> load_dump(const LoadOptions& o) {
  if (Status s = check_target(o); !s.is_ok()) return s;
  fs::path target = fs::absolute(o.data_dir).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  fs::path tmp = target;
  tmp += ".load-" + std::to_string(::getpid()) + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(target.parent_path(), ec);
  LoadReport report;
  Status s = load_into(tmp.string(), o, report);
  if (!s.is_ok()) {
    fs::remove_all(tmp, ec);
    return s;
  }
  fs::path old = target;
  old += ".replaced-" + std::to_string(::getpid()) + ".tmp";
  bool replaced = false;
  if (fs::exists(target, ec)) {
    fs::rename(target, old, ec);
    if (ec) {
      fs::remove_all(tmp, ec);
      return Status(Code::kIoError,
                    "cannot move the old data dir " + target.string() + " aside: " + ec.message());
    }
    replaced = true;
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    std::error_code ec2;
    if (replaced) fs::rename(old, target, ec2);
    fs::remove_all(tmp, ec2);
    return Status(Code::kIoError,
                  "cannot rename the loaded store into " + target.string() + ": " + ec.message());
  }
  sync_dir(target.parent_path());
  if (replaced) fs::remove_all(old, ec);
  return report;
}

}  // namespace admin
