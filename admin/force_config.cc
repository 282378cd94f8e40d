#include "admin/force_config.h"

#include <algorithm>

#include "common/assert.h"

namespace admin {

using raftlog::Index;
using raftlog::Term;

common::Result<Index> force_membership(storage::Store& store, const raftlog::Membership& members) {
  CA_ASSERT(!members.members.empty());
  auto boot = store.load_boot();
  if (!boot.is_ok()) return boot.status();
  raftlog::HardState hs = boot->hard_state;
  Index last = store.last_index();
  auto last_term = store.term(last);
  if (!last_term.is_ok()) return last_term.status();
  Term term = std::max({hs.term, *last_term, Term(1)});
  raftlog::Entry e{term, last + 1, raftlog::EntryType::kMembership,
                   raftlog::encode_membership(members)};
  if (term != hs.term) {
    hs.term = term;
    hs.vote = raftlog::kNoNode;
  }
  hs.commit = e.index;
  storage::PersistBatch b;
  b.entries.push_back(std::move(e));
  b.hard_state = hs;
  b.sync = true;
  if (auto s = store.write(b); !s.is_ok()) return s;
  return last + 1;
}

}  // namespace admin
