#!/usr/bin/env bash
# Peak memory of `kvitto verify` on adversarial inputs: every shape the
# framing rules (format spec, section 9) meet, plain and gzip-compressed.
# Goal: under 100 MB peak RSS for any single input, with --chains adding
# only a small amount per receipt.
#
#   scripts/bench-memory.sh            # builds the inputs once into target/bench/memory/
#
# Prints, per input: its size on disk, receipts, invalid, the first code,
# seconds, and peak RSS without and with --chains.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=target/bench/memory
mkdir -p "$DIR"
if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time ..." >&2
    (apt-get update -qq && apt-get install -y -qq time) >&2
fi

echo "== building (release) ==" >&2
cargo build --release --quiet -p kvitto-cli --bin kvitto
cargo build --release --quiet -p xtask
KVITTO=target/release/kvitto
KEYS="$DIR/keys.json"
if [ ! -s "$DIR/export.jsonl" ]; then
    target/release/xtask gen-export --lines 200000 --out "$DIR/export.jsonl" --keys-out "$KEYS"
fi
# 300,000 authorizations of one receipt each: --chains at its costliest.
if [ ! -s "$DIR/singles-300k.jsonl" ]; then
    target/release/xtask gen-export --lines 300000 --authorizations 300000 \
        --out "$DIR/singles-300k.jsonl" --keys-out "$DIR/singles-keys.json"
    cmp -s "$DIR/singles-keys.json" "$KEYS" || { echo "gen-export keys differ" >&2; exit 1; }
fi

echo "== generating inputs (once) ==" >&2
python3 - "$DIR" <<'PY'
import gzip, os, sys
d = sys.argv[1]

def write(name, chunks, gz=False):
    path = os.path.join(d, name)
    if os.path.exists(path):
        return
    tmp = path + ".tmp"
    f = gzip.open(tmp, "wb", compresslevel=9) if gz else open(tmp, "wb")
    with f:
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)

def spread(total):
    # One JSON object spread over many short lines.
    yield b'{"payload": {\n'
    line = b'"pad": "' + b"x" * 40 + b'",\n'
    for _ in range(total // len(line)):
        yield line
    yield b'"authorization_id": "auth_x"}}\n'

def numbers(total):
    yield b"["
    for _ in range(total // 2 // 65536):
        yield b"0," * 65536
    yield b"0]"

def spaces(total):
    yield b"{}"
    for _ in range(total // (1 << 20)):
        yield b" " * (1 << 20)

def long_line(total):
    yield b'{"payload":{"authorization_id":"auth_long","pad":"'
    for _ in range(total // (1 << 20)):
        yield b"p" * (1 << 20)
    yield b'"}}\n'

def many_big_lines(n):
    for i in range(n):
        yield b'{"payload":{"authorization_id":"auth_%d","pad":"' % i + b"q" * (1 << 20) + b'"}}\n'

def deep(total):
    yield b"[" * total

def distinct(n, pad=b""):
    # Invalid receipts, each of its own authorization (a chain apiece).
    for i in range(n):
        yield b'{"payload":{"authorization_id":"a%d%s","receipt_id":"r%d%s"}}\n' % (i, pad, i, pad)

write("spread-90MB.json", spread(90 << 20))
write("spread-90MB.json.gz", spread(90 << 20), gz=True)
write("numbers-20MB.json", numbers(20 << 20))
write("numbers-100MB.json.gz", numbers(100 << 20), gz=True)
write("spaces-100MB.json", spaces(100 << 20))
write("long-line-200MB.jsonl.gz", long_line(200 << 20), gz=True)
write("big-lines-300x1MiB.jsonl.gz", many_big_lines(300), gz=True)
write("deep-50MB.json.gz", deep(50 << 20), gz=True)
write("distinct-1M.jsonl.gz", distinct(1_000_000), gz=True)
write("distinct-long-1M.jsonl.gz", distinct(1_000_000, b"x" * 120), gz=True)
PY

# run INPUT [FLAGS...]: prints "receipts invalid seconds rss_mb"
run() {
    local input="$1"; shift
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$DIR/time.txt" \
        "$KVITTO" verify --keys "$KEYS" --format json --quiet "$@" "$input" \
        > "$DIR/out.jsonl" 2>/dev/null || true
    t1=$(date +%s.%N)
    python3 - "$DIR/out.jsonl" "$DIR/time.txt" "$t0" "$t1" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
rss = next(int(l.split(": ")[1]) for l in open(sys.argv[2]) if "Maximum resident set size" in l)
print(f'{s["receipts"]:>9} {s["invalid"]:>9} {float(sys.argv[4]) - float(sys.argv[3]):>7.1f} {rss / 1024:>8.1f}')
PY
}

# The code of the first invalid receipt (a quick run that stops there).
first_code() {
    "$KVITTO" verify --keys "$KEYS" --format json --max-failures 1 "$1" 2>/dev/null \
        | python3 -c 'import json,sys; print(next((json.loads(l)["code"] for l in sys.stdin if json.loads(l).get("ok") is False), "-"))'
}

printf '%-30s %10s | %9s %9s %7s %8s | %8s | %s\n' input bytes receipts invalid seconds rss_MiB chains_MiB first_code
for f in export.jsonl singles-300k.jsonl distinct-1M.jsonl.gz distinct-long-1M.jsonl.gz spread-90MB.json spread-90MB.json.gz numbers-20MB.json numbers-100MB.json.gz \
         spaces-100MB.json long-line-200MB.jsonl.gz big-lines-300x1MiB.jsonl.gz deep-50MB.json.gz; do
    path="$DIR/$f"
    size=$(stat -c %s "$path")
    plain=$(run "$path")
    chains=$(run "$path" --chains | awk '{print $4}')
    printf '%-30s %10s | %s | %8s | %s\n' "$f" "$size" "$plain" "$chains" "$(first_code "$path")"
done
