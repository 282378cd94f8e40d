// The client's typed calls for named cursors and checkpoint records (issue
// 10). No Beast here: everything goes through Client::send.
#include "api/client.h"
#include "api/cursors.h"
#include "api/http_errors.h"
#include "api/url_encode.h"

namespace api {

namespace {

bool success(const HttpResponse& r) {
  return r.status >= 200 && r.status < 300;
}

template <typename T, typename Parse>
Result<T> answer(const Result<HttpResponse>& res, Parse parse) {
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  return parse(res->body);
}

}  // namespace

Result<Cursor> Client::get_cursor(const std::string& name, bool consistent) {
  if (Status s = validate_cursor_name(name); !s.is_ok()) return s;
  std::string target = "/cursors/" + name + (consistent ? "?consistent=true" : "");
  return answer<Cursor>(send("GET", target, {}, true), parse_cursor);
}

Result<std::vector<Cursor>> Client::list_cursors(bool consistent) {
  std::vector<Cursor> out;
  std::string after;
  // Bounded: each page moves `after` forward; a server that repeats itself
  // (a bug) ends the loop instead of spinning.
  for (int page_n = 0; page_n < 100000; page_n++) {
    std::string target = "/cursors?limit=" + std::to_string(kCursorListLimitMax);
    if (!after.empty()) target += "&after=" + after;
    if (consistent) target += "&consistent=true";
    auto page = answer<CursorPage>(send("GET", target, {}, true), parse_cursor_page);
    if (!page.is_ok()) return page.status();
    for (auto& c : page->cursors) out.push_back(std::move(c));
    if (!page->more || out.empty() || out.back().name == after) return out;
    after = out.back().name;
  }
  return Status(Code::kInternal, "the cursor list did not end");
}

Result<Cursor> Client::set_cursor(const std::string& name, const CursorWrite& w) {
  if (Status s = validate_cursor_name(name); !s.is_ok()) return s;
  // Moving to an index twice is harmless, so a lost answer may be resent;
  // a compare on a revision is not (the first attempt moved the revision).
  bool idempotent = !w.if_revision;
  return answer<Cursor>(send("PUT", "/cursors/" + name, render_cursor_write_body(w), idempotent),
                        parse_cursor);
}

Status Client::delete_cursor(const std::string& name, std::optional<uint64_t> if_revision) {
  if (Status s = validate_cursor_name(name); !s.is_ok()) return s;
  std::string target = "/cursors/" + name;
  if (if_revision) target += "?ifRevision=" + std::to_string(*if_revision);
  auto res = send("DELETE", target, {}, false);
  if (!res.is_ok()) return res.status();
  if (!success(*res)) return status_from_http(res->status, res->body);
  return Status::ok();
}

Result<Checkpoint> Client::post_checkpoint(const CheckpointInput& in) {
  return answer<Checkpoint>(send("POST", "/changes/checkpoints", render_checkpoint_body(in), false),
                            parse_checkpoint);
}

Result<Checkpoint> Client::latest_checkpoint(const std::string& tag, bool consistent) {
  std::string target = "/changes/checkpoints/latest";
  char sep = '?';
  if (!tag.empty()) {
    target += "?tag=" + url_encode(tag);
    sep = '&';
  }
  if (consistent) target += std::string(1, sep) + "consistent=true";
  return answer<Checkpoint>(send("GET", target, {}, true), parse_checkpoint);
}

}  // namespace api
