#!/usr/bin/env bash
# Benchmark kvitto-server on PostgreSQL beside SQLite, in one run on one
# machine: checks/s and latency (p50/p90/p99) with durable commits, for
# SQLite (one server, group commit) and for 1, 2 and 3 instances on one
# PostgreSQL database (fsync and synchronous_commit on), connections
# spread round-robin over the instances as a load balancer would.
#
#   scripts/bench-postgres.sh                          # 20 s per run, 64 connections
#   DURATION=30 CONNECTIONS=32 POOL_SIZE=16 scripts/bench-postgres.sh
#   RUNS="sqlite pg1" scripts/bench-postgres.sh        # a subset
#
# Each PostgreSQL run starts a throwaway cluster of Debian's PostgreSQL
# (installed with apt-get if missing) on 127.0.0.1, as the load generator
# (crates/kvitto-server/examples/loadgen.rs) does with --postgres. Prints
# the load generator's JSON summary of each run, then a Markdown table.
# Everything shares this machine's cores: the client, every instance and
# PostgreSQL. Bounded in time (RUNS x DURATION, plus builds and drains).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-64}"
AUTHORIZATIONS="${AUTHORIZATIONS:-64}"
POOL_SIZE="${POOL_SIZE:-16}"
RUNS="${RUNS:-sqlite pg1 pg2 pg3}"
target=${CARGO_TARGET_DIR:-target}

if [[ " $RUNS " == *" pg"* ]]; then
    bash scripts/postgres-tests.sh --install
fi
echo "== building (release) ==" >&2
cargo build --release --quiet -p kvitto-server --bin kvitto-server --example loadgen
echo "== $DURATION s per run, $CONNECTIONS connections, $AUTHORIZATIONS authorizations, pool $POOL_SIZE, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) ==" >&2

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for run in $RUNS; do
    case "$run" in
    sqlite) flags=() ;;
    pg[1-8]) flags=(--postgres --instances "${run#pg}" --pool-size "$POOL_SIZE") ;;
    *) echo "unknown run $run (sqlite, pg1 … pg8)" >&2; exit 2 ;;
    esac
    echo "== $run ==" >&2
    "$target/release/examples/loadgen" --duration "$DURATION" --connections "$CONNECTIONS" \
        --authorizations "$AUTHORIZATIONS" --server "$target/release/kvitto-server" "${flags[@]}" \
        | grep '"summary"' | tee -a "$out"
done

python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l)["summary"] for l in open(sys.argv[1]) if l.strip()]
print()
print("| backend | instances | checks/s | p50 | p90 | p99 | max | errors | signer peak backlog | drained after |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    l = r["latency_ms"]
    print(f"| {r['backend']} | {r['instances']} | {r['checks_per_s']:,.0f} | {l['p50']:.1f} ms | {l['p90']:.1f} ms | "
          f"{l['p99']:.1f} ms | {l['max']:.0f} ms | {r['errors']} | {r['signer']['peak_backlog']:.0f} | "
          f"{r['signer']['drain_after_load_s']:.2f} s |")
PY
