#!/usr/bin/env bash
# Property-based API tests of kvitto-server with schemathesis (from PyPI,
# installed into a venv), against its own GET /openapi.json: no 5xx, and
# every status, content type, header and body matches the schema.
# Bounded: at most SCHEMATHESIS_MAX_EXAMPLES cases per operation and
# SCHEMATHESIS_MAX_TIME seconds in all.
#
#   bash scripts/schemathesis.sh
#   SCHEMATHESIS_MAX_EXAMPLES=200 SCHEMATHESIS_MAX_TIME=600 bash scripts/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
max_examples=${SCHEMATHESIS_MAX_EXAMPLES:-40}
max_time=${SCHEMATHESIS_MAX_TIME:-180}
target=${CARGO_TARGET_DIR:-target}
venv="$target/schemathesis-venv"

if ! command -v python3 >/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3 python3-venv >&2
fi
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
    echo "schemathesis.sh: installing schemathesis $version into $venv" >&2
    if ! python3 -m venv "$venv" 2>/dev/null; then
        apt-get update -qq && apt-get install -y -qq python3-venv >&2
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version"
fi

cargo build --quiet -p kvitto-server
server="$target/debug/kvitto-server"
work=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$server" init --data "$work/data" --format json > "$work/init.json"
api_key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_key"])' "$work/init.json")
KVITTO_LOG=warn "$server" serve --data "$work/data" --listen 127.0.0.1:0 > "$work/out.log" &
pid=$!
for _ in $(seq 600); do
    grep -q "^listening on " "$work/out.log" 2>/dev/null && break
    sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$work/out.log" | head -1)
[ -n "$base" ] || { echo "schemathesis.sh: the server did not start" >&2; exit 1; }
echo "schemathesis.sh: kvitto-server at $base" >&2

# Seed one authorization so that some generated ids hit real data.
python3 - "$base" "$api_key" <<'PY'
import json, sys, urllib.request
base, key = sys.argv[1], sys.argv[2]
body = json.dumps({"user_id": "u_1", "agent_id": "agent", "scopes": ["mail:read"]}).encode()
req = urllib.request.Request(base + "/v1/authorizations", data=body, method="POST",
    headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
urllib.request.urlopen(req).read()
PY

"$venv/bin/schemathesis" run "$base/openapi.json" \
    --header "Authorization: Bearer $api_key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "$max_examples" \
    --max-time "$max_time" \
    --request-timeout 30 \
    --seed 7 \
    --workers 2 \
    --suppress-health-check all
