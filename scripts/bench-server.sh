#!/usr/bin/env bash
# Benchmark kvitto-server on loopback: checks/s and latency (p50/p90/p99)
# with durable commits (WAL, synchronous=FULL, group commit), and the
# signer's backlog each second and its lag. Bounded in time.
#
#   scripts/bench-server.sh                        # 20 s, 64 connections
#   DURATION=30 CONNECTIONS=128 scripts/bench-server.sh
#
# Prints one JSON line per second (checks in that second, signer backlog)
# and a summary line. The load generator is crates/kvitto-server/examples/loadgen.rs;
# it starts the release server on a temporary data directory on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-64}"
AUTHORIZATIONS="${AUTHORIZATIONS:-64}"
target=${CARGO_TARGET_DIR:-target}

echo "== building (release) ==" >&2
cargo build --release --quiet -p kvitto-server --bin kvitto-server --example loadgen
echo "== $DURATION s, $CONNECTIONS connections, $AUTHORIZATIONS authorizations, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) ==" >&2
exec "$target/release/examples/loadgen" --duration "$DURATION" --connections "$CONNECTIONS" \
    --authorizations "$AUTHORIZATIONS" --server "$target/release/kvitto-server"
