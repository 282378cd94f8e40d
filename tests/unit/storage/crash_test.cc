// Crash test: a child process writes synced batches through the Writer and
// reports each acknowledged index on a pipe; the parent SIGKILLs it
// mid-stream, reopens the store and checks that every acknowledged index
// is there. The child is this test binary re-executed (a clean process, no
// threads inherited from the parent), selected by environment variables.
//
// SIGKILL loses the process, not the page cache: this proves we acknowledge
// only what RocksDB has accepted and that reopening recovers it. Power loss
// is covered by sync=true (fsync) and cannot be shown without a fault-
// injecting file system.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "storage/writer.h"
#include "tests/unit/storage/test_util.h"

namespace storage::testing {
namespace {

constexpr const char* kDirEnv = "STORAGE_CRASH_CHILD_DIR";
constexpr const char* kFdEnv = "STORAGE_CRASH_CHILD_FD";
constexpr uint64_t kChildEntriesMax = 1000000;  // bound on the child's loop
constexpr size_t kAcksBeforeKill = 300;
constexpr int kAckWaitMsMax = 20000;  // the parent's patience, in milliseconds

std::string payload(uint64_t index) {
  return "payload-" + std::to_string(index);
}

// Runs only as the child. Never returns normally: killed by the parent.
TEST(CrashChild, WriteUntilKilled) {
  const char* dir = std::getenv(kDirEnv);
  const char* fd_text = std::getenv(kFdEnv);
  if (dir == nullptr || fd_text == nullptr) GTEST_SKIP() << "only run by Crash.AckedWritesSurvive";
  const int fd = std::atoi(fd_text);
  OpenOptions o;
  o.dir = dir;
  o.create_if_missing = true;
  auto store = Store::open(o);
  if (!store.is_ok()) _exit(3);
  Writer writer(store->get());
  for (uint64_t i = 1; i <= kChildEntriesMax; i++) {
    PersistBatch b = append_batch({entry(i, 1, payload(i))}, true);
    auto ack = [fd, i](Status s) {
      std::string line = (s.is_ok() ? std::to_string(i) : std::string("E")) + "\n";
      if (write(fd, line.data(), line.size()) < 0) _exit(4);
    };
    Status s = writer.submit(std::move(b), ack);
    while (s.code() == common::Code::kBusy) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      PersistBatch again = append_batch({entry(i, 1, payload(i))}, true);
      s = writer.submit(std::move(again), ack);
    }
    if (!s.is_ok()) _exit(5);
  }
  _exit(6);  // the parent should have killed us long before
}

// The parent's view of the child's "index\n" acks (in order, each one
// above the last). Keeps a partial line across read() calls.
struct AckReader {
  int fd = -1;
  std::string buf;
  uint64_t highest = 0;
  size_t count = 0;
  bool error = false;

  // Reads until `want` acks were seen in total, EOF, or wait_ms passed.
  void read_until(size_t want, int wait_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    while (count < want && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char chunk[4096];
      ssize_t n = read(fd, chunk, sizeof chunk);
      if (n <= 0) return;
      buf.append(chunk, static_cast<size_t>(n));
      for (size_t nl; (nl = buf.find('\n')) != std::string::npos; buf.erase(0, nl + 1)) {
        take(buf.substr(0, nl));
      }
    }
  }

  void take(const std::string& line) {
    if (line == "E") {
      error = true;
      return;
    }
    uint64_t index = std::stoull(line);
    EXPECT_EQ(index, highest + 1) << "acks out of order";
    highest = index;
    count++;
  }
};

TEST(Crash, AckedWritesSurvive) {
  TempDir dir;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(setenv(kDirEnv, dir.db().c_str(), 1), 0);
  ASSERT_EQ(setenv(kFdEnv, std::to_string(fds[1]).c_str(), 1), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    execl("/proc/self/exe", "storage_tests", "--gtest_filter=CrashChild.WriteUntilKilled",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  unsetenv(kDirEnv);
  unsetenv(kFdEnv);
  close(fds[1]);

  AckReader acks;
  acks.fd = fds[0];
  acks.read_until(kAcksBeforeKill, kAckWaitMsMax);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  // Acks written before the kill are still in the pipe: they count too.
  acks.read_until(SIZE_MAX, kAckWaitMsMax);
  close(fds[0]);
  EXPECT_TRUE(acks.buf.empty()) << "a torn ack line: " << acks.buf;
  const uint64_t highest = acks.highest;
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
  EXPECT_FALSE(acks.error);
  ASSERT_GE(acks.count, kAcksBeforeKill) << "child acknowledged too little to test anything";
  std::printf("crash test: %zu acknowledged, highest index %llu\n", acks.count,
              static_cast<unsigned long long>(highest));

  OpenOptions o;
  o.dir = dir.db();
  auto store = open_ok(o);
  ASSERT_TRUE(store);
  ASSERT_GE(store->last_index(), Index(highest));
  auto entries = store->entries(Index(1), Index(highest + 1), UINT64_MAX);
  ASSERT_TRUE(entries.is_ok()) << entries.status().to_string();
  ASSERT_EQ(entries->size(), highest);
  for (uint64_t i = 1; i <= highest; i++) {
    EXPECT_EQ((*entries)[i - 1], entry(i, 1, payload(i))) << i;
  }
}

}  // namespace
}  // namespace storage::testing
