#!/usr/bin/env bash
# kvitto-server on PostgreSQL, end to end. Installs Debian's PostgreSQL where
# it is missing (apt-get; as root), then:
#
#   1. the server's test suite on both backends, PostgreSQL required
#      (KVITTO_REQUIRE_POSTGRES=1: missing binaries fail, never skip);
#   2. the CLI scenario: a throwaway cluster on 127.0.0.1, two kvitto-server
#      instances on one database, 64 concurrent checks of one authorization
#      spread over both, then load on both and `kill -9` of one of them; the
#      export is verified with the kvitto CLI (`kvitto verify --chains`),
#      and every receipt a client was told about must be in it.
#
#   bash scripts/postgres-tests.sh            # install if needed, 1 and 2
#   bash scripts/postgres-tests.sh --install  # install only
#   bash scripts/postgres-tests.sh --cli      # install if needed, 2 only
#
# Bounded: the tests take a few minutes on 2 cores; the scenario sends at
# most a few thousand requests, all to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-all}"
case "$mode" in all | --install | --cli) ;; *)
    echo "usage: $0 [--install | --cli]" >&2
    exit 2
    ;;
esac

find_bin() {
    if [ -n "${KVITTO_PG_BIN:-}" ] && [ -x "$KVITTO_PG_BIN/initdb" ]; then
        echo "$KVITTO_PG_BIN"
        return
    fi
    # The newest version's bin directory with an initdb; nothing (and
    # success) when there is none, so that the caller can install it.
    local d found=""
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
        [ -x "$d/initdb" ] && found="$d"
    done
    echo "$found"
}

pg_bin=$(find_bin)
if [ -z "$pg_bin" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "PostgreSQL is missing: as root, apt-get install -y postgresql (or set KVITTO_PG_BIN)" >&2
        exit 1
    fi
    echo "== installing PostgreSQL (Debian's package) ==" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    pg_bin=$(find_bin)
    [ -n "$pg_bin" ] || { echo "PostgreSQL installed, but no initdb found" >&2; exit 1; }
fi
echo "== PostgreSQL: $("$pg_bin/postgres" --version) in $pg_bin ==" >&2
[ "$mode" = --install ] && exit 0
export KVITTO_PG_BIN="$pg_bin"

if [ "$mode" = all ]; then
    echo "== the server's tests on SQLite and PostgreSQL ==" >&2
    KVITTO_REQUIRE_POSTGRES=1 cargo test -p kvitto-server
fi

echo "== two instances on one database; the export verified by the kvitto CLI ==" >&2
cargo build --quiet -p kvitto-server -p kvitto-cli
target="${CARGO_TARGET_DIR:-target}/debug"
server="$target/kvitto-server"
kvitto="$target/kvitto"

work=$(mktemp -d)
chmod 711 "$work" # the postgres user goes through it to its own directory
run_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
    for f in "$work"/serve*.pid; do
        [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null || true
    done
    if [ -f "$work/pg/data/postmaster.pid" ]; then
        run_pg "$pg_bin/pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run_pg "$pg_bin/initdb" -A trust -U postgres -E UTF8 --no-locale -D "$work/pg/data" >/dev/null
run_pg "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w -t 120 \
    -o "-p $port -k $work/pg -c listen_addresses=127.0.0.1" start >/dev/null
"$pg_bin/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE DATABASE kvitto"
url="postgres://postgres@127.0.0.1:$port/kvitto"

KVITTO_KEK=$("$server" kek generate)
export KVITTO_KEK
"$server" init --database "$url" --format json >"$work/init.json"

serve() { # serve N: start instance N, print its base URL
    KVITTO_LOG=warn "$server" serve --database "$url" --listen 127.0.0.1:0 >"$work/serve$1.out" 2>"$work/serve$1.err" &
    echo $! >"$work/serve$1.pid"
    for _ in $(seq 1200); do
        grep -q "^listening on " "$work/serve$1.out" 2>/dev/null && break
        kill -0 "$(cat "$work/serve$1.pid")" 2>/dev/null || { cat "$work/serve$1.err" >&2; exit 1; }
        sleep 0.1
    done
    sed -n 's/^listening on //p' "$work/serve$1.out" | head -1
}
a_base=$(serve a)
b_base=$(serve b)
[ -n "$a_base" ] && [ -n "$b_base" ] || { echo "an instance did not start" >&2; exit 1; }
echo "instances: $a_base $b_base (database 127.0.0.1:$port/kvitto)" >&2

# The client: Python's standard library, threads for concurrency.
python3 - "$work" "$a_base" "$b_base" "$(cat "$work/servea.pid")" <<'PY'
import json, os, signal, sys, threading, urllib.request, urllib.error

work, a, b, a_pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
init = json.load(open(os.path.join(work, "init.json")))
key, ws = init["api_key"], init["workspace_id"]

def post(base, path, body, timeout=120):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)

def get(base, path):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + key})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.status, r.read()

def export(base, auth):
    import time
    for _ in range(1200):
        try:
            st, body = get(base, "/v1/receipts/export?authorization_id=" + auth)
            if st == 200:
                return body
        except urllib.error.HTTPError as e:
            if e.code != 503:
                raise
        time.sleep(0.1)
    raise SystemExit("export never became ready")

# 1. 64 concurrent checks of one authorization, half on each instance.
auth = post(a, "/v1/authorizations", {"user_id": "u", "agent_id": "a",
    "scopes": [{"name": "send", "constraints": {"max_per_day": 20}}, "pay"],
    "budget_limit_micros": 300})["authorization_id"]
barrier = threading.Barrier(64)
results = [None] * 64
def one(i):
    barrier.wait()
    scope, cost = ("send", None) if i % 2 == 0 else ("pay", 10)
    r = post((a, b)[i % 2], "/v1/check", {"authorization_id": auth, "scopes": [scope],
        "estimated_cost_micros": cost})
    results[i] = (scope, r["results"][scope]["decision"])
threads = [threading.Thread(target=one, args=(i,)) for i in range(64)]
for t in threads: t.start()
for t in threads: t.join()
sends = sum(1 for s, d in results if s == "send" and d == "allow")
pays = sum(1 for s, d in results if s == "pay" and d == "allow")
assert (sends, pays) == (20, 30), (sends, pays)
open(os.path.join(work, "concurrent.jsonl"), "wb").write(export(b, auth))
print("64 concurrent checks on two instances: 20 sends allowed (daily limit), 30 payments (budget)", file=sys.stderr)

# 2. Load on both instances; kill -9 one of them midway.
auths = [post(b, "/v1/authorizations", {"user_id": f"u{i}", "agent_id": "a", "scopes": ["x"]})["authorization_id"]
         for i in range(4)]
told, lock, stop = [], threading.Lock(), threading.Event()
def worker(i):
    base = (a, b)[i % 2]
    for n in range(400):
        if stop.is_set():
            return
        try:
            r = post(base, "/v1/check", {"authorization_id": auths[i % 4], "scopes": ["x"], "context": {"w": i, "n": n}}, timeout=30)
        except Exception:
            base = b  # the other instance
            continue
        with lock:
            told.append(r["results"]["x"]["receipt"]["receipt_id"])
workers = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
for t in workers: t.start()
import time
deadline = time.time() + 120
while len(told) < 300 and time.time() < deadline:
    time.sleep(0.05)
os.kill(a_pid, signal.SIGKILL)
at_kill = len(told)
while len(told) < at_kill + 200 and time.time() < deadline:
    time.sleep(0.05)
stop.set()
for t in workers: t.join()
assert len(told) >= at_kill + 200, "the surviving instance did not go on"
with open(os.path.join(work, "load.jsonl"), "wb") as f:
    for x in auths:
        f.write(export(b, x))
with open(os.path.join(work, "told.txt"), "w") as f:
    f.write("\n".join(told) + "\n")
st, keys = get(b, f"/v1/workspaces/{ws}/keys")
open(os.path.join(work, "keys.json"), "wb").write(keys)
print(f"{len(told)} checks answered, the first instance killed (kill -9) after {at_kill}", file=sys.stderr)
PY

for export in concurrent load; do
    echo "\$ kvitto verify --keys keys.json --chains $export.jsonl" >&2
    "$kvitto" verify --keys "$work/keys.json" --chains "$work/$export.jsonl" >&2
done
lines=$(wc -l <"$work/concurrent.jsonl")
[ "$lines" -eq 65 ] || { echo "the concurrent chain has $lines receipts, not 65" >&2; exit 1; }
missing=$(grep -c -v -F -f <(grep -o '"receipt_id":"rcpt_[0-9A-Z]*"' "$work/load.jsonl" | cut -d'"' -f4) "$work/told.txt" || true)
[ "$missing" = 0 ] || { echo "$missing receipts told to clients are missing from the export" >&2; exit 1; }
echo "every receipt a client was told about is in a chain that kvitto verify accepts" >&2
echo "postgres-tests: 1 passed, 0 failed"
