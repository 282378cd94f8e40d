// Helpers for the pgha integration tests: real PostgreSQL 15 as an
// unprivileged user, on free loopback ports, in one temp dir that goes away
// with the test (postmasters included).
//
// PostgreSQL refuses to run as root, so a pgha test executable started as
// root becomes the `postgres` user (Debian's postgresql-15 creates it) before
// anything else: the changeagent nodes, the pgha agents and the PostgreSQL
// servers then all run as that user and own their files.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace integration::pgha {

// Call first thing in main() of a test that runs PostgreSQL tools in its
// own process (the executor test). Exits non-zero with one line if it cannot.
void drop_root_to_postgres();

// The OS user PostgreSQL runs as: `postgres` when the test runs as root,
// else the current user. Tests that start pgha agents stay root (the build
// tree may not be readable by `postgres`, e.g. under /root) and start each
// agent as this user from a copy of the binary in the test's temp dir.
struct PgOsUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  bool switch_needed = false;  // we are root: children must become `name`
};
const PgOsUser& pg_os_user();
// Makes `path` (a dir or file we created) owned by pg_os_user().
void give_to_pg_user(const std::string& path);

// The PostgreSQL 15 binaries (initdb, pg_ctl, ...).
inline constexpr const char* kPgBinDir = "/usr/lib/postgresql/15/bin";

// Stops (pg_ctl stop -m immediate) every PostgreSQL whose data dir was
// registered, at destruction and at exit: pg_ctl daemonizes the
// postmaster, so it would outlive a test that only kills its children.
void register_data_dir(const std::string& data_dir);
void stop_registered_postgres();

// A fresh temp dir (mkdtemp) removed with everything in it by the
// destructor unless keep() was called.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  void keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

// A free TCP port on 127.0.0.1 (bound to 0, released).
uint16_t free_port();

// Runs `sql` through libpq against 127.0.0.1:port as the current user;
// the rows of the first column, or the error.
common::Result<std::vector<std::string>> psql(uint16_t port, const std::string& sql);

}  // namespace integration::pgha
