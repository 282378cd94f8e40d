#include "api/auth_files.h"

#include <crypt.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>

namespace api {

using common::Code;
using common::Result;
using common::Status;

namespace {

// A bcrypt hash: "$2y$" (or $2b$, $2a$), two cost digits, "$", 53 characters.
constexpr size_t kBcryptHashBytes = 60;
// A user name or a CN longer than this is a mistake, not a name.
constexpr size_t kNameBytesMax = 256;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

Status bad_line(const std::string& origin, size_t line_no, const std::string& what) {
  return Status(Code::kInvalidArgument, origin + " line " + std::to_string(line_no) + ": " + what);
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kNameBytesMax) return false;
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == ':') return false;
  }
  return true;
}

bool is_bcrypt(std::string_view h) {
  if (h.size() != kBcryptHashBytes) return false;
  if (!(h.starts_with("$2y$") || h.starts_with("$2b$") || h.starts_with("$2a$"))) return false;
  return h[4] >= '0' && h[4] <= '9' && h[5] >= '0' && h[5] <= '9' && h[6] == '$';
}

// Calls `each(line_no, left, right)` for every "left:right" line, splitting
// at the first colon (`last_colon`: at the last one). Blank and # lines are
// skipped; a line without a colon is an error.
Status for_each_pair(
    std::string_view text, const std::string& origin, bool last_colon,
    const std::function<Status(size_t, std::string_view, std::string_view)>& each) {
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    line_no++;
    if (line.empty() || line.front() == '#') continue;
    size_t colon = last_colon ? line.rfind(':') : line.find(':');
    if (colon == std::string_view::npos) {
      return bad_line(origin, line_no, "expected name:value, found no ':'");
    }
    Status s = each(line_no, trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
    if (!s.is_ok()) return s;
  }
  return Status::ok();
}

Result<std::string> read_file(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(Code::kIoError,
                  std::string(flag) + " " + path + ": cannot open: " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status(Code::kIoError, std::string(flag) + " " + path + ": read failed");
  return ss.str();
}

}  // namespace

std::string_view role_name(Role r) {
  switch (r) {
    case Role::kNone:
      return "none";
    case Role::kRead:
      return "read";
    case Role::kWrite:
      return "write";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

std::optional<Role> parse_role(std::string_view name) {
  if (name == "read") return Role::kRead;
  if (name == "write") return Role::kWrite;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

Status parse_htpasswd(std::string_view text, const std::string& origin, AuthTables& out) {
  return for_each_pair(
      text, origin, false, [&](size_t n, std::string_view user, std::string_view hash) -> Status {
        if (!valid_name(user)) return bad_line(origin, n, "the user name is empty or too long");
        if (!is_bcrypt(hash)) {
          return bad_line(origin, n,
                          "user '" + std::string(user) +
                              "' has no bcrypt hash ($2y$...); only bcrypt is accepted: "
                              "recreate the entry with `htpasswd -B " +
                              origin + " " + std::string(user) + "`");
        }
        if (!out.password_hash.emplace(user, hash).second) {
          return bad_line(origin, n, "user '" + std::string(user) + "' is listed twice");
        }
        return Status::ok();
      });
}

Status parse_roles(std::string_view text, const std::string& origin, AuthTables& out) {
  // With a roles file, users it does not name may only read (unless "*:").
  out.default_role = Role::kRead;
  bool default_given = false;
  return for_each_pair(
      text, origin, false, [&](size_t n, std::string_view user, std::string_view role_text) {
        auto role = parse_role(role_text);
        if (!role) {
          return bad_line(origin, n,
                          "role '" + std::string(role_text) + "' is not read, write or admin");
        }
        if (user == "*") {
          if (default_given) return bad_line(origin, n, "'*' is listed twice");
          default_given = true;
          out.default_role = *role;
          return Status::ok();
        }
        if (!valid_name(user)) return bad_line(origin, n, "the user name is empty or too long");
        if (!out.roles.emplace(user, *role).second) {
          return bad_line(origin, n, "user '" + std::string(user) + "' is listed twice");
        }
        return Status::ok();
      });
}

Status parse_cn_map(std::string_view text, const std::string& origin, AuthTables& out) {
  // A CN may hold a colon; a user name may not: split at the last one.
  return for_each_pair(
      text, origin, true, [&](size_t n, std::string_view cn, std::string_view user) {
        if (cn.empty() || cn.size() > kNameBytesMax) {
          return bad_line(origin, n, "the CN is empty or too long");
        }
        if (!valid_name(user)) {
          return bad_line(origin, n, "the user name is empty or too long");
        }
        if (!out.cn_users.emplace(cn, user).second) {
          return bad_line(origin, n, "CN '" + std::string(cn) + "' is listed twice");
        }
        return Status::ok();
      });
}

Result<AuthTables> load_auth_tables(const AuthFiles& files) {
  AuthTables t;
  auto users = read_file(files.users_path, "--auth-file");
  if (!users.is_ok()) return users.status();
  if (Status s = parse_htpasswd(*users, files.users_path, t); !s.is_ok()) return s;
  if (!files.roles_path.empty()) {
    auto roles = read_file(files.roles_path, "--auth-roles");
    if (!roles.is_ok()) return roles.status();
    if (Status s = parse_roles(*roles, files.roles_path, t); !s.is_ok()) return s;
  }
  if (!files.cn_map_path.empty()) {
    auto cns = read_file(files.cn_map_path, "--auth-cn-map");
    if (!cns.is_ok()) return cns.status();
    if (Status s = parse_cn_map(*cns, files.cn_map_path, t); !s.is_ok()) return s;
  }
  return t;
}

bool bcrypt_matches(const std::string& password, const std::string& hash) {
  // crypt_data is ~32 KiB: on the heap, not on a pool thread's stack.
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = crypt_rn(password.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
  if (out == nullptr || out[0] == '*') return false;  // "*..." is libcrypt's failure token
  // Constant time over the hash length: no early exit on the first difference.
  size_t n = std::strlen(out);
  if (n != hash.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < n; i++) diff |= static_cast<unsigned char>(out[i] ^ hash[i]);
  return diff == 0;
}

}  // namespace api
