#include "discovery/peer_list.h"

#include <string>

namespace discovery {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// `name=url` or, when bare_ok, `url` (named by its address).
Result<Peer> parse_entry(std::string_view entry, bool bare_ok) {
  size_t eq = entry.find('=');
  if (eq == std::string_view::npos) {
    if (!bare_ok) {
      return Status(Code::kInvalidArgument,
                    "entry '" + std::string(entry) + "' is not name=host:port");
    }
    auto address = parse_peer_address(entry);
    if (!address.is_ok()) return address.status();
    return Peer{*address, *address};
  }
  std::string_view name = trim(entry.substr(0, eq));
  if (name.empty()) {
    return Status(Code::kInvalidArgument, "entry '" + std::string(entry) + "' has an empty name");
  }
  auto address = parse_peer_address(trim(entry.substr(eq + 1)));
  if (!address.is_ok()) return address.status();
  return Peer{std::string(name), *address};
}

}  // namespace

Result<std::vector<Peer>> parse_initial_cluster(std::string_view flag) {
  std::vector<Peer> out;
  size_t pos = 0;
  while (pos <= flag.size() && !flag.empty()) {
    size_t comma = flag.find(',', pos);
    std::string_view item =
        trim(flag.substr(pos, comma == std::string_view::npos ? comma : comma - pos));
    auto peer = parse_entry(item, false);
    if (!peer.is_ok()) {
      return Status(Code::kInvalidArgument, "--initial-cluster " + peer.status().message());
    }
    out.push_back(std::move(*peer));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return sorted_unique(std::move(out), "--initial-cluster");
}

Result<std::vector<Peer>> parse_peer_file(std::string_view text) {
  std::vector<Peer> out;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    line_no++;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    if (line.find_first_of(" \t,") != std::string_view::npos) {
      return Status(Code::kInvalidArgument, "line " + std::to_string(line_no) + ": '" +
                                                std::string(line) +
                                                "' holds more than one entry; one peer a line");
    }
    auto peer = parse_entry(line, true);
    if (!peer.is_ok()) {
      return Status(Code::kInvalidArgument,
                    "line " + std::to_string(line_no) + ": " + peer.status().message());
    }
    out.push_back(std::move(*peer));
  }
  return sorted_unique(std::move(out), "the file");
}

}  // namespace discovery
