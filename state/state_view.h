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

// A client request id carried by an entry (exactly-once appends). Ids are
// per request: every entry of a batch carries the same id, its position
// `seq` in the batch and the batch size `count`, so each entry is decided on
// its own, deterministically, without state carried between entries.
struct RequestTag {
  std::string id;
  uint64_t hash = 0;   // of the request's body, computed where the client sent it
  uint32_t seq = 0;    // position in the batch
  uint32_t count = 1;  // entries in the batch
};

// Where a request id's first (and only applied) append landed.
struct RequestRecord {
  uint64_t first_index = 0;
  uint32_t count = 1;
  uint64_t ts_ns = 0;  // the leader's stamp of those entries
  uint64_t hash = 0;
  bool operator==(const RequestRecord&) const = default;
};

// How long a request id is remembered, in leader-stamped `_ts` time: a
// retry stamped more than this after the original is a new append. It must
// be the same on every node (apply decides with it), so it is part of the
// replicated state: the key kRequestIdWindowKey, when it holds a JSON
// integer of seconds in [1, kRequestIdWindowSecondsMax], replaces the
// default from the entry that wrote it on, on every node alike (PUT
// /config/request_id_window writes it). Absent, deleted or malformed: the
// default.
inline constexpr uint64_t kRequestIdWindowNsDefault = 10ull * 60 * 1000 * 1000 * 1000;
inline constexpr const char* kRequestIdWindowKey = "_config/request_id_window";
inline constexpr uint64_t kRequestIdWindowSecondsMax = 7ull * 24 * 3600;
// The window a kRequestIdWindowKey value asks for, in ns; nullopt if the
// value is not an integer of seconds within bounds.
std::optional<uint64_t> request_window_ns_of(const std::string& value_json);

// One log entry's effect on the state. A plain change has no ops.
struct Command {
  std::vector<Compare> compares;
  std::vector<Op> ops;
  std::optional<uint64_t> lease_grant_ttl_seconds;  // grant; the lease id is the index
  uint64_t lease_revoke = 0;                        // revoke this lease and delete its keys
  std::optional<RequestTag> request;                // a client request id (exactly-once appends)
  uint64_t ts_ns = 0;                               // the entry's stamp (request id window)
};

enum class Outcome {
  kApplied,
  kCompareFailed,    // nothing changed; `current` holds the compared keys' revisions
  kUnknownLease,     // a put names, or a revoke targets, a lease that does not exist
  kDuplicate,        // the request id was applied before: `original` says where
  kRequestIdReused,  // the request id was applied before with another body
};

struct ApplyResult {
  Outcome outcome = Outcome::kApplied;
  std::vector<Compare> current;           // kCompareFailed: every compared key's revision now
  std::vector<std::string> revoked_keys;  // keys deleted by a lease revoke
  std::optional<RequestRecord> original;  // kDuplicate / kRequestIdReused
};

// A row of the `state` column family to write (value) or delete (nullopt).
struct Row {
  std::string key;
  std::optional<std::string> value;
};

class StateView {
 public:
  explicit StateView(uint64_t request_window_ns = kRequestIdWindowNsDefault)
      : default_window_ns_(request_window_ns), request_window_ns_(request_window_ns) {}

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
  // The record of request id `id` as an entry stamped `ts_ns` would see it:
  // nullptr if unknown or older than the window. Used by apply and by the
  // leader's pre-check, so both decide alike.
  const RequestRecord* request(const std::string& id, uint64_t ts_ns) const;
  size_t request_count() const { return requests_.size(); }
  // The request id window in force (the configured one, else the default).
  uint64_t request_window_ns() const { return request_window_ns_; }
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
    return keys_ == o.keys_ && leases_ == o.leases_ && failed_ == o.failed_ &&
           requests_ == o.requests_;
  }

 private:
  void put(uint64_t index, const Op& op, std::vector<Row>* rows);
  void erase(const std::string& key, std::vector<Row>* rows);
  // Forgets request ids stamped more than the window before `ts_ns`.
  void prune_requests(uint64_t ts_ns, std::vector<Row>* rows);
  // Decides a request-tagged entry; records a new id. nullopt = apply it.
  std::optional<Outcome> decide_request(uint64_t index, const Command& cmd, ApplyResult& res,
                                        std::vector<Row>* rows);

  std::map<std::string, KeyRecord> keys_;
  std::map<uint64_t, LeaseRecord> leases_;
  std::set<uint64_t> failed_;  // indexes whose command did not apply
  // Follows kRequestIdWindowKey (set in put/erase/load_row).
  void update_request_window(const std::string& key);

  uint64_t last_index_ = 0;
  uint64_t default_window_ns_;
  uint64_t request_window_ns_;  // derived from keys_: not compared, not persisted
  std::map<std::string, RequestRecord> requests_;
  std::map<uint64_t, std::string> requests_by_index_;  // first index -> id, for pruning in order
};

// Row keys: "k/" + key, "l/" + 8-byte BE lease id, "f/" + 8-byte BE index,
// "r/" + request id.
std::string key_row(const std::string& key);
std::string lease_row(uint64_t id);
std::string failed_row(uint64_t index);
std::string request_row(const std::string& id);

}  // namespace state
