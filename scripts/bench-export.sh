#!/usr/bin/env bash
# Benchmark `kvitto verify` on a large synthetic export, against the ceiling
# of bare verify_strict over the same signatures on the same threads.
#
#   scripts/bench-export.sh            # 1,000,000 lines
#   LINES=200000 scripts/bench-export.sh
#   REPEAT=3 scripts/bench-export.sh   # best of 3 runs each (a busy machine is noisy)
#
# Prints receipts/s and peak RSS of `kvitto verify --format json --quiet`,
# with and without --chains, the ceiling, and the ratio kvitto/ceiling: of
# the best runs, and the median over the rounds of each round's ratio (the
# three runs of a round are seconds apart, so a neighbour's load on a shared
# machine tends to hit all three).
# The export is generated once into target/bench/ and reused.
set -euo pipefail
cd "$(dirname "$0")/.."

LINES="${LINES:-1000000}"
REPEAT="${REPEAT:-1}"
DIR=target/bench
EXPORT="$DIR/export-$LINES.jsonl"
KEYS="$DIR/export-$LINES.keys.json"
mkdir -p "$DIR"

if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time ..." >&2
    (apt-get update -qq && apt-get install -y -qq time) >&2
fi

echo "== building (release, portable) ==" >&2
cargo build --release --quiet -p kvitto-cli --bin kvitto --example ceiling
cargo build --release --quiet -p xtask

if [ ! -s "$EXPORT" ] || [ ! -s "$KEYS" ]; then
    echo "== generating $LINES lines into $EXPORT ==" >&2
    target/release/xtask gen-export --lines "$LINES" --out "$EXPORT.tmp" --keys-out "$KEYS"
    mv "$EXPORT.tmp" "$EXPORT"
fi
SIZE=$(stat -c %s "$EXPORT")

# once NAME ARGS...: one timed verify run; prints "RATE SECS RSS_MB".
once() {
    local name="$1"; shift
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$DIR/time-$name.txt" \
        target/release/kvitto verify --keys "$KEYS" --format json --quiet "$@" "$EXPORT" \
        > "$DIR/summary-$name.json" || {
            echo "kvitto verify $name failed: $(cat "$DIR/summary-$name.json")" >&2; exit 1; }
    t1=$(date +%s.%N)
    grep -q "\"valid\":$LINES," "$DIR/summary-$name.json" || {
        echo "unexpected summary: $(cat "$DIR/summary-$name.json")" >&2; exit 1; }
    awk -v n="$LINES" -v a="$t0" -v b="$t1" -v f="$DIR/time-$name.txt" 'BEGIN {
        while ((getline l < f) > 0) if (l ~ /Maximum resident set size/) { split(l, p, ": "); rss = p[2] / 1024 }
        printf "%.0f %.2f %.1f\n", n / (b - a), b - a, rss }'
}

# better OLD NEW: the line with the higher rate.
better() { if [ -z "$1" ] || [ "${2%% *}" -gt "${1%% *}" ]; then echo "$2"; else echo "$1"; fi; }

echo "== kvitto verify and the ceiling ($LINES receipts, $((SIZE / 1048576)) MiB, $(nproc) cores, best of $REPEAT, runs alternated) ==" >&2
PLAIN=""; CHAINS=""; CEIL_RATE=0; CEIL_JSON=""; ROUND_RATIOS=""
for i in $(seq "$REPEAT"); do
    # Alternate the three, so that a slow moment of a shared machine hits all alike.
    plain=$(once plain)
    chains=$(once chains --chains)
    PLAIN=$(better "$PLAIN" "$plain")
    CHAINS=$(better "$CHAINS" "$chains")
    json=$(target/release/examples/ceiling "$KEYS" "$EXPORT")
    rate=$(echo "$json" | sed -E 's/.*"per_second":([0-9]+).*/\1/')
    if [ "$rate" -gt "$CEIL_RATE" ]; then CEIL_RATE=$rate; CEIL_JSON=$json; fi
    ROUND_RATIOS+="${plain%% *} ${chains%% *} $rate"$'\n'
    echo "round $i: kvitto ${plain%% *}/s, --chains ${chains%% *}/s, ceiling $rate/s" >&2
done
# median COLUMN: the median over the rounds of column/ceiling.
median() {
    echo -n "$ROUND_RATIOS" | awk -v c="$1" 'NF { print $c / $3 }' | sort -g | awk '
        { v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f%%", 100 * m }'
}
read -r PLAIN_RATE PLAIN_SECS PLAIN_RSS <<< "$PLAIN"
read -r CHAINS_RATE CHAINS_SECS CHAINS_RSS <<< "$CHAINS"

BYTES_PER=$(awk -v a="$CHAINS_RSS" -v b="$PLAIN_RSS" -v n="$LINES" 'BEGIN {printf "%.0f", (a-b)*1048576/n}')
cat <<REPORT
export:            $LINES receipts, $SIZE bytes ($EXPORT)
kvitto verify:     $PLAIN_RATE receipts/s ($PLAIN_SECS s), peak RSS $PLAIN_RSS MiB
  with --chains:   $CHAINS_RATE receipts/s ($CHAINS_SECS s), peak RSS $CHAINS_RSS MiB (~$BYTES_PER bytes/receipt more)
ceiling:           $CEIL_RATE receipts/s  $CEIL_JSON
kvitto / ceiling:  $(awk -v a="$PLAIN_RATE" -v b="$CEIL_RATE" 'BEGIN {printf "%.1f%%", 100*a/b}') (with --chains: $(awk -v a="$CHAINS_RATE" -v b="$CEIL_RATE" 'BEGIN {printf "%.1f%%", 100*a/b}')), best runs
                   $(median 1) (with --chains: $(median 2)), median of the rounds' ratios
REPORT
