// Store: opening (identity and format checks), cached bounds, and reads.
// Writes live in store_write.cc.
#include "storage/store.h"

#include <algorithm>
#include <cstdarg>
#include <filesystem>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/listener.h>

#include "common/assert.h"
#include "proto/codec.h"
#include "storage/keys.h"
#include "storage/rocks.h"
#include "storage/rocks_log.h"

namespace storage {

using common::Code;

namespace {

const std::vector<std::string> kOurFamilies = {keys::kLogFamily, keys::kMetaFamily,
                                               keys::kStateFamily, keys::kTagsFamily};

// The read-only inspection must not rotate RocksDB's LOG file: a refused
// open leaves the directory byte for byte as it was.
class SilentLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

// After a failed write (disk full) RocksDB resumes by itself once its
// SstFileManager sees free space: it flushes the memtables and goes on
// writing in-process. changeagent never resumes a store in-process: a failed
// write stops the writer, the Store refuses every later write (store.h,
// write_failed_), and only a restart, which re-reads the disk, may
// acknowledge again. So RocksDB's own recovery stays off as well.
class NoAutoRecovery : public rocksdb::EventListener {
 public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status,
                            bool* auto_recovery) override {
    *auto_recovery = false;
  }
};

struct StoredIdentity {
  std::optional<uint64_t> format_version;
  std::optional<uint64_t> cluster_id;
  std::optional<uint64_t> node_id;
  bool has_data = false;  // any log entry, or any meta key besides the identity
};

Result<std::optional<uint64_t>> read_u64(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* meta,
                                         std::string_view key, const std::string& dir) {
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), meta, key, &value);
  if (s.IsNotFound()) return std::optional<uint64_t>();
  if (!s.ok()) return from_rocks(s, "read meta " + std::string(key), dir);
  uint64_t v = 0;
  if (!keys::parse_be64(value, &v)) {
    return damaged("meta key '" + std::string(key) + "'", dir,
                   "expected 8 bytes, found " + std::to_string(value.size()));
  }
  return std::optional<uint64_t>(v);
}

bool is_identity_key(std::string_view key) {
  return key == keys::kFormatVersion || key == keys::kClusterId || key == keys::kNodeId;
}

Result<StoredIdentity> read_identity(const RocksHandles& h, const std::string& dir) {
  StoredIdentity id;
  for (auto [key, out] :
       {std::pair{keys::kFormatVersion, &id.format_version},
        std::pair{keys::kClusterId, &id.cluster_id}, std::pair{keys::kNodeId, &id.node_id}}) {
    auto v = read_u64(h.db.get(), h.meta, key, dir);
    if (!v.is_ok()) return v.status();
    *out = *v;
  }
  std::unique_ptr<rocksdb::Iterator> meta_it(h.db->NewIterator(rocksdb::ReadOptions(), h.meta));
  for (meta_it->SeekToFirst(); meta_it->Valid() && !id.has_data; meta_it->Next()) {
    id.has_data = !is_identity_key(meta_it->key().ToStringView());
  }
  if (!meta_it->status().ok()) return from_rocks(meta_it->status(), "scan meta", dir);
  std::unique_ptr<rocksdb::Iterator> log_it(h.db->NewIterator(rocksdb::ReadOptions(), h.log));
  log_it->SeekToFirst();
  if (log_it->Valid()) id.has_data = true;
  if (!log_it->status().ok()) return from_rocks(log_it->status(), "scan log", dir);
  return id;
}

Status check_identity(const StoredIdentity& id, const OpenOptions& o) {
  if (!id.format_version) {
    if (!id.has_data) return Status::ok();  // created, crashed before the identity write
    return damaged("format version", o.dir, "it is missing although the store holds data");
  }
  if (*id.format_version != kFormatVersion) {
    return Status(Code::kFailedPrecondition,
                  "storage: the store in " + o.dir + " has format version " +
                      std::to_string(*id.format_version) +
                      ", but this binary reads format version " + std::to_string(kFormatVersion) +
                      " only. Nothing was changed. Run a changeagent binary that reads version " +
                      std::to_string(*id.format_version) +
                      ", or migrate the store with changeagent-admin: `changeagent-admin dump "
                      "--data-dir " +
                      o.dir + " --out FILE` with the release that reads version " +
                      std::to_string(*id.format_version) +
                      ", then `changeagent-admin load FILE --data-dir NEWDIR` with this one.");
  }
  auto mismatch = [&](const char* what, uint64_t stored, uint64_t wanted) {
    return Status(Code::kFailedPrecondition,
                  "storage: the store in " + o.dir + " belongs to " + what + " " +
                      std::to_string(stored) + ", but this node was started as " + what + " " +
                      std::to_string(wanted) +
                      ". Nothing was changed. Check the configured id and data directory; a "
                      "store never changes identity.");
  };
  if (id.cluster_id && o.cluster_id.value() != 0 && *id.cluster_id != o.cluster_id.value()) {
    return mismatch("cluster id", *id.cluster_id, o.cluster_id.value());
  }
  if (id.node_id && o.node_id.value() != 0 && *id.node_id != o.node_id.value()) {
    return mismatch("node id", *id.node_id, o.node_id.value());
  }
  return Status::ok();
}

// Opens `families` (which must include ours) and fills the handles.
Result<std::unique_ptr<RocksHandles>> open_db(const std::string& dir,
                                              const std::vector<std::string>& families, bool create,
                                              bool read_only) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = create;
  db_options.create_missing_column_families = create || !read_only;
  db_options.keep_log_file_num = 4;
  if (read_only) {
    db_options.info_log = std::make_shared<SilentLogger>();
  } else {
    db_options.info_log = rocksdb_to_node_log();
  }
  // RocksDB would create it too, but first logs the missing directory as an
  // error, which now lands in the node's log at every bootstrap.
  if (create) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
  }
  db_options.listeners.push_back(std::make_shared<NoAutoRecovery>());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : families) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());

  auto h = std::make_unique<RocksHandles>();
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = read_only
                          ? rocksdb::DB::OpenForReadOnly(db_options, dir, descriptors, &h->all, &db)
                          : rocksdb::DB::Open(db_options, dir, descriptors, &h->all, &db);
  if (!s.ok()) return from_rocks(s, read_only ? "inspect database" : "open database", dir);
  h->db.reset(db);
  CA_ASSERT(h->all.size() == families.size());
  for (size_t i = 0; i < families.size(); i++) {
    if (families[i] == keys::kLogFamily) h->log = h->all[i];
    if (families[i] == keys::kMetaFamily) h->meta = h->all[i];
    if (families[i] == keys::kStateFamily) h->state = h->all[i];
    if (families[i] == keys::kTagsFamily) h->tags = h->all[i];
  }
  return h;
}

// For an existing database: every family it has, plus ours. Refuses a
// RocksDB database that is not ours, and checks the identity read-only so a
// refusal changes nothing.
Result<std::vector<std::string>> inspect_existing(const OpenOptions& o) {
  std::vector<std::string> listed;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), o.dir, &listed);
  if (!s.ok()) return from_rocks(s, "list column families", o.dir);
  for (const auto& name : kOurFamilies) {
    if (std::find(listed.begin(), listed.end(), name) == listed.end()) {
      return Status(Code::kFailedPrecondition,
                    "storage: " + o.dir +
                        " holds a RocksDB database that is not a changeagent store (no column "
                        "family '" +
                        name +
                        "'). Nothing was changed. Point the node at an "
                        "empty or changeagent directory.");
    }
  }
  auto ro = open_db(o.dir, listed, false, true);
  if (!ro.is_ok()) return ro.status();
  auto id = read_identity(**ro, o.dir);
  if (!id.is_ok()) return id.status();
  Status ok = check_identity(*id, o);
  if (!ok.is_ok()) return ok;
  return listed;
}

// Writes whatever part of the identity is not stored yet, synced.
Status init_identity(const RocksHandles& h, const OpenOptions& o, StoredIdentity* id) {
  rocksdb::WriteBatch wb;
  auto put = [&](std::string_view key, std::optional<uint64_t>* stored, uint64_t wanted) {
    if (*stored || wanted == 0) return;
    wb.Put(h.meta, key, keys::be64(wanted)).PermitUncheckedError();
    *stored = wanted;
  };
  put(keys::kFormatVersion, &id->format_version, kFormatVersion);
  put(keys::kClusterId, &id->cluster_id, o.cluster_id.value());
  put(keys::kNodeId, &id->node_id, o.node_id.value());
  if (wb.Count() == 0) return Status::ok();
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status s = h.db->Write(wo, &wb);
  if (!s.ok()) return from_rocks(s, "write identity", o.dir);
  return Status::ok();
}

}  // namespace

Store::Store(std::string dir, std::unique_ptr<RocksHandles> handles)
    : dir_(std::move(dir)), handles_(std::move(handles)) {}

Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::open(const OpenOptions& o) {
  if (o.dir.empty()) return Status(Code::kInvalidArgument, "storage: no directory given");
  std::error_code ec;
  bool exists = std::filesystem::exists(std::filesystem::path(o.dir) / "CURRENT", ec);
  std::vector<std::string> families = {rocksdb::kDefaultColumnFamilyName};
  if (o.read_only && !exists) {
    return Status(Code::kNotFound, "storage: no store in " + o.dir);
  }
  if (exists) {
    auto listed = inspect_existing(o);
    if (!listed.is_ok()) return listed.status();
    families = *listed;
  } else if (!o.create_if_missing) {
    return Status(Code::kNotFound, "storage: no store in " + o.dir +
                                       "; create it (bootstrap or join) or fix the directory");
  }
  for (const auto& name : kOurFamilies) {
    if (std::find(families.begin(), families.end(), name) == families.end()) {
      families.push_back(name);
    }
  }
  auto h = open_db(o.dir, families, o.create_if_missing && !o.read_only, o.read_only);
  if (!h.is_ok()) return h.status();
  // Checked again on the handle we keep: the read-only look was only to
  // refuse without touching anything.
  auto id = read_identity(**h, o.dir);
  if (!id.is_ok()) return id.status();
  if (Status s = check_identity(*id, o); !s.is_ok()) return s;
  if (!o.read_only) {
    if (Status s = init_identity(**h, o, &*id); !s.is_ok()) return s;
  }

  std::unique_ptr<Store> store(new Store(o.dir, std::move(h).value()));
  store->cluster_id_ = raftlog::ClusterId(id->cluster_id.value_or(0));
  store->node_id_ = raftlog::NodeId(id->node_id.value_or(0));
  if (Status s = store->finish_pending_install(); !s.is_ok()) return s;
  if (Status s = store->load_bounds(); !s.is_ok()) return s;
  return store;
}

Result<std::optional<std::string>> Store::get_meta(std::string_view key,
                                                   const rocksdb::Snapshot* at) const {
  std::string value;
  rocksdb::ReadOptions ro;
  ro.snapshot = at;
  rocksdb::Status s = handles_->db->Get(ro, handles_->meta, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return from_rocks(s, "read meta " + std::string(key), dir_);
  return std::optional<std::string>(std::move(value));
}

Result<std::optional<raftlog::Entry>> Store::read_entry(Index i) const {
  std::string value;
  rocksdb::Status s =
      handles_->db->Get(rocksdb::ReadOptions(), handles_->log, keys::log_key(i.value()), &value);
  if (s.IsNotFound()) return std::optional<raftlog::Entry>();
  if (!s.ok()) return from_rocks(s, "read log entry " + std::to_string(i.value()), dir_);
  auto e = raftpb::decode_entry(value);
  if (!e.is_ok())
    return damaged("log entry " + std::to_string(i.value()), dir_, e.status().message());
  if (e->index != i) {
    return damaged("log entry " + std::to_string(i.value()), dir_,
                   "it claims index " + std::to_string(e->index.value()));
  }
  return std::optional<raftlog::Entry>(std::move(e).value());
}

Result<raftlog::SnapshotMeta> Store::read_snapshot_meta(const rocksdb::Snapshot* at) const {
  auto bytes = get_meta(keys::kSnapshotMeta, at);
  if (!bytes.is_ok()) return bytes.status();
  if (!*bytes) return raftlog::SnapshotMeta();
  auto meta = raftpb::decode_snapshot_meta(**bytes);
  if (!meta.is_ok()) return damaged("meta key 'snapshot/meta'", dir_, meta.status().message());
  return meta;
}

// Reads snapshot meta, log base and the log's last entry into memory and
// checks that they agree with each other.
Status Store::load_bounds() {
  Bounds b;
  auto snap_meta = read_snapshot_meta(nullptr);
  if (!snap_meta.is_ok()) return snap_meta.status();
  raftlog::SnapshotMeta snap = std::move(snap_meta).value();
  auto base_bytes = get_meta(keys::kLogBase);
  if (!base_bytes.is_ok()) return base_bytes.status();
  if (*base_bytes) {
    uint64_t index = 0, term = 0;
    const std::string& v = **base_bytes;
    if (v.size() != 16 || !keys::parse_be64(std::string_view(v).substr(0, 8), &index) ||
        !keys::parse_be64(std::string_view(v).substr(8), &term)) {
      return damaged("meta key 'log_base'", dir_, "expected 16 bytes");
    }
    b.base_index = Index(index);
    b.base_term = Term(term);
  }
  b.last_index = b.base_index;
  b.last_term = b.base_term;

  std::unique_ptr<rocksdb::Iterator> it(
      handles_->db->NewIterator(rocksdb::ReadOptions(), handles_->log));
  it->SeekToFirst();
  if (it->Valid()) {
    uint64_t first = 0, last = 0;
    if (!keys::parse_be64(it->key().ToStringView(), &first) || first != b.base_index.value() + 1) {
      return damaged(
          "log", dir_,
          "its first key does not follow the log base " + std::to_string(b.base_index.value()));
    }
    it->SeekToLast();
    if (!it->Valid() || !keys::parse_be64(it->key().ToStringView(), &last)) {
      return damaged("log", dir_, "its last key is not an index");
    }
    auto e = read_entry(Index(last));
    if (!e.is_ok()) return e.status();
    if (!*e) return damaged("log", dir_, "its last entry vanished while opening");
    b.last_index = Index(last);
    b.last_term = (*e)->term;
  }
  if (!it->status().ok()) return from_rocks(it->status(), "scan log", dir_);
  if (snap.index > b.last_index || b.base_index > snap.index) {
    return damaged("log bounds", dir_,
                   "snapshot index " + std::to_string(snap.index.value()) + " is outside [" +
                       std::to_string(b.base_index.value()) + ", " +
                       std::to_string(b.last_index.value()) + "]");
  }
  std::lock_guard lock(state_mu_);
  bounds_ = b;
  snapshot_ = std::move(snap);
  return Status::ok();
}

Store::Bounds Store::bounds() const {
  std::lock_guard lock(state_mu_);
  return bounds_;
}

Index Store::first_index() const {
  return bounds().base_index + 1;
}

Index Store::last_index() const {
  return bounds().last_index;
}

raftlog::SnapshotMeta Store::snapshot() const {
  std::lock_guard lock(state_mu_);
  return snapshot_;
}

namespace {

Status compacted(const char* what, Index i, const Store::Bounds& b) {
  return Status(Code::kCompacted, "storage: " + std::string(what) + " " +
                                      std::to_string(i.value()) + ": compacted (first index " +
                                      std::to_string(b.base_index.value() + 1) + ")");
}

Status beyond(const char* what, Index i, const Store::Bounds& b) {
  return Status(Code::kNotFound, "storage: " + std::string(what) + " " + std::to_string(i.value()) +
                                     ": beyond last index " + std::to_string(b.last_index.value()));
}

}  // namespace

Result<Term> Store::term(Index i) const {
  if (auto r = term_once(i, false)) return std::move(*r);
  std::lock_guard settle(write_mu_);
  auto r = term_once(i, true);
  CA_ASSERT(r.has_value());
  return std::move(*r);
}

std::optional<Result<Term>> Store::term_once(Index i, bool settled) const {
  Bounds b = bounds();
  if (i < b.base_index) return Result<Term>(compacted("term of", i, b));
  if (i > b.last_index) return Result<Term>(beyond("term of", i, b));
  if (i == b.base_index) return Result<Term>(b.base_term);
  if (i == b.last_index) return Result<Term>(b.last_term);
  auto e = read_entry(i);
  if (!e.is_ok()) return Result<Term>(e.status());
  if (*e) return Result<Term>((*e)->term);
  if (!settled) return std::nullopt;
  return Result<Term>(damaged("log", dir_, "entry " + std::to_string(i.value()) + " is missing"));
}

Result<std::vector<raftlog::Entry>> Store::entries(Index lo, Index hi, uint64_t bytes_max) const {
  if (auto r = entries_once(lo, hi, bytes_max, false)) return std::move(*r);
  std::lock_guard settle(write_mu_);
  auto r = entries_once(lo, hi, bytes_max, true);
  CA_ASSERT(r.has_value());
  return std::move(*r);
}

std::optional<Result<std::vector<raftlog::Entry>>> Store::entries_once(Index lo, Index hi,
                                                                       uint64_t bytes_max,
                                                                       bool settled) const {
  using R = Result<std::vector<raftlog::Entry>>;
  if (lo > hi) return R(Status(Code::kInvalidArgument, "storage: entries: lo > hi"));
  Bounds b = bounds();
  if (lo <= b.base_index) return R(compacted("entries from", lo, b));
  if (hi > b.last_index + 1) return R(beyond("entries up to", hi - 1, b));
  std::vector<raftlog::Entry> out;
  if (lo == hi) return R(std::move(out));
  std::string upper = keys::log_key(hi.value());
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(handles_->db->NewIterator(ro, handles_->log));
  uint64_t bytes = 0;
  Index want = lo;
  for (it->Seek(keys::log_key(lo.value())); it->Valid(); it->Next(), ++want) {
    uint64_t key = 0;
    if (!keys::parse_be64(it->key().ToStringView(), &key) || key != want.value()) break;
    auto e = raftpb::decode_entry(it->value().ToStringView());
    if (!e.is_ok())
      return R(damaged("log entry " + std::to_string(key), dir_, e.status().message()));
    if (e->index != want) {
      return R(damaged("log entry " + std::to_string(key), dir_,
                       "it claims index " + std::to_string(e->index.value())));
    }
    uint64_t size = raftlog::entry_size(*e);
    if (!out.empty() && bytes + size > bytes_max) return R(std::move(out));
    bytes += size;
    out.push_back(std::move(e).value());
  }
  if (!it->status().ok()) return R(from_rocks(it->status(), "read log", dir_));
  if (want == hi) return R(std::move(out));
  if (!settled) return std::nullopt;
  return R(damaged("log", dir_, "entry " + std::to_string(want.value()) + " is missing"));
}

Result<raftlog::Snapshot> Store::load_snapshot() const {
  rocksdb::ManagedSnapshot at(handles_->db.get());  // meta and data from one instant
  auto meta = read_snapshot_meta(at.snapshot());
  if (!meta.is_ok()) return meta.status();
  auto data = get_meta(keys::kSnapshotData, at.snapshot());
  if (!data.is_ok()) return data.status();
  raftlog::Snapshot snap;
  snap.meta = std::move(meta).value();
  snap.data = std::make_shared<const std::string>(data->value_or(std::string()));
  return snap;
}

// conf/ records in index order, read at `at` (storage/rocks.h).
Result<std::vector<std::pair<Index, raftlog::Membership>>> read_confs(const RocksHandles& h,
                                                                      const rocksdb::Snapshot* at,
                                                                      const std::string& dir) {
  std::vector<std::pair<Index, raftlog::Membership>> out;
  rocksdb::Slice upper(keys::kConfEnd.data(), keys::kConfEnd.size());
  rocksdb::ReadOptions ro;
  ro.snapshot = at;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(h.db->NewIterator(ro, h.meta));
  for (it->Seek(keys::kConfPrefix); it->Valid(); it->Next()) {
    std::string_view key = it->key().ToStringView();
    uint64_t index = 0;
    if (!keys::parse_be64(key.substr(keys::kConfPrefix.size()), &index)) {
      return damaged("meta conf/ key", dir, "its index is not 8 bytes");
    }
    auto m = raftpb::decode_members(it->value().ToStringView());
    if (!m.is_ok()) {
      return damaged("meta key conf/" + std::to_string(index), dir, m.status().message());
    }
    out.emplace_back(Index(index), std::move(m).value());
  }
  if (!it->status().ok()) return from_rocks(it->status(), "scan conf records", dir);
  return out;
}

Result<raftlog::Boot> Store::load_boot() const {
  rocksdb::ManagedSnapshot at(handles_->db.get());
  raftlog::Boot boot;
  auto hs = get_meta(keys::kHardState, at.snapshot());
  if (!hs.is_ok()) return hs.status();
  if (*hs) {
    auto decoded = raftpb::decode_hard_state(**hs);
    if (!decoded.is_ok()) return damaged("meta key 'hard_state'", dir_, decoded.status().message());
    boot.hard_state = *decoded;
  }
  auto applied = get_meta(keys::kApplied, at.snapshot());
  if (!applied.is_ok()) return applied.status();
  if (*applied) {
    uint64_t v = 0;
    if (!keys::parse_be64(**applied, &v)) return damaged("meta key 'applied'", dir_, "not 8 bytes");
    boot.applied = Index(v);
  }
  auto snap = read_snapshot_meta(at.snapshot());
  if (!snap.is_ok()) return snap.status();
  auto confs = read_confs(*handles_, at.snapshot(), dir_);
  if (!confs.is_ok()) return confs.status();

  // The base is the latest configuration known committed: the last conf/
  // record at or below the commit index, or the snapshot's if that is newer.
  Index committed = std::max(boot.hard_state.commit, snap->index);
  auto above = std::upper_bound(confs->begin(), confs->end(), committed,
                                [](Index i, const auto& rec) { return i < rec.first; });
  // A snapshot at index 0 with a membership is a bootstrap (raft.h, Boot).
  const bool has_snapshot = snap->index > Index(0) || !snap->membership.members.empty();
  if (has_snapshot && (above == confs->begin() || std::prev(above)->first <= snap->index)) {
    boot.configs.emplace_back(snap->index, snap->membership);
  } else if (above != confs->begin()) {
    boot.configs.push_back(*std::prev(above));
  }
  boot.configs.insert(boot.configs.end(), above, confs->end());
  return boot;
}

}  // namespace storage

namespace storage {

Status Store::scan_state(
    const std::function<Status(const std::string&, const std::string&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      handles_->db->NewIterator(rocksdb::ReadOptions(), handles_->state));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (Status s = fn(it->key().ToString(), it->value().ToString()); !s.is_ok()) return s;
  }
  if (!it->status().ok()) {
    return Status(common::Code::kIoError, "storage: scanning the state column family in " + dir_ +
                                              ": " + it->status().ToString());
  }
  return Status::ok();
}

}  // namespace storage
