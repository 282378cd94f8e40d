// The keyed state view: the current value of every key, and the leases
// keys are attached to, built by applying the log in order. Pure and
// deterministic (no clock, no IO): every node that applies the same
// commands at the same indexes holds the same state, which is what makes
// compare-and-set decided at apply time safe. The node driver persists the
// rows this produces in the `state` column family; the simulator uses the
// same code as its state machine.
//
// Revisions are log indexes: a key's mod_revision is the index of the entry
// that last wrote it, so "the feed is the history of the state".
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace state {

struct KeyRecord {
  std::string value_json;
  uint64_t create_revision = 0;  // index of the write that created the key
  uint64_t mod_revision = 0;     // index of the last write; only grows
  uint64_t version = 0;          // writes since creation; 1 after create
  uint64_t lease = 0;            // 0 = none
  bool operator==(const KeyRecord&) const = default;
};

struct LeaseRecord {
  uint64_t ttl_seconds = 0;
  std::set<std::string> keys;  // derived from KeyRecord::lease; not persisted
  bool operator==(const LeaseRecord&) const = default;
};

struct Compare {
  std::string key;
  uint64_t mod_revision = 0;  // 0 = the key must not exist
  bool operator==(const Compare&) const = default;
};

struct Op {
  std::string key;
  bool del = false;
  std::string value_json;
  uint64_t lease = 0;
};

// One log entry's effect on the state. A plain change has no ops.
struct Command {
  std::vector<Compare> compares;
  std::vector<Op> ops;
  std::optional<uint64_t> lease_grant_ttl_seconds;  // grant; the lease id is the index
  uint64_t lease_revoke = 0;                        // revoke this lease and delete its keys
};

enum class Outcome {
  kApplied,
  kCompareFailed,  // nothing changed; `current` holds the compared keys' revisions
  kUnknownLease,   // a put names, or a revoke targets, a lease that does not exist
};

struct ApplyResult {
  Outcome outcome = Outcome::kApplied;
  std::vector<Compare> current;           // kCompareFailed: every compared key's revision now
  std::vector<std::string> revoked_keys;  // keys deleted by a lease revoke
};

// A row of the `state` column family to write (value) or delete (nullopt).
struct Row {
  std::string key;
  std::optional<std::string> value;
};

class StateView {
 public:
  // Applies the command of entry `index`. Indexes must increase across
  // calls. Appends the rows to persist to `rows`. A command that does not
  // apply changes nothing but is remembered as failed (so the feed can hide
  // it) — deterministically on every node.
  ApplyResult apply(uint64_t index, const Command& cmd, std::vector<Row>* rows);

  // Whether the compares hold now; fills `current` with every compared key's
  // revision (0 = absent) when they do not.
  bool check(const std::vector<Compare>& compares, std::vector<Compare>* current) const;

  const KeyRecord* get(const std::string& key) const;
  // Keys starting with `prefix`, strictly after `after`, at most `limit`.
  std::vector<std::pair<std::string, KeyRecord>> range(const std::string& prefix,
                                                       const std::string& after, size_t limit,
                                                       bool* more) const;
  const LeaseRecord* lease(uint64_t id) const;
  const std::map<uint64_t, LeaseRecord>& leases() const { return leases_; }
  bool failed(uint64_t index) const { return failed_.count(index) != 0; }
  uint64_t last_index() const { return last_index_; }
  size_t key_count() const { return keys_.size(); }

  // Rebuilds the view from persisted rows (any order). kCorruption on a
  // row that does not decode.
  common::Status load_row(const std::string& key, const std::string& value);
  void set_last_index(uint64_t index) { last_index_ = index; }

  // The whole view as rows, e.g. for a snapshot.
  std::vector<Row> all_rows() const;

  bool operator==(const StateView& o) const {
    return keys_ == o.keys_ && leases_ == o.leases_ && failed_ == o.failed_;
  }

 private:
  void put(uint64_t index, const Op& op, std::vector<Row>* rows);
  void erase(const std::string& key, std::vector<Row>* rows);

  std::map<std::string, KeyRecord> keys_;
  std::map<uint64_t, LeaseRecord> leases_;
  std::set<uint64_t> failed_;  // indexes whose command did not apply
  uint64_t last_index_ = 0;
};

// Row keys: "k/" + key, "l/" + 8-byte BE lease id, "f/" + 8-byte BE index.
std::string key_row(const std::string& key);
std::string lease_row(uint64_t id);
std::string failed_row(uint64_t index);

}  // namespace state
