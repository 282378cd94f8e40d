#include "tools/changectl_output.h"

#include <algorithm>
#include <boost/json.hpp>
#include <ctime>

#include "api/change_json.h"

namespace changectl {

namespace {

// Data wider than this is cut in tables; -o json prints it whole.
constexpr size_t kTableDataChars = 80;

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); i++) out += (i ? sep : "") + items[i];
  return out;
}

// Left-aligned columns sized to the widest cell.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); i++) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); i++) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::vector<std::string> change_row(const api::Change& c) {
  std::string data = c.data_json;
  if (data.size() > kTableDataChars) data = data.substr(0, kTableDataChars - 3) + "...";
  return {std::to_string(c.id), format_time(c.ts_ns), std::to_string(c.type),
          c.tags.empty() ? "-" : join(c.tags, ","), data};
}

const std::vector<std::string> kChangeHeader = {"ID", "TIME", "TYPE", "TAGS", "DATA"};

}  // namespace

void print_rows(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  print_table(out, rows);
}

std::string format_time(uint64_t ts_ns) {
  std::time_t secs = static_cast<std::time_t>(ts_ns / 1000000000ull);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03uZ", static_cast<unsigned>((ts_ns / 1000000ull) % 1000));
  return std::string(buf) + ms;
}

void print_appended(std::ostream& out, Format f, const std::vector<api::Appended>& appended) {
  if (f == Format::kJson) {
    out << api::render_appended(appended, appended.size() != 1) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {{"ID", "TIME"}};
  for (const auto& a : appended) rows.push_back({std::to_string(a.id), format_time(a.ts_ns)});
  print_table(out, rows);
}

void print_feed(std::ostream& out, Format f, const api::FeedPage& page) {
  if (f == Format::kJson) {
    out << api::render_feed(page) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {kChangeHeader};
  for (const auto& c : page.changes) rows.push_back(change_row(c));
  print_table(out, rows);
}

void print_change(std::ostream& out, Format f, const api::Change& c) {
  if (f == Format::kJson) {
    out << api::render_change(c) << "\n";
    return;
  }
  print_table(out, {kChangeHeader, change_row(c)});
}

void print_change_line(std::ostream& out, Format f, const api::Change& c) {
  if (f == Format::kJson) {
    out << api::render_change(c) << "\n";
  } else {
    out << join(change_row(c), "  ") << "\n";
  }
  out.flush();  // a watcher's reader wants each change as it comes
}

void print_cluster(std::ostream& out, Format f, const api::ClusterView& view) {
  if (f == Format::kJson) {
    out << api::render_cluster(view) << "\n";
    return;
  }
  out << "cluster " << view.cluster_id << ", leader "
      << (view.leader_id ? std::to_string(view.leader_id) : "none") << "\n";
  std::vector<std::vector<std::string>> rows = {{"ID", "NAME", "ROLE", "PEER", "CLIENT"}};
  for (const auto& m : view.members) {
    std::string role = m.learner ? "learner" : m.id == view.leader_id ? "leader" : "voter";
    rows.push_back({std::to_string(m.id), m.name.empty() ? "-" : m.name, role,
                    m.peer_url.empty() ? "-" : m.peer_url,
                    m.client_url.empty() ? "-" : m.client_url});
  }
  print_table(out, rows);
}

void print_members(std::ostream& out, Format f, const std::map<uint64_t, std::string>& members) {
  if (f == Format::kJson) {
    api::ClusterView view;
    for (const auto& [id, addr] : members) view.members.push_back({id, "", addr, "", false});
    out << api::render_members(view) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {{"ID", "ADDRESS"}};
  for (const auto& [id, addr] : members) rows.push_back({std::to_string(id), addr});
  print_table(out, rows);
}

void print_member(std::ostream& out, Format f, const api::MemberView& m) {
  if (f == Format::kJson) {
    out << boost::json::serialize(boost::json::object{{"id", m.id},
                                                      {"name", m.name},
                                                      {"peerURL", m.peer_url},
                                                      {"clientURL", m.client_url},
                                                      {"learner", m.learner}})
        << "\n";
    return;
  }
  print_table(
      out, {{"ID", "NAME", "ROLE", "PEER", "CLIENT"},
            {std::to_string(m.id), m.name.empty() ? "-" : m.name, m.learner ? "learner" : "voter",
             m.peer_url.empty() ? "-" : m.peer_url, m.client_url.empty() ? "-" : m.client_url}});
}

void print_outcome(std::ostream& out, Format f, const std::string& json, const std::string& text) {
  out << (f == Format::kJson ? json : text) << "\n";
}

namespace {

std::string cut(std::string text) {
  if (text.size() > kTableDataChars) text = text.substr(0, kTableDataChars - 3) + "...";
  return text;
}

const std::vector<std::string> kKeyHeader = {"KEY",     "REVISION", "CREATED",
                                             "VERSION", "LEASE",    "VALUE"};

std::vector<std::string> key_row(const api::KeyValue& kv) {
  return {kv.key,
          std::to_string(kv.mod_revision),
          std::to_string(kv.create_revision),
          std::to_string(kv.version),
          kv.lease ? std::to_string(kv.lease) : "-",
          cut(kv.value_json)};
}

}  // namespace

void print_key(std::ostream& out, Format f, const api::KeyValue& kv) {
  if (f == Format::kJson) {
    out << api::render_key(kv) << "\n";
    return;
  }
  print_table(out, {kKeyHeader, key_row(kv)});
}

void print_key_page(std::ostream& out, Format f, const api::KeyPage& page) {
  if (f == Format::kJson) {
    out << api::render_key_page(page) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {kKeyHeader};
  for (const auto& kv : page.keys) rows.push_back(key_row(kv));
  print_table(out, rows);
  if (page.more) out << "(more keys after " << page.keys.back().key << "; use --after)\n";
}

void print_key_write(std::ostream& out, Format f, const std::string& key, const api::TxnResult& r) {
  if (f == Format::kJson) {
    out << api::render_key_write(key, r) << "\n";
    return;
  }
  print_table(out,
              {{"KEY", "REVISION", "TIME"}, {key, std::to_string(r.id), format_time(r.ts_ns)}});
}

void print_revision_mismatch(std::ostream& out, Format f, const api::TxnResult& r) {
  if (f != Format::kJson) return;
  boost::json::array current;
  for (const auto& c : r.current) {
    current.push_back(boost::json::object{{"key", c.key}, {"revision", c.mod_revision}});
  }
  out << boost::json::serialize(
             boost::json::object{{"succeeded", false}, {"current", std::move(current)}})
      << "\n";
}

void print_lease(std::ostream& out, Format f, const api::LeaseInfo& lease) {
  bool remaining = lease.remaining_ms >= 0;
  if (f == Format::kJson) {
    out << api::render_lease(lease, remaining, !lease.keys.empty()) << "\n";
    return;
  }
  print_table(out, {{"ID", "TTL", "REMAINING", "KEYS"},
                    {std::to_string(lease.id), std::to_string(lease.ttl_seconds) + "s",
                     remaining ? std::to_string(lease.remaining_ms) + "ms" : "-",
                     lease.keys.empty() ? "-" : join(lease.keys, ",")}});
}

void print_key_event_line(std::ostream& out, Format f, const api::Change& c) {
  if (f == Format::kJson) {
    out << api::render_change(c) << "\n";
  } else {
    for (const auto& op : c.ops) {
      out << c.id << "  " << format_time(c.ts_ns) << "  " << (op.del ? "DEL" : "PUT") << "  "
          << op.key;
      if (!op.del && c.ops.size() == 1) out << "  " << cut(c.data_json);
      out << "\n";
    }
  }
  out.flush();  // a watcher's reader wants each change as it comes
}

}  // namespace changectl
