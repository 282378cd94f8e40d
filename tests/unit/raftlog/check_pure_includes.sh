#!/bin/sh
# raftlog/ must stay pure: no sockets, threads, clocks, files or logging.
# Fails if any raftlog source includes a header outside this allowlist.
set -eu
dir="$1"
allowed='^(raftlog/[a-z_]+\.h|common/(status|assert|varint)\.h|algorithm|compare|cstdint|deque|functional|map|memory|optional|random|set|string|vector)$'
bad=$(grep -ho '#include [<"][^>"]*[>"]' "$dir"/*.h "$dir"/*.cc | sed -E 's/#include [<"]([^>"]*)[>"]/\1/' |
  sort -u | grep -Ev "$allowed" || true)
if [ -n "$bad" ]; then
  echo "raftlog/ includes headers outside its pure allowlist:" $bad
  exit 1
fi
echo "raftlog/ includes only pure headers"
