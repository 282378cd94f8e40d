// The harness's own promises: a restart moves a client port someone took,
// and a test process that dies abruptly leaves no changeagent behind.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/integration/test_util.h"

namespace integration {
namespace {

// Gone: no such process, or a zombie waiting for init to reap it.
bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z';
}

class HarnessTest : public ClusterTest {};

TEST_F(HarnessTest, RestartMovesAClientPortSomeoneTook) {
  ASSERT_NO_FATAL_FAILURE(start(ClusterOptions{1}));
  uint16_t before = cluster_->node(0).client_port;
  cluster_->kill9(0);
  // Someone else listens on the node's client port now.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(before);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  ASSERT_EQ(::listen(fd, 4), 0);
  Status s = cluster_->start(0);
  ::close(fd);
  ASSERT_TRUE(ok(s));
  EXPECT_NE(cluster_->node(0).client_port, before);
  EXPECT_NE(cluster_->read_log(0).find("already in use"), std::string::npos);
  ASSERT_TRUE(ok(cluster_->wait_for_leader(Millis(10000))));
  EXPECT_TRUE(ok(cluster_->client(0)->post_change(change_of("{\"moved\":true}"))));
}

TEST_F(HarnessTest, NoOrphansWhenTheTestProcessIsKilled) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  pid_t test_pid = ::fork();
  ASSERT_GE(test_pid, 0);
  if (test_pid == 0) {
    // A stand-in for a test process: start a cluster, report the pids, hang.
    ::close(pipe_fds[0]);
    Cluster c(ClusterOptions{2});
    std::string line = c.dir() + (c.start_all().is_ok() ? " " : " failed ");
    for (size_t i = 0; i < c.size(); i++) line += std::to_string(c.node(i).pid) + " ";
    line += "\n";
    (void)!::write(pipe_fds[1], line.data(), line.size());
    ::pause();
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string line;
  char buf[256];
  for (ssize_t n;
       line.find('\n') == std::string::npos && (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) {
    line.append(buf, static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  ::kill(test_pid, SIGKILL);
  int status = 0;
  ::waitpid(test_pid, &status, 0);
  ASSERT_EQ(line.find("failed"), std::string::npos) << line;
  std::vector<pid_t> pids;
  std::istringstream in(line);
  std::string dir;
  in >> dir;
  for (pid_t p; in >> p;) pids.push_back(p);
  ASSERT_EQ(pids.size(), 2u) << line;
  for (pid_t p : pids) {
    auto deadline = Clock::now() + Millis(5000);
    while (!process_gone(p) && Clock::now() < deadline) std::this_thread::sleep_for(Millis(5));
    EXPECT_TRUE(process_gone(p)) << "changeagent " << p << " outlived its test process";
    if (!process_gone(p)) ::kill(p, SIGKILL);
  }
  // Its destructor never ran: the dir is ours to remove.
  if (dir.find("changeagent-it-") != std::string::npos) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace integration
