"""Shared fixtures: where the repository, the vectors and the binaries are,
and the tally of the vector runner (printed at the end of the run)."""

import collections
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
VECTORS = ROOT / "test-vectors"

# pass / known divergence / unexpected failure / unexpected success
TALLY: "collections.Counter[str]" = collections.Counter()
DIVERGENCES: "list[str]" = []


def binary(var: str, name: str) -> pathlib.Path:
    """A binary the tests need: from the environment (scripts/python-tests.sh
    sets it), else the workspace's debug build. Missing is a failure."""
    given = os.environ.get(var)
    if given:
        path = pathlib.Path(given)
    else:
        target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        path = target / "debug" / name
    if not path.is_file():
        pytest.fail(f"{name} not found at {path}: build it (cargo build -p ...) or set {var}")
    return path


@pytest.fixture(scope="session")
def kvitto_bin() -> pathlib.Path:
    return binary("KVITTO_BIN", "kvitto")


@pytest.fixture(scope="session")
def server_bin() -> pathlib.Path:
    return binary("KVITTO_SERVER_BIN", "kvitto-server")


@pytest.fixture(scope="session")
def sample() -> pathlib.Path:
    return VECTORS / "sample"


def cli_json(kvitto_bin: pathlib.Path, *args: str, cwd: pathlib.Path = ROOT) -> "tuple[int, list]":
    """`kvitto verify ... --format json`: (exit code, the parsed lines)."""
    import json

    out = subprocess.run(
        [str(kvitto_bin), "verify", "--format", "json", *args],
        cwd=cwd,
        capture_output=True,
        check=False,
    )
    lines = [json.loads(l) for l in out.stdout.decode().splitlines() if l.strip()]
    return out.returncode, lines


def pytest_terminal_summary(terminalreporter):  # noqa: D103
    if not TALLY:
        return
    tr = terminalreporter
    tr.section("kvitto test vectors (python surface)")
    for what in ("pass", "known divergence", "unexpected failure", "unexpected success"):
        tr.write_line(f"{what}: {TALLY[what]}")
    for line in DIVERGENCES:
        tr.write_line(f"  known divergence: {line}")


# --- the client's tests (tests/test_client*.py): one kvitto-server for the
# session; `side` runs a test once with kvitto.Client, once with
# kvitto.AsyncClient.


@pytest.fixture(scope="session")
def kvserver(server_bin, tmp_path_factory):
    from clientkit import Server

    s = Server(server_bin, tmp_path_factory.mktemp("kvserver") / "data")
    yield s
    s.close()


@pytest.fixture(params=["sync", "async"])
def side(request, kvserver):
    from clientkit import Side

    s = Side(request.param, kvserver.base, kvserver.api_key)
    yield s
    s.close()
