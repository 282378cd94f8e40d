// A synchronous C++ client of the changeagent HTTP API, for changectl, the
// benchmark and pgha. One keep-alive connection at a time, to the endpoint
// that last answered; on connection failure or 503 it fails over to the
// next endpoint in the list. Every call is bounded by the timeouts and
// returns common::Result with the server's error mapped back to its Code
// (api/http_errors.h). Not thread-safe: use one Client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/cursors.h"
#include "api/service.h"

namespace api {

struct ClientOptions {
  // "host:port", "http://host:port", "https://host:port" or "[v6addr]:port";
  // port 8080 if absent. Without a scheme: https when ca_file or cert_file
  // is set, else http.
  std::vector<std::string> endpoints;
  // HTTPS: the CA the server's certificate must chain to (the system's CAs
  // when empty), and a client certificate and key to present (for servers
  // started with --client-cert-auth). PEM files; bad ones fail create().
  std::string ca_file{};
  std::string cert_file{};
  std::string key_file{};
  std::chrono::milliseconds connect_timeout{2000};
  // One attempt's write + read; a long-poll adds its block seconds to it.
  std::chrono::milliseconds request_timeout{10000};
  std::string cluster_id_hex;  // sent as X-Cluster-Id when not empty
  // With no cluster_id_hex: pin the id the first answer names (its
  // X-Cluster-Id header) and send it from then on, so failing over to an
  // endpoint of another cluster gets 409 wrong_cluster instead of a write.
  bool learn_cluster_id = false;
  // "user:password" sent as HTTP basic auth on every request when not
  // empty (a server started with --auth-file needs it; docs/SECURITY.md).
  std::string basic_auth;
};

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

struct FeedRequest {
  uint64_t since = 0;  // exclusive
  uint32_t limit = 100;
  std::vector<std::string> tags;  // OR
  uint32_t block_seconds = 0;     // long-poll this long when nothing is newer
  bool consistent = false;        // leader read barrier first
  // Only changes writing a key with this prefix; these include the internal
  // entries by which a lease's expiry or revoke deletes matching keys.
  std::string prefix;
  bool include_internal = false;  // also lease grants/revokes (any prefix)
};

struct WatchOptions {
  uint64_t since = 0;
  std::vector<std::string> tags;
  uint32_t block_seconds = 30;  // per long-poll round
  uint32_t limit = 1000;        // per round
  std::string prefix;  // as FeedRequest::prefix: key writes under it, lease expiry included
  bool include_internal = false;
  // Checked between rounds; returning true ends watch() with OK.
  std::function<bool()> should_stop;
};

class Client {
 public:
  // kInvalidArgument if no endpoint is given or one cannot be parsed.
  static Result<std::unique_ptr<Client>> create(ClientOptions opts);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Any request; a non-2xx answer is still a value here (status set).
  // Fails over on connection failure and on 503. A POST whose answer was
  // lost after it was sent returns kTimeout (outcome unknown), never retried.
  Result<HttpResponse> request(std::string_view method, std::string_view target,
                               std::string body = {},
                               std::string_view content_type = "application/json",
                               std::chrono::milliseconds extra_timeout = {});

  Result<Appended> post_change(const ChangeInput& in, bool wait = true);
  Result<std::vector<Appended>> post_changes(const std::vector<ChangeInput>& in, bool wait = true);
  Result<FeedPage> get_feed(const FeedRequest& req);
  Result<Change> get_change(uint64_t id, bool consistent = false);
  // Follows the feed with long-polls from opts.since, calling on_change for
  // each change in id order; on_change returning false ends it with OK.
  // Transient failures (no endpoint answers, 503, timeouts) are retried
  // with backoff; anything else (410 compacted, 400, 409) is returned.
  Status watch(const WatchOptions& opts, const std::function<bool(const Change&)>& on_change);

  // ---- keys, transactions, leases (client_keys.cc) ----
  // A write whose compare fails is a VALUE with succeeded=false and the
  // current revisions (0 = absent), not an error: check succeeded. On
  // success, id is the change's id, which is also the key's new revision.
  // if_revision: commit only if the key's revision is this (0 = must not
  // exist). lease: attach the key to this lease (0 = none). Writes are never
  // resent after a lost answer: kTimeout means the outcome is unknown.
  Result<TxnResult> put_key(const std::string& key, std::string_view value_json,
                            std::optional<uint64_t> if_revision = std::nullopt, uint64_t lease = 0);
  // kNotFound if the key is absent and no if_revision is given.
  Result<TxnResult> delete_key(const std::string& key,
                               std::optional<uint64_t> if_revision = std::nullopt);
  Result<TxnResult> txn(const TxnRequest& req);
  // kNotFound if absent. consistent: linearizable (leader read barrier).
  Result<KeyValue> get_key(const std::string& key, bool consistent = false);
  // Keys with `prefix`, sorted, strictly after `after` (page on with the last
  // key returned while page.more), at most `limit`.
  Result<KeyPage> list_keys(const std::string& prefix, const std::string& after = {},
                            uint32_t limit = 100, bool consistent = false);
  // ttl in [kLeaseTtlSecondsMin, kLeaseTtlSecondsMax] seconds.
  Result<LeaseInfo> lease_grant(uint64_t ttl_seconds);
  // Renews to the full ttl; kNotFound if the lease expired or was revoked.
  // Safe to resend, so it is retried like a read.
  Result<LeaseInfo> lease_keepalive(uint64_t id);
  Status lease_revoke(uint64_t id);  // also deletes the lease's keys
  Result<LeaseInfo> lease_get(uint64_t id);

  // ---- named cursors and checkpoint records (client_cursors.cc; see
  // api/cursors.h) ----
  // kNotFound if there is no such cursor.
  Result<Cursor> get_cursor(const std::string& name, bool consistent = false);
  // Every cursor, paged through (at most kCursorListLimitMax per request).
  Result<std::vector<Cursor>> list_cursors(bool consistent = false);
  // Moves the cursor (creating it). kConflict when it would move backwards
  // without force ("cursor_behind") or when if_revision does not match
  // ("revision_mismatch"). Without if_revision it is safe to resend, and is.
  Result<Cursor> set_cursor(const std::string& name, const CursorWrite& w);
  // kNotFound if absent (and no if_revision); kConflict on a revision mismatch.
  Status delete_cursor(const std::string& name, std::optional<uint64_t> if_revision = {});
  // Appends a checkpoint record (never resent: kTimeout = outcome unknown).
  Result<Checkpoint> post_checkpoint(const CheckpointInput& in);
  // The newest checkpoint with `tag` (empty: of any tag); kNotFound if none.
  Result<Checkpoint> latest_checkpoint(const std::string& tag = {}, bool consistent = false);

  // ---- membership (client_members.cc) ----
  // Only the leader changes membership; a follower answers 503 not_leader,
  // on which the client fails over to the next endpoint, so give them all.
  // kFailedPrecondition: a removal refused because it would leave fewer
  // reachable voters than a quorum (force overrides; only for a dead node).
  // kConflict: a name or peer address already in use, or another change in
  // flight. kNotFound: no such member id.
  // Adds a learner; req.auto_promote=false keeps it one (a read-only
  // replica), else the leader promotes it once caught up. Never resent.
  Result<MemberView> add_member(const MemberRequest& req);
  Result<MemberView> get_member(uint64_t id);
  Status remove_member(uint64_t id, bool force = false);  // never resent
  Status promote_member(uint64_t id);
  // peer_url: host:port (or http://host:port) the other members dial.
  Status update_member(uint64_t id, const std::string& peer_url);
  // Moves leadership to member `id`; OK once it moved (kTimeout if not).
  Status move_leader(uint64_t id);

  Result<ClusterView> cluster();
  Result<std::map<uint64_t, std::string>> members();  // id -> peer address
  // OK when the endpoint that answers is healthy. No failover on 503 here:
  // the answer is about one node (the one current_endpoint() names).
  Status health();
  Status set_health(bool up);
  Result<RaftDiagnostics> diagnostics();

  // The endpoint the next request goes to first.
  const std::string& current_endpoint() const;
  // The X-Cluster-Id sent with each request: the given one, or the learnt
  // one (learn_cluster_id), or empty.
  const std::string& cluster_id() const;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  Result<HttpResponse> send(std::string_view method, std::string_view target, std::string body,
                            bool idempotent);
  std::unique_ptr<Impl> impl_;
};

// Keeps one lease alive from its own thread with its own Client: a
// keepalive every ttl/3; a failed one is retried every ttl/10 (at least
// 100 ms) until the lease is renewed or its ttl has run out since the last
// renewal. Loss (kNotFound: expired or revoked; kTimeout: not renewed
// within ttl) is reported once through on_lost, and renewing stops.
// Destruction stops renewing (and revokes when revoke_on_stop) and joins.
// Callbacks run on the keeper's thread.
class LeaseKeeper {
 public:
  struct Options {
    ClientOptions client;  // request_timeout is capped to ttl/3 for keepalives
    uint64_t lease_id = 0;
    uint64_t ttl_seconds = 0;  // the lease's ttl, as granted
    std::function<void(const Status&)> on_lost;
    std::function<void(const LeaseInfo&)> on_renewed;  // optional
    bool revoke_on_stop = false;  // a clean shutdown frees the lease's keys at once
  };

  // kInvalidArgument for a zero id, a ttl out of range, or bad endpoints.
  static Result<std::unique_ptr<LeaseKeeper>> start(Options opts);
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Idempotent; returns after the thread ended (or at once when called from
  // a callback, on the keeper's own thread). Call from one thread at a time.
  void stop();
  bool lost() const;
  uint64_t renewals() const;  // successful keepalives so far

  struct State;

 private:
  explicit LeaseKeeper(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace api
