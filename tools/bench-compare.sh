#!/usr/bin/env bash
# bench-compare: changeagent against etcd on this machine (issues 11 and 4:
# writes, compare-and-set on one hot key and on 1,000 keys, catch-up, failover).
#
#   tools/bench-compare.sh [BUILD_DIR] [changeagent_bench flags...]
#   make bench-compare
#
# Builds the server and the bench if needed, installs Debian's etcd-server
# if it is missing, then runs bench/changeagent_bench with --start-cluster:
# 3 changeagent members, then 3 etcd members, all on 127.0.0.1 with free
# ports and data dirs on a real disk (/var/tmp unless BENCH_DATA_PARENT is
# set). Prints the side-by-side table; the figures also go to
# BUILD_DIR/bench-compare.json. Extra flags go to the bench (e.g.
# --seconds=3 --catchup-changes=100000 for a quick look).
#
# Bounded: the bench runs under `timeout` (BENCH_TIMEOUT seconds, default
# 840), and on exit, for whatever reason, every process it started is
# killed and the data dirs are removed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=build
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
  BUILD_DIR=$1
  shift
fi
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
BENCH_TIMEOUT=${BENCH_TIMEOUT:-840}
DATA_PARENT_BASE=${BENCH_DATA_PARENT:-/var/tmp}
JOBS=${JOBS:-$(nproc)}

log() { echo "bench-compare: $*" >&2; }

# --- etcd: Debian's etcd-server and etcd-client, quiet when present ---
if ! command -v etcd >/dev/null 2>&1; then
  SUDO=
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  log "installing etcd-server etcd-client (apt-get)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    etcd-server etcd-client >/dev/null
fi
ETCD_BIN=$(command -v etcd)

# --- build what the bench needs ---
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$JOBS" --target changeagent changeagent_bench >/dev/null

# --- run, with cleanup of everything started ---
DATA_PARENT=$(mktemp -d "$DATA_PARENT_BASE/bench-compare.XXXXXX")
PID_FILE="$DATA_PARENT/children.pids"
: >"$PID_FILE"
BENCH_PID=

cleanup() {
  local rc=$?
  if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true
    # The bench stops its members on SIGTERM; give it a bounded moment.
    for _ in $(seq 1 50); do
      kill -0 "$BENCH_PID" 2>/dev/null || break
      sleep 0.2
    done
    # BENCH_PID is `timeout`; the bench is its child.
    local kids
    kids=$(cat "/proc/$BENCH_PID/task/$BENCH_PID/children" 2>/dev/null || true)
    kill -KILL "$BENCH_PID" $kids 2>/dev/null || true
  fi
  # Members die with the bench (PR_SET_PDEATHSIG); this catches any that did
  # not. Only pids whose command line names our data dir are touched.
  if [ -f "$PID_FILE" ]; then
    while read -r pid; do
      [ -n "$pid" ] || continue
      [ -r "/proc/$pid/cmdline" ] || continue
      if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$DATA_PARENT"; then
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done <"$PID_FILE"
  fi
  rm -rf "$DATA_PARENT"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

JSON_OUT="$BUILD_DIR/bench-compare.json"
CMD=("$BUILD_DIR/bench/changeagent_bench" --start-cluster
  --server-bin="$BUILD_DIR/tools/changeagent" --etcd-bin="$ETCD_BIN"
  --data-parent="$DATA_PARENT" --pid-file="$PID_FILE" --json="$JSON_OUT" "$@")
log "running (at most ${BENCH_TIMEOUT} s): ${CMD[*]}"
timeout --signal=TERM --kill-after=30 "$BENCH_TIMEOUT" "${CMD[@]}" &
BENCH_PID=$!
set +e
wait "$BENCH_PID"
rc=$?
set -e
BENCH_PID=
if [ "$rc" -eq 124 ]; then
  log "the bench did not finish within ${BENCH_TIMEOUT} s (BENCH_TIMEOUT)"
fi
log "figures as JSON: $JSON_OUT"
exit "$rc"
