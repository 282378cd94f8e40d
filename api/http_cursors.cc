// Named consumer cursors (PUT/GET/DELETE /cursors/{name}, GET /cursors) and
// checkpoint records (POST /changes/checkpoints, GET
// /changes/checkpoints/latest) of issue 10. Both are keys under reserved
// prefixes written through Service::txn (see cursors.h), so they replicate
// and compare-and-set like any key; only these routes may write them.
// Coroutines here take references to named objects, never temporaries built
// in the co_await expression (GCC 12 bug 99576; see await_callback).
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "api/change_json.h"
#include "api/cursors.h"
#include "api/http_router.h"
#include "api/http_router_internal.h"

namespace api {

namespace asio = boost::asio;
using namespace http_detail;

namespace {

// A cursor or checkpoint may name an index this node has not applied yet
// (the consumer read it from a node further along): wait this long for it.
constexpr std::chrono::milliseconds kCatchUpWait{2000};
// PUT /cursors/{name} without ifRevision is a read-check-CAS loop: a
// concurrent writer makes it decide again, this many times at most.
constexpr int kCursorCasAttemptsMax = 5;

constexpr HttpError kErrCursorBehind{409, "cursor_behind"};

uint64_t wall_clock_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// The cursor at `name` on this node: nullopt if absent.
Result<std::optional<Cursor>> read_cursor(Service& svc, const std::string& name) {
  auto kv = svc.get_key(cursor_key(name));
  if (!kv.is_ok()) {
    if (kv.status().code() == Code::kNotFound) return std::optional<Cursor>();
    return kv.status();
  }
  auto c = cursor_from_key(*kv);
  if (!c.is_ok()) return c.status();
  return std::optional<Cursor>(std::move(c.value()));
}

HttpReply cursor_behind(const Cursor& current, uint64_t wanted) {
  std::string body =
      error_json(kErrCursorBehind.code, "cursor " + current.name + " is at " +
                                            std::to_string(current.index) + "; moving it back to " +
                                            std::to_string(wanted) + " needs \"force\": true");
  body.pop_back();
  body += ",\"current\":" + render_cursor(current) + "}";
  return json_reply(kErrCursorBehind.status, std::move(body));
}

}  // namespace

namespace http_detail {

Status check_reserved_write(const TxnRequest& txn) {
  if (txn.change.type == kCheckpointType) {
    return bad("type " + std::to_string(kCheckpointType) +
               " is reserved for checkpoint records; use POST /changes/checkpoints");
  }
  for (const auto& op : txn.ops) {
    if (auto p = reserved_prefix_of(op.key)) {
      std::string how = *p == kCursorKeyPrefix       ? "PUT/DELETE /cursors/{name}"
                        : *p == kCheckpointKeyPrefix ? "POST /changes/checkpoints"
                                                     : "their own route";
      return bad("keys under " + std::string(*p) + " are reserved; write them with " + how);
    }
  }
  return Status::ok();
}

void render_cursor_metrics(Service& svc, std::string& out) {
  auto page = svc.list_keys(std::string(kCursorKeyPrefix), {}, kCursorLagMetricsMax);
  if (!page.is_ok()) return;  // no state view here: no cursors to report
  uint64_t last = svc.diagnostics().applied_index;
  out += "# HELP changeagent_cursor_lag Changes applied here past a consumer cursor (lastIndex - ";
  out += "index), for the first " + std::to_string(kCursorLagMetricsMax) + " cursors by name.\n";
  out += "# TYPE changeagent_cursor_lag gauge\n";
  uint64_t lag_max = 0;
  for (const auto& kv : page->keys) {
    auto c = cursor_from_key(kv);
    if (!c.is_ok()) continue;
    uint64_t lag = last > c->index ? last - c->index : 0;
    lag_max = std::max(lag_max, lag);
    // Names are [A-Za-z0-9._-]: nothing to escape in the label.
    out += "changeagent_cursor_lag{cursor=\"" + c->name + "\"} " + std::to_string(lag) + "\n";
  }
  render_gauge(out, "changeagent_cursor_lag_max",
               "The largest lag of the cursors in changeagent_cursor_lag.",
               static_cast<int64_t>(lag_max));
}

}  // namespace http_detail

asio::awaitable<Result<TxnResult>> Router::run_reserved_txn(TxnRequest& txn) {
  using Done = Result<TxnResult>;
  // Not one full-expression with co_await: see await_callback.
  auto start = [this, &txn](std::function<void(Done)> done) {
    svc_.txn(std::move(txn), true, std::move(done));
  };
  auto op = await_callback<Done>(std::move(start));
  Done result = co_await std::move(op);
  co_return result;
}

asio::awaitable<uint64_t> Router::applied_at_least(uint64_t index) {
  uint64_t applied = svc_.diagnostics().applied_index;
  auto deadline = Clock::now() + kCatchUpWait;
  while (applied < index && Clock::now() < deadline && !waiters_.stopped()) {
    co_await waiters_.wait(svc_, applied, deadline);
    applied = svc_.diagnostics().applied_index;
  }
  co_return applied;
}

asio::awaitable<HttpReply> Router::dispatch_cursors(const HttpRequest& req, const std::string& path,
                                                    const Query& q, const Status& qs,
                                                    std::string_view& route_name) {
  const std::string& m = req.method;
  if (path == "/cursors") {
    route_name = "/cursors";
    if (m != "GET") co_return method_not_allowed("GET");
    if (!qs.is_ok()) co_return status_reply(qs);
    HttpReply out = co_await list_cursors(q);
    co_return out;
  }
  route_name = "/cursors/{name}";
  if (m != "GET" && m != "PUT" && m != "DELETE") co_return method_not_allowed("GET, PUT, DELETE");
  if (!qs.is_ok()) co_return status_reply(qs);
  std::string name = path.substr(9);  // after "/cursors/"
  if (Status s = validate_cursor_name(name); !s.is_ok()) co_return status_reply(s);
  HttpReply out;
  if (m == "PUT") {
    out = co_await put_cursor(req, name, q);
  } else if (m == "DELETE") {
    out = co_await delete_cursor(name, q);
  } else {
    if (q.consistent) {
      Status s = co_await barrier();
      if (!s.is_ok()) co_return status_reply(s);
    }
    auto c = read_cursor(svc_, name);
    if (!c.is_ok()) co_return status_reply(c.status());
    if (!*c) co_return status_reply(Status(Code::kNotFound, "no cursor named " + name));
    (*c)->last_index = svc_.diagnostics().applied_index;
    out = json_reply(200, render_cursor(**c));
  }
  co_return out;
}

asio::awaitable<HttpReply> Router::list_cursors(const Query& q) {
  uint32_t limit = 0;
  if (Status s = route_limit(q, kCursorListLimitDefault, kCursorListLimitMax, limit); !s.is_ok()) {
    co_return status_reply(s);
  }
  if (q.consistent) {
    Status s = co_await barrier();
    if (!s.is_ok()) co_return status_reply(s);
  }
  std::string after = q.after.empty() ? std::string() : cursor_key(q.after);
  auto keys = svc_.list_keys(std::string(kCursorKeyPrefix), after, limit);
  if (!keys.is_ok()) co_return status_reply(keys.status());
  CursorPage page;
  page.more = keys->more;
  page.last_index = svc_.diagnostics().applied_index;
  for (const auto& kv : keys->keys) {
    auto c = cursor_from_key(kv);
    if (!c.is_ok()) co_return status_reply(c.status());
    c->last_index = page.last_index;
    page.cursors.push_back(std::move(c.value()));
  }
  co_return json_reply(200, render_cursor_page(page));
}

// Never backwards unless forced; an equal index is answered without a write
// (consumers commit periodically, often with nothing new). With ifRevision
// the caller owns the race: one attempt, 409 revision_mismatch if it lost.
// Without, a write that lost to another one is decided again against the
// winner's value, so "not backwards" holds against concurrent writers too.
asio::awaitable<HttpReply> Router::put_cursor(const HttpRequest& req, const std::string& name,
                                              const Query& q) {
  if (!is_json_content_type(req.header("content-type"))) {
    co_return error_reply(kErrUnsupportedMediaType, "Content-Type must be application/json");
  }
  auto w = parse_cursor_write_body(req.body);
  if (!w.is_ok()) co_return status_reply(w.status());
  if (q.if_revision) {
    if (w->if_revision && *w->if_revision != *q.if_revision) {
      co_return status_reply(bad("ifRevision in the query and the body differ"));
    }
    w->if_revision = q.if_revision;
  }
  if (q.force) w->force = true;
  uint64_t applied = co_await applied_at_least(w->index);
  if (w->index > applied) {
    co_return status_reply(bad("index " + std::to_string(w->index) +
                               " is past the last change applied here (" + std::to_string(applied) +
                               ")"));
  }
  for (int attempt = 0; attempt < kCursorCasAttemptsMax; attempt++) {
    // The value compared against must be the one read: catch up to it.
    if (w->if_revision) co_await applied_at_least(*w->if_revision);
    auto cur = read_cursor(svc_, name);
    if (!cur.is_ok()) co_return status_reply(cur.status());
    uint64_t local_revision = *cur ? (*cur)->revision : 0;
    bool read_is_compared = !w->if_revision || *w->if_revision == local_revision;
    if (*cur && read_is_compared && !w->force) {
      (*cur)->last_index = applied;
      if (w->index < (*cur)->index) co_return cursor_behind(**cur, w->index);
      if (w->index == (*cur)->index && !w->if_revision) {
        co_return json_reply(200, render_cursor(**cur));
      }
    }
    Cursor next{name, w->index, wall_clock_ns(), 0, 0};
    TxnRequest txn;
    std::string key = cursor_key(name);
    txn.change.data_json = cursor_value_json(next.index, next.updated_ns);
    txn.compares.push_back({key, w->if_revision.value_or(local_revision)});
    txn.ops.push_back(TxnOp{key, false, txn.change.data_json, 0});
    txn.internal = true;
    std::vector<TxnCompare> wanted = txn.compares;
    Result<TxnResult> r = co_await run_reserved_txn(txn);
    if (!r.is_ok()) co_return status_reply(r.status());
    if (r->succeeded) {
      next.revision = r->id;
      next.last_index = std::max(applied, r->id);
      co_return json_reply(200, render_cursor(next));
    }
    if (w->if_revision) {
      co_return json_reply(kErrRevisionMismatch.status,
                           render_revision_mismatch(wanted, *r, false));
    }
    // Lost to another writer: see its value here, then decide again.
    uint64_t winner = r->current.empty() ? 0 : r->current.front().mod_revision;
    applied = co_await applied_at_least(winner);
  }
  co_return status_reply(
      Status(Code::kConflict, "cursor " + name + " kept changing under concurrent writers; retry"));
}

asio::awaitable<HttpReply> Router::delete_cursor(const std::string& name, const Query& q) {
  if (!q.if_revision) {
    auto cur = read_cursor(svc_, name);
    if (!cur.is_ok()) co_return status_reply(cur.status());
    if (!*cur) co_return status_reply(Status(Code::kNotFound, "no cursor named " + name));
  }
  std::string key = cursor_key(name);
  TxnRequest txn;
  txn.change.data_json = "null";
  if (q.if_revision) txn.compares.push_back({key, *q.if_revision});
  txn.ops.push_back(TxnOp{key, true, {}, 0});
  txn.internal = true;
  std::vector<TxnCompare> wanted = txn.compares;
  Result<TxnResult> r = co_await run_reserved_txn(txn);
  if (!r.is_ok()) co_return status_reply(r.status());
  if (!r->succeeded) {
    co_return json_reply(kErrRevisionMismatch.status, render_revision_mismatch(wanted, *r, false));
  }
  co_return json_reply(200, "{\"name\":\"" + name +
                                "\",\"deleted\":true,\"revision\":" + std::to_string(r->id) + "}");
}

asio::awaitable<HttpReply> Router::dispatch_checkpoints(const HttpRequest& req,
                                                        const std::string& path, const Query& q,
                                                        const Status& qs,
                                                        std::string_view& route_name) {
  const std::string& m = req.method;
  if (path == "/changes/checkpoints") {
    route_name = "/changes/checkpoints";
    if (m != "POST") co_return method_not_allowed("POST");
    if (!qs.is_ok()) co_return status_reply(qs);
    HttpReply out = co_await post_checkpoint(req);
    co_return out;
  }
  if (path != "/changes/checkpoints/latest") {
    co_return error_reply(kErrRouteNotFound,
                          "no such resource: " + path + "; use /changes/checkpoints/latest");
  }
  route_name = "/changes/checkpoints/latest";
  if (m != "GET") co_return method_not_allowed("GET");
  if (!qs.is_ok()) co_return status_reply(qs);
  if (q.tags.size() > 1) co_return status_reply(bad("give at most one tag"));
  if (q.consistent) {
    Status s = co_await barrier();
    if (!s.is_ok()) co_return status_reply(s);
  }
  std::string tag = q.tags.empty() ? std::string() : q.tags.front();
  // O(1): the newest checkpoint per tag is a key, not a scan of the log.
  auto kv = svc_.get_key(std::string(kCheckpointKeyPrefix) + tag);
  if (!kv.is_ok()) {
    if (kv.status().code() != Code::kNotFound) co_return status_reply(kv.status());
    co_return status_reply(Status(
        Code::kNotFound, tag.empty() ? "no checkpoint yet" : "no checkpoint with tag " + tag));
  }
  auto cp = checkpoint_from_value(kv->value_json, kv->mod_revision);
  if (!cp.is_ok()) co_return status_reply(cp.status());
  // The record's stamp, while the log still holds it (retention may not).
  if (auto ch = svc_.read_change(cp->id); ch.is_ok()) cp->ts_ns = ch->ts_ns;
  co_return json_reply(200, render_checkpoint(*cp));
}

asio::awaitable<HttpReply> Router::post_checkpoint(const HttpRequest& req) {
  if (!is_json_content_type(req.header("content-type"))) {
    co_return error_reply(kErrUnsupportedMediaType, "Content-Type must be application/json");
  }
  auto in = parse_checkpoint_body(req.body);
  if (!in.is_ok()) co_return status_reply(in.status());
  uint64_t applied = co_await applied_at_least(in->covers);
  if (in->covers > applied) {
    co_return status_reply(bad("covers " + std::to_string(in->covers) +
                               " is past the last change applied here (" + std::to_string(applied) +
                               ")"));
  }
  std::string value = checkpoint_value_json(*in);
  TxnRequest txn;
  txn.change.data_json = value;
  txn.change.tags = in->tags;
  txn.change.type = kCheckpointType;
  txn.ops.push_back(TxnOp{std::string(kCheckpointKeyPrefix), false, value, 0});
  for (const auto& tag : in->tags) {
    std::string key = std::string(kCheckpointKeyPrefix) + tag;
    bool seen = false;  // a tag given twice is one key: a Txn names a key once
    for (const auto& op : txn.ops) seen = seen || op.key == key;
    if (!seen) txn.ops.push_back(TxnOp{key, false, value, 0});
  }
  Result<TxnResult> r = co_await run_reserved_txn(txn);
  if (!r.is_ok()) co_return status_reply(r.status());
  if (!r->succeeded) {
    co_return status_reply(Status(Code::kInternal, "a checkpoint without compares failed"));
  }
  Checkpoint cp{r->id, r->ts_ns, in->covers, in->location, in->tags};
  co_return json_reply(201, render_checkpoint(cp));
}

}  // namespace api
