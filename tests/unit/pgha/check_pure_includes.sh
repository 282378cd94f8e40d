#!/bin/sh
# pgha/core must stay pure: no sockets, threads, clocks, files, logging, and
# nothing of the server (api/, raftlog/, storage/). Fails if any source
# includes a header outside this allowlist.
set -eu
dir="$1"
allowed='^(pgha/core/[a-z_]+\.h|common/(status|assert)\.h|boost/json\.hpp|algorithm|charconv|cstdint|cstdio|limits|map|optional|set|string|string_view|tuple|vector)$'
bad=$(grep -ho '#include [<"][^>"]*[>"]' "$dir"/*.h "$dir"/*.cc | sed -E 's/#include [<"]([^>"]*)[>"]/\1/' |
  sort -u | grep -Ev "$allowed" || true)
if [ -n "$bad" ]; then
  echo "pgha/core includes headers outside its pure allowlist:" $bad
  exit 1
fi
echo "pgha/core includes only pure headers"
