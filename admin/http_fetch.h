// A streaming HTTP/1.1 GET for changeagent-admin's live dump: the body is
// handed over as it arrives, so a dump of any size passes through bounded
// memory. The server ends the body by closing the connection (GET
// /admin/dump sends no length); a cut connection is caught by the dump's own
// trailer, not here.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace admin {

struct FetchOptions {
  std::string endpoint;  // "host:port" or "http://host:port"
  std::string target;    // "/admin/dump"
  std::chrono::milliseconds connect_timeout{3000};
  // No byte for this long: give up (the server sends steadily while it reads).
  std::chrono::milliseconds idle_timeout{60000};
};

// OK once the server closed after a 200 whose body went to on_body. A non-200
// answer is an error carrying the server's message; a failure of on_body
// stops the transfer and is returned.
common::Status http_get_stream(const FetchOptions& options,
                               const std::function<common::Status(std::string_view)>& on_body);

}  // namespace admin
