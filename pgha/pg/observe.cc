#include "pgha/pg/observe.h"

#include <signal.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "pgha/core/model.h"

namespace pgha::pg {

namespace fs = std::filesystem;

const char* reach_name(Reach r) {
  switch (r) {
    case Reach::kNoDataDir:
      return "no_data_dir";
    case Reach::kStopped:
      return "stopped";
    case Reach::kUnreachable:
      return "unreachable";
    case Reach::kQueryFailed:
      return "query_failed";
    case Reach::kOk:
      return "ok";
  }
  return "?";
}

const char* pg_role_name(PgRole r) {
  switch (r) {
    case PgRole::kUnknown:
      return "unknown";
    case PgRole::kPrimary:
      return "primary";
    case PgRole::kReplica:
      return "replica";
  }
  return "?";
}

std::optional<uint32_t> timeline_of_walfile(const std::string& name) {
  if (name.size() < 8) return {};
  uint32_t tli = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + 8, tli, 16);
  if (ec != std::errc() || end != name.data() + 8) return {};
  return tli;
}

namespace {

// The postmaster's pid from postmaster.pid (first line), if that process
// lives. A stale file left by a crash names a dead (or reused) pid; a reused
// pid only makes us try to connect, which then fails and says so.
bool postmaster_alive(const std::string& data_dir) {
  std::ifstream in(data_dir + "/postmaster.pid");
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

uint64_t lsn_or_zero(const std::optional<std::string>& v) {
  if (!v) return 0;
  auto lsn = ::pgha::parse_lsn(*v);
  return lsn.is_ok() ? *lsn : 0;
}

uint32_t u32_or_zero(const std::optional<std::string>& v) {
  uint32_t out = 0;
  if (v) std::from_chars(v->data(), v->data() + v->size(), out);
  return out;
}

common::Status observe_primary(Conn& c, Observation& o) {
  auto rows =
      c.query("SELECT pg_current_wal_flush_lsn(), pg_walfile_name(pg_current_wal_flush_lsn())");
  if (!rows.is_ok()) return rows.status();
  if (rows->size() != 1) return common::Status(common::Code::kInternal, "no WAL position row");
  o.flush_lsn = lsn_or_zero((*rows)[0][0]);
  if ((*rows)[0][1]) o.timeline = timeline_of_walfile(*(*rows)[0][1]).value_or(0);
  auto standbys = c.query(
      "SELECT application_name, state, sync_state, flush_lsn, replay_lsn "
      "FROM pg_stat_replication ORDER BY application_name");
  if (!standbys.is_ok()) return standbys.status();
  for (const auto& r : *standbys) {
    StandbyConn s;
    s.application_name = r[0].value_or("");
    s.state = r[1].value_or("");
    s.sync_state = r[2].value_or("");
    s.flush_lsn = lsn_or_zero(r[3]);
    s.replay_lsn = lsn_or_zero(r[4]);
    o.standbys.push_back(std::move(s));
  }
  return common::Status::ok();
}

common::Status observe_replica(Conn& c, Observation& o) {
  auto rows = c.query(
      "SELECT pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), "
      "extract(epoch from now() - pg_last_xact_replay_timestamp()), "
      "(SELECT status FROM pg_stat_wal_receiver), "
      "(SELECT received_tli FROM pg_stat_wal_receiver), "
      "(SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver), "
      "(SELECT timeline_id FROM pg_control_checkpoint())");
  if (!rows.is_ok()) return rows.status();
  if (rows->size() != 1) return common::Status(common::Code::kInternal, "no replay row");
  const auto& r = (*rows)[0];
  o.receive_lsn = lsn_or_zero(r[0]);
  o.replay_lsn = lsn_or_zero(r[1]);
  if (r[2]) {
    double d = 0;
    try {
      d = std::stod(*r[2]);
      o.replay_delay_s = d;
    } catch (...) {
    }
  }
  o.streaming = r[3] && *r[3] == "streaming";
  o.upstream = r[5].value_or("");
  o.timeline = std::max(u32_or_zero(r[4]), u32_or_zero(r[6]));
  return common::Status::ok();
}

// The newest timeline this server holds WAL of: the highest TLI among the
// segment files in pg_wal (24 hex digits, the first 8 the timeline). A
// replica's received_tli is known only while its WAL receiver runs, and
// its last restartpoint's timeline lags behind what it replays: after its
// upstream died, a replica that followed a promotion (and holds the new
// timeline's segments) would otherwise look like one still on the old
// timeline, replayed past the switch point (diverged). 0 if none.
uint32_t newest_wal_timeline(const std::string& data_dir) {
  uint32_t newest = 0;
  std::error_code ec;
  for (fs::directory_iterator it(data_dir + "/pg_wal", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() != 24 || name.find_first_not_of("0123456789ABCDEF") != std::string::npos) {
      continue;
    }
    newest = std::max(newest, timeline_of_walfile(name).value_or(0));
  }
  return newest;
}

// The history file of `timeline` in the data dir, if there is one that
// parses. The agent runs beside its PostgreSQL and owns the data dir, so a
// file read is enough (no superuser SQL).
std::vector<TimelineSwitch> read_timeline_history(const std::string& data_dir, uint32_t timeline) {
  std::vector<TimelineSwitch> out;
  if (timeline <= 1) return out;
  char name[32];
  std::snprintf(name, sizeof name, "%08X.history", timeline);
  std::ifstream in(data_dir + "/pg_wal/" + name);
  if (!in) return out;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto parsed = ::pgha::parse_timeline_history(text);
  if (!parsed.is_ok()) return out;
  for (const auto& sw : *parsed) out.push_back({sw.timeline, sw.end_lsn});
  return out;
}

}  // namespace

Observation observe(const std::string& data_dir, const ConnTarget& target) {
  Observation o;
  std::error_code ec;
  if (!fs::exists(data_dir + "/PG_VERSION", ec)) {
    o.reach = Reach::kNoDataDir;
    o.error = "no PostgreSQL cluster in " + data_dir;
    return o;
  }
  if (!postmaster_alive(data_dir)) {
    o.reach = Reach::kStopped;
    o.error = "PostgreSQL is not running on " + data_dir;
    return o;
  }
  auto conn = Conn::open(target);
  if (!conn.is_ok()) {
    o.reach = Reach::kUnreachable;
    o.error = conn.status().message();
    return o;
  }
  Conn& c = **conn;
  auto head = c.query(
      "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only'), "
      "current_setting('synchronous_standby_names')");
  common::Status st = head.status();
  if (st.is_ok() && head->size() == 1) {
    const auto& r = (*head)[0];
    bool in_recovery = r[0] && *r[0] == "t";
    o.role = in_recovery ? PgRole::kReplica : PgRole::kPrimary;
    o.read_only = r[1] && *r[1] == "on";
    o.synchronous_standby_names = r[2].value_or("");
    st = in_recovery ? observe_replica(c, o) : observe_primary(c, o);
  }
  if (!st.is_ok()) {
    o.reach = st.code() == common::Code::kUnavailable ? Reach::kUnreachable : Reach::kQueryFailed;
    o.error = st.message();
    return o;
  }
  if (o.role == PgRole::kReplica) o.timeline = std::max(o.timeline, newest_wal_timeline(data_dir));
  o.timeline_history = read_timeline_history(data_dir, o.timeline);
  o.reach = Reach::kOk;
  return o;
}

}  // namespace pgha::pg
