// Installing a streamed snapshot (Store::install_streamed), and finishing
// one a crash interrupted.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "common/assert.h"
#include "proto/codec.h"
#include "storage/keys.h"
#include "storage/rocks.h"
#include "storage/snapshot_stream.h"
#include "storage/store.h"

namespace storage {

using common::Code;

Status Store::install_streamed(const StreamedSnapshot& snap, const std::string& staging_dir) {
  std::lock_guard lock(write_mu_);
  return install_streamed_locked(snap, staging_dir);
}

// Three steps, each durable before the next: (1) mark the install pending
// and clear the log, state rows and conf records; (2) ingest the staged SST
// files (copied, so the staging dir can redo this); (3) record the new log
// base, snapshot meta and applied index and clear the mark. A crash after
// (1) leaves the mark: open() redoes all three from the staging dir.
Status Store::install_streamed_locked(const StreamedSnapshot& snap,
                                      const std::string& staging_dir) {
  const RocksHandles& h = *handles_;
  const StreamHead& head = snap.head;
  if (head.base_index > head.meta.index) {
    return Status(Code::kInvalidArgument,
                  "storage: streamed snapshot base " + std::to_string(head.base_index.value()) +
                      " is above its index " + std::to_string(head.meta.index.value()));
  }
  if (Status refused = refused_after_failure(); !refused.is_ok()) return refused;
  rocksdb::WriteOptions synced;
  synced.sync = true;

  rocksdb::WriteBatch clear;
  rocksdb::Status s = clear.Put(h.meta, keys::kInstallPending, staging_dir);
  if (s.ok()) s = clear.DeleteRange(h.log, keys::log_key(0), keys::kLogEnd);
  if (s.ok()) s = clear.DeleteRange(h.state, "", keys::kStateEnd);
  if (s.ok()) s = clear.DeleteRange(h.meta, keys::kConfPrefix, keys::kConfEnd);
  if (!s.ok()) return from_rocks(s, "clear for streamed snapshot", dir_);
  s = h.db->Write(synced, &clear);
  if (Status c = checked_write(s, "clear for streamed snapshot"); !c.is_ok()) return c;

  std::vector<rocksdb::IngestExternalFileArg> args;
  auto add = [&](rocksdb::ColumnFamilyHandle* cf, const std::vector<std::string>& files) {
    if (files.empty()) return;
    rocksdb::IngestExternalFileArg a;
    a.column_family = cf;
    a.external_files = files;
    a.options.move_files = false;  // keep the staging copy until step (3)
    a.options.allow_blocking_flush = true;
    args.push_back(std::move(a));
  };
  add(h.state, snap.state_files);
  add(h.log, snap.log_files);
  if (!args.empty()) {
    s = h.db->IngestExternalFiles(args);
    if (Status c = checked_write(s, "ingest streamed snapshot files"); !c.is_ok()) return c;
  }

  rocksdb::WriteBatch finish;
  s = finish.Put(h.meta, keys::kLogBase,
                 keys::be64(head.base_index.value()) + keys::be64(head.base_term.value()));
  if (s.ok()) s = finish.Put(h.meta, keys::kSnapshotMeta, raftpb::encode_snapshot_meta(head.meta));
  if (s.ok()) s = finish.Put(h.meta, keys::kSnapshotData, "");
  if (s.ok()) s = finish.Put(h.meta, keys::kApplied, keys::be64(head.meta.index.value()));
  if (s.ok()) s = finish.Delete(h.meta, keys::kInstallPending);
  if (!s.ok()) return from_rocks(s, "record streamed snapshot", dir_);
  s = h.db->Write(synced, &finish);
  if (Status c = checked_write(s, "record streamed snapshot"); !c.is_ok()) return c;

  std::lock_guard lock(state_mu_);
  bounds_.base_index = head.base_index;
  bounds_.base_term = head.base_term;
  bounds_.last_index = head.meta.index;
  bounds_.last_term = head.meta.term;
  snapshot_ = head.meta;
  return Status::ok();
}

Status Store::finish_pending_install() {
  auto pending = get_meta(keys::kInstallPending);
  if (!pending.is_ok()) return pending.status();
  if (!*pending) return Status::ok();
  auto snap = SnapshotSink::load_complete(**pending);
  if (!snap.is_ok()) {
    return damaged(
        "an interrupted snapshot install", dir_,
        "its staging dir " + **pending + " is unusable (" + snap.status().message() + ")");
  }
  std::lock_guard lock(write_mu_);
  return install_streamed_locked(*snap, **pending);
}

}  // namespace storage
