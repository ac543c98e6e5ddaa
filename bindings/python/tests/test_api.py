"""The public API on the sample trail: inputs, errors, reports against the
CLI's JSON output, identifiers against the server's shared vector."""

import datetime
import gzip
import json
import pickle

import pytest

import kvitto
from conftest import ROOT, VECTORS, cli_json

SAMPLE = VECTORS / "sample"
KEYS_PATH = "test-vectors/sample/keys.json"  # as the CLI is given it, from ROOT


@pytest.fixture()
def keys():
    return kvitto.KeySet.from_file(ROOT / KEYS_PATH)


def lines(name="export.jsonl"):
    return (SAMPLE / name).read_bytes().splitlines(keepends=True)


def test_keyset(keys):
    data = (SAMPLE / "keys.json").read_bytes()
    import hashlib

    pin = "sha256:" + hashlib.sha256(data).hexdigest()
    assert keys.sha256 == pin and not keys.pinned and keys.cache_age_s is None
    assert keys.workspace_id == "ws_acme"
    k = kvitto.KeySet.from_json(data, pin.upper()[7:])
    assert k.pinned and k.document == data and k.source == "<json>"
    assert kvitto.KeySet.from_json(data.decode(), pin, source="mine").source == "mine"
    statuses = {key.kid: key.status for key in k.keys}
    assert set(statuses.values()) <= {"active", "retired", "revoked"}
    for key in k.keys:
        assert key.not_before.tzinfo is not None
        assert key.not_before.utcoffset() == datetime.timedelta(0)
        assert key.not_after is None or key.not_after > key.not_before
        assert len(key.x) == 43
    with pytest.raises(kvitto.VerificationError) as e:
        kvitto.KeySet.from_json(data, "0" * 64)
    assert e.value.code == "pin_mismatch" and isinstance(e.value, ValueError)
    with pytest.raises(ValueError, match="expected_sha256"):
        kvitto.KeySet.from_json(data, "sha256:nothex")
    with pytest.raises(kvitto.VerificationError) as e:
        kvitto.KeySet.from_json(b'{"workspace_id":"w","keys":[1]}')
    assert e.value.code == "keys_invalid"
    again = pickle.loads(pickle.dumps(k))
    assert again == k and again.sha256 == k.sha256 and again.pinned


def test_verify_receipt_bytes_str_dict(keys):
    first = lines()[0].rstrip(b"\n")
    a = kvitto.verify_receipt(first, keys)
    b = kvitto.verify_receipt(first.decode(), keys)
    c = kvitto.verify_receipt(json.loads(first), [keys])
    assert a.receipt_hash == b.receipt_hash == c.receipt_hash
    assert a.receipt_hash.startswith("sha256:") and len(a.receipt_hash) == 71
    payload = json.loads(first)["payload"]
    assert a.payload == payload
    assert (a.kind, a.seq, a.authorization_id, a.receipt_id) == (
        payload["kind"],
        payload["seq"],
        payload["authorization_id"],
        payload["receipt_id"],
    )
    assert a.kid == payload["kid"] == a.key.kid and a.keys_sha256 == keys.sha256
    assert a.prev is None and a.seq == 0
    assert a.issued_at.tzinfo is not None
    assert a.issued_at.strftime("%Y-%m-%dT%H:%M:%S") == payload["issued_at"][:19]
    # The hash is that of the canonical payload.
    import hashlib

    assert a.receipt_hash == "sha256:" + hashlib.sha256(kvitto.canonicalize(payload)).hexdigest()


def test_errors_carry_the_code_and_name_the_member(keys):
    first = json.loads(lines()[0])
    first["payload"]["seq"] = "0"
    with pytest.raises(kvitto.VerificationError) as e:
        kvitto.verify_receipt(first, keys)
    assert e.value.code == "bad_structure" and "payload.seq" in str(e.value)
    dup = lines()[0].rstrip()[:-1] + b',"sig":"x"}'  # sig twice, "x" last
    with pytest.raises(kvitto.VerificationError) as e:
        kvitto.verify_receipt(dup, keys)
    assert e.value.code == "duplicate_key"
    # A dict cannot show its duplicate: json.loads kept the last one.
    with pytest.raises(kvitto.VerificationError) as e:
        kvitto.verify_receipt(json.loads(dup), keys)
    assert e.value.code == "bad_signature_encoding"
    with pytest.raises(kvitto.VerificationError) as e:
        kvitto.verify_receipt({"payload": {"v": 1, "x": float("nan")}}, keys)
    assert e.value.code == "malformed_json"
    with pytest.raises(kvitto.VerificationError) as e:
        kvitto.verify_receipt({"payload": {"v": 1, "x": "\ud800"}}, keys)
    assert e.value.code == "invalid_string"
    with pytest.raises(kvitto.VerificationError) as e:
        kvitto.verify_receipt("\ud800", keys)
    assert e.value.code == "malformed_json"
    with pytest.raises(TypeError):
        kvitto.verify_receipt(object(), keys)
    with pytest.raises(TypeError):
        kvitto.verify_receipt(lines()[0], "keys.json")
    with pytest.raises(ValueError, match="one key document per workspace"):
        kvitto.verify_receipt(lines()[0], [keys, keys])


def test_canonicalize():
    assert kvitto.canonicalize(b'{"b": [1E30, 1.0], "a": "\\u00e9"}') == '{"a":"é","b":[1e+30,1]}'.encode()
    assert kvitto.canonicalize({"b": 2, "a": [None, True]}) == b'{"a":[null,true],"b":2}'
    assert kvitto.canonicalize("[1.5e-7]") == b"[1.5e-7]"
    with pytest.raises(kvitto.VerificationError) as e:
        kvitto.canonicalize(b'{"a":1,"a":2}')
    assert e.value.code == "duplicate_key" and str(e.value) == 'duplicate member "a" in the top-level object'


def test_report_is_the_cli_json_output(kvitto_bin):
    keys_path = str(ROOT / KEYS_PATH)
    keys = kvitto.KeySet.from_file(keys_path)
    for name in ("export.jsonl", "export-tampered.jsonl"):
        rel = str(SAMPLE / name)
        code, cli = cli_json(kvitto_bin, "--keys", keys_path, "--chains", rel)
        report = kvitto.verify_export(rel, keys)
        want = {
            "receipts": [l for l in cli if l["type"] == "receipt"],
            "chains": [l for l in cli if l["type"] == "chain"],
            "summary": cli[-1],
        }
        got = report.to_dict()
        assert got == want
        assert report.ok == (code == 0) == (name == "export.jsonl")
        assert [r.to_dict() for r in report] == want["receipts"]
        assert [c.to_dict() for c in report.chains] == want["chains"]
        assert report.summary == cli[-1]
        assert report.valid == cli[-1]["valid"] and report.invalid == cli[-1]["invalid"]
        assert len(report) == cli[-1]["receipts"]
        assert [f.line for f in report.failures()] == [r["line"] for r in want["receipts"] if not r["ok"]]
        assert pickle.loads(pickle.dumps(report)).to_dict() == report.to_dict()


def test_sources_bytes_lines_gz_dir(tmp_path, keys):
    data = (SAMPLE / "export-tampered.jsonl").read_bytes()
    base = kvitto.verify_export(SAMPLE / "export-tampered.jsonl", keys).to_dict()

    def same(report, source):
        d = report.to_dict()
        assert [r["source"] for r in d["receipts"]] == [source] * len(d["receipts"])
        for r in d["receipts"] + base["receipts"]:
            r.pop("source", None)
        for c in d["chains"]:  # a broken chain's message names SOURCE:LINE
            c["message"] = c["message"].replace(f"{source}:", f"{SAMPLE / 'export-tampered.jsonl'}:")
        assert d == base

    same(kvitto.verify_export(data, keys), "<bytes>")
    same(kvitto.verify_export(bytearray(data), keys, name="mine"), "mine")
    same(kvitto.verify_export(iter(data.splitlines(keepends=True)), keys), "<lines>")
    # Lines without their line break get one; str lines are UTF-8.
    same(kvitto.verify_export([l.decode() for l in data.splitlines()], keys), "<lines>")
    # Dict lines are serialized (their duplicates, had they any, are gone).
    dicts = [json.loads(l) for l in data.splitlines()]
    d = kvitto.verify_export(dicts, keys).to_dict()
    assert [r["code"] for r in d["receipts"]] == [r["code"] for r in base["receipts"]]
    with open(SAMPLE / "export-tampered.jsonl", "rb") as f:  # a file object is an iterable of lines
        same(kvitto.verify_export(f, keys), "<lines>")
    gz = tmp_path / "export.jsonl.gz"
    gz.write_bytes(gzip.compress(data))
    same(kvitto.verify_export(gz, keys), str(gz))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.jsonl").write_bytes(data[: data.index(b"\n") + 1])
    (tmp_path / "notes.txt").write_bytes(b"not an export")
    r = kvitto.verify_export(tmp_path, keys)
    assert r.sources == [str(gz), str(tmp_path / "sub" / "a.jsonl")]
    assert len(r) == len(base["receipts"]) + 1
    with pytest.raises(FileNotFoundError):
        kvitto.verify_export(tmp_path / "missing.jsonl", keys)
    with pytest.raises(TypeError):
        kvitto.verify_export(12, keys)


def test_iterable_errors_propagate(keys):
    def broken():
        yield lines()[0]
        raise RuntimeError("upstream failed")

    with pytest.raises(RuntimeError, match="upstream failed"):
        kvitto.verify_export(broken(), keys)


def test_empty_input_is_not_valid(keys):
    r = kvitto.verify_export(b"  \n\n", keys)
    assert not r.ok and len(r) == 0 and r.summary["receipts"] == 0


def test_progress_and_keep(keys):
    data = b"".join(lines("export-tampered.jsonl")) * 300
    seen = []
    r = kvitto.verify_export(data, keys, chains=False, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert not r.ok and r.chains == [] and r.summary["chains"]["total"] == 0
    invalid = kvitto.verify_export(data, keys, keep="invalid")
    assert len(invalid) == invalid.invalid == r.invalid and all(not x.ok for x in invalid)
    assert invalid.summary == kvitto.verify_export(data, keys).summary
    none = kvitto.verify_export(data, keys, keep="none")
    assert len(none) == 0 and none.valid == r.valid
    with pytest.raises(ValueError, match="keep"):
        kvitto.verify_export(data, keys, keep="some")

    def stop(done, total):
        raise KeyError("stop here")

    with pytest.raises(KeyError, match="stop here"):
        kvitto.verify_export(data, keys, progress=stop)


def test_report_access(keys):
    r = kvitto.verify_export(SAMPLE / "export-tampered.jsonl", keys)
    assert r[0] == next(iter(r)) and r[-1] == list(r)[-1]
    with pytest.raises(IndexError):
        r[len(r)]
    bad = r.failures()[0]
    assert not bad.ok and bad.code == "signature_invalid" and bad.message and bad.receipt_hash is None
    assert bad.receipt_id and bad.authorization_id
    broken = [c for c in r.chains if not c.ok]
    assert len(broken) == 1 and broken[0].code == "chain_invalid_receipt"
    assert broken[0].authorization_id == bad.authorization_id
    assert "Report" in repr(r) and "ChainReport" in repr(broken[0])


def test_verify_chain(keys):
    trail = [l for l in lines() if json.loads(l)["payload"]["authorization_id"] == json.loads(lines()[0])["payload"]["authorization_id"]]
    c = kvitto.verify_chain(trail, keys)
    assert c.ok and c.receipts == len(trail)
    c2 = kvitto.verify_chain([json.loads(l) for l in reversed(trail)], keys)
    assert c2.to_dict() == c.to_dict()
    c3 = kvitto.verify_chain(b"".join(trail), keys)
    assert c3.to_dict() == c.to_dict()
    mixed = kvitto.verify_chain(trail + [lines()[-1]], keys)
    other = json.loads(lines()[-1])["payload"]["authorization_id"]
    assert other != c.authorization_id and mixed.code == "chain_mixed"
    gap = kvitto.verify_chain(trail[:1] + trail[2:], keys)
    assert gap.code == ("chain_gap" if len(trail) > 2 else "chain_bad_start")


def test_from_email_is_the_servers():
    shared = json.loads((ROOT / "crates/kvitto-server/tests/data/email_hmac.json").read_text(encoding="utf-8"))
    assert len(shared["cases"]) >= 3
    for case in shared["cases"]:
        assert kvitto.identifiers.from_email(case["email"], case["pepper"]) == case["id"]
        assert kvitto.identifiers.from_email(case["email"], case["pepper"].encode()) == case["id"]
    with pytest.raises(TypeError):
        kvitto.identifiers.from_email("a@b", 12)


def test_public_names():
    for name in kvitto.__all__:
        assert hasattr(kvitto, name), name
    assert issubclass(kvitto.VerificationError, ValueError)
    assert kvitto.VerificationError.__module__ == "kvitto"
    assert len(kvitto.CODES) == 25 and kvitto.SCHEMA == 1
