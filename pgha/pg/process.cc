#include "pgha/pg/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pgha::pg {

using common::Code;
using common::Result;
using common::Status;
using Clock = std::chrono::steady_clock;

namespace {

std::string tail_lines(const std::string& text, size_t lines_max) {
  size_t end = text.size();
  while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == ' ')) --end;
  size_t pos = end;
  for (size_t seen = 0; pos > 0; --pos) {
    if (text[pos - 1] == '\n' && ++seen == lines_max) break;
  }
  std::string out = text.substr(pos, end - pos);
  for (char& c : out) {
    if (c == '\n') c = ' ';
  }
  return out;
}

}  // namespace

Status process_failure(const std::string& what, const ProcessResult& r) {
  std::string how = r.exit_code < 0 ? "was killed" : "exited " + std::to_string(r.exit_code);
  return Status(Code::kFailedPrecondition, what + " " + how + ": " + tail_lines(r.output, 3));
}

Result<ProcessResult> run_process(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout) {
  if (argv.empty()) return Status(Code::kInvalidArgument, "run_process: empty argv");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return Status(Code::kIoError, std::string("pipe: ") + std::strerror(errno));
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid == 0) {
    // Own process group, so that a deadline kills the tool and whatever it
    // started (pg_basebackup's WAL streamer, pg_ctl's shell). A postmaster
    // started by pg_ctl is not killed this way: it calls setsid().
    ::setpgid(0, 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int fork_errno = errno;
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    return Status(Code::kIoError, std::string("fork: ") + std::strerror(fork_errno));
  }

  ProcessResult result;
  const auto deadline = Clock::now() + timeout;
  bool timed_out = false;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    ssize_t got = ::read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: every writer closed (the tool ended)
    result.output.append(buf, static_cast<size_t>(got));
    if (result.output.size() > kProcessOutputBytesMax) {
      result.output.erase(0, result.output.size() - kProcessOutputBytesMax);
    }
  }
  ::close(fds[0]);
  if (timed_out) ::kill(-pid, SIGKILL);
  // A daemon the tool started may keep the pipe open after the tool ended
  // (pg_ctl start without -l): the loop above only stops at EOF or the
  // deadline, so pg_ctl start is always given -l.
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Status(Code::kTimeout, args[0] + std::string(" did not finish within ") +
                                      std::to_string(timeout.count()) +
                                      " ms: " + tail_lines(result.output, 3));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (result.exit_code == 127 && result.output.empty()) {
    return Status(Code::kIoError, std::string("cannot run ") + args[0]);
  }
  return result;
}

}  // namespace pgha::pg
