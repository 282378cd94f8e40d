// The client-facing JSON wire format (Boost.JSON), shared by the server
// (render requests' answers, parse POST bodies) and api/client (the
// reverse). Field names follow the original changeagent: "_id", "_ts",
// "_type", "tags", "data"; feed pages add "atStart", "atEnd", "firstIndex",
// "lastIndex". Node ids are JSON numbers, and decimal strings where they are
// object keys (members, peerIndices). No Beast here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/service.h"

namespace api {

// --- server side: requests in ---

// POST /changes (batch=false) or /changes/batch (batch=true). A value that is
// an object with a "data" or "key" field is a change object ({"data",
// "tags"?, "type"?, "key"?, "ifRevision"?, "delete"?, "lease"?}); any other
// JSON value is stored whole as the change's data. A single change object
// with "key" becomes a transaction (see keyed). kInvalidArgument for
// malformed JSON, wrong field types, bad keys, or keys in a batch; kTooLarge
// for too many changes in a batch.
struct PostBody {
  std::vector<ChangeInput> changes;  // plain appends (empty when keyed is set)
  std::optional<TxnRequest> keyed;   // a single change that also writes a key
};
Result<PostBody> parse_post_body(std::string_view body, bool batch);

// --- keys, transactions, leases (issue 4), server side ---

// Key names: non-empty, at most kKeyBytesMax bytes, valid UTF-8, no NUL.
// kInvalidArgument with a message that names the broken rule.
Status validate_key(std::string_view key);
// PUT /keys/{key}: {"value": any, "ifRevision"?: int >= 0, "lease"?: id};
// the change records value as its data, with no tags.
Result<TxnRequest> parse_put_key_body(const std::string& key, std::string_view body);
// POST /txn: {"compares": [{"key","revision"}], "ops": [{"key", "value"?,
// "delete"?, "lease"?}], "data"?, "tags"?, "type"?}. kTooLarge over
// kTxnOpsMax / kTxnComparesMax; kInvalidArgument for no ops, a key twice
// among ops, or a malformed entry.
Result<TxnRequest> parse_txn_body(std::string_view body);
// POST /leases: {"ttl": seconds} in [kLeaseTtlSecondsMin, kLeaseTtlSecondsMax].
Result<uint64_t> parse_lease_grant_body(std::string_view body);

// {"_id","_ts","key","revision"}: a successful single-key write.
std::string render_key_write(const std::string& key, const TxnResult& r);
// {"succeeded":true,"_id","_ts"}: a successful POST /txn.
std::string render_txn_succeeded(const TxnResult& r);
// The 409 body of a failed compare: {"error","code":"revision_mismatch",
// "current": N} for one key (POST /changes, PUT/DELETE /keys), or with
// "succeeded":false and "current": [{"key","revision"}] for POST /txn.
std::string render_revision_mismatch(const std::vector<TxnCompare>& wanted, const TxnResult& r,
                                     bool txn);
// {"key","value","createRevision","modRevision","version","lease"}
std::string render_key(const KeyValue& kv);
// {"keys": [key objects], "more", "revision"}
std::string render_key_page(const KeyPage& page);
// {"id","ttl"[,"remainingMs"][,"keys"]}
std::string render_lease(const LeaseInfo& lease, bool with_remaining, bool with_keys);

// --- server side: answers out ---

// {"_id","_ts","_type","tags","data"}; data is embedded as JSON, not a string.
void append_change_json(std::string& out, const Change& c);
std::string render_change(const Change& c);
std::string render_feed(const FeedPage& page);
// {"_id": N, "_ts": ns}, or an array of those for a batch.
std::string render_appended(const std::vector<Appended>& appended, bool as_array);
// {"clusterId","leader","members":{id: peer address},"details":[...]}
std::string render_cluster(const ClusterView& view);
// {id: peer address}, the original changeagent's shape.
std::string render_members(const ClusterView& view);
// The raft fields; with_build adds "build" (GET /diagnostics).
std::string render_diagnostics(const RaftDiagnostics& d, bool with_build);

// --- client side ---

// kInvalidArgument unless text is one valid JSON value.
Status validate_json(std::string_view text);
// {"data", "tags", "type"?}; kInvalidArgument if a data_json is not JSON.
Result<std::string> render_change_input(const ChangeInput& in);
Result<std::string> render_change_inputs(const std::vector<ChangeInput>& in);
Result<Change> parse_change(std::string_view json);
Result<FeedPage> parse_feed(std::string_view json);
Result<std::vector<Appended>> parse_appended(std::string_view json);
Result<ClusterView> parse_cluster(std::string_view json);
Result<std::map<uint64_t, std::string>> parse_members(std::string_view json);
Result<RaftDiagnostics> parse_diagnostics(std::string_view json);

// --- keys, transactions, leases (issue 4), client side ---

// The body of POST /txn; kInvalidArgument if a value or the data is not JSON.
Result<std::string> render_txn_request(const TxnRequest& req);
// {"value", "ifRevision"?, "lease"?}: the body of PUT /keys/{key}.
Result<std::string> render_put_key_body(std::string_view value_json,
                                        std::optional<uint64_t> if_revision, uint64_t lease);
// A write's answer: 2xx ({"_id","_ts",...}) or a 409 revision_mismatch body
// (succeeded=false; "current" as a number is the revision of `key`).
Result<TxnResult> parse_txn_result(int status, std::string_view json, std::string_view key = {});
// True if a 409 body is a revision mismatch (not, e.g., a cluster mismatch).
bool is_revision_mismatch(std::string_view json);
Result<KeyValue> parse_key(std::string_view json);
Result<KeyPage> parse_key_page(std::string_view json);
Result<LeaseInfo> parse_lease(std::string_view json);

}  // namespace api
