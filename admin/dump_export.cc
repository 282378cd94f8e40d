#include "admin/dump_export.h"

#include <algorithm>
#include <chrono>

#include "proto/codec.h"

namespace admin {

using common::Code;
using raftlog::Index;
namespace pb = changeagent::dump;

Result<pb::Header> dump_header(const storage::StoreExport& view, const std::string& source) {
  const storage::StoreExport::Meta& m = view.meta();
  if (m.applied > m.last_index) {
    return Status(Code::kCorruption,
                  "the store's applied index " + std::to_string(m.applied.value()) +
                      " is beyond its last log index " + std::to_string(m.last_index.value()));
  }
  // Only committed entries go into a dump: an uncommitted tail could still be
  // overwritten by another leader.
  Index last = std::max({m.hard_state.commit, m.applied, m.snapshot.index});
  last = std::min(last, m.last_index);
  last = std::max(last, m.base_index);
  Index applied = m.applied;

  // The configuration in force at `last`: the latest conf/ record at or
  // below it, or the snapshot's when that is newer.
  const raftlog::Membership* members = nullptr;
  Index members_at;
  for (const auto& [i, conf] : m.confs) {
    if (i > last) break;
    members = &conf;
    members_at = i;
  }
  const bool has_snapshot = m.snapshot.index > Index(0) || !m.snapshot.membership.members.empty();
  if (has_snapshot && (members == nullptr || members_at <= m.snapshot.index)) {
    members = &m.snapshot.membership;
    members_at = m.snapshot.index;
  }
  if (members == nullptr || members->members.empty()) {
    return Status(Code::kFailedPrecondition,
                  "the store holds no cluster membership (a node that never joined a cluster): "
                  "nothing to dump");
  }
  pb::Header h;
  h.set_dump_format(kDumpFormatVersion);
  h.set_store_format(m.format_version);
  h.set_cluster_id(m.cluster_id.value());
  h.set_node_id(m.node_id.value());
  h.set_base_index(m.base_index.value());
  h.set_base_term(m.base_term.value());
  h.set_last_index(last.value());
  h.set_applied_index(applied.value());
  h.set_membership(raftpb::encode_members(*members));
  h.set_membership_index(members_at.value());
  h.set_snapshot_index(m.snapshot.index.value());
  h.set_source(source);
  h.set_created_unix_ms(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count()));
  // last_term: the term of entry `last` (base_term when the dump has none).
  h.set_last_term(m.base_term.value());
  if (last > m.base_index) {
    Status s = view.scan_log(last, last, [&](Index, std::string_view bytes) {
      auto e = raftpb::decode_entry(bytes);
      if (!e.is_ok()) return e.status();
      h.set_last_term(e->term.value());
      return Status::ok();
    });
    if (!s.is_ok()) return s;
  }
  return h;
}

namespace {

constexpr uint64_t kCheckEvery = 512;  // records between cancel/progress checks

}  // namespace

Status write_dump(const storage::StoreExport& view, const pb::Header& h, DumpWriter& w,
                  const ExportHooks& hooks) {
  const storage::StoreExport::Meta& m = view.meta();
  const uint64_t total = h.last_index() - h.base_index();
  uint64_t n = 0;
  auto tick = [&]() -> Status {
    if (++n % kCheckEvery != 0) return Status::ok();
    if (hooks.cancelled && hooks.cancelled()) {
      return Status(Code::kUnavailable, "the dump was cancelled");
    }
    if (hooks.progress) hooks.progress(w.entries(), total, w.bytes());
    return Status::ok();
  };
  if (Status s = w.begin(h); !s.is_ok()) return s;
  if (m.snapshot.index > Index(0) || !m.snapshot.membership.members.empty()) {
    if (Status s = w.snapshot_meta(raftpb::encode_snapshot_meta(m.snapshot)); !s.is_ok()) return s;
    auto data = view.snapshot_data();
    if (!data.is_ok()) return data.status();
    std::string_view rest = *data;
    while (!rest.empty()) {
      size_t take = std::min<size_t>(rest.size(), kSnapshotChunkBytes);
      if (Status s = w.snapshot_data(rest.substr(0, take)); !s.is_ok()) return s;
      rest.remove_prefix(take);
    }
  }
  for (const auto& [i, conf] : m.confs) {
    if (i > m.base_index) break;
    if (Status s = w.conf(i.value(), raftpb::encode_members(conf)); !s.is_ok()) return s;
  }
  Status s = view.scan_log(Index(h.base_index() + 1), Index(h.last_index()),
                           [&](Index, std::string_view bytes) {
                             if (Status ws = w.entry(bytes); !ws.is_ok()) return ws;
                             return tick();
                           });
  if (!s.is_ok()) return s;
  s = view.scan_state([&](std::string_view key, std::string_view value) {
    if (Status ws = w.state_row(key, value); !ws.is_ok()) return ws;
    return tick();
  });
  if (!s.is_ok()) return s;
  if (hooks.progress) hooks.progress(w.entries(), total, w.bytes());
  return w.finish();
}

}  // namespace admin
