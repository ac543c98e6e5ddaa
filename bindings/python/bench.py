"""Benchmark: kvitto.verify_export beside `kvitto verify` on the same
export, in one run, and beside a pure-Python verifier (json + rfc8785 +
PyNaCl) on a sample of it.

    python bindings/python/bench.py                  # 200,000 lines
    python bindings/python/bench.py --lines 1000000 --repeat 3

Run it with the interpreter where kvitto is installed (pip install
./bindings/python: a release build). It builds the release CLI and xtask
(cargo build --release), generates the export once with `cargo xtask
gen-export` into target/bench/ (the same file scripts/bench-export.sh
uses), then measures each verifier in its own child process (wall time and
peak RSS from wait4), best of --repeat, with and without chains.
"""

import argparse
import base64
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))

CHILD = r"""
import json, sys, time, kvitto
path, keys, chains = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
k = kvitto.KeySet.from_file(keys)
t = time.perf_counter()
r = kvitto.verify_export(path, k, chains=chains)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "valid": r.valid, "invalid": r.invalid, "chains": len(r.chains),
                  "native_bytes": r._native_bytes}))
"""


LOAD = [0.0]


def child(argv):
    """Run argv; (wall seconds, peak RSS MiB, stdout)."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode not in (0, 1):
        sys.exit(f"{argv[0]} failed ({p.returncode}): {err.decode()}")
    child.cpu = usage.ru_utime + usage.ru_stime
    return wall, usage.ru_maxrss / 1024, out


def pure_python(lines, doc):
    """The verifier users write today with json + rfc8785 + PyNaCl: the
    common members and their types, ids, prev, the key's workspace, kid,
    status and window, the signature and the receipt hash. (It still gets
    the strict profile wrong: duplicates, big numbers, lone surrogates.)"""
    import datetime
    import re

    import nacl.signing
    import rfc8785

    ident = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")
    prev_re = re.compile(r"sha256:[0-9a-f]{64}\Z")

    def instant(s):
        return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))

    keys = {}
    for k in doc["keys"]:
        if k.get("kty") == "OKP" and k.get("crv") == "Ed25519":
            keys[k["kid"]] = (
                nacl.signing.VerifyKey(base64.urlsafe_b64decode(k["x"] + "=")),
                k["status"],
                instant(k["not_before"]),
                instant(k["not_after"]) if k.get("not_after") else None,
            )
    valid = 0
    t = time.perf_counter()
    c = time.process_time()
    for line in lines:
        r = json.loads(line)
        if set(r) != {"payload", "sig"}:
            raise ValueError("bad_structure")
        p = r["payload"]
        if p.get("v") != 1:
            raise ValueError("unsupported_version")
        for name in ("receipt_id", "workspace_id", "authorization_id", "kid"):
            if not isinstance(p.get(name), str) or not ident.match(p[name]):
                raise ValueError("bad_structure: " + name)
        seq, prev = p["seq"], p["prev"]
        if not isinstance(seq, int) or seq < 0 or (seq == 0) != (prev is None):
            raise ValueError("bad_structure: seq")
        if prev is not None and not prev_re.match(prev):
            raise ValueError("bad_structure: prev")
        issued_at = instant(p["issued_at"])
        if p["workspace_id"] != doc["workspace_id"]:
            raise ValueError("workspace_mismatch")
        key, status, not_before, not_after = keys[p["kid"]]
        canonical = rfc8785.dumps(p)
        sig = base64.urlsafe_b64decode(r["sig"] + "==")
        key.verify(b"kvitto/receipt/v1\n" + canonical, sig)
        if status == "revoked" or issued_at < not_before or (not_after and issued_at >= not_after):
            raise ValueError("key_revoked or key_not_valid_at")
        "sha256:" + hashlib.sha256(canonical).hexdigest()
        valid += 1
    pure_python.cpu = time.process_time() - c
    return time.perf_counter() - t, valid


def pure_python_strict(lines, doc):
    """A pure-Python verifier (json + rfc8785 + PyNaCl) that gives kvitto's
    verdicts: the strict profile of section 2 (duplicate members after
    unescaping, lone surrogates, number tokens and magnitudes, depth, size,
    BOM) and every member of section 5 by kind, then the key, signature,
    status and window. What doing it right costs in Python."""
    import calendar
    import re

    import nacl.signing
    import rfc8785

    limit = 2**53 - 1
    ident = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")
    prev_re = re.compile(r"sha256:[0-9a-f]{64}\Z")
    instant_re = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z\Z", re.ASCII)

    def instant(s):
        m = instant_re.match(s) if isinstance(s, str) else None
        if not m:
            raise ValueError("bad_structure: instant")
        y, mo, d, h, mi, se = (int(g) for g in m.groups()[:6])
        if not (1970 <= y <= 9999 and 1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1]
                and h < 24 and mi < 60 and se < 60):
            raise ValueError("bad_structure: instant")
        frac = (m.group(7) or "").ljust(9, "0")
        return (calendar.timegm((y, mo, d, h, mi, se)), int(frac))

    def pairs(items):
        out = {}
        for k, v in items:
            if k in out:
                raise ValueError("duplicate_key")
            out[k] = v
        return out

    def number(tok):
        if len(tok) > 128:
            raise ValueError("number_out_of_range")
        v = float(tok)
        if abs(v) > limit:
            raise ValueError("number_out_of_range")
        return int(v) if v.is_integer() else v

    def constant(tok):
        raise ValueError("malformed_json")

    def walk(v, depth):
        if isinstance(v, str):
            if any("\ud800" <= c <= "\udfff" for c in v):
                raise ValueError("invalid_string")
        elif isinstance(v, dict):
            if depth > 64:
                raise ValueError("too_deep")
            for k, x in v.items():
                walk(k, depth)
                walk(x, depth + 1)
        elif isinstance(v, list):
            if depth > 64:
                raise ValueError("too_deep")
            for x in v:
                walk(x, depth + 1)

    def typed(p, name, kind):
        if name not in p:
            raise ValueError("bad_structure: missing " + name)
        v = p[name]
        ok = {
            "str": isinstance(v, str),
            "bool": isinstance(v, bool),
            "obj": isinstance(v, dict),
            "arr": isinstance(v, list),
            "count": isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        }[kind]
        if not ok:
            raise ValueError("bad_structure: " + name)
        return v

    def nullable(p, name, kind):
        if name not in p:
            raise ValueError("bad_structure: missing " + name)
        return None if p[name] is None else typed(p, name, kind)

    keys = {}
    for k in doc["keys"]:
        if k.get("kty") == "OKP" and k.get("crv") == "Ed25519":
            keys[k["kid"]] = (
                nacl.signing.VerifyKey(base64.urlsafe_b64decode(k["x"] + "=")),
                k["status"],
                instant(k["not_before"]),
                instant(k["not_after"]) if k.get("not_after") else None,
            )
    valid = 0
    t = time.perf_counter()
    c = time.process_time()
    for line in lines:
        if len(line) > 1 << 20:
            raise ValueError("too_large")
        if line.startswith(b"\xef\xbb\xbf"):
            raise ValueError("malformed_json")
        r = json.loads(line, object_pairs_hook=pairs, parse_float=number, parse_int=number,
                       parse_constant=constant)
        walk(r, 1)
        if not isinstance(r, dict) or not isinstance(r.get("payload"), dict):
            raise ValueError("bad_structure")
        p = r["payload"]
        if isinstance(p.get("v"), int) and p["v"] != 1:
            raise ValueError("unsupported_version")
        if set(r) != {"payload", "sig"} or not isinstance(r["sig"], str) or p.get("v") != 1:
            raise ValueError("bad_structure")
        kind = typed(p, "kind", "str")
        for name in ("receipt_id", "workspace_id", "authorization_id", "kid"):
            if not ident.match(typed(p, name, "str")):
                raise ValueError("bad_structure: " + name)
        seq = typed(p, "seq", "count")
        prev = nullable(p, "prev", "str")
        if (seq == 0) != (prev is None) or (prev is not None and not prev_re.match(prev)):
            raise ValueError("bad_structure: prev")
        issued_at = instant(typed(p, "issued_at", "str"))
        if (seq == 0) != (kind == "authorization.created"):
            raise ValueError("bad_structure: seq")
        if kind == "authorization.created":
            typed(p, "user_id", "str")
            typed(p, "agent_id", "str")
            for scope in typed(p, "scopes", "arr"):
                if not isinstance(scope, dict):
                    raise ValueError("bad_structure: scopes")
                typed(scope, "name", "str")
                typed(scope, "constraints", "obj")
            for name in ("requires_confirm_for", "requires_escalation_for"):
                if not all(isinstance(x, str) for x in typed(p, name, "arr")):
                    raise ValueError("bad_structure: " + name)
            if not all(isinstance(x, str) for x in typed(p, "escalation_targets", "obj").values()):
                raise ValueError("bad_structure: escalation_targets")
            if nullable(p, "expires_at", "str") is not None:
                instant(p["expires_at"])
            nullable(p, "budget_limit_micros", "count")
            typed(p, "metadata", "obj")
        elif kind == "check":
            typed(p, "scope", "str")
            decision = typed(p, "decision", "str")
            if decision not in ("allow", "deny", "confirm", "escalate"):
                raise ValueError("bad_structure: decision")
            if (decision == "allow") != (typed(p, "reason", "str") == "ok"):
                raise ValueError("bad_structure: reason")
            for name in ("resource", "session_id", "confirm_nonce", "escalation_id", "escalation_to"):
                nullable(p, name, "str")
            typed(p, "context", "obj")
            nullable(p, "estimated_cost_micros", "count")
            budget = nullable(p, "budget", "obj")
            if budget is not None:
                for name in ("limit_micros", "spent_before_micros", "spent_after_micros"):
                    typed(budget, name, "count")
        elif kind == "confirmation.resolved":
            typed(p, "scope", "str"), typed(p, "confirm_nonce", "str")
            typed(p, "approved", "bool"), typed(p, "ttl_seconds", "count")
        elif kind == "escalation.resolved":
            typed(p, "scope", "str"), typed(p, "escalation_id", "str")
            typed(p, "approved", "bool"), typed(p, "resolved_by", "str")
        elif kind == "authorization.revoked":
            typed(p, "revoked_by", "str")
        else:
            raise ValueError("bad_structure: kind")
        if p["workspace_id"] != doc["workspace_id"]:
            raise ValueError("workspace_mismatch")
        if p["kid"] not in keys:
            raise ValueError("unknown_kid")
        key, status, not_before, not_after = keys[p["kid"]]
        sig = r["sig"]
        if len(sig) != 86 or not re.fullmatch(r"[A-Za-z0-9_-]+", sig):
            raise ValueError("bad_signature_encoding")
        raw = base64.urlsafe_b64decode(sig + "==")
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != sig:
            raise ValueError("bad_signature_encoding")
        canonical = rfc8785.dumps(p)
        key.verify(b"kvitto/receipt/v1\n" + canonical, raw)
        if status == "revoked":
            raise ValueError("key_revoked")
        if issued_at < not_before or (not_after and issued_at >= not_after):
            raise ValueError("key_not_valid_at")
        "sha256:" + hashlib.sha256(canonical).hexdigest()
        valid += 1
    pure_python_strict.cpu = time.process_time() - c
    return time.perf_counter() - t, valid


def pure_parts(lines, doc):
    """Where the pure-Python verifier's time goes: seconds per receipt of
    json.loads, rfc8785.dumps and PyNaCl's (libsodium's) verify alone."""
    import nacl.signing
    import rfc8785

    k = next(k for k in doc["keys"] if k.get("crv") == "Ed25519")
    key = nacl.signing.VerifyKey(base64.urlsafe_b64decode(k["x"] + "="))
    t = time.perf_counter()
    parsed = [json.loads(line) for line in lines]
    t_json = time.perf_counter() - t
    t = time.perf_counter()
    canon = [rfc8785.dumps(r["payload"]) for r in parsed]
    t_jcs = time.perf_counter() - t
    sigs = [base64.urlsafe_b64decode(r["sig"] + "==") for r in parsed]
    t = time.perf_counter()
    for c, s in zip(canon, sigs):
        key.verify(b"kvitto/receipt/v1\n" + c, s)
    t_sig = time.perf_counter() - t
    n = len(lines)
    return t_json / n, t_jcs / n, t_sig / n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--sample", type=int, default=5_000, help="lines for the pure-Python verifier")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs each")
    args = ap.parse_args()

    import kvitto  # noqa: F401  (fail early when it is not installed)

    LOAD[0] = os.getloadavg()[0]

    print("== building the release CLI and xtask ==", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "kvitto-cli", "-p", "xtask"], cwd=ROOT, check=True)
    bench = TARGET / "bench"
    bench.mkdir(parents=True, exist_ok=True)
    export = bench / f"export-{args.lines}.jsonl"
    keys = bench / f"export-{args.lines}.keys.json"
    if not export.is_file() or not keys.is_file():
        print(f"== generating {args.lines} lines into {export} ==", file=sys.stderr)
        tmp = export.with_suffix(".tmp")
        subprocess.run([str(TARGET / "release" / "xtask"), "gen-export", "--lines", str(args.lines),
                        "--out", str(tmp), "--keys-out", str(keys)], check=True)
        tmp.rename(export)
    size = export.stat().st_size
    n = args.lines
    cli = [str(TARGET / "release" / "kvitto"), "verify", "--keys", str(keys), "--format", "json", "--quiet"]
    rows = {}
    for chains in (False, True):
        best = {}
        for _ in range(args.repeat):
            # Alternate the two, so that a busy moment hits both alike.
            wall, rss, out = child([sys.executable, "-c", CHILD, str(export), str(keys), "1" if chains else "0"])
            res = json.loads(out)
            assert res["valid"] == n and res["invalid"] == 0, res
            rate = n / res["seconds"]
            if rate > best.get("py", (0,))[0]:
                best["py"] = (rate, res["seconds"], rss, res["native_bytes"], child.cpu)
            wall, rss, out = child(cli + (["--chains"] if chains else []) + [str(export)])
            summary = json.loads(out.decode().splitlines()[-1])
            assert summary["valid"] == n, summary
            rate = n / wall
            if rate > best.get("cli", (0,))[0]:
                best["cli"] = (rate, wall, rss, child.cpu)
        rows[chains] = best

    lines = export.read_bytes().splitlines()[: args.sample]
    doc = json.loads(keys.read_bytes())
    secs, valid = pure_python(lines, doc)
    assert valid == len(lines)
    pure = len(lines) / secs
    strict_secs, valid = pure_python_strict(lines, doc)
    assert valid == len(lines)
    strict = len(lines) / strict_secs

    print(f"export: {n} receipts, {size} bytes ({export}), {os.cpu_count()} cores, best of {args.repeat}")
    print(f"load average before: {LOAD[0]:.2f}, after: {os.getloadavg()[0]:.2f}")
    print(f"{'run':44} {'receipts/s':>11} {'seconds':>8} {'CPU s':>7} {'peak RSS':>10}")
    for chains in (False, True):
        py, cl = rows[chains]["py"], rows[chains]["cli"]
        tag = " --chains" if chains else ""
        name = f"kvitto.verify_export(chains={chains})"
        print(f"{name:44} {py[0]:11,.0f} {py[1]:8.2f} {py[4]:7.1f} {py[2]:6.1f} MiB  (results held: {py[3] / 2**20:.1f} MiB)")
        print(f"{'kvitto verify --format json --quiet' + tag:44} {cl[0]:11,.0f} {cl[1]:8.2f} {cl[3]:7.1f} {cl[2]:6.1f} MiB")
    print(f"{'pure Python (json + rfc8785 + PyNaCl)':44} {pure:11,.0f} {secs:8.2f} {pure_python.cpu:7.1f}   ({len(lines)} lines, one thread, in this process)")
    print(f"{'pure Python, strict (the same verdicts)':44} {strict:11,.0f} {strict_secs:8.2f} {pure_python_strict.cpu:7.1f}   ({len(lines)} lines, one thread, in this process)")
    per_cpu_pure = len(lines) / pure_python.cpu
    pj, pc, ps = pure_parts(lines, doc)
    print(f"  of which, per receipt: json.loads {pj * 1e6:.0f} us, rfc8785.dumps {pc * 1e6:.0f} us, "
          f"PyNaCl verify {ps * 1e6:.0f} us")
    for chains in (False, True):
        py, cl = rows[chains]["py"], rows[chains]["cli"]
        print(f"chains={chains!s:5}: Python / CLI = {py[0] / cl[0]:.2f} (goal >= 0.85; CPU time CLI / Python = {cl[3] / py[4]:.2f}); "
              f"Python / pure Python = {py[0] / pure:.1f}, / strict pure Python = {py[0] / strict:.1f} (goal >= 10; per CPU-second {n / py[4] / per_cpu_pure:.1f}); "
              f"peak RSS {py[2]:.1f} MiB (goal < 100)")


if __name__ == "__main__":
    main()
