"""Thread safety (16 threads verifying at once) and the GIL: verify_export
releases it, so another Python thread makes progress meanwhile. Progress is
counted, never timed: with a switch interval far longer than the test, the
only way the counting thread runs while the main thread is inside a call is
that the call released the GIL."""

import json
import sys
import threading
import time

import kvitto
from conftest import VECTORS

SAMPLE = VECTORS / "sample"


def receipts():
    tampered = (SAMPLE / "export-tampered.jsonl").read_bytes().splitlines()
    manifest = json.loads((VECTORS / "manifest.json").read_text(encoding="utf-8"))
    singles = [
        (VECTORS / v["input"]).read_bytes()
        for v in manifest["vectors"]
        if v["type"] == "receipt" and v["keys"] == ["keys/ws_demo.json"]
    ]
    return tampered, singles


def verdict(r, keys):
    try:
        v = kvitto.verify_receipt(r, keys)
        return ("ok", v.receipt_hash)
    except kvitto.VerificationError as e:
        return ("error", e.code)


def test_sixteen_threads_give_the_same_verdicts():
    sample_keys = kvitto.KeySet.from_file(SAMPLE / "keys.json")
    demo_keys = kvitto.KeySet.from_file(VECTORS / "keys" / "ws_demo.json")
    tampered, singles = receipts()
    work = [(r, sample_keys) for r in tampered] + [(r, demo_keys) for r in singles]
    want = [verdict(r, k) for r, k in work]
    assert {w[0] for w in want} == {"ok", "error"}
    export_want = kvitto.verify_export(SAMPLE / "export-tampered.jsonl", sample_keys).to_dict()
    results = [None] * 16
    errors = []
    barrier = threading.Barrier(16)

    def run(i):
        try:
            barrier.wait()
            got = [verdict(r, k) for r, k in work]
            exp = kvitto.verify_export(SAMPLE / "export-tampered.jsonl", sample_keys).to_dict()
            results[i] = (got, exp)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for got, exp in results:
        assert got == want
        assert exp == export_want


def test_verify_export_releases_the_gil():
    keys = kvitto.KeySet.from_file(SAMPLE / "keys.json")
    data = (SAMPLE / "export.jsonl").read_bytes() * 400  # ~10,000 receipts
    count = 0
    stop = threading.Event()

    def counter():
        nonlocal count
        while not stop.is_set():
            count += 1
            time.sleep(0)  # lets the main thread take the GIL back at once

    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)  # no forced switch during the test
    t = threading.Thread(target=counter)
    t.start()
    try:
        while count == 0:  # the counter runs
            time.sleep(0)
        # Control: pure Python holds the GIL, so the counter cannot move.
        before = count
        sum(range(3_000_000))
        held = count - before
        # Each call releases the GIL for as long as it verifies; the counter
        # only has to be scheduled once in any of them.
        released = 0
        for _ in range(10):
            before = count
            report = kvitto.verify_export(data, keys, chains=True)
            released += count - before
            if released:
                break
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old)
    print(f"counter: {held} while Python held the GIL, {released} during verify_export")
    assert report.valid == 27 * 400
    assert held == 0
    assert released > 0
