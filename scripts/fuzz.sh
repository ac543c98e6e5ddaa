#!/usr/bin/env bash
# Run every cargo-fuzz target of kvitto-core for a bounded time, on the
# stable toolchain (`-s none`: libFuzzer's coverage instrumentation without a
# sanitizer, which needs no nightly; the core forbids unsafe code, so a
# sanitizer would add little).
#
#   bash scripts/fuzz.sh                 # 20 s per target
#   FUZZ_SECONDS=300 bash scripts/fuzz.sh
#   FUZZ_TARGETS="verify scanner" bash scripts/fuzz.sh
#   FUZZ_MAX_LEN=1048576 bash scripts/fuzz.sh   # longest input (default 64 KiB)
#
# Each target's corpus grows in crates/kvitto-core/fuzz/corpus/<target> and
# crashes land in crates/kvitto-core/fuzz/artifacts/<target> (both ignored by
# git). Seeds: crates/kvitto-core/fuzz/seeds/<target>, and the matching
# test-vectors/ directories when they exist (read only). Exits non-zero if
# any target crashed or failed to build.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz_dir="$root/crates/kvitto-core/fuzz"
seconds=${FUZZ_SECONDS:-20}
targets=${FUZZ_TARGETS:-"parse keys verify scanner"}
# The test vectors hold inputs of over 1 MiB (the size limit's own vectors);
# without a cap libFuzzer would take the largest seed as its input length and
# run several times slower. Longer seeds are truncated, which is harmless.
max_len=${FUZZ_MAX_LEN:-65536}

# The machine's default toolchain (stable here): no nightly is needed.
cargo_cmd=(cargo)

if ! "${cargo_cmd[@]}" fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    "${cargo_cmd[@]}" install cargo-fuzz --locked
fi

# Seed directories from the shared test vectors, per target.
vector_dirs() {
    case "$1" in
        parse) echo "receipts keys canon exports" ;;
        keys) echo "keys" ;;
        verify) echo "receipts chains exports" ;;
        scanner) echo "exports receipts" ;;
    esac
}

failed=()
for target in $targets; do
    corpus="$fuzz_dir/corpus/$target"
    mkdir -p "$corpus"
    seeds=()
    if [ -d "$fuzz_dir/seeds/$target" ]; then
        seeds+=("$fuzz_dir/seeds/$target")
    fi
    for d in $(vector_dirs "$target"); do
        if [ -d "$root/test-vectors/$d" ]; then
            seeds+=("$root/test-vectors/$d")
        fi
    done
    echo "== fuzz $target for ${seconds}s (seeds: ${seeds[*]:-none})" >&2
    # The first corpus directory receives new inputs; the seed directories
    # after it are only read.
    if ! "${cargo_cmd[@]}" fuzz run --fuzz-dir "$fuzz_dir" -s none "$target" \
        "$corpus" "${seeds[@]}" -- -max_total_time="$seconds" -max_len="$max_len" -print_final_stats=1; then
        echo "fuzz.sh: target $target FAILED (see $fuzz_dir/artifacts/$target)" >&2
        failed+=("$target")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: failures: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: all targets ran ${seconds}s without a crash: $targets" >&2
