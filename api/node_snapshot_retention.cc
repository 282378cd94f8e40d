// Retention on the node: once a second, decide how far this node's log may
// be trimmed (storage::purge_target over the policy, the named consumer
// cursors and the followers still replicating from us) and hand that to the
// background purger, which trims in small steps off the io thread.
//
// Purge is per node (see docs/DESIGN.md, "Retention"): every node applies
// the same policy to the same committed log, and every feed answer says
// which first index the answering node holds.
#include <boost/json.hpp>

#include "api/node_impl.h"

namespace api {

namespace json = boost::json;

namespace {

constexpr auto kRetentionCheckInterval = std::chrono::seconds(1);
constexpr auto kPurgePause = std::chrono::milliseconds(20);
// Cursors read per check; more than this many consumers is not a cursor
// table but a misuse, and the oldest of the first ones still holds the log.
constexpr size_t kCursorsScannedMax = 100000;

// {"index": N, ...} -> N; nullopt for anything else (a malformed cursor
// holds nothing back: it cannot say where its consumer is).
std::optional<uint64_t> cursor_index(const std::string& value_json) {
  boost::system::error_code ec;
  auto v = json::parse(value_json, ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto* idx = v.as_object().if_contains("index");
  if (idx == nullptr) return std::nullopt;
  if (idx->is_uint64()) return idx->as_uint64();
  if (idx->is_int64() && idx->as_int64() >= 0) return static_cast<uint64_t>(idx->as_int64());
  return std::nullopt;
}

uint64_t wall_now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

void Node::Impl::start_retention() {
  if (!opts.retention.enabled()) return;
  purger = std::make_unique<storage::Purger>(store.get(), opts.retention.purge_batch_entries,
                                             kPurgePause);
  log->info("retention: keep at least {} changes and {} s of history{}", opts.retention.min_records,
            std::chrono::duration_cast<std::chrono::seconds>(opts.retention.min_duration).count(),
            opts.retention.ignore_cursors ? ", ignoring consumer cursors" : "");
}

std::optional<uint64_t> Node::Impl::oldest_cursor() const {
  std::optional<uint64_t> oldest;
  bool more = false;
  for (const auto& [key, rec] : view.range(kCursorPrefix, "", kCursorsScannedMax, &more)) {
    auto idx = cursor_index(rec.value_json);
    if (idx && (!oldest || *idx < *oldest)) oldest = idx;
  }
  return oldest;
}

void Node::Impl::tick_retention(Clock::time_point now) {
  if (!purger || now < next_retention_check) return;
  next_retention_check = now + kRetentionCheckInterval;
  const storage::RetentionPolicy& policy = opts.retention;
  storage::RetentionInputs in;
  in.first = store->first_index();
  in.applied = applied_persisted;
  in.oldest_cursor = oldest_cursor();
  in.first_within_duration = in.applied + 1;
  if (policy.min_duration.count() > 0) {
    uint64_t now_ns = wall_now_ns();
    uint64_t horizon = static_cast<uint64_t>(policy.min_duration.count());
    if (now_ns > horizon) {
      auto since = since_for_time(*store, in.first, in.applied, now_ns - horizon);
      if (!since.is_ok()) {
        log->warn("retention: cannot find the duration floor: {}", since.status().to_string());
        return;
      }
      in.first_within_duration = Index(*since + 1);
    } else {
      in.first_within_duration = in.first;
    }
  }
  Index target = storage::purge_target(policy, in);
  // A follower replicating from us right now would need a snapshot for
  // entries we drop under it: leave it what it is about to fetch.
  if (core->role() == raftlog::Role::kLeader) {
    for (const auto& [id, pr] : core->status().progress) {
      if (id == self || pr.state != raftlog::Progress::State::kReplicate) continue;
      target = std::min(target, std::max(pr.match + 1, in.first));
    }
  }
  cursor_lag_entries = in.oldest_cursor && *in.oldest_cursor < in.applied.value()
                           ? in.applied.value() - *in.oldest_cursor
                           : 0;
  held_by_cursor = in.oldest_cursor && !policy.ignore_cursors &&
                   target == Index(std::max(*in.oldest_cursor + 1, in.first.value()));
  if (auto st = purger->stats(); st.failures != purge_failures_logged) {
    purge_failures_logged = st.failures;
    log->warn("retention: purge step failed ({} so far): {}", st.failures, st.last_error);
  }
  if (target > in.first) purger->request(target, in.applied);
}

void Node::Impl::render_retention_metrics(std::string& out) const {
  render_gauge(out, "changeagent_log_first_index", "First log index this node retains.",
               static_cast<int64_t>(store->first_index().value()));
  if (!purger) return;
  auto st = purger->stats();
  render_counter(out, "changeagent_purged_entries_total",
                 "Log entries deleted by retention on this node.", st.purged_entries);
  render_counter(out, "changeagent_purge_failures_total", "Retention purge steps that failed.",
                 st.failures);
  render_gauge(out, "changeagent_retention_cursor_lag_entries",
               "Applied index minus the oldest consumer cursor's index (0 without cursors).",
               static_cast<int64_t>(cursor_lag_entries));
  render_gauge(out, "changeagent_retention_held_by_cursor",
               "1 if the oldest consumer cursor is what keeps the log from being purged further.",
               held_by_cursor ? 1 : 0);
}

}  // namespace api
