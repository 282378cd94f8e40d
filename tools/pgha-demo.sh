#!/usr/bin/env bash
# `make pgha-demo`: three PostgreSQL 15 instances under pgha, using the
# changeagent cluster of `make run` (start that first, in another terminal)
# as the coordination store. Runs in the foreground; Ctrl-C stops the agents
# and their PostgreSQL servers (data kept in $DATA_DIR for the next run).
set -euo pipefail

BUILD_DIR=${1:-build}
PGHA="$BUILD_DIR/tools/pgha"
CTL="$BUILD_DIR/tools/changectl"
DATA_DIR=${DATA_DIR:-$PWD/data/pgha}
CLIENT_PORT_BASE=${CLIENT_PORT_BASE:-8080}  # make run's changeagent ports (+1..+3)
PG_PORT_BASE=${PG_PORT_BASE:-5440}          # PostgreSQL on 5441..5443
AGENT_PORT_BASE=${AGENT_PORT_BASE:-8010}    # agent HTTP on 8011..8013
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
CLUSTER=${PGHA_CLUSTER:-main}

STORE="127.0.0.1:$((CLIENT_PORT_BASE + 1)),127.0.0.1:$((CLIENT_PORT_BASE + 2)),127.0.0.1:$((CLIENT_PORT_BASE + 3))"

if [ ! -x "$PGHA" ]; then
  echo "pgha-demo: $PGHA is missing; run 'make build' first" >&2
  exit 1
fi
if [ ! -x "$PG_BIN/pg_ctl" ]; then
  echo "pgha-demo: no PostgreSQL 15 in $PG_BIN; run 'make deps' (it installs postgresql-15)" >&2
  exit 1
fi
if ! curl -fs "http://127.0.0.1:$((CLIENT_PORT_BASE + 1))/health" >/dev/null 2>&1; then
  echo "pgha-demo: no changeagent on 127.0.0.1:$((CLIENT_PORT_BASE + 1)); start 'make run' in another terminal first" >&2
  exit 1
fi

# PostgreSQL refuses to run as root: as root, the agents run as `postgres`
# from a copy of the binary that user can read.
RUN_AS=()
mkdir -p "$DATA_DIR"
if [ "$(id -u)" -eq 0 ]; then
  cp "$PGHA" "$DATA_DIR/pgha"
  chmod 755 "$DATA_DIR/pgha"
  PGHA="$DATA_DIR/pgha"
  chown postgres:postgres "$DATA_DIR"
  chmod 755 "$(dirname "$DATA_DIR")" 2>/dev/null || true
  # setpriv execs pgha itself (no process in between), so the pid we keep
  # is the agent's and Ctrl-C reaches it.
  RUN_AS=(setpriv --reuid=postgres --regid=postgres --init-groups)
  if ! "${RUN_AS[@]}" test -w "$DATA_DIR"; then
    echo "pgha-demo: the postgres user cannot reach $DATA_DIR (a parent dir is private);" \
         "set DATA_DIR to a dir it can reach, e.g. DATA_DIR=/var/tmp/pgha make pgha-demo" >&2
    exit 1
  fi
fi

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "pgha-demo: stopping the agents and PostgreSQL..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for i in 1 2 3; do
    if [ -f "$DATA_DIR/n$i/postmaster.pid" ]; then
      "${RUN_AS[@]}" "$PG_BIN/pg_ctl" stop -D "$DATA_DIR/n$i" -m fast -s 2>/dev/null || true
    fi
  done
  echo "pgha-demo: stopped; data kept in $DATA_DIR"
}
trap stop_all INT TERM EXIT

for i in 1 2 3; do
  "${RUN_AS[@]}" "$PGHA" --name "n$i" --cluster "$CLUSTER" --store "$STORE" \
    --pg-data "$DATA_DIR/n$i" --pg-port "$((PG_PORT_BASE + i))" --pg-bin "$PG_BIN" \
    --listen "127.0.0.1:$((AGENT_PORT_BASE + i))" --bootstrap-members n1,n2,n3 \
    > >(sed -u "s/^/[pgha n$i] /") 2>&1 &
  pids+=($!)  # the agent's pid (a pipeline's $! would be sed's)
done

cat <<MSG

  pgha: 3 agents starting (the first bootstrap takes ~10-30 s: initdb, then two clones)
    PostgreSQL on 127.0.0.1:$((PG_PORT_BASE + 1)) .. $((PG_PORT_BASE + 3)), data in $DATA_DIR
    agents on http://127.0.0.1:$((AGENT_PORT_BASE + 1)) .. $((AGENT_PORT_BASE + 3))  (/primary /replica /health /status)

  Try, in another terminal:
    $CTL --endpoints $STORE pgha list
    curl -s http://127.0.0.1:$((AGENT_PORT_BASE + 1))/status
    psql "host=127.0.0.1,127.0.0.1,127.0.0.1 port=$((PG_PORT_BASE + 1)),$((PG_PORT_BASE + 2)),$((PG_PORT_BASE + 3)) user=postgres dbname=postgres target_session_attrs=read-write"
    # kill the primary's agent and postgres, and watch a replica take over:
    P=\$(for i in 1 2 3; do curl -fs http://127.0.0.1:\$(($AGENT_PORT_BASE + i))/primary >/dev/null && echo n\$i; done)
    kill -9 \$(pgrep -f "pgha --name \$P ") \$(head -1 $DATA_DIR/\$P/postmaster.pid)
    $CTL --endpoints $STORE pgha list
    $CTL --endpoints $STORE pgha history

  Ctrl-C stops the agents and PostgreSQL.

MSG
wait
