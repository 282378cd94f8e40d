// Store -> dump: the one routine behind both the offline dump (a stopped
// node's data dir) and the server's GET /admin/dump (a live node). It reads
// one StoreExport, so the dump is consistent at one index.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "admin/dump_format.h"
#include "storage/store_export.h"

namespace admin {

struct ExportHooks {
  // Checked every few hundred records; true ends the export with kUnavailable.
  std::function<bool()> cancelled;
  // Called now and then with entries written so far, of `total`, and bytes.
  std::function<void(uint64_t done, uint64_t total, uint64_t bytes)> progress;
};

// What the dump will hold, decided from the view alone: entries up to the
// commit index (or the applied index, if the commit was persisted behind
// it), the state rows at the applied index. kFailedPrecondition for a store
// with no membership (a node that never joined a cluster).
Result<changeagent::dump::Header> dump_header(const storage::StoreExport& view,
                                              const std::string& source);

// Writes the whole dump, trailer included; on failure the writer is left
// for the caller to abort().
Status write_dump(const storage::StoreExport& view, const changeagent::dump::Header& header,
                  DumpWriter& writer, const ExportHooks& hooks);

}  // namespace admin
