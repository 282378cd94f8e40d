// The one write that load and recover share: a membership entry appended
// after the store's last entry, with the commit index moved onto it, in one
// synced WriteBatch. On the next start the node's boot configuration is that
// membership (storage::Store::load_boot picks the latest committed one), and
// it re-applies everything after its applied index up to the entry.
#pragma once

#include "common/status.h"
#include "raftlog/types.h"
#include "storage/store.h"

namespace admin {

// The entry's term is the store's current term (at least 1, and at least
// the last entry's); the vote is kept unless the term moves. Returns the
// entry's index.
common::Result<raftlog::Index> force_membership(storage::Store& store,
                                                const raftlog::Membership& members);

}  // namespace admin
