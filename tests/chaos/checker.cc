// The invariants of issue 6 over a history and the nodes' final logs. Each
// check is a function of its own so that a unit test can trip exactly one.
// Everything is O(n log n) in the number of ops and entries: long chaos runs
// produce hundreds of thousands of ops.
#include <algorithm>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "tests/chaos/checker.h"
#include "tests/chaos/linearizable.h"

namespace chaos {

namespace {

class Checker {
 public:
  Checker(const std::vector<Op>& history, const std::vector<NodeLog>& logs,
          const CheckOptions& opts)
      : history_(history), logs_(logs), opts_(opts) {
    for (const auto& op : history_) {
      if (is_write(op.kind)) by_payload_[op.payload] = &op;
    }
  }

  Report run() {
    count_outcomes();
    for (const auto& log : logs_) {
      check_one_value_and_order(log);  // I5 order part, and builds the index
      check_no_duplicates(log);        // I2, I8
      check_no_phantoms(log);          // I3
      check_gap_free(log);             // I5
    }
    check_one_value_per_index();  // I1
    check_acked_present();        // I4
    check_converged();            // I6
    check_real_time_order();      // I7 (writes)
    check_reads();                // I7 (reads), and reads of lost changes (I4)
    check_counters();             // CAS
    check_linearizable();         // LIN: counters as registers
    return std::move(report_);
  }

 private:
  void violate(const std::string& inv, const std::string& detail) {
    size_t& n = report_.counts[inv];
    if (n < opts_.details_per_invariant_max) report_.violations.push_back({inv, detail});
    n++;
  }

  static std::string describe(const Op& op) {
    std::ostringstream s;
    s << kind_name(op.kind) << " op " << op.op << " (client " << op.client << ", "
      << outcome_name(op.outcome);
    if (!op.payload.empty()) s << ", payload " << op.payload;
    if (op.id) s << ", _id " << op.id;
    s << ")";
    return s.str();
  }

  void count_outcomes() {
    for (const auto& op : history_) {
      if (op.outcome == Outcome::kOk) report_.ops_ok++;
      if (op.outcome == Outcome::kFailed) report_.ops_failed++;
      if (op.outcome == Outcome::kUnknown) report_.ops_unknown++;
      if (op.kind == OpKind::kAppend && op.outcome == Outcome::kOk) report_.appends_acked++;
    }
  }

  // I5 (part): the feed must list ids strictly increasing, inside the range
  // the node itself reports; otherwise "the entry at index i" means nothing.
  void check_one_value_and_order(const NodeLog& log) {
    auto& index = at_[log.node];
    uint64_t prev = 0;
    for (const auto& e : log.entries) {
      if (e.id <= prev) {
        violate("I5", log.node + ": feed id " + std::to_string(e.id) + " after " +
                          std::to_string(prev) + " (not strictly increasing)");
      }
      if (e.id < log.first_index || e.id > log.last_index) {
        violate("I5", log.node + ": feed id " + std::to_string(e.id) + " outside [" +
                          std::to_string(log.first_index) + ", " + std::to_string(log.last_index) +
                          "]");
      }
      prev = std::max(prev, e.id);
      index.emplace(e.id, &e);
    }
  }

  // I2: a change appears at most once in a log. When the twice-appearing
  // change is an unknown-outcome append, it is the retry hazard of I8.
  void check_no_duplicates(const NodeLog& log) {
    std::unordered_map<std::string, uint64_t> seen;
    for (const auto& e : log.entries) {
      if (e.payload.empty()) continue;
      auto [it, fresh] = seen.emplace(e.payload, e.id);
      if (fresh) continue;
      auto op = by_payload_.find(e.payload);
      bool unknown = op != by_payload_.end() && op->second->outcome == Outcome::kUnknown;
      violate(unknown ? "I8" : "I2", log.node + ": payload " + e.payload + " at ids " +
                                         std::to_string(it->second) + " and " +
                                         std::to_string(e.id));
    }
  }

  // I3: everything in a log was requested, and nothing the server declared
  // certainly-not-done (503, compare failed) is there: that is a phantom too.
  void check_no_phantoms(const NodeLog& log) {
    for (const auto& e : log.entries) {
      if (e.internal) continue;
      if (e.payload.empty()) {
        violate("I3", log.node + ": id " + std::to_string(e.id) + " carries no client payload");
        continue;
      }
      auto op = by_payload_.find(e.payload);
      if (op == by_payload_.end()) {
        violate("I3", log.node + ": id " + std::to_string(e.id) + " payload " + e.payload +
                          " was never requested");
      } else if (op->second->outcome == Outcome::kFailed) {
        violate("I3", log.node + ": id " + std::to_string(e.id) + " holds " +
                          describe(*op->second) + ", which the server said did not happen");
      }
    }
  }

  // I5: every raft index in [first, last] is either a feed entry or, asked
  // for alone, an internal (no-op, membership) entry or a failed compare.
  void check_gap_free(const NodeLog& log) {
    if (!log.gaps_probed) return;
    const auto& index = at_[log.node];
    for (uint64_t i = log.first_index; i <= log.last_index; i++) {
      if (index.count(i)) continue;
      auto g = log.gaps.find(i);
      if (g == log.gaps.end()) {
        violate("I5", log.node + ": index " + std::to_string(i) + " is neither in the feed nor " +
                          "explained as internal");
      } else if (g->second != "internal" && g->second != "failed_compare") {
        violate("I5", log.node + ": index " + std::to_string(i) + " is a hole (" + g->second + ")");
      }
    }
  }

  // I1: no two nodes hold different changes at one index.
  void check_one_value_per_index() {
    std::map<uint64_t, std::pair<std::string, const LogEntry*>> first;
    for (const auto& log : logs_) {
      for (const auto& e : log.entries) {
        auto [it, fresh] = first.emplace(e.id, std::make_pair(log.node, &e));
        if (fresh) continue;
        const LogEntry* o = it->second.second;
        if (o->payload != e.payload || o->internal != e.internal || o->key != e.key) {
          violate("I1", "index " + std::to_string(e.id) + ": " + it->second.first + " has '" +
                            o->payload + "', " + log.node + " has '" + e.payload + "'");
        }
      }
    }
  }

  // I4: every acknowledged write is on every node after healing, at the id
  // the client was given.
  void check_acked_present() {
    for (const auto& op : history_) {
      if (!is_write(op.kind) || op.outcome != Outcome::kOk) continue;
      for (const auto& log : logs_) {
        const auto& index = at_[log.node];
        auto it = op.id ? index.find(op.id) : index.end();
        if (it != index.end() && it->second->payload == op.payload) continue;
        bool elsewhere = false;
        for (const auto& [id, e] : index) elsewhere = elsewhere || e->payload == op.payload;
        violate("I4", log.node + ": acknowledged " + describe(op) +
                          (elsewhere ? " sits at another index" : " is missing"));
      }
    }
  }

  // I6: after healing, every node holds the same log and counters.
  void check_converged() {
    if (logs_.size() < 2) return;
    const NodeLog& a = logs_.front();
    for (size_t n = 1; n < logs_.size(); n++) {
      const NodeLog& b = logs_[n];
      std::string why;
      if (a.last_index != b.last_index) {
        why = "last index " + std::to_string(a.last_index) + " vs " + std::to_string(b.last_index);
      } else if (a.entries.size() != b.entries.size()) {
        why = std::to_string(a.entries.size()) + " vs " + std::to_string(b.entries.size()) +
              " entries";
      } else if (a.keys != b.keys) {
        why = "counter values differ";
      } else {
        for (size_t i = 0; i < a.entries.size() && why.empty(); i++) {
          if (a.entries[i].id != b.entries[i].id || a.entries[i].payload != b.entries[i].payload) {
            why = "first difference at entry " + std::to_string(i) + " (id " +
                  std::to_string(a.entries[i].id) + " vs " + std::to_string(b.entries[i].id) + ")";
          }
        }
      }
      if (!why.empty()) violate("I6", a.node + " and " + b.node + " differ: " + why);
    }
  }

  // I7 (writes): if A was acknowledged before B was invoked, A's id < B's id.
  // Sweep B in invoke order while folding in every A completed before it.
  void check_real_time_order() {
    std::vector<const Op*> acked;
    for (const auto& op : history_) {
      if (is_write(op.kind) && op.outcome == Outcome::kOk && op.id) acked.push_back(&op);
    }
    auto by_complete = acked;
    std::sort(by_complete.begin(), by_complete.end(),
              [](const Op* x, const Op* y) { return x->complete_ns < y->complete_ns; });
    std::sort(acked.begin(), acked.end(),
              [](const Op* x, const Op* y) { return x->invoke_ns < y->invoke_ns; });
    size_t done = 0;
    const Op* max_before = nullptr;
    for (const Op* b : acked) {
      while (done < by_complete.size() && by_complete[done]->complete_ns < b->invoke_ns) {
        const Op* a = by_complete[done++];
        if (!max_before || a->id > max_before->id) max_before = a;
      }
      if (max_before && max_before->id >= b->id) {
        violate("I7", describe(*max_before) + " was acknowledged before " + describe(*b) +
                          " began, yet got a larger or equal id");
      }
    }
  }

  // I7 (reads): a client's reads never go backwards, and a read sees every
  // write acknowledged before it began (reads are consistent=true). A read
  // that returned an id the final log lacks saw a write that was then lost.
  void check_reads() {
    std::vector<const Op*> writes;
    for (const auto& op : history_) {
      if (is_write(op.kind) && op.outcome == Outcome::kOk && op.id) writes.push_back(&op);
    }
    std::sort(writes.begin(), writes.end(),
              [](const Op* x, const Op* y) { return x->complete_ns < y->complete_ns; });
    std::vector<const Op*> reads;
    for (const auto& op : history_) {
      if (op.kind == OpKind::kRead && op.outcome == Outcome::kOk) reads.push_back(&op);
    }
    std::sort(reads.begin(), reads.end(),
              [](const Op* x, const Op* y) { return x->invoke_ns < y->invoke_ns; });
    std::map<uint32_t, const Op*> last_read;
    size_t done = 0;
    const Op* max_before = nullptr;
    for (const Op* r : reads) {
      while (done < writes.size() && writes[done]->complete_ns < r->invoke_ns) {
        const Op* w = writes[done++];
        if (!max_before || w->id > max_before->id) max_before = w;
      }
      if (max_before && r->read_index && r->read_index < max_before->id) {
        violate("I7", describe(*r) + " read at index " + std::to_string(r->read_index) +
                          ", older than " + describe(*max_before) + " acknowledged before it");
      }
      auto& prev = last_read[r->client];
      if (prev && r->read_index && r->read_index < prev->read_index) {
        violate("I7", "client " + std::to_string(r->client) + " read index " +
                          std::to_string(prev->read_index) + " then " +
                          std::to_string(r->read_index) + " (went backwards)");
      }
      if (r->read_index) prev = r;
      check_read_ids_survive(*r);
    }
  }

  void check_read_ids_survive(const Op& r) {
    for (uint64_t id : r.read_ids) {
      for (const auto& log : logs_) {
        if (id < log.first_index || at_[log.node].count(id)) continue;
        violate("I4", log.node + ": " + describe(r) + " saw id " + std::to_string(id) +
                          ", which the final log lacks");
      }
    }
  }

  // CAS: each counter's final value lies within [acked, acked + unknown]
  // increments, and equals the number of its writes in the log.
  void check_counters() {
    std::map<std::string, std::pair<int64_t, int64_t>> incs;  // key -> (acked, unknown)
    for (const auto& op : history_) {
      if (op.kind != OpKind::kCas) continue;
      auto& [acked, unknown] = incs[op.key];
      if (op.outcome == Outcome::kOk) acked++;
      if (op.outcome == Outcome::kUnknown) unknown++;
    }
    for (const auto& log : logs_) {
      std::map<std::string, int64_t> writes;
      for (const auto& e : log.entries) {
        if (!e.key.empty()) writes[e.key]++;
      }
      for (const auto& [key, value] : log.keys) {
        auto [acked, unknown] = incs[key];
        if (value < acked || value > acked + unknown) {
          violate("CAS", log.node + ": counter " + key + " = " + std::to_string(value) +
                             ", expected within [" + std::to_string(acked) + ", " +
                             std::to_string(acked + unknown) + "] (acked, acked + unknown)");
        }
        if (writes[key] != value) {
          violate("CAS", log.node + ": counter " + key + " = " + std::to_string(value) +
                             " but the log holds " + std::to_string(writes[key]) + " writes to it");
        }
      }
    }
  }

  // LIN: each counter, read with consistent=true and written by CAS, must be
  // a linearizable register (WGL search, bounded; see linearizable.h).
  void check_linearizable() {
    std::map<std::string, std::vector<RegisterOp>> by_key;
    for (const auto& op : history_) {
      if (op.kind != OpKind::kCas && op.kind != OpKind::kKeyRead) continue;
      if (op.outcome == Outcome::kFailed) continue;  // certainly did not happen
      bool read = op.kind == OpKind::kKeyRead;
      if (read && op.outcome != Outcome::kOk) continue;  // a lost read changes nothing
      RegisterOp r;
      r.op = op.op;
      r.invoke_ns = op.invoke_ns;
      r.complete_ns = op.complete_ns;
      r.unknown = op.outcome == Outcome::kUnknown;
      r.is_read = read;
      r.value = op.value;
      by_key[op.key].push_back(r);
    }
    for (const auto& [key, ops] : by_key) {
      LinResult r = check_register(ops, 0, opts_.lin_max_steps);
      report_.lin_keys_checked++;
      if (r.verdict == LinVerdict::kViolation) violate("LIN", "counter " + key + ": " + r.detail);
      if (r.verdict == LinVerdict::kInconclusive) {
        report_.lin_inconclusive.push_back(key + " (" + r.detail + ")");
      }
    }
  }

  const std::vector<Op>& history_;
  const std::vector<NodeLog>& logs_;
  const CheckOptions& opts_;
  std::unordered_map<std::string, const Op*> by_payload_;
  std::map<std::string, std::map<uint64_t, const LogEntry*>> at_;  // node -> id -> entry
  Report report_;
};

}  // namespace

Report check(const std::vector<Op>& history, const std::vector<NodeLog>& logs,
             const CheckOptions& opts) {
  return Checker(history, logs, opts).run();
}

std::string Report::summary() const {
  std::ostringstream s;
  s << "ops: " << ops_ok << " ok, " << ops_failed << " failed, " << ops_unknown
    << " unknown; appends acknowledged: " << appends_acked << "\n";
  if (lin_keys_checked) {
    s << "linearizability: " << lin_keys_checked << " counter(s) searched";
    if (lin_inconclusive.empty()) s << ", all decided\n";
    for (const auto& k : lin_inconclusive) s << "\n  inconclusive: " << k;
    if (!lin_inconclusive.empty()) s << "\n";
  }
  if (counts.empty()) {
    s << "violations: none\n";
    return s.str();
  }
  s << "violations:";
  for (const auto& [inv, n] : counts) s << " " << inv << "=" << n;
  s << "\n";
  for (const auto& v : violations) s << "  " << v.invariant << ": " << v.detail << "\n";
  return s.str();
}

}  // namespace chaos
