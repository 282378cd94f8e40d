// A libpq connection with bounded waits. The one distinction the
// reconciler needs from here is kept in the Code: kUnavailable means "could
// not connect" (the server is down or unreachable), anything else from a
// query means "connected, but the query failed" (a server that is up but
// sick, or in a state where the query is refused).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

struct pg_conn;

namespace pgha::pg {

struct ConnTarget {
  std::string host = "127.0.0.1";  // or a unix socket directory
  uint16_t port = 5432;
  std::string user;  // empty: libpq's default (the OS user)
  std::string dbname = "postgres";
  uint32_t connect_timeout_s = 2;  // libpq rounds below 2 up to 2
  uint32_t statement_timeout_ms = 5000;
  std::string application_name = "pgha";
};

// A row of text values; nullopt for SQL NULL.
using Row = std::vector<std::optional<std::string>>;

class Conn {
 public:
  // kUnavailable (with libpq's reason) when the connection fails.
  static common::Result<std::unique_ptr<Conn>> open(const ConnTarget& target);
  // Any libpq connection string (multi-host, target_session_attrs, ...).
  static common::Result<std::unique_ptr<Conn>> open_conninfo(const std::string& conninfo);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Rows of a query (none for a command). kFailedPrecondition with the
  // server's message when the query fails; kUnavailable when the
  // connection broke under it.
  common::Result<std::vector<Row>> query(const std::string& sql);
  // The first column of the single row, or kInternal if the shape differs.
  common::Result<std::optional<std::string>> scalar(const std::string& sql);
  common::Status exec(const std::string& sql);

 private:
  explicit Conn(pg_conn* c) : c_(c) {}
  pg_conn* c_;
};

// libpq keyword/value string for a target ("host=... port=... ...").
std::string conninfo(const ConnTarget& target);
// Quotes a value for a conninfo string: single quotes, backslash escapes.
std::string conninfo_quote(const std::string& value);
// A SQL string literal ('...' with quotes doubled).
std::string sql_literal(const std::string& value);

}  // namespace pgha::pg
