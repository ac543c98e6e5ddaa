#!/usr/bin/env bash
# The WebAssembly package's and the verification page's tests, from a fresh
# machine: installs what they need (the wasm32 target and wasm-bindgen-cli
# via scripts/build-wasm.sh, npm packages from bindings/wasm/package-lock.json
# into bindings/wasm/node_modules, Debian's chromium), builds the package,
# makes a 100,000-line export with `cargo xtask gen-export` (cached in the
# target dir), then runs `node --test` over the package (every wasm test
# vector, the API, the README's examples, the round trip through
# kvitto-server) and the Playwright suite against the page.
#
# Honours CARGO_TARGET_DIR (default ./target). Fails loudly at the first
# failing step.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
step() { printf '\n=== wasm-tests: %s\n' "$*" >&2; }
die() { printf 'wasm-tests: FAILED: %s\n' "$*" >&2; exit 1; }
trap 'die "the step above failed (exit $?)"' ERR

step "tools"
command -v node >/dev/null || die "node is missing (apt-get install nodejs npm)"
if [ ! -x /usr/bin/chromium ]; then
    step "installing Debian's chromium (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium chromium-driver >/dev/null
fi
export KVITTO_CHROMIUM=/usr/bin/chromium
(cd bindings/wasm && npm ci --no-audit --no-fund --loglevel=error)

step "build the package (scripts/build-wasm.sh)"
bash scripts/build-wasm.sh

step "build kvitto, kvitto-server and xtask"
cargo build --quiet -p kvitto-cli -p kvitto-server -p xtask
export KVITTO_CLI=$CARGO_TARGET_DIR/debug/kvitto
export KVITTO_SERVER=$CARGO_TARGET_DIR/debug/kvitto-server

EXPORT_DIR=$CARGO_TARGET_DIR/wasm-tests
export KVITTO_EXPORT=$EXPORT_DIR/export-100k.jsonl
export KVITTO_EXPORT_KEYS=$EXPORT_DIR/keys-100k.json
if [ ! -s "$KVITTO_EXPORT" ] || [ ! -s "$KVITTO_EXPORT_KEYS" ]; then
    step "cargo xtask gen-export --lines 100000"
    mkdir -p "$EXPORT_DIR"
    cargo xtask gen-export --lines 100000 --out "$KVITTO_EXPORT.tmp" --keys-out "$KVITTO_EXPORT_KEYS"
    mv "$KVITTO_EXPORT.tmp" "$KVITTO_EXPORT"
fi

step "node --test bindings/wasm/test (vectors, API, README examples, server round trip)"
node --test --test-concurrency=1 bindings/wasm/test/*.test.mjs

step "node --test web/test (Playwright: the page in headless Chromium)"
export KVITTO_ARTIFACTS=$ROOT/web/test/artifacts
node --test --test-concurrency=1 web/test/*.test.mjs
printf '\nwasm-tests: all passed (screenshots in %s)\n' "$KVITTO_ARTIFACTS" >&2
