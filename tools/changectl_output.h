// changectl's output: aligned tables for people, JSON for scripts (-o json).
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "api/service.h"

namespace changectl {

enum class Format { kTable, kJson };

void print_appended(std::ostream& out, Format f, const std::vector<api::Appended>& appended);
void print_feed(std::ostream& out, Format f, const api::FeedPage& page);
void print_change(std::ostream& out, Format f, const api::Change& c);
// One line per change, for watch: a table row without header, or JSON lines.
void print_change_line(std::ostream& out, Format f, const api::Change& c);
void print_cluster(std::ostream& out, Format f, const api::ClusterView& view);
void print_members(std::ostream& out, Format f, const std::map<uint64_t, std::string>& members);
// One member (cluster add): a table row, or {"id","name","peerURL","clientURL","learner"}.
void print_member(std::ostream& out, Format f, const api::MemberView& m);
// The outcome of a membership change: `json` for -o json, `text` for people.
void print_outcome(std::ostream& out, Format f, const std::string& json, const std::string& text);

// Keys and leases.
void print_key(std::ostream& out, Format f, const api::KeyValue& kv);
void print_key_page(std::ostream& out, Format f, const api::KeyPage& page);
// A successful write of one key: its new revision (the change's id).
void print_key_write(std::ostream& out, Format f, const std::string& key, const api::TxnResult& r);
// A lost compare: -o json prints {"succeeded":false,"current":[...]} for
// scripts; the table format prints nothing (the error goes to stderr).
void print_revision_mismatch(std::ostream& out, Format f, const api::TxnResult& r);
void print_lease(std::ostream& out, Format f, const api::LeaseInfo& lease);
// One line per key write, for keys watch: ID TIME PUT|DEL KEY DATA.
void print_key_event_line(std::ostream& out, Format f, const api::Change& c);

// Left-aligned columns sized to the widest cell (the first row is the header).
void print_rows(std::ostream& out, const std::vector<std::vector<std::string>>& rows);

// "2024-05-01T12:00:00.123Z" from nanoseconds since the epoch.
std::string format_time(uint64_t ts_ns);

}  // namespace changectl
