// What the agent sees of its own PostgreSQL: one bounded round of queries,
// turned into plain data. Nothing here decides; the reconciler does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pgha/pg/conn.h"

namespace pgha::pg {

enum class Reach {
  kNoDataDir,    // the data dir holds no cluster yet (needs initdb or a clone)
  kStopped,      // a cluster exists but no postmaster runs on it
  kUnreachable,  // a postmaster may run, but a connection fails
  kQueryFailed,  // connected, but the observation queries failed
  kOk,
};
const char* reach_name(Reach r);

enum class PgRole { kUnknown, kPrimary, kReplica };
const char* pg_role_name(PgRole r);

// A standby connected to this primary (pg_stat_replication).
struct StandbyConn {
  std::string application_name;  // pgha sets it to the standby's node name
  std::string state;             // streaming, catchup, ...
  std::string sync_state;        // async, sync, potential, quorum
  uint64_t flush_lsn = 0;
  uint64_t replay_lsn = 0;
};

// An ancestor timeline and the LSN where it ended (pg_wal/<TLI>.history).
struct TimelineSwitch {
  uint32_t timeline = 0;
  uint64_t end_lsn = 0;
};

struct Observation {
  Reach reach = Reach::kNoDataDir;
  PgRole role = PgRole::kUnknown;
  uint32_t timeline = 0;  // 0 = unknown
  // Primary: pg_current_wal_flush_lsn(). Replica: 0.
  uint64_t flush_lsn = 0;
  // Replica: pg_last_wal_receive_lsn() / pg_last_wal_replay_lsn().
  uint64_t receive_lsn = 0;
  uint64_t replay_lsn = 0;
  // Replica: seconds since the last replayed commit was made on the primary
  // (large on an idle cluster even when caught up; byte lag is the measure).
  std::optional<double> replay_delay_s;
  bool streaming = false;  // replica: the WAL receiver is streaming
  std::string upstream;    // replica: host:port it streams from
  bool read_only = false;  // default_transaction_read_only (pgha's fence)
  std::string synchronous_standby_names;
  std::vector<StandbyConn> standbys;  // primary only
  // The ancestors of `timeline`, read from its history file in pg_wal
  // (empty on timeline 1 or when the file is missing or unreadable).
  std::vector<TimelineSwitch> timeline_history;
  std::string error;  // why reach is not kOk
};

// kNoDataDir / kStopped are decided from the data dir (PG_VERSION,
// postmaster.pid and whether its process lives); otherwise from queries.
Observation observe(const std::string& data_dir, const ConnTarget& target);

// The timeline a primary writes on, from the name of its current WAL file.
std::optional<uint32_t> timeline_of_walfile(const std::string& walfile_name);

}  // namespace pgha::pg
