// A response body produced away from the io_context's thread, chunk by
// chunk, for GET /admin/dump: the HTTP session pulls the next chunk only
// after writing the last one, so a slow client slows the producer down
// instead of filling memory.
#pragma once

#include <functional>
#include <string>

#include "common/status.h"

namespace api {

class ByteStream {
 public:
  virtual ~ByteStream() = default;  // stops the producer (and waits for it)
  // Calls `done` exactly once, on the io_context's thread, with the next
  // chunk: non-empty data, or an empty string at the end of the body, or an
  // error (the body then ends where it is; the producer has already put
  // whatever explains the cut into the body, e.g. a dump's abort record).
  // Call again only after `done` ran.
  virtual void next(std::function<void(common::Result<std::string>)> done) = 0;
  virtual std::string content_type() const = 0;
};

}  // namespace api
