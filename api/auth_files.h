// The files that say who may use the client API and how (docs/SECURITY.md):
//
//   --auth-file   htpasswd: "user:$2y$..." per line, bcrypt only, as written
//                 by `htpasswd -B` (apache2-utils). Blank and # lines skipped.
//   --auth-roles  "user:role" per line, role = read | write | admin;
//                 "*:role" is the role of users not listed (default read).
//                 Without this file every authenticated user is admin.
//   --auth-cn-map "CN:user" per line: a client whose TLS certificate (verified
//                 against --ca) has this subject CN is that user, with no
//                 password. The user need not be in --auth-file.
//
// Parsing is pure (text in, tables out) so unit tests and fuzzing need no
// files; load_auth_tables() does the reading. Any bad line refuses the whole
// file with its name, line number and what to do: a half-read password file
// would lock people out or let them in by accident.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"

namespace api {

// Ordered: a role may do everything the roles below it may.
enum class Role : uint8_t {
  kNone = 0,   // no credentials needed (GET /health)
  kRead = 1,   // reads: feeds, keys, leases, cluster, diagnostics, metrics
  kWrite = 2,  // appends, key writes, transactions, leases
  kAdmin = 3,  // membership, leadership transfer, /config, PUT /health
};

std::string_view role_name(Role r);
std::optional<Role> parse_role(std::string_view name);

struct AuthTables {
  std::unordered_map<std::string, std::string> password_hash;  // user -> bcrypt hash
  std::unordered_map<std::string, Role> roles;                 // from --auth-roles
  Role default_role = Role::kAdmin;  // of users not in `roles` ("*:" or none given)
  std::unordered_map<std::string, std::string> cn_users;  // certificate CN -> user

  Role role_of(const std::string& user) const {
    auto it = roles.find(user);
    return it == roles.end() ? default_role : it->second;
  }
};

struct AuthFiles {
  std::string users_path;   // --auth-file (required for auth to be on)
  std::string roles_path;   // --auth-roles, optional
  std::string cn_map_path;  // --auth-cn-map, optional
};

// `origin` names the file in messages. Each adds to `out`.
common::Status parse_htpasswd(std::string_view text, const std::string& origin, AuthTables& out);
common::Status parse_roles(std::string_view text, const std::string& origin, AuthTables& out);
common::Status parse_cn_map(std::string_view text, const std::string& origin, AuthTables& out);

// Reads and parses every file named; kInvalidArgument with the file and
// line for bad content, kIoError for an unreadable file.
common::Result<AuthTables> load_auth_tables(const AuthFiles& files);

// True iff `password` hashes to `hash` (bcrypt through libcrypt's crypt_rn).
// Slow by design (2^cost rounds): call it off the io thread.
bool bcrypt_matches(const std::string& password, const std::string& hash);

}  // namespace api
