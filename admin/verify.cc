#include "admin/verify.h"

#include <map>

#include "admin/data_dir.h"
#include "admin/dump_format.h"
#include "admin/hex.h"
#include "proto/codec.h"
#include "state/state_view.h"
#include "storage/store_export.h"

namespace admin {

using common::Code;
using common::Result;
using common::Status;
using raftlog::Index;

Result<std::string> verify_dump(const std::string& path, const ProgressFn& progress) {
  auto reader = DumpReader::open_file(path);
  if (!reader.is_ok()) return reader.status();
  DumpReader& rd = **reader;
  auto h = rd.header();
  if (!h.is_ok()) return h.status();
  auto checker = DumpChecker::create(*h, rd);
  if (!checker.is_ok()) return checker.status();
  uint64_t entries = 0, rows = 0, snapshot_bytes = 0;
  const uint64_t total = h->last_index() - h->base_index();
  state::StateView view;
  for (uint64_t n = 1;; n++) {
    auto r = rd.next();
    if (!r.is_ok()) return r.status();
    if (!*r) break;
    if (Status s = checker->check(**r, nullptr); !s.is_ok()) return s;
    if ((**r).has_entry()) entries++;
    if ((**r).has_snapshot_data()) snapshot_bytes += (**r).snapshot_data().size();
    if ((**r).has_state_row()) {
      rows++;
      Status s = view.load_row((**r).state_row().key(), (**r).state_row().value());
      if (!s.is_ok()) return rd.corrupt(rd.record_offset(), "state row: " + s.message());
    }
    if (progress && n % 4096 == 0) progress(entries, total, rd.offset());
  }
  if (Status s = checker->finish(); !s.is_ok()) return s;
  if (progress) progress(entries, total, rd.offset());
  return "OK: dump " + path + " (format " + std::to_string(h->dump_format()) + ", " +
         std::to_string(rd.offset()) + " bytes) of cluster " + hex16(h->cluster_id()) +
         " read from node " + hex16(h->node_id()) + " (" + h->source() + "): entries " +
         std::to_string(h->base_index() + 1) + ".." + std::to_string(h->last_index()) + " (" +
         std::to_string(entries) + "), " + std::to_string(rows) + " state rows at index " +
         std::to_string(h->applied_index()) + ", snapshot at " +
         std::to_string(h->snapshot_index()) + " (" + std::to_string(snapshot_bytes) +
         " bytes); every checksum, the index continuity and the trailer match";
}

Result<std::string> verify_data_dir(const std::string& dir, const ProgressFn& progress) {
  auto store = open_offline(dir, true);  // checks format version and identity
  if (!store.is_ok()) return store.status();
  auto view = (*store)->export_view();
  if (!view.is_ok()) return view.status();
  const storage::StoreExport::Meta& m = (*view)->meta();
  auto bad = [&](const std::string& why) {
    return Status(Code::kCorruption, "data dir " + dir + ": " + why);
  };
  if (m.hard_state.commit > m.last_index) {
    return bad("hard state commit " + std::to_string(m.hard_state.commit.value()) +
               " is beyond the last index " + std::to_string(m.last_index.value()));
  }
  if (m.applied > std::max(m.hard_state.commit, m.snapshot.index)) {
    return bad("applied index " + std::to_string(m.applied.value()) +
               " is beyond the commit index");
  }
  if (m.snapshot.index < m.base_index || m.snapshot.index > m.last_index) {
    return bad("snapshot at " + std::to_string(m.snapshot.index.value()) + " is outside the log");
  }
  auto boot = (*store)->load_boot();
  if (!boot.is_ok()) return boot.status();
  if (boot->configs.empty()) return bad("no membership (this node never joined a cluster)");

  std::map<Index, bool> confs;  // index -> seen its membership entry
  for (const auto& [i, c] : m.confs) {
    if (i > m.base_index) confs[i] = false;
  }
  uint64_t term = m.base_term.value(), entries = 0;
  const uint64_t total = m.last_index.value() - m.base_index.value();
  Status s = (*view)->scan_log(m.base_index + 1, m.last_index, [&](Index i, std::string_view raw) {
    auto e = raftpb::decode_entry(raw);
    if (!e.is_ok())
      return bad("log entry " + std::to_string(i.value()) + ": " + e.status().message());
    if (e->index != i) {
      return bad("log entry " + std::to_string(i.value()) + " claims index " +
                 std::to_string(e->index.value()));
    }
    if (e->term.value() < term) {
      return bad("log entry " + std::to_string(i.value()) + " has term " +
                 std::to_string(e->term.value()) + ", below " + std::to_string(term));
    }
    term = e->term.value();
    if (e->type == raftlog::EntryType::kMembership) {
      if (!raftlog::decode_membership(e->data).is_ok()) {
        return bad("membership entry " + std::to_string(i.value()) + " does not decode");
      }
      auto c = confs.find(i);
      if (c == confs.end())
        return bad("membership entry " + std::to_string(i.value()) + " has no conf/ record");
      c->second = true;
    }
    if (progress && ++entries % 4096 == 0) progress(entries, total, 0);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  for (const auto& [i, seen] : confs) {
    if (!seen) return bad("conf/ record " + std::to_string(i.value()) + " has no membership entry");
  }
  state::StateView sv;
  uint64_t rows = 0;
  s = (*view)->scan_state([&](std::string_view k, std::string_view v) {
    rows++;
    Status ls = sv.load_row(std::string(k), std::string(v));
    if (!ls.is_ok()) return bad("state row " + std::to_string(rows) + ": " + ls.message());
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  if (progress) progress(entries, total, 0);
  return "OK: data dir " + dir + " (store format " + std::to_string(m.format_version) +
         ") of cluster " + hex16(m.cluster_id.value()) + ", node " + hex16(m.node_id.value()) +
         ": log " + std::to_string(m.base_index.value() + 1) + ".." +
         std::to_string(m.last_index.value()) + " contiguous, commit " +
         std::to_string(m.hard_state.commit.value()) + ", applied " +
         std::to_string(m.applied.value()) + ", snapshot at " +
         std::to_string(m.snapshot.index.value()) + ", " + std::to_string(boot->configs.size()) +
         " configuration(s) in play, " + std::to_string(rows) + " state rows";
}

}  // namespace admin
