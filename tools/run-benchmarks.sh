#!/usr/bin/env bash
# make bench: the figures of docs/BENCHMARKS.md that need no other system.
#
#   tools/run-benchmarks.sh [BUILD_DIR] [changeagent_bench flags...]
#
# Runs the storage bench (group commit vs direct fsync), the core bench
# (entries per CPU second in the simulator) and the server bench against a
# 3-node changeagent cluster it starts itself on free loopback ports. The
# side-by-side figures against etcd are `make bench-compare`, which also
# installs etcd; this target never touches the package manager.
# Bounded: each program runs under `timeout` (BENCH_TIMEOUT seconds each,
# default 900) and cleans up what it started.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=build
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
  BUILD_DIR=$1
  shift
fi
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
BENCH_TIMEOUT=${BENCH_TIMEOUT:-900}
JOBS=${JOBS:-$(nproc)}

cmake --build "$BUILD_DIR" -j "$JOBS" --target storage_bench sim_bench changeagent_bench changeagent

run() {
  echo "== $*" >&2
  timeout --signal=TERM --kill-after=30 "$BENCH_TIMEOUT" "$@"
}

run "$BUILD_DIR/bench/storage_bench"
run "$BUILD_DIR/bench/sim_bench" --entries=100000 --seeds=50
run "$BUILD_DIR/bench/changeagent_bench" --start-cluster --systems=changeagent \
  --server-bin="$BUILD_DIR/tools/changeagent" --json="$BUILD_DIR/bench.json" "$@"
echo "bench: figures above; server figures also in $BUILD_DIR/bench.json" >&2
