// Shell commands and test certificates for integration tests that drive
// command-line tools (changectl, curl, openssl) next to the harness.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>

namespace integration {

// Runs `cmd` with /bin/sh: its stdout (append 2>&1 for stderr too) and its
// exit code (-1 if it did not exit normally).
inline std::pair<std::string, int> run_shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {"", -1};
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int st = pclose(p);
  return {out, WIFEXITED(st) ? WEXITSTATUS(st) : -1};
}

// The directory of test certificates made by `gen_test_certs`
// (tools/gen-test-certs) once for the whole binary, removed at exit; ""
// if the script failed.
inline const std::string& test_certs_dir(const char* gen_test_certs) {
  struct Dir {
    explicit Dir(const char* script) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "test-certs-XXXXXX").string();
      if (!mkdtemp(tmpl.data())) return;
      made = tmpl;
      if (std::system((std::string(script) + " " + tmpl + " >/dev/null").c_str()) == 0) {
        path = tmpl;
      }
    }
    ~Dir() {
      std::error_code ec;
      if (!made.empty()) std::filesystem::remove_all(made, ec);
    }
    std::string made;
    std::string path;
  };
  static const Dir dir(gen_test_certs);
  return dir.path;
}

}  // namespace integration
