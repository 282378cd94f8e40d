// Internal to pgha/core: the JSON spelling of each enum, indexed by its value
// (keep in the enum's order).
#pragma once

#include <string_view>

namespace pgha::names {

inline constexpr std::string_view kMode[] = {"async", "sync", "quorum"};
inline constexpr std::string_view kFallback[] = {"strict", "degrade"};
inline constexpr std::string_view kHandoverKind[] = {"switchover", "failover"};
inline constexpr std::string_view kPgRole[] = {"unknown", "uninitialized", "stopped", "primary",
                                               "replica"};
inline constexpr std::string_view kPgHealth[] = {"ok", "unreachable", "query-failed"};
inline constexpr std::string_view kClusterState[] = {"provisioning", "healthy", "degraded",
                                                     "failing-over", "paused"};
inline constexpr std::string_view kTargetRole[] = {"primary", "replica", "fenced", "rewind-needed",
                                                   "clone-needed"};
inline constexpr std::string_view kPhase[] = {"fencing", "catching-up", "promoting"};

}  // namespace pgha::names
