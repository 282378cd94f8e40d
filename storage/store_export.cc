// StoreExport (a whole store at one RocksDB snapshot) and restore_base, the
// two storage pieces of changeagent-admin's dump and load.
#include "storage/store_export.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "common/assert.h"
#include "proto/codec.h"
#include "storage/keys.h"
#include "storage/rocks.h"
#include "storage/store.h"

namespace storage {

using common::Code;
using raftlog::Index;
using raftlog::Term;

struct StoreExport::Impl {
  rocksdb::DB* db = nullptr;
  rocksdb::ColumnFamilyHandle* log = nullptr;
  rocksdb::ColumnFamilyHandle* state = nullptr;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  const rocksdb::Snapshot* snap = nullptr;
  std::string dir;

  rocksdb::ReadOptions read_options() const {
    rocksdb::ReadOptions ro;
    ro.snapshot = snap;
    return ro;
  }
  ~Impl() {
    if (snap != nullptr) db->ReleaseSnapshot(snap);
  }
};

StoreExport::StoreExport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StoreExport::~StoreExport() = default;

namespace {

Result<uint64_t> u64_or_zero(const Result<std::optional<std::string>>& bytes, std::string_view key,
                             const std::string& dir) {
  if (!bytes.is_ok()) return bytes.status();
  if (!*bytes) return uint64_t{0};
  uint64_t v = 0;
  if (!keys::parse_be64(**bytes, &v)) {
    return damaged("meta key '" + std::string(key) + "'", dir, "expected 8 bytes");
  }
  return v;
}

}  // namespace

Result<std::unique_ptr<StoreExport>> Store::export_view() const {
  auto impl = std::make_unique<StoreExport::Impl>();
  impl->db = handles_->db.get();
  impl->log = handles_->log;
  impl->state = handles_->state;
  impl->meta = handles_->meta;
  impl->dir = dir_;
  impl->snap = impl->db->GetSnapshot();
  const rocksdb::Snapshot* at = impl->snap;
  std::unique_ptr<StoreExport> out(new StoreExport(std::move(impl)));
  StoreExport::Meta& m = out->meta_;

  struct U64 {
    std::string_view key;
    uint64_t* out;
  };
  uint64_t cluster = 0, node = 0, applied = 0;
  for (U64 f : {U64{keys::kFormatVersion, &m.format_version}, U64{keys::kClusterId, &cluster},
                U64{keys::kNodeId, &node}, U64{keys::kApplied, &applied}}) {
    auto v = u64_or_zero(get_meta(f.key, at), f.key, dir_);
    if (!v.is_ok()) return v.status();
    *f.out = *v;
  }
  m.cluster_id = raftlog::ClusterId(cluster);
  m.node_id = raftlog::NodeId(node);
  m.applied = Index(applied);
  auto hs = get_meta(keys::kHardState, at);
  if (!hs.is_ok()) return hs.status();
  if (*hs) {
    auto decoded = raftpb::decode_hard_state(**hs);
    if (!decoded.is_ok()) return damaged("meta key 'hard_state'", dir_, decoded.status().message());
    m.hard_state = *decoded;
  }
  auto snap = read_snapshot_meta(at);
  if (!snap.is_ok()) return snap.status();
  m.snapshot = std::move(snap).value();
  auto base = get_meta(keys::kLogBase, at);
  if (!base.is_ok()) return base.status();
  if (*base) {
    uint64_t index = 0, term = 0;
    std::string_view v = **base;
    if (v.size() != 16 || !keys::parse_be64(v.substr(0, 8), &index) ||
        !keys::parse_be64(v.substr(8), &term)) {
      return damaged("meta key 'log_base'", dir_, "expected 16 bytes");
    }
    m.base_index = Index(index);
    m.base_term = Term(term);
  }
  m.last_index = m.base_index;
  m.last_term = m.base_term;
  std::unique_ptr<rocksdb::Iterator> it(
      handles_->db->NewIterator(out->impl_->read_options(), handles_->log));
  it->SeekToLast();
  if (it->Valid()) {
    auto e = raftpb::decode_entry(it->value().ToStringView());
    if (!e.is_ok()) return damaged("the last log entry", dir_, e.status().message());
    m.last_index = e->index;
    m.last_term = e->term;
  }
  if (!it->status().ok()) return from_rocks(it->status(), "read the last log entry", dir_);
  auto confs = read_confs(*handles_, at, dir_);
  if (!confs.is_ok()) return confs.status();
  m.confs = std::move(confs).value();
  return out;
}

Result<std::string> StoreExport::snapshot_data() const {
  std::string value;
  rocksdb::Status s =
      impl_->db->Get(impl_->read_options(), impl_->meta, keys::kSnapshotData, &value);
  if (s.IsNotFound()) return std::string();
  if (!s.ok()) return from_rocks(s, "read the snapshot data", impl_->dir);
  return value;
}

Status StoreExport::scan_log(Index lo, Index hi,
                             const std::function<Status(Index, std::string_view)>& fn) const {
  if (lo > hi) return Status::ok();
  std::string upper = keys::log_key(hi.value() + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro = impl_->read_options();
  ro.iterate_upper_bound = &upper_slice;
  ro.fill_cache = false;  // a dump reads everything once: keep the node's cache
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->log));
  Index want = lo;
  for (it->Seek(keys::log_key(lo.value())); it->Valid(); it->Next(), ++want) {
    uint64_t key = 0;
    if (!keys::parse_be64(it->key().ToStringView(), &key) || key != want.value()) {
      return damaged("log", impl_->dir, "entry " + std::to_string(want.value()) + " is missing");
    }
    if (Status s = fn(want, it->value().ToStringView()); !s.is_ok()) return s;
  }
  if (!it->status().ok()) return from_rocks(it->status(), "read log", impl_->dir);
  if (want != hi + 1) {
    return damaged("log", impl_->dir, "entry " + std::to_string(want.value()) + " is missing");
  }
  return Status::ok();
}

Status StoreExport::scan_state(
    const std::function<Status(std::string_view, std::string_view)>& fn) const {
  rocksdb::ReadOptions ro = impl_->read_options();
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->state));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (Status s = fn(it->key().ToStringView(), it->value().ToStringView()); !s.is_ok()) return s;
  }
  if (!it->status().ok()) return from_rocks(it->status(), "scan state", impl_->dir);
  return Status::ok();
}

Status Store::restore_base(Index index, Term term,
                           const std::vector<std::pair<Index, raftlog::Membership>>& confs) {
  std::lock_guard lock(write_mu_);
  if (Status refused = refused_after_failure(); !refused.is_ok()) return refused;
  Bounds b = bounds();
  if (b.last_index != Index(0) || b.base_index != Index(0) || snapshot().index != Index(0) ||
      !snapshot().membership.members.empty()) {
    return Status(Code::kFailedPrecondition, "storage: restore_base needs an empty store; " + dir_ +
                                                 " holds a log or snapshot");
  }
  rocksdb::WriteBatch wb;
  rocksdb::Status s;
  for (const auto& [i, m] : confs) {
    if (i > index) {
      return Status(Code::kInvalidArgument, "storage: restore_base: conf record " +
                                                std::to_string(i.value()) + " is above the base " +
                                                std::to_string(index.value()));
    }
    if (s.ok()) s = wb.Put(handles_->meta, keys::conf_key(i.value()), raftpb::encode_members(m));
  }
  if (s.ok()) {
    s = wb.Put(handles_->meta, keys::kLogBase,
               keys::be64(index.value()) + keys::be64(term.value()));
  }
  if (!s.ok()) return from_rocks(s, "restore log base", dir_);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s = handles_->db->Write(wo, &wb);
  if (Status c = checked_write(s, "restore log base"); !c.is_ok()) return c;
  std::lock_guard state_lock(state_mu_);
  bounds_ = Bounds{index, term, index, term};
  return Status::ok();
}

}  // namespace storage
