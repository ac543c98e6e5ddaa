"""The round trip: kvitto-server (on a free loopback port) issues receipts
through several decisions; its export verifies here with exactly the
verdicts, codes and chain results of `kvitto verify --chains`; its key
document loads with fetch_keys over loopback http."""

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

import kvitto
from conftest import cli_json

PATIENCE = 300  # seconds; only a real hang gets near it


class Server:
    def __init__(self, bin_, data):
        init = subprocess.run(
            [str(bin_), "init", "--data", str(data), "--format", "json"], capture_output=True, check=False
        )
        assert init.returncode == 0, init.stderr.decode()
        self.creds = json.loads(init.stdout)
        env = dict(os.environ, KVITTO_LOG="warn")
        self.proc = subprocess.Popen(
            [str(bin_), "serve", "--data", str(data), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        line = self.proc.stdout.readline().decode().strip()
        assert line.startswith("listening on http://127.0.0.1:"), (line, self.proc.stderr.read().decode())
        self.base = line.removeprefix("listening on ")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def request(self, method, path, body=None, auth=True):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", "Bearer " + self.creds["api_key"])
        try:
            with urllib.request.urlopen(req, timeout=PATIENCE) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def post(self, path, body):
        status, text = self.request("POST", path, body)
        assert status in (200, 201), (path, status, text)
        return json.loads(text)

    def export(self, query):
        deadline = time.monotonic() + PATIENCE
        while True:
            status, text = self.request("GET", "/v1/receipts/export?" + query)
            if status == 200:
                return text
            assert status == 503 and time.monotonic() < deadline, (status, text)
            time.sleep(0.2)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(PATIENCE)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture()
def server(server_bin, tmp_path):
    s = Server(server_bin, tmp_path / "data")
    yield s
    s.close()


def decide(server, auth, scopes, cost=None):
    r = server.post("/v1/check", {"authorization_id": auth, "scopes": scopes, "estimated_cost_micros": cost})
    return r["results"]


def test_round_trip(server, kvitto_bin, tmp_path):
    user = kvitto.identifiers.from_email("Alice@Example.com", "test pepper")
    a = server.post(
        "/v1/authorizations",
        {
            "user_id": user,
            "agent_id": "agent-7",
            "scopes": ["mail:read", {"name": "mail:send", "constraints": {"max_per_day": 1}},
                       "payments:transfer", "records:delete"],
            "requires_confirm_for": ["payments:transfer"],
            "requires_escalation_for": ["records:delete"],
            "escalation_targets": {"records:delete": "ops-oncall"},
            "budget_limit_micros": 1000,
            "expires_at": None,
            "metadata": {"ticket": "T-1"},
        },
    )["authorization_id"]
    decisions = []
    r = decide(server, a, ["mail:read"], 100)
    decisions.append(r["mail:read"]["decision"])
    r = decide(server, a, ["wire:send"])
    decisions.append(r["wire:send"]["reason"])
    decide(server, a, ["mail:send"])
    r = decide(server, a, ["mail:send"])
    decisions.append(r["mail:send"]["reason"])
    r = decide(server, a, ["mail:read"], 5000)
    decisions.append(r["mail:read"]["reason"])
    c = decide(server, a, ["payments:transfer"])["payments:transfer"]
    decisions.append(c["decision"])
    server.post(f"/v1/confirmations/{c['confirm_nonce']}", {"approved": True, "ttl_seconds": 600})
    decisions.append(decide(server, a, ["payments:transfer"], 50)["payments:transfer"]["decision"])
    e = decide(server, a, ["records:delete"])["records:delete"]
    decisions.append(e["decision"])
    server.post(f"/v1/escalations/{e['escalation_id']}/resolve", {"approved": False, "resolved_by": "ops-oncall"})
    server.post(f"/v1/authorizations/{a}/revoke", {"revoked_by": "alice"})
    decisions.append(decide(server, a, ["mail:read"])["mail:read"]["reason"])
    assert decisions == [
        "allow", "scope_not_authorized", "rate_limit_exceeded", "budget_exceeded",
        "confirm", "allow", "escalate", "authorization_revoked",
    ]
    b = server.post("/v1/authorizations", {"user_id": "user_2", "agent_id": "agent-8", "scopes": ["mail:read"]})[
        "authorization_id"
    ]
    decide(server, b, ["mail:read"])

    export = tmp_path / "export.jsonl"
    export.write_bytes(server.export("since=1970-01-01T00:00:00Z"))
    ws = server.creds["workspace_id"]
    status, doc = server.request("GET", f"/v1/workspaces/{ws}/keys", auth=False)
    assert status == 200
    keys_path = tmp_path / "keys.json"
    keys_path.write_bytes(doc)

    keys = kvitto.KeySet.from_file(str(keys_path))
    report = kvitto.verify_export(str(export), keys)
    code, lines = cli_json(kvitto_bin, "--keys", str(keys_path), "--chains", str(export))
    want = {
        "receipts": [l for l in lines if l["type"] == "receipt"],
        "chains": [l for l in lines if l["type"] == "chain"],
        "summary": lines[-1],
    }
    assert report.to_dict() == want
    assert code == 0 and report.ok and report.valid >= 10
    chains = {c.authorization_id: c for c in report.chains}
    assert chains[a].closed and chains[a].ok
    assert chains[b].ok and not chains[b].closed
    kinds = [kvitto.verify_receipt(line, keys).kind for line in export.read_bytes().splitlines()]
    assert {"authorization.created", "check", "confirmation.resolved", "escalation.resolved",
            "authorization.revoked"} <= set(kinds)
    first = kvitto.verify_receipt(export.read_bytes().splitlines()[0], keys)
    assert first.payload["user_id"] == user

    # The key document over loopback http, through kvitto-keys.
    url = f"{server.base}/v1/workspaces/{ws}/keys"
    with pytest.raises(kvitto.VerificationError) as err:
        kvitto.fetch_keys(url, cache_dir=tmp_path / "cache-py")
    assert err.value.code == "keys_fetch_failed"
    fetched = kvitto.fetch_keys(url, keys.sha256, allow_insecure_localhost=True, cache_dir=tmp_path / "cache-py")
    assert fetched.sha256 == keys.sha256 and fetched.document == doc and fetched.pinned
    unpinned = kvitto.fetch_keys(url, allow_insecure_localhost=True, cache_ttl=0, cache_dir=tmp_path / "cache-py")
    by_url = kvitto.verify_export(str(export), unpinned).to_dict()
    env = dict(os.environ, KVITTO_CACHE_DIR=str(tmp_path / "cache-cli"))
    out = subprocess.run(
        [str(kvitto_bin), "verify", "--format", "json", "--keys", url, "--allow-insecure-localhost", "--chains", str(export)],
        capture_output=True, env=env, check=False,
    )
    cli_lines = [json.loads(l) for l in out.stdout.decode().splitlines()]
    assert out.returncode == 0
    assert by_url == {
        "receipts": [l for l in cli_lines if l["type"] == "receipt"],
        "chains": [l for l in cli_lines if l["type"] == "chain"],
        "summary": cli_lines[-1],
    }
