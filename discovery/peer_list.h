// The two textual forms of a peer list: the --initial-cluster flag
// ("name=url,name=url") and a discovery file (one peer a line). Pure
// parsers; the file is read by FileSource (sources.h).
#pragma once

#include <string_view>
#include <vector>

#include "discovery/peer.h"

namespace discovery {

// --initial-cluster: comma-separated name=url, every member of a new
// cluster with this node among them. Sorted by name; kInvalidArgument
// quoting the bad entry, a duplicate name or a duplicate address.
Result<std::vector<Peer>> parse_initial_cluster(std::string_view flag);

// A discovery file. One peer a line, as `name=url` or a bare `url` (named
// by its host:port then, since the name must be the same on every node and
// the line is all they share). Blank lines and `#` comments (whole lines or
// after the entry) are skipped; whitespace around entries is trimmed.
// Any bad line makes the whole file an error ("line N: ..."): a half-written
// file is never half-used. An empty file is an empty list, not an error.
Result<std::vector<Peer>> parse_peer_file(std::string_view text);

}  // namespace discovery
