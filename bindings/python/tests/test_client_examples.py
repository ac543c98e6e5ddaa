"""bindings/python/examples run against a real kvitto-server: the FastAPI
endpoint guarded by protect() (200 only on allow; 403 on a denial, a
confirmation or an escalation; 503 when kvitto-server cannot be asked or
its receipt does not verify — and the mail is never sent then), and the
agent tool wrapper that asks the user and checks again."""

import importlib.util
import os
import subprocess
import sys

import pytest

import kvitto
from conftest import ROOT
from clientkit import PATIENCE, Act, Proxy, closed_port

EXAMPLES = ROOT / "bindings" / "python" / "examples"
# Starlette's TestClient announces a successor of httpx; the client uses httpx itself.
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fastapi_app():
    pytest.importorskip("fastapi")
    return load("fastapi_app")


@pytest.fixture(scope="module")
def agent_tool():
    return load("agent_tool")


def authorization(kvserver, **members):
    with kvitto.Client(kvserver.base, kvserver.api_key, timeout=PATIENCE) as c:
        members.setdefault("user_id", "user-1")
        members.setdefault("agent_id", "mailer")
        return c.authorizations.create(**members).authorization_id


def post(app, auth, to="ops@example.com"):
    from fastapi.testclient import TestClient

    with TestClient(app) as tc:
        r = tc.post("/mail", json={"to": to, "subject": "weekly report"}, headers={"X-Authorization-Id": auth})
        return r.status_code, r.json(), r.headers


def test_fastapi_allow_deny_confirm(fastapi_app, kvserver):
    sent = []
    app = fastapi_app.create_app(kvserver.base, kvserver.api_key, keys_pin=kvserver.pin(), timeout=PATIENCE,
                                 send=sent.append)
    auth = authorization(kvserver, scopes=["mail:send", "mail:read"])
    status, body, _ = post(app, auth)
    assert status == 200 and body["sent"] and body["receipt_id"].startswith("rcpt_")
    assert body["receipt_hash"].startswith("sha256:") and len(sent) == 1

    status, body, _ = post(app, authorization(kvserver, scopes=["mail:read"]))
    assert status == 403 and body["error"]["reason"] == "scope_not_authorized" and body["error"]["receipt_id"]
    status, body, _ = post(app, "auth_00000000000000000000000000")
    assert status == 403 and body["error"]["reason"] == "authorization_not_found"
    confirm = authorization(kvserver, scopes=["mail:send"], requires_confirm_for=["mail:send"])
    status, body, _ = post(app, confirm)
    assert status == 403 and body["error"]["decision"] == "confirm" and body["error"]["confirm_nonce"]
    escalate = authorization(kvserver, scopes=["mail:send"], requires_escalation_for=["mail:send"],
                             escalation_targets={"mail:send": "ops"})
    status, body, _ = post(app, escalate)
    assert status == 403 and body["error"]["escalation_to"] == "ops"
    assert len(sent) == 1


def test_fastapi_503_when_kvitto_cannot_answer(fastapi_app, kvserver, sample):
    sent = []
    auth = authorization(kvserver, scopes=["mail:send"])
    down = fastapi_app.create_app(f"http://127.0.0.1:{closed_port()}", kvserver.api_key, send=sent.append)
    status, body, _ = post(down, auth)
    assert status == 503 and body["error"]["code"] == "network"
    pinned_elsewhere = kvitto.KeySet.from_file(str(sample / "keys.json")).sha256
    wrong_pin = fastapi_app.create_app(kvserver.base, kvserver.api_key, keys_pin=pinned_elsewhere, timeout=PATIENCE,
                                       send=sent.append)
    status, body, _ = post(wrong_pin, auth)
    assert status == 503 and body["error"]["code"] == "pin_mismatch"
    proxy = Proxy(kvserver.base, lambda s: Act("respond", 429, {"retry-after": "3"}, b""))
    try:
        limited = fastapi_app.create_app(proxy.base, kvserver.api_key, timeout=PATIENCE, send=sent.append)
        status, body, headers = post(limited, auth)
        assert status == 503 and body["error"]["code"] == "rate_limited" and headers["retry-after"] == "3"
    finally:
        proxy.close()
    assert sent == []


def test_agent_tool_asks_and_retries_after_approval(agent_tool, kvserver):
    auth = authorization(kvserver, scopes=["payments:transfer"], requires_confirm_for=["payments:transfer"])
    asked, runs = [], []
    with kvitto.Client(kvserver.base, kvserver.api_key, timeout=PATIENCE) as client:

        @agent_tool.confirmed_tool(client, auth, "payments:transfer", lambda p: asked.append(p) or True,
                                   resource=lambda iban, amount: f"iban:{iban}")
        def transfer(iban, amount):
            runs.append((iban, amount))
            return "ok"

        assert transfer("DE00", 5) == "ok"
        assert runs == [("DE00", 5)] and len(asked) == 1 and "payments:transfer" in asked[0]
        assert transfer("DE00", 6) == "ok" and len(asked) == 1  # the approval's ttl still runs
        view = client.authorizations.get(auth)
        assert view.counters["payments:transfer"].allowed_today == 2


def test_agent_tool_a_no_is_a_recorded_denial(agent_tool, kvserver):
    auth = authorization(kvserver, scopes=["payments:transfer"], requires_confirm_for=["payments:transfer"])
    runs = []
    with kvitto.Client(kvserver.base, kvserver.api_key, timeout=PATIENCE) as client:
        tool = agent_tool.confirmed_tool(client, auth, "payments:transfer", lambda p: False)(lambda: runs.append(1))
        with pytest.raises(kvitto.DeniedError) as e:
            tool()
        assert e.value.reason == "confirmation_denied" and e.value.receipt_id
        assert runs == []
        report = client.receipts.export(auth)
        assert report.ok and report.valid == 4  # created, confirm, the user's "no", the denial
        denial = client.receipts.get(e.value.receipt_id)
        assert (denial.payload["decision"], denial.payload["reason"]) == ("deny", "confirmation_denied")


@pytest.mark.parametrize("answer, expect", [("y", "transferred 120 to DE02100100109307118603"),
                                            ("n", "not transferred: confirmation_denied")])
def test_agent_tool_main(kvserver, answer, expect):
    env = dict(os.environ, KVITTO_URL=kvserver.base, KVITTO_API_KEY=kvserver.api_key)
    out = subprocess.run([sys.executable, str(EXAMPLES / "agent_tool.py")], input=answer + "\n", env=env,
                         capture_output=True, text=True, timeout=PATIENCE, check=False)
    assert out.returncode == 0, out.stderr
    assert expect in out.stdout and "chain ok: True" in out.stdout
