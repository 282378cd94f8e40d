#include "pgha/pg/conn.h"

#include <libpq-fe.h>

namespace pgha::pg {

using common::Code;
using common::Result;
using common::Status;

namespace {

std::string trimmed(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s;
}

}  // namespace

std::string conninfo_quote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string sql_literal(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string conninfo(const ConnTarget& t) {
  std::string s = "host=" + conninfo_quote(t.host) + " port=" + std::to_string(t.port) +
                  " dbname=" + conninfo_quote(t.dbname) +
                  " connect_timeout=" + std::to_string(t.connect_timeout_s) +
                  " application_name=" + conninfo_quote(t.application_name);
  if (!t.user.empty()) s += " user=" + conninfo_quote(t.user);
  if (t.statement_timeout_ms > 0) {
    s += " options=" +
         conninfo_quote("-c statement_timeout=" + std::to_string(t.statement_timeout_ms));
  }
  return s;
}

Result<std::unique_ptr<Conn>> Conn::open(const ConnTarget& target) {
  auto c = open_conninfo(conninfo(target));
  if (!c.is_ok()) {
    return Status(Code::kUnavailable, "cannot connect to PostgreSQL at " + target.host + ":" +
                                          std::to_string(target.port) + ": " +
                                          c.status().message());
  }
  return c;
}

Result<std::unique_ptr<Conn>> Conn::open_conninfo(const std::string& info) {
  PGconn* c = PQconnectdb(info.c_str());
  if (c == nullptr) return Status(Code::kUnavailable, "libpq: out of memory");
  if (PQstatus(c) != CONNECTION_OK) {
    Status s(Code::kUnavailable, trimmed(PQerrorMessage(c)));
    PQfinish(c);
    return s;
  }
  return std::unique_ptr<Conn>(new Conn(c));
}

Conn::~Conn() {
  PQfinish(c_);
}

Result<std::vector<Row>> Conn::query(const std::string& sql) {
  PGresult* r = PQexec(c_, sql.c_str());
  auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    std::string msg = r ? trimmed(PQresultErrorMessage(r)) : trimmed(PQerrorMessage(c_));
    if (r) PQclear(r);
    Code code = PQstatus(c_) == CONNECTION_OK ? Code::kFailedPrecondition : Code::kUnavailable;
    return Status(code, "query failed: " + msg);
  }
  std::vector<Row> rows;
  int nrows = PQntuples(r), ncols = PQnfields(r);
  rows.reserve(static_cast<size_t>(nrows));
  for (int i = 0; i < nrows; ++i) {
    Row row;
    for (int j = 0; j < ncols; ++j) {
      if (PQgetisnull(r, i, j)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(
            std::string(PQgetvalue(r, i, j), static_cast<size_t>(PQgetlength(r, i, j))));
      }
    }
    rows.push_back(std::move(row));
  }
  PQclear(r);
  return rows;
}

Result<std::optional<std::string>> Conn::scalar(const std::string& sql) {
  auto rows = query(sql);
  if (!rows.is_ok()) return rows.status();
  if (rows->size() != 1 || (*rows)[0].empty()) {
    return Status(Code::kInternal, "expected one value from: " + sql);
  }
  return (*rows)[0][0];
}

Status Conn::exec(const std::string& sql) {
  auto rows = query(sql);
  return rows.is_ok() ? Status::ok() : rows.status();
}

}  // namespace pgha::pg
