#!/usr/bin/env bash
# Benchmark kvitto-server on loopback: checks/s and latency (p50/p90/p99)
# with durable commits (WAL, synchronous=FULL, group commit), and the
# signer's backlog each second and its lag. Bounded in time.
#
#   scripts/bench-server.sh                        # 20 s, 64 connections
#   DURATION=30 CONNECTIONS=128 scripts/bench-server.sh
#   TOOL=wrk scripts/bench-server.sh               # wrk (Debian's, installed if missing) as the client
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

TOOL="${TOOL:-loadgen}"

echo "== building (release) ==" >&2
cargo build --release --quiet -p kvitto-server --bin kvitto-server --example loadgen
echo "== $TOOL: $DURATION s, $CONNECTIONS connections, $AUTHORIZATIONS authorizations, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) ==" >&2
if [ "$TOOL" = loadgen ]; then
    exec "$target/release/examples/loadgen" --duration "$DURATION" --connections "$CONNECTIONS" \
        --authorizations "$AUTHORIZATIONS" --server "$target/release/kvitto-server"
fi

# wrk: a C client that costs the shared cores less than the Rust one.
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } >&2
server="$target/release/kvitto-server"
work=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
"$server" init --data "$work/data" --format json > "$work/init.json"
KVITTO_LOG=warn "$server" serve --data "$work/data" --listen 127.0.0.1:0 > "$work/out.log" &
pid=$!
for _ in $(seq 600); do grep -q "^listening on " "$work/out.log" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$work/out.log" | head -1)
python3 - "$base" "$work/init.json" "$AUTHORIZATIONS" "$work/check.lua" <<'PY'
import json, sys, urllib.request
base, init, n, lua = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3]), sys.argv[4]
key = init["api_key"]
ids = []
for i in range(n):
    body = json.dumps({"user_id": f"user-{i}", "agent_id": "bench-agent",
        "scopes": ["mail:read", {"name": "mail:send", "constraints": {"max_per_day": 1000000}}],
        "budget_limit_micros": 9000000000000}).encode()
    req = urllib.request.Request(base + "/v1/authorizations", data=body, method="POST",
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    ids.append(json.load(urllib.request.urlopen(req))["authorization_id"])
bodies = [json.dumps({"authorization_id": a, "scopes": ["mail:send"], "resource": "mailto:ops@example.com",
    "session_id": "bench", "context": {"recipients": 1, "subject": "weekly report"},
    "estimated_cost_micros": 12}) for a in ids]
with open(lua, "w") as f:
    f.write("bodies = {" + ",".join(json.dumps(b) for b in bodies) + "}\n")
    f.write("wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n")
    f.write("wrk.headers['Authorization'] = 'Bearer " + key + "'\n")
    f.write("i = 0\nrequest = function() i = i + 1; return wrk.format(nil, '/v1/check', nil, bodies[(i % #bodies) + 1]) end\n")
    f.write("done = function(s, l, r) io.write(string.format('{\"wrk\":{\"requests\":%d,\"errors\":%d,\"non2xx\":%d,\"p50_ms\":%.2f,\"p90_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f}}\\n', s.requests, s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout, s.errors.status, l:percentile(50)/1000, l:percentile(90)/1000, l:percentile(99)/1000, l.max/1000)) end\n")
PY
# The signer's backlog once a second while wrk runs.
( for s in $(seq "$DURATION"); do sleep 1
    python3 -c 'import sys,urllib.request; m=urllib.request.urlopen(sys.argv[1]+"/metrics").read().decode(); print("{\"sample\":%s,%s}" % (sys.argv[2], ",".join("\"%s\":%s" % (k, l.split()[-1]) for l in m.splitlines() for k in ["kvitto_signer_backlog","kvitto_receipts_signed_total"] if l.startswith(k+" "))))' "$base" "$s" || true
  done ) &
sampler=$!
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/check.lua" "$base" | tee "$work/wrk.txt" >&2
wait "$sampler" 2>/dev/null || true
grep '^{"wrk"' "$work/wrk.txt" || true
awk '/Requests\/sec/ {print "{\"checks_per_s\":" $2 "}"}' "$work/wrk.txt"
