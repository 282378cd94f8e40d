// Discovery as /diagnostics and /metrics show it. No IO.
#pragma once

#include <string>
#include <vector>

#include "discovery/proposals.h"
#include "discovery/watcher.h"

namespace discovery {

// The JSON object shown as "discovery" in GET /diagnostics: the source,
// the latest poll's state and error, left-out entries, the last good set
// and the pending proposals with their commands.
std::string render_report(const Snapshot& snap, const std::vector<Proposal>& proposals);

// Prometheus lines: changeagent_discovery_peers (gauge, last good set),
// changeagent_discovery_proposals (gauge), changeagent_discovery_polls_total
// and changeagent_discovery_failures_total (counters).
std::string render_metrics(const Snapshot& snap, size_t proposals);

// "500ms", "2s", "1m" or a bare number of seconds, > 0.
Result<std::chrono::milliseconds> parse_interval(const std::string& text, const std::string& flag);

}  // namespace discovery
