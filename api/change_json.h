// The client-facing JSON wire format (Boost.JSON), shared by the server
// (render requests' answers, parse POST bodies) and api/client (the
// reverse). Field names follow the original changeagent: "_id", "_ts",
// "_type", "tags", "data"; feed pages add "atStart", "atEnd", "firstIndex",
// "lastIndex". Node ids are JSON numbers, and decimal strings where they are
// object keys (members, peerIndices). No Beast here.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/service.h"

namespace api {

// --- server side: requests in ---

// POST /changes (batch=false) or /changes/batch (batch=true). A value that is
// an object with a "data" field is a change object ({"data", "tags"?,
// "type"?}); any other JSON value is stored whole as the change's data.
// kInvalidArgument for malformed JSON or wrong field types, kTooLarge for too
// many changes in a batch.
Result<std::vector<ChangeInput>> parse_post_body(std::string_view body, bool batch);

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

}  // namespace api
