// Authentication and authorization of the client API (docs/SECURITY.md).
// Who a request is: HTTP basic auth checked against an htpasswd file
// (bcrypt), or a verified TLS client certificate's CN mapped to a user.
// What it may do: required_role(), the one table from route to role.
//
// Wrong or missing credentials: 401 with `WWW-Authenticate: Basic
// realm="changeagent"`; a known user without the role: 403. Both JSON.
// Peer traffic (including writes a follower forwards to the leader) is not
// checked here: the node that took the client's request checked it, and
// peers are authenticated by mutual TLS.
//
// Threading: check() and reload() run on the server's io thread. bcrypt
// (slow by design: ~2^cost rounds) runs on a thread of its own, so a login
// never delays heartbeats; a verified password is cached for cache_ttl,
// keyed by a SHA-256 of user, password and hash (never the password).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api/auth_files.h"
#include "api/log_limiter.h"
#include "common/status.h"

namespace api {

struct HttpRequest;
struct HttpReply;

// The role a request needs: by method and the router's decoded path.
// GET /health needs none; membership, leadership, /config and PUT /health
// need admin; other reads need read; other writes need write.
Role required_role(std::string_view method, std::string_view path);

struct AuthOptions {
  AuthFiles files;
  std::chrono::seconds cache_ttl{60};   // a verified password skips bcrypt this long
  size_t cache_entries_max = 4096;      // over it, expired entries go, then all
  uint32_t verifies_inflight_max = 64;  // bcrypt checks queued; more answer 503
  // The files are re-read when one's mtime or size changed, checked at most
  // this often (on a request); SIGHUP forces a re-read.
  std::chrono::milliseconds reload_check_interval{1000};
};

class Authenticator {
 public:
  // Loads the files; kInvalidArgument/kIoError with the file and line.
  static common::Result<std::shared_ptr<Authenticator>> create(AuthOptions opts);
  ~Authenticator();  // waits for the bcrypt thread's current check
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // nullopt: allowed. Else the reply to send (401, 403, or 503 when too many
  // bcrypt checks are queued). `path` is the router's decoded path.
  boost::asio::awaitable<std::optional<HttpReply>> check(const HttpRequest& req,
                                                         const std::string& path);

  // Re-reads every file. On error the tables in use stay and the error is
  // returned (and logged); the cache is emptied on success.
  common::Status reload();

  size_t users() const { return tables_.password_hash.size(); }

 private:
  explicit Authenticator(AuthOptions opts, AuthTables tables);
  struct FileStamp {
    std::filesystem::file_time_type mtime{};
    uintmax_t size = 0;
  };
  std::vector<FileStamp> stamps() const;
  void reload_if_changed();
  // Who the request is, or the 401/503 reply.
  boost::asio::awaitable<std::optional<HttpReply>> authenticate(const HttpRequest& req,
                                                                std::string& user);
  boost::asio::awaitable<bool> verify(const std::string& user, const std::string& password);
  bool cached(const std::string& key);
  void remember(std::string key);
  void log_denied(const HttpRequest& req, int status, const std::string& why);

  const AuthOptions opts_;
  AuthTables tables_;
  std::vector<FileStamp> stamps_;  // of the files tables_ came from
  std::chrono::steady_clock::time_point next_reload_check_{};
  // SHA-256(user, password, hash) -> expiry.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> cache_;
  uint32_t verifies_inflight_ = 0;
  LogLimiter denied_log_;
  boost::asio::thread_pool bcrypt_pool_{1};
};

}  // namespace api
