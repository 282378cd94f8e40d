#include "api/http_auth.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>

#include "api/basic_auth.h"
#include "api/http_router.h"
#include "api/http_router_internal.h"
#include "common/logger.h"

namespace api {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using common::Code;
using common::Result;
using common::Status;

Role required_role(std::string_view method, std::string_view path) {
  bool read_only = method == "GET" || method == "HEAD";
  // Load balancers probe /health without credentials; marking a node down
  // takes it out of service, which is an operator's act.
  if (path == "/health") return read_only ? Role::kNone : Role::kAdmin;
  // The cluster's shape and settings: members, leadership, replicated config.
  if (path == "/config" || path.starts_with("/config/")) return Role::kAdmin;
  // Operator tools: GET /admin/dump streams the whole store.
  if (path == "/admin" || path.starts_with("/admin/")) return Role::kAdmin;
  if (!read_only && (path == "/cluster" || path.starts_with("/cluster/"))) return Role::kAdmin;
  // Everything else that only reads (feeds, keys, leases, cluster view,
  // diagnostics, metrics) needs read; anything that changes data needs write.
  return read_only ? Role::kRead : Role::kWrite;
}

namespace {

std::string cache_key(const std::string& user, const std::string& password,
                      const std::string& hash) {
  std::string in = user;
  in += '\0';
  in += password;
  in += '\0';
  in += hash;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(in.data(), in.size(), md, &n, EVP_sha256(), nullptr) != 1) return {};
  return std::string(reinterpret_cast<const char*>(md), n);
}

std::shared_ptr<spdlog::logger> auth_log() {
  return common::component_logger("auth");
}

HttpReply unauthorized(std::string_view message) {
  HttpReply r = error_reply(kErrUnauthorized, message);
  r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"changeagent\"");
  return r;
}

}  // namespace

Authenticator::Authenticator(AuthOptions opts, AuthTables tables)
    : opts_(std::move(opts)), tables_(std::move(tables)) {
  stamps_ = stamps();
}

Authenticator::~Authenticator() {
  bcrypt_pool_.join();
}

Result<std::shared_ptr<Authenticator>> Authenticator::create(AuthOptions opts) {
  if (opts.files.users_path.empty()) {
    return Status(Code::kInvalidArgument, "authentication needs --auth-file");
  }
  if (opts.cache_entries_max == 0 || opts.verifies_inflight_max == 0) {
    return Status(Code::kInvalidArgument, "auth cache and bcrypt queue bounds must be > 0");
  }
  auto tables = load_auth_tables(opts.files);
  if (!tables.is_ok()) return tables.status();
  auto a = std::shared_ptr<Authenticator>(new Authenticator(std::move(opts), std::move(*tables)));
  auth_log()->info("basic auth on: {} users from {}{}", a->tables_.password_hash.size(),
                   a->opts_.files.users_path,
                   a->opts_.files.roles_path.empty() ? " (no --auth-roles: every user is admin)"
                                                     : ", roles from " + a->opts_.files.roles_path);
  return a;
}

std::vector<Authenticator::FileStamp> Authenticator::stamps() const {
  std::vector<FileStamp> out;
  for (const std::string* p :
       {&opts_.files.users_path, &opts_.files.roles_path, &opts_.files.cn_map_path}) {
    FileStamp s;
    std::error_code ec;
    if (!p->empty()) {
      s.mtime = std::filesystem::last_write_time(*p, ec);
      s.size = std::filesystem::file_size(*p, ec);
    }
    out.push_back(s);
  }
  return out;
}

Status Authenticator::reload() {
  auto stamps_before = stamps();
  auto tables = load_auth_tables(opts_.files);
  // Remember the stamps even on failure: a broken file is reported once,
  // not on every request, until it changes again.
  stamps_ = stamps_before;
  if (!tables.is_ok()) {
    auth_log()->error("auth files not reloaded, still using the previous ones: {}",
                      tables.status().message());
    return tables.status();
  }
  tables_ = std::move(*tables);
  cache_.clear();
  auth_log()->info("auth files reloaded: {} users", tables_.password_hash.size());
  return Status::ok();
}

void Authenticator::reload_if_changed() {
  auto now = Clock::now();
  if (now < next_reload_check_) return;
  next_reload_check_ = now + opts_.reload_check_interval;
  auto current = stamps();
  bool changed = false;
  for (size_t i = 0; i < current.size(); i++) {
    changed |= current[i].mtime != stamps_[i].mtime || current[i].size != stamps_[i].size;
  }
  if (changed) (void)reload();
}

bool Authenticator::cached(const std::string& key) {
  auto it = cache_.find(key);
  if (it == cache_.end()) return false;
  if (Clock::now() < it->second) return true;
  cache_.erase(it);
  return false;
}

void Authenticator::remember(std::string key) {
  auto now = Clock::now();
  if (cache_.size() >= opts_.cache_entries_max) {
    std::erase_if(cache_, [now](const auto& kv) { return kv.second <= now; });
    // Still full of live entries: start over rather than grow (a miss only
    // costs one more bcrypt).
    if (cache_.size() >= opts_.cache_entries_max) cache_.clear();
  }
  cache_[std::move(key)] = now + opts_.cache_ttl;
}

asio::awaitable<bool> Authenticator::verify(const std::string& user, const std::string& password) {
  // An unknown user costs a bcrypt too (against the hash of a random password
  // thrown away when it was made), so
  // timing does not tell which user names exist.
  static const std::string kNoSuchUser =
      "$2y$05$jdjbxkLgwIYQ70rJsDQGn.TxPpmyeupRhJ1gnGIcYQ7jBt6an3pfW";
  auto it = tables_.password_hash.find(user);
  bool known = it != tables_.password_hash.end();
  std::string hash = known ? it->second : kNoSuchUser;
  std::string key = cache_key(user, password, hash);
  if (!key.empty() && cached(key)) co_return true;
  auto ex = co_await asio::this_coro::executor;
  // Not one full-expression with co_await: see await_callback.
  auto start = [this, ex, password, hash](std::function<void(bool)> done) {
    asio::post(bcrypt_pool_, [ex, password, hash, done = std::move(done)] {
      bool ok = bcrypt_matches(password, hash);
      asio::post(ex, [done, ok] { done(ok); });
    });
  };
  verifies_inflight_++;
  auto op = http_detail::await_callback<bool>(std::move(start));
  bool ok = co_await std::move(op);
  verifies_inflight_--;
  ok = ok && known;
  // Only successes are cached: a wrong guess always pays for bcrypt.
  if (ok && !key.empty()) remember(std::move(key));
  co_return ok;
}

void Authenticator::log_denied(const HttpRequest& req, int status, const std::string& why) {
  uint64_t suppressed = 0;
  if (!denied_log_.allow(Clock::now(), suppressed)) return;
  auth_log()->warn("{} {} {} from {}: {}{}", status, req.method, req.target,
                   req.remote_address.empty() ? "?" : req.remote_address, why,
                   suppressed ? " (" + std::to_string(suppressed) + " more refusals not logged)"
                              : std::string());
}

asio::awaitable<std::optional<HttpReply>> Authenticator::authenticate(const HttpRequest& req,
                                                                      std::string& user) {
  const std::string* header = req.header("authorization");
  // A verified client certificate stands for its mapped user; credentials
  // sent as well take precedence (they are the more specific claim).
  if (!header && !req.client_cert_cn.empty()) {
    auto it = tables_.cn_users.find(req.client_cert_cn);
    if (it != tables_.cn_users.end()) {
      user = it->second;
      co_return std::nullopt;
    }
    log_denied(req, 401, "certificate CN '" + req.client_cert_cn + "' is not in --auth-cn-map");
    co_return unauthorized("the client certificate's CN '" + req.client_cert_cn +
                           "' is not mapped to a user (--auth-cn-map); send basic auth instead");
  }
  if (!header) {
    log_denied(req, 401, "no credentials");
    co_return unauthorized("authentication required: send HTTP basic auth credentials");
  }
  auto creds = parse_basic_auth(*header);
  if (!creds) {
    log_denied(req, 401, "malformed Authorization header");
    co_return unauthorized("the Authorization header is not Basic base64(user:password)");
  }
  if (verifies_inflight_ >= opts_.verifies_inflight_max) {
    log_denied(req, 503, "too many password checks queued");
    co_return error_reply(kErrOverloaded, "too many logins at once; retry shortly");
  }
  bool ok = co_await verify(creds->user, creds->password);
  if (!ok) {
    log_denied(req, 401, "wrong user or password for '" + creds->user + "'");
    co_return unauthorized("wrong user or password");
  }
  user = std::move(creds->user);
  co_return std::nullopt;
}

asio::awaitable<std::optional<HttpReply>> Authenticator::check(const HttpRequest& req,
                                                               const std::string& path) {
  Role need = required_role(req.method, path);
  if (need == Role::kNone) co_return std::nullopt;
  reload_if_changed();
  std::string user;
  std::optional<HttpReply> denied = co_await authenticate(req, user);
  if (denied) co_return denied;
  Role has = tables_.role_of(user);
  if (has < need) {
    std::string why = "user '" + user + "' has role " + std::string(role_name(has)) + "; " +
                      req.method + " " + path + " needs role " + std::string(role_name(need));
    log_denied(req, 403, why);
    co_return error_reply(kErrForbidden, why);
  }
  co_return std::nullopt;
}

}  // namespace api
