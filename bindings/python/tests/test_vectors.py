"""Every shared test vector whose surfaces include "python", read where it
sits (test-vectors/manifest.json), run through the package with each input
form that means something for it, and compared with the outcome the vector
states (the Rust core's). Results are sorted into pass, known divergence
(listed below with the reason), unexpected failure and unexpected success;
the last two fail the run, and conftest.py prints the four counts."""

import json
import pathlib

import pytest

import kvitto
from conftest import DIVERGENCES, TALLY, VECTORS

MANIFEST = json.loads((VECTORS / "manifest.json").read_text(encoding="utf-8"))
PYTHON = [v for v in MANIFEST["vectors"] if "python" in v["surfaces"]]

# (vector id, input form) -> why the package cannot give the core's outcome
# for that form. Only the dict and value (json.loads) forms are here: they are what
# Python's json module made of the text, so whatever json.loads repairs or
# drops cannot be seen any more.
DUP = "json.loads keeps the last of duplicated members: the dict has no duplicate left to see"
BOM = "json.loads of bytes drops a UTF-8 byte order mark"
SURROGATE = (
    "json.loads decodes UTF-8-encoded surrogates (surrogatepass); the lone surrogate then reaches json.dumps as a str and is written as an escape: invalid_string, not malformed_json"
)
INFINITY = "json.loads reads the number as inf, which json.dumps writes as Infinity: malformed_json, not number_out_of_range"
TOKEN = "json.loads reads the 129-character token as a float that json.dumps writes in a few characters: the token's length is gone"
KNOWN = {
    ('receipt/duplicate_key/top-level', 'dict'): DUP,
    ('receipt/duplicate_key/top-level-payload', 'dict'): DUP,
    ('receipt/duplicate_key/nested', 'dict'): DUP,
    ('receipt/duplicate_key/payload-member', 'dict'): DUP,
    ('receipt/duplicate_key/escaped-top-level', 'dict'): DUP,
    ('receipt/duplicate_key/escaped-nested', 'dict'): DUP,
    ('receipt/duplicate_key/escaped-both', 'dict'): DUP,
    ('canon/duplicate-member', 'value'): DUP,
    ('canon/duplicate-member-escaped', 'value'): DUP,
    ('canon/duplicate-member-nested', 'value'): DUP,
    ('receipt/malformed_json/bom', 'dict'): BOM,
    ('canon/bom', 'value'): BOM,
    ('receipt/malformed_json/utf8-surrogate', 'dict'): SURROGATE,
    ('receipt/number_out_of_range/1e400', 'dict'): INFINITY,
    ('receipt/number_out_of_range/minus-1e400', 'dict'): INFINITY,
    ('canon/1e400', 'value'): INFINITY,
    ('canon/minus-1e400', 'value'): INFINITY,
    ('receipt/number_out_of_range/token-129', 'dict'): TOKEN,
    ('canon/number-129-chars', 'value'): TOKEN,
}


def raw(v) -> bytes:
    return (VECTORS / v["input"]).read_bytes()


def loads(data: bytes):
    """What Python's json module makes of the text, or None."""
    try:
        return (json.loads(data),)
    except (ValueError, RecursionError):
        return None


def utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def forms(v):
    data = raw(v)
    t = v["type"]
    if t == "receipt":
        out = ["bytes", "str"]
        loaded = loads(data)
        if loaded is not None and isinstance(loaded[0], dict):
            out.append("dict")
        return out
    if t == "keys":
        return ["bytes", "file"] + (["str"] if utf8(data) else [])
    if t == "export":
        return ["path", "bytes", "lines"]
    if t == "chain":
        return ["path", "bytes"]
    if t == "canon":
        # "value": what json.loads made of it, unless that is a str (a str
        # given to canonicalize is JSON text, not a JSON string).
        loaded = loads(data)
        value = loaded is not None and not isinstance(loaded[0], str)
        return ["bytes"] + (["str"] if utf8(data) else []) + (["value"] if value else [])
    raise AssertionError(f"unknown vector type {t}")


CASES = [pytest.param(v, form, id=f"{v['id']}[{form}]") for v in PYTHON for form in forms(v)]


def keysets(v):
    return [kvitto.KeySet.from_file(VECTORS / k) for k in v["keys"]]


def as_text(data: bytes) -> str:
    # Invalid UTF-8 stays invalid: surrogateescape here, surrogatepass in the binding.
    return data.decode("utf-8", "surrogateescape")


def chain_dict(c) -> dict:
    return {
        "authorization_id": c.authorization_id,
        "code": c.code,
        "closed": c.closed,
        "head_seq": c.head_seq,
        "head_hash": c.head_hash,
        "receipts": c.receipts,
        "duplicates": c.duplicates,
    }


def outcome(v, form):
    """What the package says, in the vector's own terms."""
    t = v["type"]
    data = raw(v)
    path = VECTORS / v["input"]
    try:
        if t == "receipt":
            arg = {"bytes": data, "str": as_text(data), "dict": loads(data) and loads(data)[0]}[form]
            r = kvitto.verify_receipt(arg, keysets(v))
            return {"ok": True, "receipt_hash": r.receipt_hash, "kid": r.kid}
        if t == "keys":
            pin = v.get("pin")
            if form == "file":
                k = kvitto.KeySet.from_file(path, pin)
            else:
                k = kvitto.KeySet.from_json(data if form == "bytes" else data.decode("utf-8"), pin)
            return {
                "ok": True,
                "workspace_id": k.workspace_id,
                "kids": [key.kid for key in k.keys],
                "sha256": k.sha256,
            }
        if t == "export":
            source = {"path": path, "bytes": data, "lines": iter(data.splitlines(keepends=True))}[form]
            report = kvitto.verify_export(source, keysets(v), chains=v["chains"])
            assert len(report) == report.valid + report.invalid
            return {
                "records": [{"line": r.line, "index": r.index, "code": r.code} for r in report],
                "chains": [chain_dict(c) for c in report.chains],
            }
        if t == "chain":
            return chain_dict(kvitto.verify_chain(path if form == "path" else data, keysets(v)))
        if t == "canon":
            arg = {"bytes": data, "str": as_text(data), "value": loads(data) and loads(data)[0]}[form]
            return {"ok": True, "output": kvitto.canonicalize(arg)}
    except kvitto.VerificationError as e:
        assert isinstance(e, ValueError) and e.code in kvitto.CODES and str(e)
        return {"ok": False, "code": e.code}
    raise AssertionError(f"unknown vector type {t}")


def expected(v):
    if v["type"] == "canon" and "output" in v:
        return {"ok": True, "output": (VECTORS / v["output"]).read_bytes()}
    return v["expect"]


@pytest.mark.parametrize(("vector", "form"), CASES)
def test_vector(vector, form):
    got, want = outcome(vector, form), expected(vector)
    key = (vector["id"], form)
    if got == want:
        if key in KNOWN:
            TALLY["unexpected success"] += 1
            pytest.fail(f"listed as a known divergence ({KNOWN[key]}) but now passes: remove it from KNOWN")
        TALLY["pass"] += 1
        return
    if key in KNOWN:
        TALLY["known divergence"] += 1
        DIVERGENCES.append(f"{vector['id']}[{form}]: {KNOWN[key]} (got {got})")
        return
    TALLY["unexpected failure"] += 1
    pytest.fail(f"{vector['id']} [{form}]: expected {want}, got {got}")


def test_every_python_vector_ran():
    """The manifest lists vectors for this surface of every type."""
    types = {v["type"] for v in PYTHON}
    assert types == {"receipt", "keys", "export", "chain", "canon"}
    assert len(CASES) >= 3 * len([v for v in PYTHON if v["type"] == "receipt"])


def test_sample_paths_exist():
    assert (VECTORS / "sample" / "export.jsonl").is_file()
    assert pathlib.Path(VECTORS / "manifest.json").is_file()
