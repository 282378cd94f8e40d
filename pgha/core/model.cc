#include "pgha/core/model.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <set>

#include "pgha/core/model_names.h"

namespace pgha {

using common::Code;
using common::Status;

namespace {

Status invalid(std::string message) {
  return Status(Code::kInvalidArgument, std::move(message));
}

bool parse_hex32(std::string_view s, uint32_t& out) {
  if (s.empty() || s.size() > 8) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

common::Result<Lsn> parse_lsn(std::string_view text) {
  size_t slash = text.find('/');
  uint32_t hi = 0, lo = 0;
  if (slash == std::string_view::npos || !parse_hex32(text.substr(0, slash), hi) ||
      !parse_hex32(text.substr(slash + 1), lo)) {
    return invalid("'" + std::string(text) + "' is not an LSN (like 16/B374D848)");
  }
  return (static_cast<Lsn>(hi) << 32) | lo;
}

std::string format_lsn(Lsn lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32),
                static_cast<unsigned>(lsn & 0xffffffffu));
  return buf;
}

Status validate_name(std::string_view what, std::string_view name) {
  constexpr size_t kNameBytesMax = 63;  // PostgreSQL's NAMEDATALEN - 1 (application_name)
  if (name.empty()) return invalid(std::string(what) + " must not be empty");
  if (name.size() > kNameBytesMax) {
    return invalid(std::string(what) + " '" + std::string(name) + "' is longer than 63 bytes");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) {
      return invalid(std::string(what) + " '" + std::string(name) +
                     "' may only contain letters, digits, '_', '.' and '-'");
    }
  }
  return Status::ok();
}

std::string cluster_prefix(std::string_view cluster) {
  return "/pgha/" + std::string(cluster) + "/";
}
std::string desired_key(std::string_view cluster) {
  return cluster_prefix(cluster) + "desired";
}
std::string status_key(std::string_view cluster) {
  return cluster_prefix(cluster) + "status";
}
std::string leader_key(std::string_view cluster) {
  return cluster_prefix(cluster) + "leader";
}
std::string members_prefix(std::string_view cluster) {
  return cluster_prefix(cluster) + "members/";
}
std::string member_key(std::string_view cluster, std::string_view member) {
  return members_prefix(cluster) + std::string(member);
}

const DesiredMember* find_member(const Desired& d, std::string_view name) {
  for (const auto& m : d.members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

Lsn position_of(const Observation& o) {
  if (o.role == PgRole::kPrimary) return std::max(o.flush_lsn, o.receive_lsn);
  return std::max(o.receive_lsn, o.replay_lsn);
}

namespace {

// Settings pgha itself manages; the operator setting them would fight it.
constexpr std::string_view kManagedSettings[] = {
    "primary_conninfo",
    "primary_slot_name",
    "synchronous_standby_names",
    "default_transaction_read_only",
    "recovery_target_timeline",
    "include_dir",
    "restore_command",
    "port",
    "data_directory",
};

Status validate_settings(const std::map<std::string, std::string>& settings) {
  for (const auto& [name, value] : settings) {
    if (name.empty()) return invalid("pgSettings has an empty setting name");
    for (char c : name) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
      if (!ok) {
        return invalid("pgSettings name '" + name +
                       "' is not a PostgreSQL setting name (lower case, digits, '_', '.')");
      }
    }
    for (std::string_view managed : kManagedSettings) {
      if (name == managed) {
        return invalid("pgSettings." + name + " is managed by pgha and cannot be set");
      }
    }
    if (value.find_first_of(std::string_view("\n\r\0", 3)) != std::string::npos) {
      return invalid("pgSettings." + name + " must be one line");
    }
  }
  return Status::ok();
}

Status validate_timing(const Desired& d) {
  if (d.max_lag_bytes == 0) return invalid("maxLagBytes must be > 0");
  struct {
    const char* name;
    int64_t value;
  } const ms[] = {{"unhealthyFailoverMs", d.unhealthy_failover_ms},
                  {"switchoverTimeoutMs", d.switchover_timeout_ms},
                  {"failoverTimeoutMs", d.failover_timeout_ms},
                  {"failsafeConfirmMs", d.failsafe_confirm_ms}};
  for (const auto& m : ms) {
    if (m.value <= 0) return invalid(std::string(m.name) + " must be > 0");
  }
  if (d.member_stale_ms < 0) return invalid("memberStaleMs must be >= 0 (0 = off)");
  return Status::ok();
}

Status validate_mode(const Desired& d) {
  const auto members = static_cast<uint32_t>(d.members.size());
  switch (d.mode) {
    case ReplicationMode::kAsync:
      if (d.quorum_n != 0) return invalid("quorumN must be 0 (or absent) in async mode");
      break;
    case ReplicationMode::kSync:
      if (d.quorum_n != 1) return invalid("quorumN must be 1 (or absent) in sync mode");
      if (members < 2) return invalid("sync mode needs at least 2 members");
      break;
    case ReplicationMode::kQuorum:
      if (members < 2) return invalid("quorum mode needs at least 2 members");
      if (d.quorum_n < 1 || d.quorum_n > members - 1) {
        return invalid("quorumN " + std::to_string(d.quorum_n) + " is out of range [1, " +
                       std::to_string(members - 1) + "] for " + std::to_string(members) +
                       " members");
      }
      break;
  }
  return Status::ok();
}

}  // namespace

Status validate_desired(const Desired& d) {
  if (d.members.empty()) return invalid("members must list at least one member");
  std::set<std::string_view> names;
  for (size_t i = 0; i < d.members.size(); ++i) {
    const auto& m = d.members[i];
    std::string where = "members[" + std::to_string(i) + "].name";
    if (Status s = validate_name(where, m.name); !s.is_ok()) return s;
    if (!names.insert(m.name).second) {
      return invalid(where + " '" + m.name + "' is listed twice");
    }
    if (m.priority < 0 || m.priority > 1000) {
      return invalid("members[" + std::to_string(i) + "].priority must be in [0, 1000]");
    }
  }
  if (!d.primary.empty()) {
    const DesiredMember* p = find_member(d, d.primary);
    if (!p) return invalid("primary '" + d.primary + "' is not a member");
    if (p->nofailover && d.members.size() > 1) {
      return invalid("primary '" + d.primary + "' is marked nofailover");
    }
  }
  if (Status s = validate_mode(d); !s.is_ok()) return s;
  if (Status s = validate_settings(d.pg_settings); !s.is_ok()) return s;
  if (Status s = validate_timing(d); !s.is_ok()) return s;
  if (d.handover) {
    const HandoverRequest& h = *d.handover;
    if (h.id.empty()) return invalid("handover.id must not be empty");
    if (h.to.empty() && h.kind == HandoverKind::kSwitchover) {
      return invalid("handover.to is required for a switchover");
    }
    if (!h.to.empty()) {
      const DesiredMember* t = find_member(d, h.to);
      if (!t) return invalid("handover.to '" + h.to + "' is not a member");
      if (t->nofailover) return invalid("handover.to '" + h.to + "' is marked nofailover");
    }
  }
  bool any_promotable = std::any_of(d.members.begin(), d.members.end(),
                                    [](const DesiredMember& m) { return !m.nofailover; });
  if (!any_promotable) return invalid("every member is nofailover: none could ever be primary");
  return Status::ok();
}

common::Result<std::vector<TimelineSwitch>> parse_timeline_history(std::string_view text) {
  std::vector<TimelineSwitch> out;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    line_no++;
    size_t start = line.find_first_not_of(" \t\r");
    if (start == std::string_view::npos || line[start] == '#') continue;
    line = line.substr(start);
    auto bad = [&] {
      return Status(Code::kInvalidArgument, "timeline history line " + std::to_string(line_no) +
                                                " '" + std::string(line) +
                                                "' is not <timeline> <lsn> <reason>");
    };
    size_t tab = line.find_first_of(" \t");
    if (tab == std::string_view::npos) return bad();
    TimelineSwitch sw;
    auto [end, ec] = std::from_chars(line.data(), line.data() + tab, sw.timeline);
    if (ec != std::errc() || end != line.data() + tab || sw.timeline == 0) return bad();
    std::string_view rest = line.substr(tab);
    size_t lsn_start = rest.find_first_not_of(" \t");
    if (lsn_start == std::string_view::npos) return bad();
    rest = rest.substr(lsn_start);
    auto lsn = parse_lsn(rest.substr(0, rest.find_first_of(" \t\r")));
    if (!lsn.is_ok()) return bad();
    sw.end_lsn = *lsn;
    out.push_back(sw);
  }
  return out;
}

std::string cluster_tag(std::string_view cluster) {
  return "pgha:" + std::string(cluster);
}

std::vector<std::string> event_tags(const Event& e) {
  return {"pgha", cluster_tag(e.cluster), e.kind};
}

namespace {

// FNV-1a, 64 bits: stable across builds and platforms (std::hash is not),
// so an id computed before a restart matches one computed after it.
uint64_t fnv1a64(std::string_view text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

std::string event_request_id(const Event& e) {
  // Everything but the message is short and readable; the hash covers the
  // message and, again, every other field (so a cut kind still differs).
  std::string whole = e.cluster + '\n' + std::to_string(e.generation) + '\n' + e.kind + '\n' +
                      e.member + '\n' + std::to_string(e.at_ms) + '\n' + e.message;
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a64(whole)));
  constexpr size_t kKindBytesMax = 40;
  std::string id = "pgha/" + e.cluster + "/g" + std::to_string(e.generation) + "/" +
                   e.kind.substr(0, kKindBytesMax) + "/" + (e.member.empty() ? "-" : e.member) +
                   "/" + std::to_string(e.at_ms) + "/" + hash;
  // Only names that failed validation get here; keep the hash, which
  // alone tells events apart.
  if (id.size() > kEventRequestIdBytesMax)
    id = id.substr(0, kEventRequestIdBytesMax - 17) + "/" + hash;
  return id;
}

std::string_view name_of(ReplicationMode m) {
  return names::kMode[static_cast<int>(m)];
}
std::string_view name_of(SyncFallback f) {
  return names::kFallback[static_cast<int>(f)];
}
std::string_view name_of(HandoverKind k) {
  return names::kHandoverKind[static_cast<int>(k)];
}
std::string_view name_of(PgRole r) {
  return names::kPgRole[static_cast<int>(r)];
}
std::string_view name_of(PgHealth h) {
  return names::kPgHealth[static_cast<int>(h)];
}
std::string_view name_of(ClusterState s) {
  return names::kClusterState[static_cast<int>(s)];
}
std::string_view name_of(TargetRole r) {
  return names::kTargetRole[static_cast<int>(r)];
}
std::string_view name_of(HandoverPhase p) {
  return names::kPhase[static_cast<int>(p)];
}

}  // namespace pgha
