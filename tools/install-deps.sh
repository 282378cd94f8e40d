#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs; quiet and quick when
# they are all present already. Versioned Boost 1.81 packages only: the
# unversioned libboost-*-dev are 1.74 and conflict with them.
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build ccache pkg-config make git
  librocksdb-dev
  libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev libboost-url1.81-dev
  libprotobuf-dev protobuf-compiler
  libc-ares-dev libspdlog-dev libssl-dev libyaml-cpp-dev
  # discovery tests: a local DNS server for SRV records
  dnsmasq-base
  libgtest-dev libgmock-dev libbenchmark-dev
  eatmydata clang-format
  # chaos tests: network namespaces, partitions inside them, power loss on XFS
  iproute2 nftables xfsprogs
  # pgha: libpq for the executor, PostgreSQL 15 for its integration tests
  libpq-dev postgresql-15
  # basic auth: bcrypt via libcrypt; htpasswd -B for the auth tests
  libcrypt-dev apache2-utils
  # fuzzing (libFuzzer) and sanitizer builds
  clang-14 libclang-rt-14-dev
)

# Only for benches that compare with other systems (`--bench`), so that
# `make deps` / `make test` never wait for them: pgha_failover runs
# Debian's Patroni (3.0.2, with python3-etcd) on a one-node etcd 3.4.
BENCH_PACKAGES=(patroni etcd-server)
if [ "${1:-}" = "--bench" ]; then
  PACKAGES=("${BENCH_PACKAGES[@]}")
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
