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
#include <string>
#include <string_view>
#include <vector>

#include "api/service.h"

namespace api {

struct ClientOptions {
  // "host:port", "http://host:port" or "[v6addr]:port"; port 8080 if absent.
  std::vector<std::string> endpoints;
  std::chrono::milliseconds connect_timeout{2000};
  // One attempt's write + read; a long-poll adds its block seconds to it.
  std::chrono::milliseconds request_timeout{10000};
  std::string cluster_id_hex;  // sent as X-Cluster-Id when not empty
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
};

struct WatchOptions {
  uint64_t since = 0;
  std::vector<std::string> tags;
  uint32_t block_seconds = 30;  // per long-poll round
  uint32_t limit = 1000;        // per round
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

  Result<ClusterView> cluster();
  Result<std::map<uint64_t, std::string>> members();  // id -> peer address
  // OK when the endpoint that answers is healthy. No failover on 503 here:
  // the answer is about one node (the one current_endpoint() names).
  Status health();
  Status set_health(bool up);
  Result<RaftDiagnostics> diagnostics();

  // The endpoint the next request goes to first.
  const std::string& current_endpoint() const;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace api
