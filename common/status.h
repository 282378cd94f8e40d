// One error vocabulary for every module: a closed Code enum, a Status that
// carries a Code plus an operator-readable message, and Result<T>, which is
// either a value or a non-OK Status. Exceptions never cross a module
// boundary; Boost/RocksDB/protobuf failures are converted at the edge into
// these. api/http_errors.cc is the one place that maps a Code to HTTP.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace common {

enum class Code {
  kOk = 0,
  kInvalidArgument,     // bad input from a caller (HTTP 400)
  kNotFound,            // absent (404)
  kConflict,            // precondition failed, change already in flight (409)
  kCompacted,           // asked for an index below the first retained one (410)
  kTooLarge,            // over a named limit (413)
  kUnavailable,         // no leader / no quorum / shutting down (503)
  kNotLeader,           // this node cannot do it; the leader can
  kBusy,                // a bounded queue is full; retry later (503)
  kTimeout,             // outcome unknown after a bounded wait (504)
  kCorruption,          // stored data fails its own checks
  kIoError,             // the disk or OS said no
  kFailedPrecondition,  // refusing to run against this state (wrong version, wrong cluster)
  kInternal,            // a bug of ours
};

// Short stable name for logs and JSON "code" fields.
std::string_view code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  bool is_ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "code_name: message", for one log line.
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).is_ok() && "Result built from an OK status carries no value");
  }

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return is_ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace common
