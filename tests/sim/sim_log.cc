#include "tests/sim/sim_log.h"

#include <string>

#include "common/assert.h"

namespace raftsim {

using raftlog::Code;

namespace {
Status broken(std::string what) {
  return Status(Code::kInternal, "storage contract: " + what);
}
std::string idx(Index i) {
  return std::to_string(i.value());
}
}  // namespace

SimLog::SimLog() = default;

SimLog::SimLog(const Membership& initial, std::string empty_state) {
  snap_.membership = initial;
  configs_[Index(0)] = initial;
  remember_snapshot(Index(0), std::make_shared<const std::string>(std::move(empty_state)));
}

Result<Term> SimLog::term(Index i) const {
  if (i < offset_) return Status(Code::kCompacted, "index " + idx(i) + " compacted");
  if (i == offset_) return offset_term_;
  if (i > last_index()) return Status(Code::kNotFound, "index " + idx(i) + " not in log");
  return entries_[i.value() - offset_.value() - 1].term;
}

Result<std::vector<Entry>> SimLog::entries(Index lo, Index hi, uint64_t bytes_max) const {
  if (lo <= offset_) return Status(Code::kCompacted, "entries from " + idx(lo) + " compacted");
  if (hi > last_index() + 1 || lo > hi) {
    return Status(Code::kNotFound, "entries [" + idx(lo) + "," + idx(hi) + ") beyond the log");
  }
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (Index i = lo; i < hi; ++i) {
    const Entry& e = entries_[i.value() - offset_.value() - 1];
    bytes += raftlog::entry_size(e);
    if (!out.empty() && bytes > bytes_max) break;  // at least one, as documented
    out.push_back(e);
  }
  return out;
}

Status SimLog::persist(const Ready& rd) {
  if (rd.snapshot) {
    const SnapshotMeta& m = rd.snapshot->meta;
    if (!rd.snapshot->data) return broken("snapshot to install carries no data");
    if (m.index <= snap_.index && snap_.index.value() != 0) {
      return broken("installing snapshot " + idx(m.index) + " not newer than " + idx(snap_.index));
    }
    // Like etcd's MemoryStorage: the snapshot replaces the whole log.
    snap_ = m;
    offset_ = m.index;
    offset_term_ = m.term;
    entries_.clear();
    configs_.clear();
    configs_[m.index] = m.membership;
    remember_snapshot(m.index, rd.snapshot->data);
  }
  if (!rd.entries.empty()) {
    Index first = rd.entries.front().index;
    if (first <= offset_) return broken("append at " + idx(first) + " into the compacted prefix");
    if (first > last_index() + 1) {
      return broken("append at " + idx(first) + " leaves a gap after " + idx(last_index()));
    }
    if (first <= hard_.commit) {
      return broken("append at " + idx(first) + " truncates committed " + idx(hard_.commit));
    }
    entries_.resize(first.value() - offset_.value() - 1);
    configs_.erase(configs_.lower_bound(first), configs_.end());
    Index expect = first;
    for (const Entry& e : rd.entries) {
      if (e.index != expect) return broken("entries not contiguous at " + idx(e.index));
      ++expect;
      entries_.push_back(e);
      if (e.type == raftlog::EntryType::kMembership) {
        auto m = raftlog::decode_membership(e.data);
        if (!m.is_ok()) return broken("bad membership entry: " + m.status().to_string());
        configs_[e.index] = *m;
      }
    }
  }
  if (rd.hard_state) {
    const HardState& h = *rd.hard_state;
    if (h.term < hard_.term) return broken("hard state term goes back");
    if (h.term == hard_.term && hard_.vote != raftlog::kNoNode && h.vote != hard_.vote) {
      return broken("vote changes within term " + std::to_string(h.term.value()));
    }
    if (h.commit < hard_.commit) return broken("hard state commit goes back");
    hard_ = h;
  }
  if (hard_.commit > last_index()) {
    return broken("durable commit " + idx(hard_.commit) + " beyond durable log " +
                  idx(last_index()));
  }
  return Status::ok();
}

Status SimLog::save_local_snapshot(const SnapshotMeta& meta,
                                   std::shared_ptr<const std::string> data) {
  CA_ASSERT(data != nullptr);
  if (meta.index < snap_.index) return broken("local snapshot older than the current one");
  if (meta.index > last_index()) return broken("local snapshot beyond the durable log");
  snap_ = meta;
  remember_snapshot(meta.index, std::move(data));
  return Status::ok();
}

Status SimLog::compact(Index before) {
  if (before.value() == 0 || before <= first_index()) return Status::ok();
  if (before > snap_.index + 1) {
    return broken("compact_before " + idx(before) + " beyond snapshot " + idx(snap_.index));
  }
  Index new_offset = before - 1;
  auto t = term(new_offset);
  CA_ASSERT(t.is_ok());
  size_t drop = new_offset.value() - offset_.value();
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(drop));
  offset_ = new_offset;
  offset_term_ = *t;
  // Keep the latest record at or below the snapshot (it is still in force),
  // forget the ones it superseded.
  auto keep = configs_.upper_bound(snap_.index);
  CA_ASSERT(keep != configs_.begin());
  --keep;
  configs_.erase(configs_.begin(), keep);
  return Status::ok();
}

Boot SimLog::boot() const {
  Boot b;
  b.hard_state = hard_;
  b.applied = snap_.index;  // the application is durable only through snapshots
  if (configs_.empty()) return b;
  Index floor = std::max(hard_.commit, snap_.index);
  auto it = configs_.upper_bound(floor);
  if (it != configs_.begin()) --it;
  for (; it != configs_.end(); ++it) b.configs.emplace_back(it->first, it->second);
  return b;
}

Result<Membership> SimLog::membership_at(Index i) const {
  auto it = configs_.upper_bound(i);
  if (it == configs_.begin()) return Status(Code::kNotFound, "no configuration at " + idx(i));
  --it;
  return it->second;
}

std::shared_ptr<const std::string> SimLog::snapshot_data(Index i) const {
  auto it = recent_snapshots_.find(i);
  return it == recent_snapshots_.end() ? nullptr : it->second;
}

void SimLog::remember_snapshot(Index i, std::shared_ptr<const std::string> data) {
  recent_snapshots_[i] = std::move(data);
  while (recent_snapshots_.size() > kRecentSnapshotsMax) {
    recent_snapshots_.erase(recent_snapshots_.begin());
  }
}

}  // namespace raftsim
