#!/usr/bin/env bash
# The Python package's test suite, from scratch on a fresh machine:
#
#   bash scripts/python-tests.sh
#
# 1. a venv (target/py-venv, or $KVITTO_PY_VENV) with maturin, pytest,
#    dask[distributed], PyNaCl, rfc8785, trustme, and the client's httpx and
#    the examples' FastAPI (the package's `client` and `examples` extras), and
#    mypy (the client's types are checked strictly) from PyPI;
# 2. the package built exactly as a user builds it: pip install ./bindings/python
#    (maturin, release, abi3);
# 3. the binaries the tests drive: cargo build -p kvitto-cli -p kvitto-server -p xtask,
#    passed to pytest as KVITTO_BIN, KVITTO_SERVER_BIN and KVITTO_XTASK_BIN;
# 4. pytest over bindings/python/tests. Any failure, and a run that collects
#    no test at all (pytest's exit 5), fails the script.
#
# Honours CARGO_TARGET_DIR (default: target/) and PYTHON (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="${KVITTO_PY_VENV:-$ROOT/target/py-venv}"
PYTHON="${PYTHON:-python3}"

fail() {
    echo "python-tests: FAILED: $*" >&2
    exit 1
}

echo "== python-tests: venv $VENV ==" >&2
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" || fail "could not create a venv with $PYTHON"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin>=1.16,<1.17" "pytest>=8" "dask[distributed]" pynacl rfc8785 trustme \
    "httpx>=0.24,<1" "fastapi>=0.100" mypy \
    || fail "pip could not install the test dependencies"

echo "== python-tests: pip install ./bindings/python ==" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
    ./bindings/python || fail "pip install ./bindings/python"

echo "== python-tests: cargo build -p kvitto-cli -p kvitto-server -p xtask ==" >&2
cargo build --quiet -p kvitto-cli -p kvitto-server -p xtask || fail "cargo build"
export KVITTO_BIN="$CARGO_TARGET_DIR/debug/kvitto"
export KVITTO_SERVER_BIN="$CARGO_TARGET_DIR/debug/kvitto-server"
export KVITTO_XTASK_BIN="$CARGO_TARGET_DIR/debug/xtask"

echo "== python-tests: pytest ==" >&2
cd bindings/python
set +e
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
rc=$?
set -e
case $rc in
    0) echo "python-tests: ok" >&2 ;;
    5) fail "pytest collected no tests" ;;
    *) fail "pytest exited $rc" ;;
esac
