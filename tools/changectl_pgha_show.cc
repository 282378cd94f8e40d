// changectl pgha list and history: what the store says about a pgha cluster
// (desired, the coordinator's status, each agent's observation) and the
// events the coordinator and agents appended to the log.
#include <boost/json.hpp>
#include <iostream>

#include "pgha/core/model.h"
#include "tools/changectl_pgha.h"

namespace po = boost::program_options;
namespace json = boost::json;

namespace changectl {

namespace {

std::string ms_time(int64_t ms) {
  return ms > 0 ? format_time(static_cast<uint64_t>(ms) * 1000000ull) : "-";
}

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

struct View {
  std::optional<pgha::Desired> desired;
  std::optional<pgha::ClusterStatus> status;
  std::optional<pgha::LeaderRecord> leader;
  std::map<std::string, pgha::Observation> members;
  std::vector<std::string> unreadable;  // keys whose value did not parse
};

template <typename T, typename Parse>
std::optional<T> read_one(api::Client& c, const std::string& key, Parse parse, View& v,
                          common::Status& error) {
  auto kv = c.get_key(key);
  if (!kv.is_ok()) {
    if (kv.status().code() != common::Code::kNotFound) error = kv.status();
    return std::nullopt;
  }
  auto parsed = parse(kv->value_json);
  if (!parsed.is_ok()) {
    v.unreadable.push_back(key + ": " + parsed.status().message());
    return std::nullopt;
  }
  return std::move(*parsed);
}

common::Result<View> read_view(api::Client& c, const std::string& cluster) {
  View v;
  common::Status error;
  v.desired = read_one<pgha::Desired>(c, pgha::desired_key(cluster), pgha::parse_desired, v, error);
  v.status =
      read_one<pgha::ClusterStatus>(c, pgha::status_key(cluster), pgha::parse_status, v, error);
  v.leader =
      read_one<pgha::LeaderRecord>(c, pgha::leader_key(cluster), pgha::parse_leader, v, error);
  if (!error.is_ok()) return error;
  std::string after;
  for (;;) {
    auto page = c.list_keys(pgha::members_prefix(cluster), after, 100);
    if (!page.is_ok()) return page.status();
    for (const auto& kv : page->keys) {
      auto o = pgha::parse_observation(kv.value_json);
      if (o.is_ok()) {
        v.members[o->member] = std::move(*o);
      } else {
        v.unreadable.push_back(kv.key + ": " + o.status().message());
      }
    }
    if (!page->more || page->keys.empty()) break;
    after = page->keys.back().key;
  }
  if (!v.desired && !v.status && v.members.empty()) {
    return common::Status(common::Code::kNotFound,
                          "no pgha cluster '" + cluster +
                              "' in the store: create its desired state with changectl pgha "
                              "edit-desired FILE");
  }
  return v;
}

void print_view_json(const View& v, const std::string& cluster) {
  json::object o;
  o["cluster"] = cluster;
  o["desired"] = v.desired ? json::parse(pgha::to_json(*v.desired)) : json::value(nullptr);
  o["status"] = v.status ? json::parse(pgha::to_json(*v.status)) : json::value(nullptr);
  o["leader"] = v.leader ? json::parse(pgha::to_json(*v.leader)) : json::value(nullptr);
  json::object members;
  for (const auto& [name, obs] : v.members) members[name] = json::parse(pgha::to_json(obs));
  o["members"] = std::move(members);
  json::array unreadable;
  for (const auto& u : v.unreadable) unreadable.emplace_back(u);
  o["unreadable"] = std::move(unreadable);
  std::cout << json::serialize(o) << "\n";
}

void print_summary(const View& v, const std::string& cluster) {
  const auto* s = v.status ? &*v.status : nullptr;
  std::cout << "cluster " << cluster;
  if (s) {
    std::cout << "  state " << pgha::name_of(s->state) << "  primary " << or_dash(s->primary)
              << "  timeline " << s->timeline << "  epoch " << s->epoch << "  generation "
              << s->generation;
  } else {
    std::cout << "  (no status yet: no coordinator has decided)";
  }
  std::cout << "\n";
  if (v.desired) {
    const auto& d = *v.desired;
    std::cout << "mode " << pgha::name_of(d.mode);
    if (d.mode == pgha::ReplicationMode::kQuorum) std::cout << " " << d.quorum_n;
    if (d.mode != pgha::ReplicationMode::kAsync)
      std::cout << " (" << pgha::name_of(d.sync_fallback) << ")";
    std::cout << "  paused " << (d.paused ? "yes" : "no") << "  intended primary "
              << or_dash(d.primary) << "  desired generation " << d.generation << "\n";
  }
  if (s && !s->synchronous_standby_names.empty()) {
    std::cout << "synchronous_standby_names " << s->synchronous_standby_names
              << "  acknowledged commits are on " << s->sync.n << " of {" << join(s->sync.names)
              << "}" << (s->sync_degraded ? "  DEGRADED" : "") << "\n";
  }
  if (v.leader) {
    std::cout << "coordinator " << v.leader->member << " since " << ms_time(v.leader->since_ms)
              << "\n";
  }
  if (s && s->handover) {
    const auto& h = *s->handover;
    std::cout << pgha::name_of(h.kind) << " " << h.from << " -> " << or_dash(h.to) << ": "
              << pgha::name_of(h.phase) << " since " << ms_time(h.phase_since_ms) << "\n";
  }
  if (s && !s->blocked.empty()) std::cout << "waiting: " << s->blocked << "\n";
  for (const auto& u : v.unreadable) std::cout << "unreadable: " << u << "\n";
}

void print_members(const View& v) {
  std::vector<std::string> names;
  if (v.desired) {
    for (const auto& m : v.desired->members) names.push_back(m.name);
  }
  for (const auto& [name, o] : v.members) {
    if (!v.desired || !pgha::find_member(*v.desired, name)) names.push_back(name);
  }
  pgha::Lsn ref = v.status ? v.status->primary_lsn : 0;
  if (v.status) {
    auto p = v.members.find(v.status->primary);
    if (p != v.members.end() && p->second.role == pgha::PgRole::kPrimary) {
      ref = std::max(ref, p->second.flush_lsn);
    }
  }
  std::vector<std::vector<std::string>> rows = {{"MEMBER", "TARGET", "FOLLOW", "ROLE", "HEALTH",
                                                 "TL", "LSN", "LAG", "UPSTREAM", "SYNC", "PRIO",
                                                 "ERROR"}};
  for (const auto& name : names) {
    std::vector<std::string> row = {name};
    const pgha::MemberTarget* t = nullptr;
    if (v.status) {
      auto it = v.status->targets.find(name);
      if (it != v.status->targets.end()) t = &it->second;
    }
    row.push_back(t ? std::string(pgha::name_of(t->role)) : "-");
    row.push_back(t ? or_dash(t->follow) : "-");
    auto it = v.members.find(name);
    if (it == v.members.end()) {
      for (const char* cell : {"(no agent)", "-", "-", "-", "-", "-", "-"}) row.push_back(cell);
    } else {
      const auto& o = it->second;
      pgha::Lsn pos = pgha::position_of(o);
      std::string role(pgha::name_of(o.role));
      if (o.fenced) role += " (fenced)";
      row.push_back(role);
      row.push_back(std::string(pgha::name_of(o.health)) + (o.pg_running ? "" : " (down)"));
      row.push_back(std::to_string(o.timeline));
      row.push_back(pgha::format_lsn(pos));
      row.push_back(o.role == pgha::PgRole::kReplica && ref > 0
                        ? std::to_string(ref > pos ? ref - pos : 0)
                        : "-");
      row.push_back(o.role == pgha::PgRole::kReplica
                        ? or_dash(o.upstream) + (o.streaming ? "" : " (not streaming)")
                        : "-");
      bool sync =
          v.status && std::count(v.status->sync.names.begin(), v.status->sync.names.end(), name);
      row.push_back(sync ? "sync" : "-");
    }
    const pgha::DesiredMember* dm = v.desired ? pgha::find_member(*v.desired, name) : nullptr;
    row.push_back(dm ? std::to_string(dm->priority) + (dm->nofailover ? " nofailover" : "")
                     : "(not desired)");
    row.push_back(it == v.members.end() ? "-" : or_dash(it->second.last_error));
    rows.push_back(std::move(row));
  }
  print_rows(std::cout, rows);
}

}  // namespace

int pgha_list(api::Client& c, const Global& g) {
  auto vm = parse_sub(g.rest, pgha_options("pgha list"), {});
  std::string cluster = pgha_cluster(vm);
  auto view = read_view(c, cluster);
  if (!view.is_ok()) return fail(view.status());
  if (g.format() == Format::kJson) {
    print_view_json(*view, cluster);
  } else {
    print_summary(*view, cluster);
    print_members(*view);
  }
  return kExitOk;
}

namespace {

void print_event(const Global& g, const api::Change& ch, bool header) {
  auto e = pgha::parse_event(ch.data_json);
  if (g.format() == Format::kJson) {
    json::object o{{"_id", ch.id}, {"_ts", ch.ts_ns}};
    o["event"] =
        e.is_ok() ? json::parse(pgha::to_json(*e)) : json::value(json::string(ch.data_json));
    std::cout << json::serialize(o) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  if (header) rows.push_back({"ID", "TIME", "KIND", "MEMBER", "MESSAGE"});
  if (e.is_ok()) {
    rows.push_back(
        {std::to_string(ch.id), format_time(ch.ts_ns), e->kind, or_dash(e->member), e->message});
  } else {
    rows.push_back({std::to_string(ch.id), format_time(ch.ts_ns), "?", "-", ch.data_json});
  }
  print_rows(std::cout, rows);
}

}  // namespace

int pgha_history(api::Client& c, const Global& g) {
  auto desc = pgha_options("pgha history");
  desc.add_options()("since", po::value<std::string>()->default_value("0"), "after this change id")(
      "limit", po::value<std::string>()->default_value("1000"), "at most this many events")(
      "follow", "keep printing new events (until Ctrl-C)");
  auto vm = parse_sub(g.rest, desc, {});
  std::string cluster = pgha_cluster(vm);
  uint64_t since = parse_count(vm["since"].as<std::string>(), "--since");
  uint64_t limit = parse_count(vm["limit"].as<std::string>(), "--limit");
  std::string tag = pgha::cluster_tag(cluster);
  if (vm.count("follow")) {
    api::WatchOptions w;
    w.since = since;
    w.tags = {tag};
    common::Status s = c.watch(w, [&](const api::Change& ch) {
      print_event(g, ch, false);
      std::cout.flush();
      return static_cast<bool>(std::cout);
    });
    return s.is_ok() ? kExitOk : fail(s);
  }
  // Table columns are sized per page; one table for the whole history reads
  // better, so collect first.
  std::vector<api::Change> events;
  api::FeedRequest req;
  req.since = since;
  req.tags = {tag};
  while (events.size() < limit) {
    req.limit = static_cast<uint32_t>(std::min<uint64_t>(limit - events.size(), 1000));
    auto page = c.get_feed(req);
    if (!page.is_ok()) return fail(page.status());
    for (auto& ch : page->changes) events.push_back(std::move(ch));
    if (page->at_end || page->scanned <= req.since) break;
    req.since = page->scanned;
  }
  if (g.format() == Format::kJson) {
    for (const auto& ch : events) print_event(g, ch, false);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"ID", "TIME", "KIND", "MEMBER", "MESSAGE"}};
  for (const auto& ch : events) {
    auto e = pgha::parse_event(ch.data_json);
    if (e.is_ok()) {
      rows.push_back(
          {std::to_string(ch.id), format_time(ch.ts_ns), e->kind, or_dash(e->member), e->message});
    } else {
      rows.push_back({std::to_string(ch.id), format_time(ch.ts_ns), "?", "-", ch.data_json});
    }
  }
  print_rows(std::cout, rows);
  return kExitOk;
}

}  // namespace changectl
