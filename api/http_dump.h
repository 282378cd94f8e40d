// GET /admin/dump (http_dump.cc): the route's validation; the body is
// streamed by the session (http_server.cc) from the Service's ByteStream.
#pragma once

#include <string_view>

#include "api/http_router.h"

namespace api {

Routed route_dump(Service& svc, const HttpRequest& req);

}  // namespace api
