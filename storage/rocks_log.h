// RocksDB's own log lines, in the node's log instead of a LOG file in the
// data dir: warnings and errors only, under the "rocksdb" component.
//
// Why not the LOG file: it lives on the data disk, and when that disk fails
// (read-only remount after an I/O error, or full) RocksDB 7.8 logs the
// failed write, the LOG file's own write fails, and the next line logged to
// it aborts the process on an assertion (`sync_without_flush_called_` in
// WritableFileWriter: Debian builds RocksDB with assertions) before the
// node can stop acknowledging, say why, and exit with 75
// (tests/integration/FINDINGS.md F11, tests/chaos/FINDINGS.md #5). The
// info-level lines (options dump, flush and compaction progress) are not
// kept: they would be steady-state noise in the node's log.
#pragma once

#include <memory>

namespace rocksdb {
class Logger;
}

namespace storage {

std::shared_ptr<rocksdb::Logger> rocksdb_to_node_log();

}  // namespace storage
