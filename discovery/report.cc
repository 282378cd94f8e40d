#include "discovery/report.h"

#include <boost/json.hpp>
#include <charconv>

namespace discovery {

namespace json = boost::json;

std::string render_report(const Snapshot& snap, const std::vector<Proposal>& proposals) {
  json::array peers, issues, props;
  for (const auto& p : snap.good)
    peers.push_back(json::object{{"name", p.name}, {"peerURL", p.address}});
  for (const auto& i : snap.last.issues) issues.push_back(json::string(i));
  for (const auto& p : proposals) {
    json::object o{{"action", action_name(p.action)},
                   {"name", p.name},
                   {"peerURL", p.address},
                   {"reason", p.reason},
                   {"command", p.command}};
    if (p.id != 0) o["id"] = p.id;
    props.push_back(std::move(o));
  }
  json::object o{
      {"source", snap.source},       {"state", snap.last.status.is_ok() ? "ok" : "failing"},
      {"polls", snap.polls},         {"failures", snap.failures},
      {"peers", std::move(peers)},   {"complete", snap.good_complete && snap.last.complete()},
      {"issues", std::move(issues)}, {"proposals", std::move(props)}};
  if (!snap.last.status.is_ok()) o["error"] = snap.last.status.message();
  return json::serialize(o);
}

std::string render_metrics(const Snapshot& snap, size_t proposals) {
  std::string out;
  auto line = [&](const char* name, const char* type, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + std::to_string(v) + "\n";
  };
  line("changeagent_discovery_peers", "gauge", "Peers in the last good discovered set.",
       snap.good.size());
  line("changeagent_discovery_proposals", "gauge",
       "Membership changes discovery proposes (logged; never applied by itself).", proposals);
  line("changeagent_discovery_polls_total", "counter", "Polls of the discovery source.",
       snap.polls);
  line("changeagent_discovery_failures_total", "counter",
       "Polls of the discovery source that failed.", snap.failures);
  return out;
}

Result<std::chrono::milliseconds> parse_interval(const std::string& text, const std::string& flag) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  std::string_view unit(end, text.data() + text.size() - end);
  double ms = 0;
  if (unit == "ms") {
    ms = v;
  } else if (unit == "s" || unit.empty()) {
    ms = v * 1000;
  } else if (unit == "m") {
    ms = v * 60000;
  } else {
    ms = -1;
  }
  if (text.empty() || ec != std::errc() || ms < 1 || ms > 24 * 3600 * 1000.0) {
    return Status(Code::kInvalidArgument,
                  flag + " '" + text + "' must be a duration like 500ms, 10s or 1m");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

}  // namespace discovery
