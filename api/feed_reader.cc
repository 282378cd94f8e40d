// FeedReader (see feed_reader.h): long-polls GET /changes through the
// client, and keeps two positions: `position` (consumed) and `committed`
// (written to the named cursor).
#include "api/feed_reader.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <thread>

#include "api/change_json.h"
#include "api/cursors.h"
#include "api/http_errors.h"
#include "api/url_encode.h"
#include "common/logger.h"

namespace api {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kBackoffMin = std::chrono::milliseconds(50);
constexpr auto kBackoffMax = std::chrono::milliseconds(2000);
// A final commit (at stop) is retried this many times over transient errors.
constexpr int kFinalCommitAttemptsMax = 10;

std::shared_ptr<spdlog::logger> reader_log() {
  return common::component_logger("feed_reader");
}

bool transient(Code c) {
  return c == Code::kUnavailable || c == Code::kBusy || c == Code::kNotLeader ||
         c == Code::kTimeout || c == Code::kIoError || c == Code::kInternal;
}

// The `since` of a page's "next" link: past everything the page looked at,
// so a filtered round that matched nothing still moves on.
std::optional<uint64_t> next_since(std::string_view body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto* next = v.as_object().if_contains("next");
  if (!next || !next->is_string()) return std::nullopt;
  std::string_view link = next->as_string();
  auto at = link.find("since=");
  if (at == std::string_view::npos) return std::nullopt;
  return std::strtoull(std::string(link.substr(at + 6)).c_str(), nullptr, 10);
}

std::optional<uint64_t> first_index_of(std::string_view body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto* f = v.as_object().if_contains("firstIndex");
  if (!f) return std::nullopt;
  if (f->is_uint64()) return f->as_uint64();
  if (f->is_int64() && f->as_int64() >= 0) return static_cast<uint64_t>(f->as_int64());
  return std::nullopt;
}

}  // namespace

struct FeedReader::State {
  FeedReaderOptions opts;
  std::unique_ptr<Client> client;
  uint64_t position = 0;
  uint64_t committed = 0;
  uint64_t last_index = 0;    // the serving node's, as of the last round
  bool time_pending = false;  // since_time not yet resolved to a position
  bool at_end = false;        // the last round's page was at the end
  uint64_t delivered_since_commit = 0;
  Clock::time_point last_commit = Clock::now();

  std::string target() const {
    std::string t = "/changes?limit=" + std::to_string(opts.limit) +
                    "&block=" + std::to_string(opts.block_seconds);
    if (time_pending) {
      t += "&sinceTime=" + url_encode(*opts.since_time);
    } else {
      t += "&since=" + std::to_string(position);
    }
    for (const auto& tag : opts.tags) t += "&tag=" + url_encode(tag);
    if (!opts.prefix.empty()) t += "&prefix=" + url_encode(opts.prefix);
    return t;
  }

  bool commit_due() const {
    if (opts.cursor.empty() || position == committed) return false;
    if (opts.commit_every_changes > 0 && delivered_since_commit >= opts.commit_every_changes) {
      return true;
    }
    return opts.commit_every.count() > 0 && Clock::now() - last_commit >= opts.commit_every;
  }
};

FeedReader::FeedReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
FeedReader::~FeedReader() = default;

Result<std::unique_ptr<FeedReader>> FeedReader::open(FeedReaderOptions opts) {
  if (!opts.cursor.empty()) {
    if (Status s = validate_cursor_name(opts.cursor); !s.is_ok()) return s;
  }
  if (opts.since && opts.since_time) {
    return Status(Code::kInvalidArgument, "give since or since_time, not both");
  }
  if (opts.limit == 0) return Status(Code::kInvalidArgument, "limit must be positive");
  auto client = Client::create(opts.client);
  if (!client.is_ok()) return client.status();
  auto st = std::make_unique<State>();
  st->client = std::move(client.value());
  st->opts = std::move(opts);
  bool resumed = false;
  if (!st->opts.cursor.empty()) {
    auto c = st->client->get_cursor(st->opts.cursor);
    if (c.is_ok()) {
      st->position = st->committed = c->index;
      st->last_index = c->last_index;
      resumed = true;
    } else if (c.status().code() != Code::kNotFound) {
      return c.status();
    }
  }
  if (!resumed) {
    st->position = st->opts.since.value_or(0);
    st->time_pending = st->opts.since_time.has_value();
  }
  reader_log()->debug("reader on cursor '{}' starts after {}{}", st->opts.cursor, st->position,
                      st->time_pending ? " (at a time)" : "");
  return std::unique_ptr<FeedReader>(new FeedReader(std::move(st)));
}

Status FeedReader::commit() {
  State& st = *state_;
  if (st.opts.cursor.empty() || st.position == st.committed) return Status::ok();
  CursorWrite w;
  w.index = st.position;
  auto r = st.client->set_cursor(st.opts.cursor, w);
  if (!r.is_ok()) return r.status();
  st.committed = st.position;
  st.delivered_since_commit = 0;
  st.last_commit = Clock::now();
  return Status::ok();
}

void FeedReader::seek(uint64_t index) {
  state_->position = index;
  state_->time_pending = false;
}

uint64_t FeedReader::position() const {
  return state_->position;
}
uint64_t FeedReader::committed() const {
  return state_->committed;
}
uint64_t FeedReader::lag() const {
  return state_->last_index > state_->position ? state_->last_index - state_->position : 0;
}
bool FeedReader::caught_up() const {
  return state_->at_end;
}
const std::string& FeedReader::endpoint() const {
  return state_->client->current_endpoint();
}

Status FeedReader::run(const Handlers& h) {
  if (!h.on_change) return Status(Code::kInvalidArgument, "FeedReader::run needs on_change");
  State& st = *state_;
  // Ends the run: the position is committed (retried over transient errors).
  auto finish = [&](Status result) -> Status {
    auto backoff = kBackoffMin;
    for (int attempt = 0; attempt < kFinalCommitAttemptsMax; attempt++) {
      Status s = commit();
      if (s.is_ok() || !transient(s.code())) return result.is_ok() ? s : result;
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, kBackoffMax);
    }
    return result.is_ok() ? Status(Code::kUnavailable, "could not commit the cursor") : result;
  };
  auto backoff = kBackoffMin;
  auto extra = std::chrono::seconds(st.opts.block_seconds);
  while (!(h.should_stop && h.should_stop())) {
    if (st.commit_due()) {
      Status s = commit();
      if (!s.is_ok() && !transient(s.code())) return s;  // e.g. another reader moved it past us
    }
    auto res = st.client->request("GET", st.target(), {}, "application/json", extra);
    Status failed = res.is_ok() ? Status::ok() : res.status();
    if (res.is_ok() && res->status == 410) {
      auto first = first_index_of(res->body).value_or(0);
      reader_log()->info("position {} is compacted (first index {}): needs a snapshot", st.position,
                         first);
      std::optional<uint64_t> covers;
      if (h.on_needs_snapshot) covers = h.on_needs_snapshot(first);
      if (!covers) {
        return finish(Status(Code::kCompacted, "changes after " + std::to_string(st.position) +
                                                   " are compacted; first index is " +
                                                   std::to_string(first)));
      }
      seek(*covers);
      continue;
    }
    if (res.is_ok() && (res->status < 200 || res->status >= 300)) {
      failed = status_from_http(res->status, res->body);
    }
    if (!failed.is_ok()) {
      if (!transient(failed.code())) return finish(failed);
      reader_log()->debug("{}; retrying in {} ms", failed.to_string(), backoff.count());
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, kBackoffMax);
      continue;
    }
    backoff = kBackoffMin;
    auto page = parse_feed(res->body);
    if (!page.is_ok()) return finish(page.status());
    st.last_index = page->last_index;
    st.time_pending = false;
    st.at_end = page->at_end;
    for (const Change& c : page->changes) {
      st.position = c.id;
      st.delivered_since_commit++;
      if (!h.on_change(c)) return finish(Status::ok());
      if (st.commit_due()) {
        Status s = commit();
        if (!s.is_ok() && !transient(s.code())) return s;
      }
    }
    // Past what the page looked at (filtered-out changes, internal entries).
    if (auto next = next_since(res->body); next && *next > st.position) st.position = *next;
  }
  return finish(Status::ok());
}

}  // namespace api
