// Store writes: a PersistBatch (or several, for group commit) becomes one
// RocksDB WriteBatch, staged against an in-memory copy of the bounds so that
// each batch sees the effect of the ones before it in the same WriteBatch.
#include <map>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "common/assert.h"
#include "proto/codec.h"
#include "storage/keys.h"
#include "storage/rocks.h"
#include "storage/store.h"

namespace storage {

using common::Code;

namespace {

// Whether `next` may replace `current`. A store that has never had a
// snapshot also takes one at index 0: that is how a new cluster is
// bootstrapped (raftlog/raft.h, Boot).
bool supersedes(const raftlog::SnapshotMeta& next, const raftlog::SnapshotMeta& current) {
  if (next.index > current.index) return true;
  return current.index == Index(0) && current.membership.members.empty() &&
         !next.membership.members.empty();
}

}  // namespace

// One WriteBatch under construction plus the bounds it will leave behind.
// Lives only while write_mu_ is held, so the disk below it does not move.
class Store::Staging {
  const Store& store_;
  std::map<Index, Term> staged_terms_;  // entries appended by this WriteBatch

 public:
  explicit Staging(const Store& store)
      : store_(store), bounds(store.bounds()), snapshot(store.snapshot()) {}

  rocksdb::WriteBatch wb;
  Bounds bounds;
  raftlog::SnapshotMeta snapshot;
  bool snapshot_changed = false;
  rocksdb::Status status;  // first WriteBatch error, if any

  void put(rocksdb::ColumnFamilyHandle* cf, std::string_view key, std::string_view value) {
    keep(wb.Put(cf, key, value));
  }
  void del(rocksdb::ColumnFamilyHandle* cf, std::string_view key) { keep(wb.Delete(cf, key)); }
  void delete_range(rocksdb::ColumnFamilyHandle* cf, std::string_view from, std::string_view to) {
    keep(wb.DeleteRange(cf, from, to));
  }

  // Term of entry i as it will be after the staged writes; nullopt when the
  // log (after them) does not hold i.
  Result<std::optional<Term>> term_at(Index i) const {
    if (i == bounds.base_index) return std::optional<Term>(bounds.base_term);
    if (i < bounds.base_index || i > bounds.last_index) return std::optional<Term>();
    if (i == bounds.last_index) return std::optional<Term>(bounds.last_term);
    if (auto it = staged_terms_.find(i); it != staged_terms_.end()) {
      return std::optional<Term>(it->second);
    }
    // Not staged and within bounds: an entry from before this write.
    auto e = store_.read_entry(i);
    if (!e.is_ok()) return e.status();
    if (!*e)
      return damaged("log", store_.dir_, "entry " + std::to_string(i.value()) + " is missing");
    return std::optional<Term>((*e)->term);
  }

  Status install(const raftlog::Snapshot& snap);
  Status append(const std::vector<raftlog::Entry>& entries);
  void set_base(Index index, Term term);
  void put_snapshot(const raftlog::Snapshot& snap);

 private:
  void keep(const rocksdb::Status& s) {
    if (status.ok()) status = s;
  }
};

void Store::Staging::set_base(Index index, Term term) {
  put(store_.handles_->meta, keys::kLogBase, keys::be64(index.value()) + keys::be64(term.value()));
  bounds.base_index = index;
  bounds.base_term = term;
}

void Store::Staging::put_snapshot(const raftlog::Snapshot& snap) {
  const RocksHandles& h = *store_.handles_;
  put(h.meta, keys::kSnapshotMeta, raftpb::encode_snapshot_meta(snap.meta));
  put(h.meta, keys::kSnapshotData, snap.data ? std::string_view(*snap.data) : std::string_view());
  snapshot = snap.meta;
  snapshot_changed = true;
}

Status Store::Staging::install(const raftlog::Snapshot& snap) {
  const raftlog::SnapshotMeta& m = snap.meta;
  if (!supersedes(m, snapshot)) {
    return Status(Code::kInvalidArgument, "storage: install snapshot at " +
                                              std::to_string(m.index.value()) +
                                              ": not above the stored snapshot at " +
                                              std::to_string(snapshot.index.value()));
  }
  auto term = term_at(m.index);
  if (!term.is_ok()) return term.status();
  const RocksHandles& h = *store_.handles_;
  if (*term && **term == m.term) {
    // The log agrees with the snapshot: keep what follows it.
    delete_range(h.log, keys::log_key(0), keys::log_key(m.index.value() + 1));
    delete_range(h.meta, keys::conf_key(0), keys::conf_key(m.index.value() + 1));
  } else {
    // The log is behind or conflicts: the snapshot replaces all of it.
    delete_range(h.log, keys::log_key(0), keys::kLogEnd);
    delete_range(h.meta, keys::kConfPrefix, keys::kConfEnd);
    staged_terms_.clear();
    bounds.last_index = m.index;
    bounds.last_term = m.term;
  }
  set_base(m.index, m.term);
  put_snapshot(snap);
  return Status::ok();
}

Status Store::Staging::append(const std::vector<raftlog::Entry>& entries) {
  CA_ASSERT(!entries.empty());
  for (size_t i = 1; i < entries.size(); i++) {
    CA_ASSERT(entries[i].index == entries[i - 1].index + 1);
    CA_ASSERT(entries[i].term >= entries[i - 1].term);
  }
  Index front = entries.front().index;
  if (front <= bounds.base_index) {
    return Status(Code::kInvalidArgument, "storage: append at " + std::to_string(front.value()) +
                                              ": at or below the log base " +
                                              std::to_string(bounds.base_index.value()) +
                                              " (compacted or covered by the snapshot)");
  }
  if (front > bounds.last_index + 1) {
    return Status(Code::kInvalidArgument, "storage: append at " + std::to_string(front.value()) +
                                              ": leaves a gap after last index " +
                                              std::to_string(bounds.last_index.value()));
  }
  const RocksHandles& h = *store_.handles_;
  if (front <= bounds.last_index) {
    delete_range(h.log, keys::log_key(front.value()), keys::kLogEnd);
    delete_range(h.meta, keys::conf_key(front.value()), keys::kConfEnd);
    staged_terms_.erase(staged_terms_.lower_bound(front), staged_terms_.end());
  }
  for (const raftlog::Entry& e : entries) {
    put(h.log, keys::log_key(e.index.value()), raftpb::encode_entry(e));
    staged_terms_[e.index] = e.term;
    if (e.type != raftlog::EntryType::kMembership) continue;
    auto m = raftlog::decode_membership(e.data);
    if (!m.is_ok()) {
      return Status(Code::kInvalidArgument, "storage: membership entry " +
                                                std::to_string(e.index.value()) + ": " +
                                                m.status().message());
    }
    put(h.meta, keys::conf_key(e.index.value()), raftpb::encode_members(*m));
  }
  bounds.last_index = entries.back().index;
  bounds.last_term = entries.back().term;
  return Status::ok();
}

Status Store::refused_after_failure() const {
  if (write_failed_.is_ok()) return Status::ok();
  return Status(write_failed_.code(),
                "storage: not written: an earlier write failed and only a restart writes "
                "again (" +
                    write_failed_.message() + ")");
}

Status Store::checked_write(const rocksdb::Status& s, std::string_view op) {
  if (s.ok()) return Status::ok();
  Status failed = from_rocks(s, op, dir_);
  if ((s.IsIOError() || s.IsCorruption()) && write_failed_.is_ok()) write_failed_ = failed;
  return failed;
}

Status Store::commit(Staging& staging, bool sync, const char* op) {
  if (!staging.status.ok()) return from_rocks(staging.status, op, dir_);
  if (Status s = refused_after_failure(); !s.is_ok()) return s;
  rocksdb::Status s;
  if (staging.wb.Count() > 0) {
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    s = handles_->db->Write(wo, &staging.wb);
  } else if (sync) {
    s = handles_->db->SyncWAL();  // an empty synced batch still promises durability
  }
  if (Status checked = checked_write(s, op); !checked.is_ok()) return checked;
  std::lock_guard lock(state_mu_);
  bounds_ = staging.bounds;
  if (staging.snapshot_changed) snapshot_ = staging.snapshot;
  return Status::ok();
}

Status Store::write(const PersistBatch& batch) {
  return write(std::span<const PersistBatch>(&batch, 1), batch.sync);
}

Status Store::write(std::span<const PersistBatch> batches, bool sync) {
  std::lock_guard lock(write_mu_);
  auto staging = std::make_unique<Staging>(*this);
  for (const PersistBatch& b : batches) {
    Staging& st = *staging;
    if (b.snapshot && b.streamed) {
      // Ingested files cannot join a WriteBatch: commit what came before,
      // install, and stage the rest of this batch on top.
      if (Status s = commit(st, sync, "write batch"); !s.is_ok()) return s;
      if (Status s = install_streamed_locked(*b.streamed, b.streamed_dir); !s.is_ok()) return s;
      staging = std::make_unique<Staging>(*this);
    } else if (b.snapshot) {
      if (Status s = st.install(*b.snapshot); !s.is_ok()) return s;
    }
    Staging& cur = *staging;
    if (!b.entries.empty()) {
      if (Status s = cur.append(b.entries); !s.is_ok()) return s;
    }
    if (b.hard_state)
      cur.put(handles_->meta, keys::kHardState, raftpb::encode_hard_state(*b.hard_state));
    if (b.applied) cur.put(handles_->meta, keys::kApplied, keys::be64(b.applied->value()));
    for (const auto& [key, value] : b.state_rows) {
      if (value) {
        cur.put(handles_->state, key, *value);
      } else {
        cur.del(handles_->state, key);
      }
    }
  }
  return commit(*staging, sync, "write batch");
}

Status Store::compact(Index before) {
  std::lock_guard lock(write_mu_);
  Staging st(*this);
  if (before <= st.bounds.base_index + 1) return Status::ok();  // nothing left below it
  if (before > st.snapshot.index + 1) {
    return Status(Code::kInvalidArgument,
                  "storage: compact before " + std::to_string(before.value()) +
                      ": the snapshot covers only up to " +
                      std::to_string(st.snapshot.index.value()) + "; take a snapshot first");
  }
  Index point = before - 1;  // the new base
  auto term = st.term_at(point);
  if (!term.is_ok()) return term.status();
  CA_ASSERT(term->has_value());  // point is within (base, snapshot.index] <= last

  // Keep the latest conf/ record at or below the compaction point: the
  // boot configuration may still need it; older ones are superseded.
  std::string upper = keys::conf_key(point.value() + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(handles_->db->NewIterator(ro, handles_->meta));
  it->SeekForPrev(keys::conf_key(point.value()));
  if (it->Valid() && it->key().starts_with(keys::kConfPrefix)) {
    st.delete_range(handles_->meta, keys::conf_key(0), it->key().ToStringView());
  }
  if (!it->status().ok()) return from_rocks(it->status(), "scan conf records", dir_);

  st.delete_range(handles_->log, keys::log_key(0), keys::log_key(before.value()));
  st.set_base(point, **term);
  // Not synced: losing a compaction in a crash only keeps entries longer.
  return commit(st, false, "compact log");
}

Status Store::save_snapshot(const raftlog::Snapshot& snap) {
  std::lock_guard lock(write_mu_);
  Staging st(*this);
  const raftlog::SnapshotMeta& m = snap.meta;
  if (!supersedes(m, st.snapshot)) {
    return Status(Code::kInvalidArgument, "storage: save snapshot at " +
                                              std::to_string(m.index.value()) +
                                              ": not above the stored snapshot at " +
                                              std::to_string(st.snapshot.index.value()));
  }
  auto term = st.term_at(m.index);
  if (!term.is_ok()) return term.status();
  if (!*term || **term != m.term) {
    return Status(Code::kInvalidArgument,
                  "storage: save snapshot at " + std::to_string(m.index.value()) + " term " +
                      std::to_string(m.term.value()) + ": the log does not hold that entry");
  }
  st.put_snapshot(snap);
  return commit(st, true, "save snapshot");
}

}  // namespace storage
