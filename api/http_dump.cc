// GET /admin/dump: the node's store as a changeagent-admin dump file,
// consistent at one index, streamed until the connection closes (no length:
// the dump's own trailer tells a complete body from a cut one).
#include "api/http_dump.h"

#include "api/http_router_internal.h"

namespace api {

Routed route_dump(Service& svc, const HttpRequest& req) {
  if (req.method != "GET") return Routed{http_detail::method_not_allowed("GET"), {}};
  auto stream = svc.open_dump();
  if (!stream.is_ok()) return Routed{status_reply(stream.status()), {}};
  Routed out;
  out.stream = std::shared_ptr<ByteStream>(std::move(stream).value());
  return out;
}

}  // namespace api
