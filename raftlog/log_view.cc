// The log as the core sees it: the durable entries (through LogReader) with
// the unstable tail (entries not yet persisted, maybe a snapshot) on top.
#include "raftlog/core_impl.h"

namespace raftlog {

Index Core::Impl::first_index() const {
  if (pending_snapshot) return pending_snapshot->meta.index + 1;
  return log->first_index();
}

Index Core::Impl::last_index() const {
  if (!unstable.empty()) return unstable.back().index;
  if (pending_snapshot) return pending_snapshot->meta.index;
  return log->last_index();
}

// The last index that is durable AND part of our current log. Stored
// entries at or above unstable_offset may be a stale suffix about to be
// overwritten, so they do not count.
Index Core::Impl::stable_index() const {
  if (pending_snapshot) {
    // The snapshot is not durable yet. What stays true is the committed
    // prefix of the old log, which was durable before the snapshot arrived.
    return commit;
  }
  Index durable = log->last_index();
  if (!unstable.empty() && unstable_offset - 1 < durable) return unstable_offset - 1;
  return durable;
}

Result<Term> Core::Impl::term(Index i) const {
  if (pending_snapshot) {
    const auto& meta = pending_snapshot->meta;
    if (i == meta.index) return meta.term;
    if (i < meta.index) return Status(Code::kCompacted, "below the pending snapshot");
  }
  if (!unstable.empty() && i >= unstable_offset) {
    if (i > unstable.back().index) return Status(Code::kNotFound, "beyond the last index");
    return unstable[i.value() - unstable_offset.value()].term;
  }
  if (pending_snapshot) return Status(Code::kNotFound, "beyond the pending snapshot");
  if (i > log->last_index()) return Status(Code::kNotFound, "beyond the last index");
  return log->term(i);
}

Term Core::Impl::last_term() const {
  auto t = term(last_index());
  CA_ASSERT(t.is_ok());
  return *t;
}

bool Core::Impl::match_term(Index i, Term t) const {
  auto got = term(i);
  return got.is_ok() && *got == t;
}

Result<std::vector<Entry>> Core::Impl::entries(Index lo, Index hi, uint64_t bytes_max) const {
  std::vector<Entry> out;
  if (lo >= hi) return out;
  if (lo < first_index()) return Status(Code::kCompacted, "entries below the first index");
  CA_ASSERT(hi <= last_index() + 1);
  uint64_t bytes = 0;
  Index stored_hi = unstable.empty() ? hi : std::min(hi, unstable_offset);
  if (lo < stored_hi) {
    auto stored = log->entries(lo, stored_hi, bytes_max);
    if (!stored.is_ok()) return stored.status();
    for (auto& e : *stored) {
      bytes += entry_size(e);
      out.push_back(std::move(e));
    }
    CA_ASSERT(!out.empty());
    if (out.back().index + 1 < stored_hi || bytes >= bytes_max) return out;
  }
  Index from = std::max(lo, unstable_offset);
  for (Index i = from; i < hi && !unstable.empty(); ++i) {
    const Entry& e = unstable[i.value() - unstable_offset.value()];
    if (!out.empty() && bytes + entry_size(e) > bytes_max) break;
    bytes += entry_size(e);
    out.push_back(e);
  }
  return out;
}

void Core::Impl::truncate_and_append(const std::vector<Entry>& ents) {
  if (ents.empty()) return;
  Index after = ents.front().index;
  CA_ASSERT(after > commit);  // a committed entry is never overwritten
  if (after == last_index() + 1 && !unstable.empty()) {
    // Plain append to the unstable tail.
  } else if (unstable.empty() || after <= unstable_offset) {
    // Replaces the whole unstable tail (and, once persisted, the stored
    // suffix from `after` on).
    unstable.clear();
    unstable_offset = after;
  } else {
    unstable.resize(after.value() - unstable_offset.value());
  }
  for (const auto& e : ents) {
    CA_ASSERT(e.index == unstable_offset + unstable.size());
    unstable.push_back(e);
  }
  revert_configs_from(after);
  apply_config_entries(ents);
}

Index Core::Impl::find_conflict(const std::vector<Entry>& ents) const {
  for (const auto& e : ents) {
    if (!match_term(e.index, e.term)) return e.index;
  }
  return Index(0);
}

Index Core::Impl::find_conflict_by_term(Index i, Term t) const {
  for (;; i = i - 1) {
    auto got = term(i);
    if (!got.is_ok()) return first_index() - 1;  // compacted: the snapshot index matches
    if (*got <= t) return i;
  }
}

bool Core::Impl::is_up_to_date(Index last, Term t) const {
  Term mine = last_term();
  return t > mine || (t == mine && last >= last_index());
}

// The driver persisted entries up to (i, t): drop them from the unstable
// tail unless a later append replaced them meanwhile.
void Core::Impl::stable_to(Index i, Term t) {
  if (unstable.empty() || i < unstable_offset || i > unstable.back().index) return;
  if (unstable[i.value() - unstable_offset.value()].term != t) return;
  unstable.erase(unstable.begin(), unstable.begin() + (i.value() - unstable_offset.value() + 1));
  unstable_offset = i + 1;
}

}  // namespace raftlog
