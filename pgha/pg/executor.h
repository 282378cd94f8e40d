// The edge where pgha's decisions touch PostgreSQL: initdb, clone
// (pg_basebackup), start/stop/reload (pg_ctl), promote (pg_promote()),
// repoint (ALTER SYSTEM SET primary_conninfo + pg_reload_conf()), rewind
// (pg_rewind after a CHECKPOINT on the source), synchronous_standby_names,
// and fencing. Every call is bounded by a deadline and returns a Status
// whose message is what an operator needs (the tool's own last lines).
//
// Configuration ownership: the operator's postgresql.conf stays theirs.
// pgha appends one `include_dir = 'pgha.conf.d'` line to it (once) and
// owns only pgha.conf.d/pgha.conf. Settings that must change at run time
// without a restart (primary_conninfo, synchronous_standby_names, the
// read-only fence) go through ALTER SYSTEM, as PostgreSQL intends.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "common/status.h"
#include "pgha/pg/conn.h"
#include "pgha/pg/observe.h"

namespace pgha::pg {

struct ExecutorConfig {
  std::string bin_dir = "/usr/lib/postgresql/15/bin";
  std::string data_dir;
  std::string log_path;                   // the server's log (pg_ctl -l); empty: <data_dir>.log
  std::string listen_host = "127.0.0.1";  // listen_addresses and what others dial
  uint16_t port = 5432;
  std::string socket_dir;  // unix_socket_directories; empty: the data dir's parent
  std::string superuser;   // the role pgha connects as; initdb -U
  std::string node_name;   // application_name towards the primary (sync standby names)
  std::chrono::seconds start_timeout{60};
  std::chrono::seconds stop_timeout{60};
  std::chrono::seconds clone_timeout{600};
};

// Where another member's PostgreSQL listens.
struct PgAddress {
  std::string host;
  uint16_t port = 0;
};

class Executor {
 public:
  explicit Executor(ExecutorConfig cfg);

  const ExecutorConfig& config() const { return cfg_; }
  ConnTarget local_target() const;
  ConnTarget target_of(const PgAddress& a) const;
  Observation observe() const;

  // A new cluster in an empty (or absent) data dir, configured, not started.
  common::Status initdb();
  // A replica of `primary` in the data dir, configured, not started. An
  // existing cluster there is removed first only when replace_existing
  // (the fallback after a failed rewind).
  common::Status clone_from(const PgAddress& primary, bool replace_existing);
  // Writes pgha.conf.d/pgha.conf (port, listen address, replication
  // settings, plus `settings` from the desired state) and the include_dir
  // line. Takes effect at the next start or reload.
  common::Status write_config(const std::map<std::string, std::string>& settings);

  common::Status start();
  // mode: "fast" (clean shutdown; a primary first sends its WAL to its
  // standbys) or "immediate".
  common::Status stop(const std::string& mode = "fast");
  common::Status reload();

  // pg_promote(wait => true), with synchronous_standby_names set first
  // (empty: async) and the read-only fence cleared.
  common::Status promote(const std::string& synchronous_standby_names);
  // A running replica streams from `primary` from now on.
  common::Status repoint(const PgAddress& primary);
  // Turns a stopped (or crashed) former primary into a replica of
  // `primary`: CHECKPOINT on the source, pg_rewind, standby.signal, config.
  // Not started.
  common::Status rewind_from(const PgAddress& primary);
  // A stopped cluster starts as a replica of `primary` (standby.signal and
  // primary_conninfo), for a former primary that shut down cleanly.
  common::Status make_standby(const PgAddress& primary);
  common::Status set_synchronous_standby_names(const std::string& value);
  // Makes the stopped cluster start as a standby of `primary`: pgha.conf
  // written again, standby.signal, primary_conninfo. No rewind.
  common::Status configure_standby(const PgAddress& primary);
  // Whether the stopped cluster last ran as a primary: no standby.signal,
  // and pg_controldata says "in production" or "shut down" (not "... in
  // recovery"). Such a cluster is rewound before it follows anyone.
  common::Result<bool> was_primary() const;

  // Stops writes on a running primary without stopping it: new
  // transactions are read-only and every client session is terminated.
  common::Status fence();
  common::Status unfence();
  // The same fence applied to another member's PostgreSQL over libpq, when
  // its agent is gone. kUnavailable when it cannot be reached.
  common::Status fence_remote(const PgAddress& target) const;

 private:
  std::string bin(const char* tool) const { return cfg_.bin_dir + "/" + tool; }
  std::string log_path() const;
  std::string primary_conninfo(const PgAddress& primary) const;
  common::Status with_local(const std::function<common::Status(Conn&)>& fn) const;

  ExecutorConfig cfg_;
  // The desired state's settings last written, written again after a
  // clone or rewind brought the source's files over ours.
  std::map<std::string, std::string> settings_;
};

// The fence as SQL, shared by fence() and fence_remote().
common::Status fence_over(Conn& c);

}  // namespace pgha::pg
