// The agent's hands: reconcile_local's actions run through the executor,
// in order, stopping at the first failure (the next loop decides again
// from what it then observes).
#include <spdlog/spdlog.h>

#include "common/logger.h"
#include "pgha/agent/agent.h"

namespace pgha::agent {

using common::Code;
using common::Status;

namespace {

std::shared_ptr<spdlog::logger> rlog() {
  return common::component_logger("reconciler");
}

common::Result<pg::PgAddress> address_of(const LocalAction& a) {
  pg::PgAddress out;
  if (auto s = split_host_port(a.source_address, out.host, out.port); !s.is_ok()) {
    return Status(Code::kInvalidArgument,
                  "no PostgreSQL address known for '" + a.source + "': " + s.message());
  }
  return out;
}

// pg_rewind itself refused or failed (only a fresh clone helps then), as
// opposed to a source that did not answer (down, or not yet up): retrying
// the rewind later is right for those, and far cheaper than a clone.
bool rewind_cannot_succeed(const Status& s) {
  return s.code() != Code::kUnavailable && s.code() != Code::kTimeout;
}

}  // namespace

void Agent::act(const LocalInput& in) {
  std::vector<LocalAction> actions = reconcile_local(in);
  std::string summary;
  for (const auto& a : actions) {
    summary += std::string(name_of(a.kind)) + (a.source.empty() ? "" : " " + a.source) + ": " +
               a.reason + "; ";
  }
  // One line when the plan changes, not one per loop.
  if (summary != last_actions_logged_) {
    rlog()->info("plan: {}", summary);
    last_actions_logged_ = summary;
  }
  // The same plan failed a moment ago (its source is not up yet, say):
  // retry after a pause, not in a tight loop.
  const auto now = std::chrono::steady_clock::now();
  if (summary == failed_plan_ && now < retry_at_) return;
  Status failed = Status::ok();
  for (const auto& a : actions) {
    if (a.kind == LocalActionKind::kNone) continue;
    Status s = execute(a, in);
    if (!s.is_ok()) {
      // One line per distinct failure, not one per retry.
      if (s.to_string() != last_error_)
        rlog()->error("{} failed: {}", name_of(a.kind), s.to_string());
      failed = s;
      break;
    }
  }
  failed_plan_ = failed.is_ok() ? "" : summary;
  retry_at_ = now + kActionRetryPause;
  std::lock_guard lock(mu_);
  last_error_ = failed.is_ok() ? "" : failed.to_string();
  if (failed.is_ok() && in.status) applied_generation_ = in.status->generation;
}

Status Agent::follow_offline(const pg::PgAddress& src) {
  // A cluster that was a primary may hold WAL its new upstream never had
  // (a crash, or writes the standbys missed): pg_rewind first. It says "no
  // rewind required" when the histories did not fork, and is quick then.
  auto was = executor_.was_primary();
  if (!was.is_ok()) return was.status();
  if (*was) {
    Status s = executor_.rewind_from(src);
    if (!s.is_ok()) {
      rewind_failed_ = rewind_cannot_succeed(s);
      // A source that is not up yet is retried quietly; a failed rewind is history.
      if (rewind_failed_) emit(kEventRewind, "pg_rewind failed: " + s.message());
      return s;
    }
    rewind_failed_ = false;
    emit(kEventRewind, "rewound from " + src.host + ":" + std::to_string(src.port));
    return Status::ok();
  }
  return executor_.configure_standby(src);
}

Status Agent::execute(const LocalAction& a, const LocalInput& in) {
  if (failed_plan_.empty()) {
    rlog()->info("executing {}{}: {}", name_of(a.kind), a.source.empty() ? "" : " " + a.source,
                 a.reason);
  }
  const std::map<std::string, std::string> no_settings;
  const auto& settings = in.desired ? in.desired->pg_settings : no_settings;
  switch (a.kind) {
    case LocalActionKind::kNone:
      return Status::ok();
    case LocalActionKind::kInitdb: {
      Status s = executor_.initdb();
      if (s.is_ok()) s = executor_.write_config(settings);
      return s;
    }
    case LocalActionKind::kBasebackup: {
      auto src = address_of(a);
      if (!src.is_ok()) return src.status();
      Status s = executor_.clone_from(*src, /*replace_existing=*/true);
      if (s.is_ok()) {
        rewind_failed_ = false;
        emit(kEventClone, "cloned from " + a.source);
      }
      return s;
    }
    case LocalActionKind::kStart: {
      if (auto s = executor_.write_config(settings); !s.is_ok()) return s;
      return executor_.start();
    }
    case LocalActionKind::kStop:
      return executor_.stop("fast");
    case LocalActionKind::kPromote: {
      std::string names = in.status ? in.status->synchronous_standby_names : "";
      Status s = executor_.promote(names);
      if (s.is_ok()) emit("promote", "promoted to primary");
      return s;
    }
    case LocalActionKind::kFollow: {
      auto src = address_of(a);
      if (!src.is_ok()) return src.status();
      pg::Observation o = executor_.observe();
      if (o.reach == pg::Reach::kOk && o.role == pg::PgRole::kReplica) {
        return executor_.repoint(*src);
      }
      if (o.reach == pg::Reach::kOk && o.role == pg::PgRole::kPrimary) {
        return Status(Code::kFailedPrecondition,
                      "refusing to follow " + a.source + " while this PostgreSQL is a primary");
      }
      return follow_offline(*src);
    }
    case LocalActionKind::kRewind: {
      auto src = address_of(a);
      if (!src.is_ok()) return src.status();
      Status s = executor_.rewind_from(*src);
      rewind_failed_ = !s.is_ok() && rewind_cannot_succeed(s);
      if (s.is_ok() || rewind_failed_) {
        emit(kEventRewind,
             s.is_ok() ? "rewound from " + a.source : "pg_rewind failed: " + s.message());
      }
      return s;
    }
    case LocalActionKind::kSetSyncNames:
      return executor_.set_synchronous_standby_names(a.sync_names);
    case LocalActionKind::kFence: {
      Status s = executor_.fence();
      if (!s.is_ok()) {
        // Writes must stop: a fence that cannot be set becomes a stop.
        rlog()->error("fence failed ({}); stopping PostgreSQL instead", s.to_string());
        s = executor_.stop("fast");
      }
      emit(kEventFence, s.is_ok() ? "writes fenced: " + a.reason : "fence failed: " + s.message());
      return s;
    }
    case LocalActionKind::kUnfence:
      return executor_.unfence();
    case LocalActionKind::kDemote: {
      auto src = address_of(a);
      if (!src.is_ok()) return src.status();
      if (auto s = executor_.stop("fast"); !s.is_ok()) return s;
      emit("demote", "demoted to a replica of " + a.source + ": " + a.reason);
      if (auto s = follow_offline(*src); !s.is_ok()) return s;
      if (auto s = executor_.write_config(settings); !s.is_ok()) return s;
      return executor_.start();
    }
  }
  return Status(Code::kInternal, "unknown action");
}

}  // namespace pgha::agent
