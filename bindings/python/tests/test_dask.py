"""kvitto.dask on a LocalCluster (two worker processes, loopback only) over
a generated export whose broken chains are spread across partitions: the
merged report equals `kvitto verify --chains --format json` on the same
files, line for line."""

import json

import pytest

import kvitto
import kvitto.dask
from conftest import cli_json
from exportgen import generate

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
    ) as c, Client(c) as client:
        yield client


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("export"))


def cli_dict(kvitto_bin, keys, paths, chains=True):
    args = ["--keys", str(keys)] + (["--chains"] if chains else []) + [str(p) for p in paths]
    code, lines = cli_json(kvitto_bin, *args)
    return code, {
        "receipts": [l for l in lines if l["type"] == "receipt"],
        "chains": [l for l in lines if l["type"] == "chain"],
        "summary": lines[-1],
    }


def test_broken_chains_span_partitions(export):
    paths, _, broken = export
    seen = {}
    import gzip

    for f, p in enumerate(paths):
        data = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        for line in data.splitlines():
            try:
                a = json.loads(line)["payload"]["authorization_id"]
            except (ValueError, KeyError, TypeError):
                continue
            seen.setdefault(a, set()).add(f)
    assert len(broken) >= 8
    assert all(len(seen[a]) >= 2 for a in broken), "every broken chain spans partitions"


def test_dask_equals_the_cli(cluster, export, kvitto_bin):
    paths, keys_path, broken = export
    keys = kvitto.KeySet.from_file(str(keys_path))
    code, want = cli_dict(kvitto_bin, keys_path, paths)
    assert code == 1
    report = kvitto.dask.verify_export([str(p) for p in paths], keys, chains=True, buckets=3)
    got = report.to_dict()
    assert got["summary"] == want["summary"]
    assert got["chains"] == want["chains"]
    assert len(got["receipts"]) == len(want["receipts"])
    for g, w in zip(got["receipts"], want["receipts"]):
        assert g == w
    codes = {c["authorization_id"]: c["code"] for c in want["chains"] if c["code"]}
    assert codes == broken
    assert want["summary"]["chains"]["ungrouped"] == 1
    # The work ran on the workers.
    assert len(cluster.scheduler_info()["workers"]) == 2


def test_dask_without_chains_and_other_bucket_counts(cluster, export, kvitto_bin):
    paths, keys_path, _ = export
    keys = kvitto.KeySet.from_file(str(keys_path))
    _, want = cli_dict(kvitto_bin, keys_path, paths, chains=False)
    assert kvitto.dask.verify_export([str(p) for p in paths], keys, chains=False).to_dict() == want
    one = kvitto.dask.verify_export([str(p) for p in paths], keys, buckets=1).to_dict()
    many = kvitto.dask.verify_export([str(p) for p in paths], keys, buckets=7).to_dict()
    assert one == many


def test_dask_bag_of_lines(cluster, export, kvitto_bin):
    import dask.bag as db

    paths, keys_path, _ = export
    keys = kvitto.KeySet.from_file(str(keys_path))
    _, want = cli_dict(kvitto_bin, keys_path, paths)
    import gzip

    lines = []
    for p in paths:
        data = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        lines.extend(data.splitlines(keepends=True))
    bag = db.from_sequence(lines, npartitions=5)
    got = kvitto.dask.verify_export(bag, keys).to_dict()
    strip = lambda rs, keys_: [{k: v for k, v in r.items() if k not in keys_} for r in rs]  # noqa: E731
    # Sources and line numbers name bag partitions; verdicts and chains are the same.
    assert strip(got["receipts"], {"source", "line"}) == strip(want["receipts"], {"source", "line"})
    assert strip(got["chains"], {"message"}) == strip(want["chains"], {"message"})
    assert got["summary"] == want["summary"]
