// Store on a disk that fills up (a real tmpfs, real RocksDB): the write
// that hits ENOSPC fails with an IO error, every later write is refused
// without touching RocksDB (RocksDB 7.8 aborts the process when a WAL whose
// append failed is synced again), nothing aborts, and after a reopen with
// room every acknowledged entry is there. tests/integration/FINDINGS.md F11.
//
// Needs root (mount); skipped otherwise.
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tests/unit/storage/test_util.h"

namespace storage::testing {
namespace {

namespace fs = std::filesystem;

// A tmpfs of `size` over dir, unmounted before the TempDir removes dir.
class SmallDisk {
 public:
  SmallDisk(const TempDir& dir, const char* size) : path_(dir.path()) {
    if (::mount("storage-diskfull", path_.c_str(), "tmpfs", 0, size) != 0) {
      error_ = "mount -t tmpfs -o " + std::string(size) + " " + path_ + ": " + std::strerror(errno);
    }
  }
  ~SmallDisk() {
    if (error_.empty()) ::umount2(path_.c_str(), MNT_DETACH);
  }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;
  const std::string& error() const { return error_; }

  // Takes every free byte.
  void fill() {
    int fd = ::open(ballast().c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    std::vector<char> zeros(1 << 16, 0);
    while (::write(fd, zeros.data(), zeros.size()) > 0) {
    }
    std::vector<char> one(1, 0);
    while (::write(fd, one.data(), one.size()) > 0) {
    }
    ::close(fd);
  }
  void free_up() { fs::remove(ballast()); }

 private:
  std::string ballast() const { return path_ + "/ballast"; }
  std::string path_;
  std::string error_;
};

TEST(StoreDiskFull, FailedWriteIsStickyNeverAbortsAndLosesNothingAcknowledged) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the store lives on its own tmpfs (mount)";
  TempDir dir;
  SmallDisk disk(dir, "size=16m");
  ASSERT_TRUE(disk.error().empty()) << disk.error();

  uint64_t acked = 0;
  {
    auto s = open_ok(open_options(dir));
    ASSERT_TRUE(s);
    // RocksDB's info log goes to spdlog, never to a LOG file on this disk.
    EXPECT_FALSE(fs::exists(dir.db() + "/LOG"));
    ASSERT_TRUE(s->write(append_batch(run(1, 3, 1))).is_ok());
    acked = 3;
    disk.fill();

    Status failed;
    const std::string big(1 << 20, 'x');
    for (int k = 0; k < 64 && failed.is_ok(); k++) {
      failed = s->write(append_batch({entry(acked + 1, 1, big)}));
      if (failed.is_ok()) acked++;
    }
    ASSERT_FALSE(failed.is_ok()) << "64 MiB fit on a full 16 MiB disk";
    EXPECT_EQ(failed.code(), common::Code::kIoError) << failed.to_string();
    EXPECT_NE(failed.message().find("No space left"), std::string::npos) << failed.to_string();

    // Refused, not attempted: an empty synced batch would call DB::SyncWAL
    // on the WAL whose append failed, which RocksDB 7.8 answers with abort().
    PersistBatch sync_only;
    sync_only.sync = true;
    Status again = s->write(sync_only);
    EXPECT_EQ(again.code(), common::Code::kIoError);
    EXPECT_NE(again.message().find("an earlier write failed"), std::string::npos)
        << again.to_string();
    EXPECT_NE(again.message().find("No space left"), std::string::npos) << again.to_string();
    // Even with room again: only a restart writes again.
    disk.free_up();
    Status after_room = s->write(append_batch({entry(acked + 1, 1)}));
    EXPECT_NE(after_room.message().find("an earlier write failed"), std::string::npos)
        << after_room.to_string();
    EXPECT_EQ(s->last_index(), Index(acked));
  }  // closed with the failed WAL still open: must not abort either

  auto s = open_ok(open_options(dir));
  ASSERT_TRUE(s);
  // The failed write was never acknowledged: it may be there or not.
  ASSERT_GE(s->last_index(), Index(acked));
  ASSERT_LE(s->last_index(), Index(acked + 1));
  auto got = s->entries(Index(1), Index(acked + 1), UINT64_MAX);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_EQ(got->size(), acked);
  for (uint64_t i = 1; i <= acked; i++) {
    EXPECT_EQ((*got)[i - 1].index, Index(i));
    EXPECT_EQ((*got)[i - 1].data.size(), i <= 3 ? entry(i, 1).data.size() : size_t{1 << 20}) << i;
  }
  ASSERT_TRUE(s->write(append_batch({entry(s->last_index().value() + 1, 2)})).is_ok());
}

}  // namespace
}  // namespace storage::testing
