// The chaos consistency checker: judges a client history plus the final logs
// of every node against the invariants of issue 6. It is pure (no IO beyond
// the parse/render helpers on streams) so that unit tests can feed it
// hand-made histories with each kind of violation: a checker that cannot
// fail proves nothing.
//
// History: JSON lines, one completed (or abandoned) client operation each:
//   {"op":7,"client":2,"kind":"append","invoke_ns":..,"complete_ns":..,
//    "outcome":"ok","payload":"s1-c2-7","id":41}
//   {"op":8,"client":2,"kind":"read","invoke_ns":..,"complete_ns":..,
//    "outcome":"ok","index":57,"ids":[55,57]}
//   {"op":9,"client":3,"kind":"cas","key":"ctr/1","value":5,...,"payload":"s1-c3-9","id":58}
//   {"op":10,"client":3,"kind":"kv-read","key":"ctr/1","value":5,...}
// Times are ns on one monotonic clock (the harness's). outcome: ok (the
// server acknowledged), failed (the server said it certainly did not
// happen: 503, compare failed), unknown (no answer: timeout, reset).
//
// Final log of a node: JSON lines, a header then one line per feed entry
// and one per probed gap, then the counters' final values:
//   {"node":"n1","first_index":1,"last_index":90,"gaps_probed":true}
//   {"id":3,"payload":"s1-c1-0"}            a user change (payload = data.p)
//   {"id":4,"payload":"s1-c3-2","key":"ctr/0"}  a CAS write
//   {"id":5,"internal":true}                 lease grant/revoke
//   {"gap":6,"why":"internal"}               GET /changes/6 said raft-internal
//   {"key":"ctr/0","value":12}               GET /keys/ctr/0 at the end
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace chaos {

// kKeyRead: a consistent (ReadIndex) read of a counter key, recorded for
// the linearizability check of the counters.
enum class OpKind { kAppend, kRead, kCas, kKeyRead };
inline bool is_write(OpKind k) {
  return k == OpKind::kAppend || k == OpKind::kCas;
}
enum class Outcome { kOk, kFailed, kUnknown };

struct Op {
  uint64_t op = 0;  // unique within the history
  uint32_t client = 0;
  OpKind kind = OpKind::kAppend;
  int64_t invoke_ns = 0;
  int64_t complete_ns = 0;  // for unknown: when the client gave up
  Outcome outcome = Outcome::kUnknown;
  std::string payload;  // append/cas: unique over the run
  uint64_t id = 0;      // append/cas ok: the returned _id (0 = not known)
  // read: the node's applied index after the read barrier (0 = not known)
  // and the ids it returned.
  uint64_t read_index = 0;
  std::vector<uint64_t> read_ids;
  std::string key;    // cas, kv-read
  int64_t value = 0;  // cas: the value written (previous + 1); kv-read: the value seen
};

struct LogEntry {
  uint64_t id = 0;
  std::string payload;  // empty for internal entries and foreign data
  std::string key;      // set for key writes (CAS)
  bool internal = false;
};

struct NodeLog {
  std::string node;
  uint64_t first_index = 1;  // first retained index the feed reported
  uint64_t last_index = 0;   // last applied index the feed reported
  // Every index in [first_index, last_index] absent from the feed was asked
  // for one by one; `gaps` says what the server answered.
  bool gaps_probed = false;
  std::vector<LogEntry> entries;         // in feed order
  std::map<uint64_t, std::string> gaps;  // index -> internal | failed_compare | missing
  std::map<std::string, int64_t> keys;   // counter -> final value
};

struct Violation {
  std::string invariant;  // I1..I8, CAS
  std::string detail;
};

struct CheckOptions {
  // Step bound of the linearizability search per counter key.
  uint64_t lin_max_steps = 20'000'000;
  // Details kept per invariant (all are counted).
  size_t details_per_invariant_max = 20;
};

struct Report {
  std::vector<Violation> violations;     // capped per invariant
  std::map<std::string, size_t> counts;  // invariant -> violations found
  size_t ops_ok = 0, ops_failed = 0, ops_unknown = 0;
  size_t appends_acked = 0;
  // Counters whose linearizability search hit its step bound: neither
  // proven nor refuted, and said so in the summary.
  std::vector<std::string> lin_inconclusive;
  size_t lin_keys_checked = 0;
  bool clean() const { return counts.empty(); }
  // A few lines: counts by invariant, then the kept details.
  std::string summary() const;
};

Report check(const std::vector<Op>& history, const std::vector<NodeLog>& logs,
             const CheckOptions& opts = {});

// ---- the file formats (see the top of this file) ----
common::Result<std::vector<Op>> parse_history(std::istream& in);
common::Result<NodeLog> parse_node_log(std::istream& in);
std::string render_op(const Op& op);  // one JSON line, no newline
void write_node_log(std::ostream& out, const NodeLog& log);

const char* kind_name(OpKind k);
const char* outcome_name(Outcome o);

}  // namespace chaos
