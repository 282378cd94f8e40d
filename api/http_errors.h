// The one place that maps the error vocabulary (common::Code) to HTTP: the
// status code and the short JSON "code" string, plus the HTTP-only errors
// that have no Code (415, 405, 431, ...). The client uses the reverse
// mapping so that a server error comes back as the same Code. No Beast here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace api {

struct HttpError {
  int status = 500;
  std::string_view code;  // stable short name for the JSON "code" field
};

HttpError http_error_for(common::Code code);

// HTTP-level errors with no Code of their own.
inline constexpr HttpError kErrRouteNotFound{404, "not_found"};
inline constexpr HttpError kErrMethodNotAllowed{405, "method_not_allowed"};
// X-Cluster-Id names another cluster: the client is aimed at the wrong one.
inline constexpr HttpError kErrClusterMismatch{409, "wrong_cluster"};
// A compare of POST /changes with "ifRevision", PUT/DELETE /keys or POST /txn
// failed: nothing was written. The client maps it to Code::kConflict.
inline constexpr HttpError kErrRevisionMismatch{409, "revision_mismatch"};
inline constexpr HttpError kErrBodyTooLarge{413, "too_large"};
inline constexpr HttpError kErrUnsupportedMediaType{415, "unsupported_media_type"};
inline constexpr HttpError kErrHeadersTooLarge{431, "headers_too_large"};
inline constexpr HttpError kErrBadRequest{400, "bad_request"};
inline constexpr HttpError kErrOverloaded{503, "overloaded"};
// One client holds HttpOptions::longpoll_waiters_per_client_max long-polls
// and SSE streams already; others may still wait.
inline constexpr HttpError kErrTooManyWaiters{429, "too_many_waiters"};
// Authentication (api/http_auth.h): no or wrong credentials (401, with
// WWW-Authenticate), and a known user without the role the route needs (403).
inline constexpr HttpError kErrUnauthorized{401, "unauthorized"};
inline constexpr HttpError kErrForbidden{403, "forbidden"};

// {"error": message, "code": code[, "firstIndex": n]}
std::string error_json(std::string_view code, std::string_view message,
                       std::optional<uint64_t> first_index = std::nullopt);

// Client side: an error response back into a Status. `body` is the
// response body (the JSON error if the server sent one).
common::Status status_from_http(int status, std::string_view body);

}  // namespace api
