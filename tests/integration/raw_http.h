// A small blocking HTTP/1.1 helper on a raw socket to 127.0.0.1, for what
// the client library does not do: Server-Sent Events and hand-made
// (malformed) requests. Every read is bounded by a deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace integration {

using common::Result;
using common::Status;
using Millis = std::chrono::milliseconds;

class RawConnection {
 public:
  static Result<std::unique_ptr<RawConnection>> connect(uint16_t port, Millis timeout);
  ~RawConnection();
  Status send(const std::string& bytes);
  // Reads what is available (waiting at most until the deadline) and
  // appends it to received(). kTimeout if nothing came, kUnavailable at EOF.
  Status read_some(std::chrono::steady_clock::time_point deadline);
  // Reads until `needle` appears in received() or the deadline passes.
  bool read_until(const std::string& needle, std::chrono::steady_clock::time_point deadline);
  const std::string& received() const { return received_; }

 private:
  explicit RawConnection(int fd) : fd_(fd) {}
  int fd_ = -1;
  std::string received_;
};

// Events parsed from a text/event-stream body.
struct SseEvent {
  std::string id;
  std::string event;
  std::string data;
};
std::vector<SseEvent> parse_sse(const std::string& stream_text);

}  // namespace integration
