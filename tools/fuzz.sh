#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang-14, ASan+UBSan) in their
# own build dir and runs each for SECONDS over its seed corpus.
#   tools/fuzz.sh BUILD_DIR SECONDS [TARGET...]
# `make test` runs it with a few seconds per target, `make fuzz` longer.
# New inputs libFuzzer finds go to BUILD_DIR/corpus/<target> (never into
# the repo); a crash leaves BUILD_DIR/artifacts/<target>-crash-* and the
# script exits non-zero after naming the reproducer command.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: tools/fuzz.sh BUILD_DIR SECONDS [TARGET...]" >&2
  exit 2
fi
BUILD_DIR=$1
SECONDS_PER_TARGET=$2
shift 2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(fuzz_http_request fuzz_change_json fuzz_peer_frame fuzz_entry_decode fuzz_auth_files
    fuzz_yaml_config)
fi
CXX_FUZZ=${CXX_FUZZ:-clang++-14}
if ! command -v "$CXX_FUZZ" >/dev/null; then
  echo "fuzz: $CXX_FUZZ not found; install clang-14 libclang-rt-14-dev (make deps)" >&2
  exit 1
fi

start=$(date +%s)
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S "$ROOT/tests/fuzz" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER="$CXX_FUZZ" >/dev/null
fi
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target "${TARGETS[@]}"
built=$(date +%s)

mkdir -p "$BUILD_DIR/artifacts"
fail=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$BUILD_DIR/corpus/$t"
  log="$BUILD_DIR/$t.log"
  # -timeout: one input taking this long is a hang; -rss_limit_mb: a leak.
  if "$BUILD_DIR/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$BUILD_DIR/artifacts/$t-" \
      "$BUILD_DIR/corpus/$t" "$ROOT/tests/fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
    echo "fuzz: $t ok: $runs runs in ${SECONDS_PER_TARGET}s, coverage $cov"
  else
    fail=1
    echo "fuzz: $t FAILED; last lines of $log:" >&2
    tail -40 "$log" >&2
    echo "fuzz: reproduce with $BUILD_DIR/$t $BUILD_DIR/artifacts/$t-<crash file>" >&2
  fi
done
end=$(date +%s)
echo "fuzz: build $((built - start)) s, runs $((end - built)) s"
exit $fail
