#include "admin/data_dir.h"

#include <rocksdb/env.h>

#include <filesystem>

namespace admin {

using common::Code;
using common::Status;
namespace fs = std::filesystem;

Status check_not_in_use(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(fs::path(dir) / "LOCK", ec)) return Status::ok();
  rocksdb::Env* env = rocksdb::Env::Default();
  rocksdb::FileLock* lock = nullptr;
  rocksdb::Status s = env->LockFile((fs::path(dir) / "LOCK").string(), &lock);
  if (!s.ok()) {
    return Status(Code::kFailedPrecondition,
                  "the data dir " + dir +
                      " is in use (its RocksDB LOCK is held, most likely by a running "
                      "changeagent): stop that node first, or dump it live with --url");
  }
  env->UnlockFile(lock).PermitUncheckedError();
  return Status::ok();
}

common::Result<std::unique_ptr<storage::Store>> open_offline(const std::string& dir,
                                                             bool read_only) {
  std::error_code ec;
  if (!fs::exists(fs::path(dir) / "CURRENT", ec)) {
    if (!fs::exists(dir, ec)) return Status(Code::kNotFound, "no data dir at " + dir);
    return Status(Code::kNotFound, dir + " holds no changeagent store (no RocksDB CURRENT file)");
  }
  if (Status s = check_not_in_use(dir); !s.is_ok()) return s;
  storage::OpenOptions o;
  o.dir = dir;
  o.read_only = read_only;
  return storage::Store::open(o);
}

bool dir_has_files(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return false;
  if (!fs::is_directory(dir, ec)) return true;
  return fs::directory_iterator(dir, ec) != fs::directory_iterator();
}

}  // namespace admin
