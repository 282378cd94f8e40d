#!/usr/bin/env bash
# `make run`: a local 3-node changeagent cluster in the foreground.
# Data lives in $DATA_DIR (default ./data); a second run reuses it.
# Ctrl-C stops all three nodes gracefully.
# TLS=1 (make run TLS=1): HTTPS only, client certificates required, mutual
# TLS between the nodes; test certificates are made in $DATA_DIR/certs by
# tools/gen-test-certs when missing (docs/SECURITY.md).
set -euo pipefail

BUILD_DIR=${1:-build}
BIN="$BUILD_DIR/tools/changeagent"
CTL="$BUILD_DIR/tools/changectl"
DATA_DIR=${DATA_DIR:-$PWD/data}
CLIENT_PORT_BASE=${CLIENT_PORT_BASE:-8080}
PEER_PORT_BASE=${PEER_PORT_BASE:-2380}

if [ ! -x "$BIN" ]; then
  echo "run-local: $BIN is missing; run 'make build' first" >&2
  exit 1
fi

port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && { exec 3>&- 3<&-; return 0; } || return 1
}
for i in 1 2 3; do
  for p in $((CLIENT_PORT_BASE + i)) $((PEER_PORT_BASE + i)); do
    if port_busy "$p"; then
      echo "run-local: port $p is in use; stop what uses it or set CLIENT_PORT_BASE/PEER_PORT_BASE" >&2
      exit 1
    fi
  done
done

mkdir -p "$DATA_DIR"
# The token makes this data dir's cluster id its own (random on first run).
if [ ! -s "$DATA_DIR/cluster-token" ]; then
  od -An -N8 -tx8 /dev/urandom | tr -d ' \n' > "$DATA_DIR/cluster-token"
fi
TOKEN=$(cat "$DATA_DIR/cluster-token")

TLS=${TLS:-0}
SCHEME=http
TLS_FLAGS=()
CURL_TLS=""
CTL_TLS=""
if [ "$TLS" = 1 ]; then
  CERTS="$DATA_DIR/certs"
  if [ ! -s "$CERTS/ca.crt" ]; then
    "$(dirname "$0")/gen-test-certs" "$CERTS" >/dev/null
  fi
  SCHEME=https
  TLS_FLAGS=(--cert "$CERTS/server.crt" --key "$CERTS/server.key" --ca "$CERTS/ca.crt"
    --client-cert-auth --peer-cert "$CERTS/peer.crt" --peer-key "$CERTS/peer.key"
    --peer-ca "$CERTS/ca.crt")
  CURL_TLS="--cacert $CERTS/ca.crt --cert $CERTS/client.crt --key $CERTS/client.key "
  CTL_TLS="--ca $CERTS/ca.crt --cert $CERTS/client.crt --key $CERTS/client.key "
fi
INITIAL="n1=127.0.0.1:$((PEER_PORT_BASE + 1)),n2=127.0.0.1:$((PEER_PORT_BASE + 2)),n3=127.0.0.1:$((PEER_PORT_BASE + 3))"

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "run-local: stopping the cluster..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "run-local: stopped; data kept in $DATA_DIR (make run again to resume)"
}
trap stop_all INT TERM EXIT

for i in 1 2 3; do
  if [ "$TLS" = 1 ]; then
    LISTEN=(--listen-client-https "127.0.0.1:$((CLIENT_PORT_BASE + i))")
  else
    LISTEN=(--listen-client "127.0.0.1:$((CLIENT_PORT_BASE + i))")
  fi
  "$BIN" --name "n$i" --data-dir "$DATA_DIR/n$i" "${LISTEN[@]}" ${TLS_FLAGS[@]+"${TLS_FLAGS[@]}"} \
    --listen-peer "127.0.0.1:$((PEER_PORT_BASE + i))" \
    --initial-cluster "$INITIAL" --initial-cluster-token "$TOKEN" \
    > >(sed -u "s/^/[n$i] /") 2>&1 &
  pids+=($!) # the node itself (a pipeline's $! would be sed's pid)
done

# Wait (bounded) for a leader before telling the user the cluster is up.
EP="$SCHEME://127.0.0.1:$((CLIENT_PORT_BASE + 1)),$SCHEME://127.0.0.1:$((CLIENT_PORT_BASE + 2)),$SCHEME://127.0.0.1:$((CLIENT_PORT_BASE + 3))"
for _ in $(seq 1 100); do
  # shellcheck disable=SC2086
  if curl -fs $CURL_TLS"$SCHEME://127.0.0.1:$((CLIENT_PORT_BASE + 1))/health" >/dev/null 2>&1; then break; fi
  sleep 0.1
done

if [ "$TLS" = 1 ]; then
  TLS_NOTE="
  TLS: HTTPS only, client certificates required, mutual TLS between nodes.
  Certificates in $CERTS (replace them and send SIGHUP to reload)."
fi
cat <<MSG

  changeagent: 3 nodes running, data in $DATA_DIR${TLS_NOTE:-}
    $SCHEME://127.0.0.1:$((CLIENT_PORT_BASE + 1))  $SCHEME://127.0.0.1:$((CLIENT_PORT_BASE + 2))  $SCHEME://127.0.0.1:$((CLIENT_PORT_BASE + 3))

  Try:
    curl -s $CURL_TLS-XPOST -H 'Content-Type: application/json' \\
         -d '{"data": {"hello": "world"}, "tags": ["demo"]}' $SCHEME://127.0.0.1:$((CLIENT_PORT_BASE + 1))/changes
    curl -s $CURL_TLS'$SCHEME://127.0.0.1:$((CLIENT_PORT_BASE + 2))/changes?since=0'
    $CTL $CTL_TLS--endpoints $EP changes post '{"n": 1}'
    $CTL $CTL_TLS--endpoints $EP changes tail
    $CTL $CTL_TLS--endpoints $EP cluster status

  Ctrl-C stops all three.

MSG
wait
