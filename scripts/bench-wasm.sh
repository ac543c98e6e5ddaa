#!/usr/bin/env bash
# Receipts/s of the verification page in headless Chromium on a
# 100,000-line export, beside the native CLI on the same file in the same
# run; and the package in Node (one thread). Goals (issue 9), checked here
# and never in timed tests: the page >= 10,000 receipts/s and >= 0.3 x the CLI.
#
#   scripts/bench-wasm.sh                 # LINES=100000 RUNS=2
#   BACKENDS=1 scripts/bench-wasm.sh      # also compare curve25519-dalek's 32- and 64-bit backends in Node
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
LINES=${LINES:-100000}
RUNS=${RUNS:-2}
DIR=$CARGO_TARGET_DIR/bench-wasm
EXPORT=$DIR/export-$LINES.jsonl
KEYS=$DIR/keys-$LINES.json
mkdir -p "$DIR"
cargo build --quiet --release -p kvitto-cli
if [ ! -s "$EXPORT" ]; then
    cargo xtask gen-export --lines "$LINES" --out "$EXPORT" --keys-out "$KEYS"
fi
NODE_BENCH="node bindings/wasm/test/bench-node.mjs $EXPORT $KEYS 10000"
if [ -n "${BACKENDS:-}" ]; then
    for bits in 64 32; do
        DALEK_BITS=$bits bash scripts/build-wasm.sh 2>&1 | grep 'kvitto_wasm_bg.wasm:' || true
        echo "node, one thread, curve25519_dalek_bits=$bits: $($NODE_BENCH) $($NODE_BENCH)"
    done
fi
bash scripts/build-wasm.sh 2>&1 | grep 'kvitto_wasm_bg.wasm:'
echo "node, one thread, shipped build: $($NODE_BENCH)"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
best_cli=0
best_page=0
for i in $(seq "$RUNS"); do
    start=$(date +%s.%N)
    "$CARGO_TARGET_DIR/release/kvitto" verify --keys "$KEYS" --chains --format json --quiet "$EXPORT" > "$DIR/cli.json"
    end=$(date +%s.%N)
    cli=$(awk -v s="$start" -v e="$end" -v n="$LINES" 'BEGIN { printf "%d", n / (e - s) }')
    page=$(node web/test/bench-page.mjs "$EXPORT" "$KEYS" 1 | tail -n1)
    rate=$(node -e 'console.log(Math.round(JSON.parse(process.argv[1]).rate))' "$page")
    echo "run $i: CLI $cli receipts/s; page $rate receipts/s ($page)"
    [ "$cli" -gt "$best_cli" ] && best_cli=$cli
    [ "$rate" -gt "$best_page" ] && best_page=$rate
done
ratio=$(awk -v p="$best_page" -v c="$best_cli" 'BEGIN { printf "%.2f", p / c }')
echo "best: page $best_page receipts/s, CLI $best_cli receipts/s, ratio $ratio"
ok=yes
[ "$best_page" -ge 10000 ] || { echo "goal missed: the page is below 10,000 receipts/s"; ok=no; }
awk -v r="$ratio" 'BEGIN { exit !(r >= 0.3) }' || { echo "goal missed: the page is below 0.3 x the CLI"; ok=no; }
[ "$ok" = yes ] && echo "goals met"
