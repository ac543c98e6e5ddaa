"""A generated export with broken chains spread across several files, for
the Dask test: `cargo xtask gen-export` writes valid chains (signed from
its fixed seed); this module splits them over files and breaks some
chains, re-signing with the same seed (PyNaCl, RFC 8785 by the rfc8785
package) where a break needs a valid signature."""

import base64
import copy
import gzip
import hashlib
import json
import os
import pathlib
import subprocess

import nacl.signing
import rfc8785

from conftest import ROOT

SEED = bytes([0x6B]) * 32  # crates/xtask/src/export_gen.rs
SIGNER = nacl.signing.SigningKey(SEED)


def xtask_bin() -> pathlib.Path:
    given = os.environ.get("KVITTO_XTASK_BIN")
    if given:
        return pathlib.Path(given)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "xtask"


def canonical(payload) -> bytes:
    return rfc8785.dumps(payload)


def receipt_hash(payload) -> str:
    return "sha256:" + hashlib.sha256(canonical(payload)).hexdigest()


def sign(payload) -> bytes:
    sig = SIGNER.sign(b"kvitto/receipt/v1\n" + canonical(payload)).signature
    text = base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    return json.dumps({"payload": payload, "sig": text}, separators=(",", ":")).encode()


def generate(out: pathlib.Path, lines: int = 2400, authorizations: int = 48, files: int = 4):
    """Writes the export as `files` files (the third gzipped) under `out`;
    returns (paths, keys path, what was broken: {authorization_id: expected code})."""
    out.mkdir(parents=True, exist_ok=True)
    src = out / "generated.jsonl"
    keys = out / "keys.json"
    subprocess.run(
        [str(xtask_bin()), "gen-export", "--lines", str(lines), "--authorizations", str(authorizations),
         "--out", str(src), "--keys-out", str(keys)],
        check=True,
        capture_output=True,
    )
    raw = src.read_bytes().splitlines()
    src.unlink()
    parsed = [json.loads(l) for l in raw]
    chains = {}
    for i, r in enumerate(parsed):
        chains.setdefault(r["payload"]["authorization_id"], []).append(i)
    ids = list(chains)
    closed = [a for a in ids if parsed[chains[a][-1]]["payload"]["kind"] == "authorization.revoked"]
    open_ = [a for a in ids if a not in closed]
    assert len(open_) >= 8 and closed, "gen-export makes every fourth chain closed"
    out_lines = {i: raw[i] for i in range(len(raw))}
    extra = []  # (after index, line)
    broken = {}

    def resigned(i, change):
        p = copy.deepcopy(parsed[i]["payload"])
        change(p)
        return sign(p)

    # A changed member: signature_invalid, so chain_invalid_receipt.
    a = open_[0]
    i = chains[a][len(chains[a]) // 2]
    out_lines[i] = raw[i].replace(b'"kind":"check"', b'"kind":"check","note":"changed"', 1)
    broken[a] = "chain_invalid_receipt"
    # A missing receipt in the middle: chain_gap.
    a = open_[1]
    del out_lines[chains[a][3]]
    broken[a] = "chain_gap"
    # No seq 0: chain_bad_start.
    a = open_[2]
    del out_lines[chains[a][0]]
    broken[a] = "chain_bad_start"
    # Two different valid receipts with one seq: chain_fork.
    a = open_[3]
    i = chains[a][5]
    extra.append((len(raw) - 1, resigned(i, lambda p: p.update(receipt_id=p["receipt_id"] + "_fork"))))
    broken[a] = "chain_fork"
    # A prev that names another hash: chain_broken_link.
    a = open_[4]
    i = chains[a][4]
    out_lines[i] = resigned(i, lambda p: p.update(prev="sha256:" + "ab" * 32))
    broken[a] = "chain_broken_link"
    # issued_at earlier than seq - 1's, on a chain's last receipt (so that
    # no later prev names its new hash): chain_time_reversal.
    a = open_[5]
    i = chains[a][-1]
    out_lines[i] = resigned(i, lambda p: p.update(issued_at="2026-01-01T00:00:00Z"))
    broken[a] = "chain_time_reversal"
    # A receipt after the revocation: chain_after_revocation.
    a = closed[0]
    last = parsed[chains[a][-1]]["payload"]
    after = copy.deepcopy(parsed[chains[a][-2]]["payload"])
    after.update(seq=last["seq"] + 1, prev=receipt_hash(last), receipt_id=last["receipt_id"] + "_after",
                 issued_at=last["issued_at"])
    extra.append((chains[a][-1], sign(after)))
    broken[a] = "chain_after_revocation"
    # An exact duplicate in another file: reported, not an error.
    a = open_[6]
    extra.append((len(raw) - 1, raw[chains[a][2]]))
    # Strictly invalid (a duplicate member) but its authorization_id reads
    # leniently: it still lands in its chain.
    a = open_[7]
    i = chains[a][2]
    out_lines[i] = raw[i].replace(b'{"payload":{', b'{"payload":{"v":1,', 1)
    broken[a] = "chain_invalid_receipt"
    # Over 1 MiB, never held: too_large, and still in its chain.
    a = closed[1] if len(closed) > 1 else open_[8]
    big = copy.deepcopy(parsed[chains[a][1]]["payload"])
    big["padding"] = "x" * (1 << 20)
    extra.append((chains[a][1], json.dumps({"payload": big, "sig": "A" * 86}).encode()))
    broken[a] = "chain_invalid_receipt"
    # Not JSON at all: in no chain (ungrouped).
    extra.append((10, b"this line is not a receipt"))

    ordered = []
    for i in range(len(raw)):
        if i in out_lines:
            ordered.append(out_lines[i])
        ordered.extend(line for at, line in extra if at == i)
    # Spread over files in runs of 97 lines, so every chain spans files.
    parts = [[] for _ in range(files)]
    for n, line in enumerate(ordered):
        parts[(n // 97) % files].append(line)
    paths = []
    for f, part in enumerate(parts):
        body = b"\n".join(part) + b"\n"
        if f == 2:
            path = out / f"part-{f}.jsonl.gz"
            path.write_bytes(gzip.compress(body))
        else:
            path = out / f"part-{f}.jsonl"
            path.write_bytes(body)
        paths.append(path)
    return paths, keys, broken
