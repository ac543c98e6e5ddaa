#!/usr/bin/env bash
# Build the kvitto-wasm npm package (bindings/wasm/dist) and copy it into the
# verification page (web/kvitto). On a fresh machine it installs what it
# needs: the wasm32 Rust target, wasm-bindgen-cli at exactly the version of
# the wasm-bindgen crate in Cargo.lock, and binaryen's wasm-opt from npm
# (bindings/wasm/package-lock.json; never Debian's binaryen, whose wasm-opt
# corrupts wasm-bindgen output). Generated files are not committed.
#
#   scripts/build-wasm.sh                 # the shipped build
#   DALEK_BITS=64 scripts/build-wasm.sh   # curve25519-dalek's other backend (for the benchmark)
#   OPT_LEVEL=s EXTRA_WASM_RUSTFLAGS="-C target-feature=+simd128" scripts/build-wasm.sh   # experiments
#
# Honours CARGO_TARGET_DIR (default ./target).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PKG=$ROOT/bindings/wasm
DIST=$PKG/dist
say() { printf 'build-wasm: %s\n' "$*" >&2; }
die() { printf 'build-wasm: error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo not found (install Rust with rustup)"
command -v node >/dev/null || die "node not found (apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm not found (apt-get install npm)"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must be exactly the version of the wasm-bindgen crate.
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$WB_VERSION" ] || die "no wasm-bindgen in Cargo.lock"
WB_HAVE=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$WB_HAVE" != "$WB_VERSION" ]; then
    say "installing wasm-bindgen-cli $WB_VERSION (found: ${WB_HAVE:-none}); a one-time build of a few minutes"
    cargo install wasm-bindgen-cli --version "$WB_VERSION" --no-default-features
fi

if [ ! -x "$PKG/node_modules/.bin/wasm-opt" ]; then
    say "installing binaryen (wasm-opt) and playwright-core from bindings/wasm/package-lock.json"
    (cd "$PKG" && npm ci --no-audit --no-fund --loglevel=error)
fi
WASM_OPT=$PKG/node_modules/.bin/wasm-opt

# Size: opt-level "z" (OPT_LEVEL=s or 3 to compare), one codegen unit, fat
# LTO so unused code goes; the curve arithmetic, Ed25519 and SHA-2 asked at
# opt-level 3 (fat LTO re-optimizes the merged module, and "z" measured no
# slower than "s": docs/performance.md). SHA-2 uses its compact (not
# unrolled) software rounds: a few percent of a verification, 12 KB less.
RUSTFLAGS_WASM="--cfg sha2_backend_soft=\"compact\" ${EXTRA_WASM_RUSTFLAGS:-}"
case "${DALEK_BITS:-}" in
    "") ;;
    32 | 64) RUSTFLAGS_WASM="$RUSTFLAGS_WASM --cfg curve25519_dalek_bits=\"$DALEK_BITS\"" ;;
    *) die "DALEK_BITS must be 32 or 64" ;;
esac
say "cargo build --target wasm32-unknown-unknown --release (${DALEK_BITS:+curve25519_dalek_bits=$DALEK_BITS, }CARGO_TARGET_DIR=$TARGET_DIR)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$RUSTFLAGS_WASM" \
cargo build -p kvitto-wasm --target wasm32-unknown-unknown --release \
    --config "profile.release.opt-level=${OPT_LEVEL:-\"z\"}" \
    --config 'profile.release.lto="fat"' \
    --config 'profile.release.codegen-units=1' \
    --config 'profile.release.debug=false' \
    --config 'profile.release.package.curve25519-dalek.opt-level=3' \
    --config 'profile.release.package.ed25519-dalek.opt-level=3' \
    --config 'profile.release.package.sha2.opt-level=3'
RAW=$TARGET_DIR/wasm32-unknown-unknown/release/kvitto_wasm.wasm
[ -f "$RAW" ] || die "no $RAW"

rm -rf "$DIST"
mkdir -p "$DIST"
say "wasm-bindgen $WB_VERSION --target web"
wasm-bindgen --target web --out-dir "$DIST" --out-name kvitto_wasm "$RAW"
# No stripping: wasm-opt reads the target_features section to know which
# features the module uses.
say "wasm-opt -O3 (binaryen $("$WASM_OPT" --version | awk '{print $3}'))"
"$WASM_OPT" -O3 "$DIST/kvitto_wasm_bg.wasm" -o "$DIST/kvitto_wasm_bg.opt.wasm"
mv "$DIST/kvitto_wasm_bg.opt.wasm" "$DIST/kvitto_wasm_bg.wasm"

cp "$PKG"/js/*.js "$PKG"/js/*.d.ts "$DIST/"
cp "$PKG/README.md" "$DIST/README.md"

RAW_SIZE=$(wc -c < "$DIST/kvitto_wasm_bg.wasm")
GZ_SIZE=$(gzip -9 -c "$DIST/kvitto_wasm_bg.wasm" | wc -c)
printf '{"wasm_bytes":%s,"wasm_gzip_bytes":%s,"wasm_bindgen":"%s","dalek_bits":"%s"}\n' \
    "$RAW_SIZE" "$GZ_SIZE" "$WB_VERSION" "${DALEK_BITS:-default}" > "$DIST/build.json"
say "kvitto_wasm_bg.wasm: $RAW_SIZE bytes, $GZ_SIZE gzipped (gzip -9)"

# The page: web/ with the package beside it, a directory of static files.
rm -rf "$ROOT/web/kvitto"
mkdir -p "$ROOT/web/kvitto"
cp "$DIST"/*.js "$DIST"/*.wasm "$ROOT/web/kvitto/"
say "done: $DIST (npm package), web/ (the page, with web/kvitto)"
