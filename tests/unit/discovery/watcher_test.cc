// The watcher over a real file: a file that starts empty (or absent) and
// fills in later is picked up; a broken or emptied file keeps the last
// good set; each state is logged once, not at every poll.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "discovery/log.h"
#include "discovery/watcher.h"

namespace discovery {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

class WatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("discovery-watcher-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    path_ = (dir_ / "peers").string();
    sink_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
    spdlog::drop("discovery");
    auto log = std::make_shared<spdlog::logger>("discovery", sink_);
    spdlog::register_logger(log);
    ASSERT_EQ(logger(), log);
  }
  void TearDown() override {
    spdlog::drop("discovery");
    fs::remove_all(dir_);
  }
  void write(const std::string& text) {
    // As an operator should: a whole new file renamed into place.
    std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << text;
    fs::rename(tmp, path_);
  }
  size_t logged(const std::string& needle) {
    size_t n = 0;
    for (const auto& line : sink_->last_formatted()) n += line.find(needle) != std::string::npos;
    return n;
  }
  // Waits until a poll shows `want` peers (describe()), bounded.
  Snapshot wait_peers(Watcher& w, const std::string& want) {
    Snapshot s = w.snapshot();
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
         describe(s.last.peers) != want && std::chrono::steady_clock::now() < deadline;) {
      s = w.wait_newer(s.generation, milliseconds(200));
    }
    return s;
  }

  fs::path dir_;
  std::string path_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

TEST_F(WatcherTest, FileThatAppearsEmptyAndFillsInLater) {
  Watcher w(std::make_unique<FileSource>(path_), milliseconds(20));
  Snapshot s = w.wait_newer(0, milliseconds(2000));
  EXPECT_EQ(s.last.status.code(), Code::kNotFound) << "no file yet";
  std::this_thread::sleep_for(milliseconds(150));  // several polls of the same failure
  EXPECT_EQ(logged("cannot read"), 1u) << "a failure is logged once, not every poll";

  write("");
  s = w.wait_newer(w.snapshot().generation, milliseconds(2000));
  EXPECT_TRUE(s.last.status.is_ok());
  EXPECT_TRUE(s.last.peers.empty());
  EXPECT_TRUE(s.good.empty());

  write("# the cluster\nn1=127.0.0.1:2381\n");
  s = wait_peers(w, "n1=127.0.0.1:2381");
  write("# the cluster\nn1=127.0.0.1:2381\nn2=127.0.0.1:2382\nn3=127.0.0.1:2383\n");
  s = wait_peers(w, "n1=127.0.0.1:2381,n2=127.0.0.1:2382,n3=127.0.0.1:2383");
  EXPECT_EQ(s.good, s.last.peers);
  EXPECT_TRUE(s.good_complete);
  std::this_thread::sleep_for(milliseconds(150));
  EXPECT_EQ(logged("lists 3 peers"), 1u);
  EXPECT_GT(w.snapshot().polls, 5u);
}

TEST_F(WatcherTest, BrokenOrEmptiedFileKeepsTheLastGoodSet) {
  write("n1=127.0.0.1:2381\nn2=127.0.0.1:2382\n");
  Watcher w(std::make_unique<FileSource>(path_), milliseconds(20));
  Snapshot s = wait_peers(w, "n1=127.0.0.1:2381,n2=127.0.0.1:2382");
  uint64_t failures = s.failures;

  write("n1=127.0.0.1:2381\nn2=127.0.0.1:\n");  // a bad line: the whole file is refused
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
       s.last.status.is_ok() && std::chrono::steady_clock::now() < deadline;) {
    s = w.wait_newer(s.generation, milliseconds(200));
  }
  EXPECT_EQ(s.last.status.code(), Code::kInvalidArgument);
  EXPECT_NE(s.last.status.message().find("line 2"), std::string::npos) << s.last.status.message();
  EXPECT_EQ(describe(s.good), "n1=127.0.0.1:2381,n2=127.0.0.1:2382") << "never shrinks";
  std::this_thread::sleep_for(milliseconds(150));
  EXPECT_GT(w.snapshot().failures, failures + 2);
  EXPECT_EQ(logged("line 2"), 1u);
  EXPECT_EQ(logged("keeping the last good set of 2 peers"), 1u);

  write("");
  s = wait_peers(w, "(none)");
  EXPECT_EQ(describe(s.good), "n1=127.0.0.1:2381,n2=127.0.0.1:2382");
}

}  // namespace
}  // namespace discovery
