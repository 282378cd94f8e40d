#include "api/http_errors.h"

#include <boost/json.hpp>

namespace api {

using common::Code;

HttpError http_error_for(Code code) {
  switch (code) {
    case Code::kInvalidArgument:
      return {400, "invalid_argument"};
    case Code::kNotFound:
      return {404, "not_found"};
    case Code::kConflict:
      return {409, "conflict"};
    case Code::kCompacted:
      return {410, "compacted"};
    case Code::kTooLarge:
      return {413, "too_large"};
    case Code::kUnavailable:
      return {503, "unavailable"};
    case Code::kBusy:
      return {503, "busy"};
    case Code::kNotLeader:
      return {503, "not_leader"};
    case Code::kTimeout:
      // The write may or may not have been committed: the client must check.
      return {504, "outcome_unknown"};
    case Code::kFailedPrecondition:
      // Refused in the current state (e.g. a removal that would lose quorum).
      return {409, "failed_precondition"};
    case Code::kOk:
    case Code::kCorruption:
    case Code::kIoError:
    case Code::kInternal:
      break;
  }
  return {500, common::code_name(code)};
}

std::string error_json(std::string_view code, std::string_view message,
                       std::optional<uint64_t> first_index) {
  boost::json::object o;
  o["error"] = message;
  o["code"] = code;
  if (first_index) o["firstIndex"] = *first_index;
  return boost::json::serialize(o);
}

namespace {

// Reverse of http_error_for, by JSON code first (exact), then by status.
Code code_from_http(int status, std::string_view json_code) {
  static constexpr Code kCodes[] = {
      Code::kInvalidArgument,   Code::kNotFound,    Code::kConflict, Code::kCompacted,
      Code::kTooLarge,          Code::kUnavailable, Code::kBusy,     Code::kNotLeader,
      Code::kTimeout,           Code::kCorruption,  Code::kIoError,  Code::kInternal,
      Code::kFailedPrecondition};
  for (Code c : kCodes) {
    HttpError e = http_error_for(c);
    if (e.status == status && e.code == json_code) return c;
  }
  if (json_code == kErrClusterMismatch.code) return Code::kFailedPrecondition;
  if (status == 404) return Code::kNotFound;
  if (status == 409) return Code::kConflict;
  if (status == 410) return Code::kCompacted;
  if (status == 413) return Code::kTooLarge;
  if (status == 504) return Code::kTimeout;
  if (status == 503) return Code::kUnavailable;
  if (status >= 400 && status < 500) return Code::kInvalidArgument;
  return Code::kInternal;
}

}  // namespace

common::Status status_from_http(int status, std::string_view body) {
  std::string message = "HTTP " + std::to_string(status);
  std::string json_code;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (!ec && v.is_object()) {
    const auto& o = v.as_object();
    if (auto* m = o.if_contains("error"); m && m->is_string()) {
      message += ": " + std::string(m->as_string());
    }
    if (auto* c = o.if_contains("code"); c && c->is_string()) json_code = c->as_string();
  } else if (!body.empty() && body.size() < 200) {
    message += ": " + std::string(body);
  }
  return common::Status(code_from_http(status, json_code), message);
}

}  // namespace api
