// Retention policy and the bounded compaction steps that enforce it.
#include "storage/compact.h"

#include <algorithm>

#include <rocksdb/db.h>

#include "common/assert.h"
#include "proto/codec.h"
#include "storage/keys.h"
#include "storage/rocks.h"

namespace storage {

using common::Code;

Status RetentionPolicy::validate() const {
  if (min_duration.count() < 0) {
    return Status(Code::kInvalidArgument, "retention: min duration must not be negative");
  }
  if (purge_batch_entries == 0) {
    return Status(Code::kInvalidArgument, "retention: purge batch must be at least one entry");
  }
  return Status::ok();
}

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  auto bad = [&](const char* why) {
    return Status(Code::kInvalidArgument, "duration '" + std::string(text) + "': " + why +
                                              " (examples: 90s, 30m, 24h, 7d)");
  };
  if (text.empty()) return bad("empty");
  uint64_t unit_s = 1;
  switch (text.back()) {
    case 's':
      unit_s = 1;
      text.remove_suffix(1);
      break;
    case 'm':
      unit_s = 60;
      text.remove_suffix(1);
      break;
    case 'h':
      unit_s = 3600;
      text.remove_suffix(1);
      break;
    case 'd':
      unit_s = 86400;
      text.remove_suffix(1);
      break;
    default:
      break;
  }
  if (text.empty()) return bad("no number");
  uint64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return bad("not a whole number followed by s, m, h or d");
    if (n > (uint64_t(1) << 40)) return bad("too large");
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  uint64_t seconds = n * unit_s;
  if (seconds > (uint64_t(1) << 33)) return bad("too large");
  return std::chrono::nanoseconds(std::chrono::seconds(seconds));
}

Index purge_target(const RetentionPolicy& policy, const RetentionInputs& in) {
  if (!policy.enabled()) return in.first;
  // Start from "everything applied may go" and let each floor hold it back.
  uint64_t target = in.applied.value() + 1;
  if (policy.min_records > 0) {
    uint64_t keep_from =
        in.applied.value() >= policy.min_records ? in.applied.value() + 1 - policy.min_records : 1;
    target = std::min(target, keep_from);
  }
  if (policy.min_duration.count() > 0) target = std::min(target, in.first_within_duration.value());
  if (in.oldest_cursor && !policy.ignore_cursors) {
    // A cursor at N has consumed N: it resumes with since=N, which needs N+1.
    target = std::min(target, *in.oldest_cursor + 1);
  }
  return Index(std::max(target, in.first.value()));
}

Result<raftlog::Membership> Store::membership_at(Index i) const {
  std::string upper = keys::conf_key(i.value() + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(handles_->db->NewIterator(ro, handles_->meta));
  it->SeekForPrev(keys::conf_key(i.value()));
  if (it->Valid() && it->key().starts_with(keys::kConfPrefix)) {
    auto m = raftpb::decode_members(it->value().ToStringView());
    if (!m.is_ok()) return damaged("meta conf/ record", dir_, m.status().message());
    return m;
  }
  if (!it->status().ok()) return from_rocks(it->status(), "scan conf records", dir_);
  return snapshot().membership;
}

Result<Index> compact_step(Store& store, Index target, Index applied, uint64_t batch_entries) {
  CA_ASSERT(target <= applied + 1);
  CA_ASSERT(batch_entries > 0);
  Index first = store.first_index();
  if (target <= first) return first;
  Index before = std::min(target, first + batch_entries);
  if (store.snapshot().index + 1 < before) {
    // The state column family is at `applied`: record that as the snapshot
    // covering everything the steps up to `target` delete.
    auto term = store.term(applied);
    if (!term.is_ok()) return term.status();
    auto members = store.membership_at(applied);
    if (!members.is_ok()) return members.status();
    raftlog::Snapshot snap;
    snap.meta = raftlog::SnapshotMeta{applied, *term, std::move(members).value()};
    snap.data = std::make_shared<const std::string>();
    if (Status s = store.save_snapshot(snap); !s.is_ok()) return s;
  }
  if (Status s = store.compact(before); !s.is_ok()) return s;
  return store.first_index();
}

}  // namespace storage
