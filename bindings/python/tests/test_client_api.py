"""kvitto.client's surface without a server: Client and AsyncClient have
the same methods with the same parameters (the async ones coroutines), the
re-exports from kvitto, the exception hierarchy, argument checks, types,
that `import kvitto` needs no httpx and `import kvitto.client` says what to
install, and that the API key never shows."""

import dataclasses
import datetime
import inspect
import subprocess
import sys

import pytest

import kvitto
import kvitto.client
from kvitto.client import _types

RESOURCES = ["authorizations", "bundles", "confirmations", "escalations", "receipts"]
SYNC_ONLY = {"close", "__enter__", "__exit__"}
ASYNC_ONLY = {"aclose", "__aenter__", "__aexit__"}


def public(cls):
    return {n for n in dir(cls) if not n.startswith("_")} | {n for n in ("__enter__", "__exit__", "__aenter__", "__aexit__") if hasattr(cls, n)}


def test_sync_and_async_have_the_same_surface():
    s, a = kvitto.Client("http://127.0.0.1:1", "k"), kvitto.AsyncClient("http://127.0.0.1:1", "k")
    assert public(kvitto.Client) - SYNC_ONLY == public(kvitto.AsyncClient) - ASYNC_ONLY
    assert inspect.signature(kvitto.Client.__init__).parameters.keys() == inspect.signature(
        kvitto.AsyncClient.__init__).parameters.keys()
    pairs = [(kvitto.Client, kvitto.AsyncClient, ["check", "protect", "protected"])]
    pairs += [(type(getattr(s, r)), type(getattr(a, r)), None) for r in RESOURCES]
    checked = 0
    for sc, ac, names in pairs:
        names = names or sorted(n for n in vars(sc) if not n.startswith("_"))
        assert {n for n in vars(ac) if not n.startswith("_")} - ASYNC_ONLY == {
            n for n in vars(sc) if not n.startswith("_")} - SYNC_ONLY, sc
        for n in names:
            sm, am = getattr(sc, n), getattr(ac, n)
            ss, as_ = inspect.signature(sm), inspect.signature(am)
            assert [(p.name, p.kind, p.default) for p in ss.parameters.values()] == [
                (p.name, p.kind, p.default) for p in as_.parameters.values()], f"{sc.__name__}.{n}"
            if n != "protected":
                assert not inspect.iscoroutinefunction(sm) and inspect.iscoroutinefunction(am), n
                assert str(ss.return_annotation) == str(as_.return_annotation), n
            checked += 1
    assert checked >= 12
    s.close()


def test_reexports():
    names = set(kvitto.client.__all__)
    assert names == set(kvitto._CLIENT)
    for n in names:
        assert getattr(kvitto, n) is getattr(kvitto.client, n)
    assert names <= set(dir(kvitto)) and "Client" in dir(kvitto)
    with pytest.raises(AttributeError):
        kvitto.NoSuchThing  # noqa: B018
    for needed in ("Client", "AsyncClient", "ClientError", "DeniedError", "ConfirmationRequired",
                   "EscalationRequired", "KvittoError", "RateLimitedError", "ScopeEntry", "Permit",
                   "CheckResult", "ReceiptVerificationError"):
        assert needed in names


def test_exception_hierarchy():
    for cls in (kvitto.NotAllowedError, kvitto.DeniedError, kvitto.ConfirmationRequired, kvitto.EscalationRequired,
                kvitto.KvittoError, kvitto.RateLimitedError, kvitto.ReceiptPendingError,
                kvitto.ReceiptVerificationError):
        assert issubclass(cls, kvitto.ClientError), cls
    for cls in (kvitto.DeniedError, kvitto.ConfirmationRequired, kvitto.EscalationRequired):
        assert issubclass(cls, kvitto.NotAllowedError) and not issubclass(cls, kvitto.KvittoError)
    assert issubclass(kvitto.RateLimitedError, kvitto.KvittoError)
    assert issubclass(kvitto.ReceiptVerificationError, kvitto.VerificationError)
    assert issubclass(kvitto.ReceiptVerificationError, ValueError)
    assert not issubclass(kvitto.KvittoError, ValueError)
    e = kvitto.KvittoError("timeout", "no answer", attempts=3)
    assert e.retryable and "timeout" in str(e) and "3 attempts" in str(e) and e.status_code is None
    assert not kvitto.KvittoError("unauthorized", "x", status_code=401).retryable
    assert kvitto.KvittoError("internal", "x", status_code=500).retryable


def test_argument_checks():
    for bad in ("127.0.0.1:8080", "ftp://x", "http://x/?q=1", ""):
        with pytest.raises(ValueError):
            kvitto.Client(bad, "k")
    for kw in ({"timeout": 0}, {"timeout": -1}, {"max_retries": -1}, {"max_retries": 1.5}, {"retry_backoff": -1}):
        with pytest.raises(ValueError):
            kvitto.Client("http://127.0.0.1:1", "k", **kw)
    with pytest.raises(ValueError):
        kvitto.Client("http://127.0.0.1:1", " ")
    with pytest.raises(TypeError):
        kvitto.Client("http://127.0.0.1:1", "k", http_client=object())
    with kvitto.Client("http://127.0.0.1:1", "k", max_retries=0) as c:
        with pytest.raises(TypeError):
            c.authorizations.create(user_id="u", agent_id="a", scopes="mail:send")
        with pytest.raises(TypeError):
            c.protect("auth_x", ["a", "b"])
        with pytest.raises(ValueError):
            c.authorizations.create(user_id="u", agent_id="a", scopes=["a"],
                                    expires_at=datetime.datetime(2030, 1, 1))
        with pytest.raises(ValueError):
            c.receipts.export()
        with pytest.raises(ValueError):
            c.receipts.get("")


def test_the_api_key_never_shows():
    c = kvitto.Client("http://127.0.0.1:1", "kvitto_sk_secret", keys_pin="sha256:" + "0" * 64, max_retries=0)
    assert "secret" not in repr(c)
    with pytest.raises(kvitto.KvittoError) as e:
        c.check("auth_x", "a")
    assert "secret" not in str(e.value) and "secret" not in repr(e.value)
    c.close()
    assert "secret" not in repr(kvitto.AsyncClient("http://127.0.0.1:1", "kvitto_sk_secret"))


def test_types_are_frozen_dataclasses():
    for cls in (kvitto.Permit, kvitto.CheckResult, kvitto.ScopeResult, kvitto.ReceiptRef, kvitto.Budget,
                kvitto.Authorization, kvitto.Bundle, kvitto.ScopeEntry, kvitto.ScopeCounter,
                kvitto.CreatedAuthorization):
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls
    e = kvitto.ScopeEntry("mail:send", {"max_per_day": 5})
    assert e.to_json() == {"name": "mail:send", "constraints": {"max_per_day": 5}} and e.max_per_day == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.name = "x"


def test_instants():
    utc = datetime.timezone.utc
    assert _types.parse_instant("2026-11-22T01:15:00.123Z") == datetime.datetime(2026, 11, 22, 1, 15, 0, 123000, utc)
    assert _types.parse_instant("2026-11-22T02:15:00+01:00") == datetime.datetime(2026, 11, 22, 1, 15, tzinfo=utc)
    assert _types.parse_instant("2026-11-22T01:15:00.123456789Z").microsecond == 123456
    with pytest.raises(_types._BadResponse):
        _types.parse_instant("2026-11-22 01:15:00Z")
    cet = datetime.timezone(datetime.timedelta(hours=1))
    assert _types.format_instant(datetime.datetime(2026, 11, 22, 2, 15, tzinfo=cet), "x") == "2026-11-22T01:15:00.000Z"
    assert _types.format_instant(datetime.datetime(2026, 1, 1, 0, 0, 0, 5, utc), "x") == "2026-01-01T00:00:00.000005Z"
    assert _types.format_instant("2026-01-01T00:00:00Z", "x") == "2026-01-01T00:00:00Z"


def test_typed():
    import pathlib

    pkg = pathlib.Path(kvitto.__file__).parent
    assert (pkg / "py.typed").is_file()
    for fn in (kvitto.Client.protect, kvitto.AsyncClient.protect, kvitto.Client.check):
        hints = inspect.signature(fn)
        assert all(p.annotation is not inspect.Parameter.empty for n, p in hints.parameters.items() if n != "self")
        assert hints.return_annotation is not inspect.Signature.empty


HIDE_HTTPX = "import sys; sys.modules['httpx'] = None\n"


def test_import_kvitto_needs_no_httpx():
    code = HIDE_HTTPX + (
        "import kvitto\n"
        "keys = kvitto.KeySet.from_file('test-vectors/sample/keys.json')\n"
        "assert kvitto.verify_export('test-vectors/sample/export.jsonl', keys).ok\n"
        "try:\n"
        "    kvitto.Client\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    from conftest import ROOT

    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert 'pip install "kvitto[client]"' in out.stdout
    out = subprocess.run([sys.executable, "-c", HIDE_HTTPX + "import kvitto.client"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 1 and 'kvitto.client needs httpx' in out.stderr


TYPED_USE = '''
import asyncio
from typing import Dict, List, Optional
import kvitto

def sync(client: kvitto.Client) -> None:
    created: kvitto.CreatedAuthorization = client.authorizations.create(
        user_id="u", agent_id="a", scopes=["x", kvitto.ScopeEntry("y", {"max_per_day": 1})])
    permit: kvitto.Permit = client.protect(created.authorization_id, "x", verify=True)
    receipt: Optional[kvitto.VerifiedReceipt] = permit.receipt
    result: kvitto.CheckResult = client.check(created.authorization_id, ["x"])
    one: kvitto.ScopeResult = result.results["x"]
    view: kvitto.Authorization = client.authorizations.get(created.authorization_id)
    counters: Dict[str, kvitto.ScopeCounter] = view.counters
    bundles: List[kvitto.Bundle] = client.bundles.list()
    ref: kvitto.ReceiptRef = client.confirmations.approve("cn_x", approved=False)
    got: kvitto.VerifiedReceipt = client.receipts.get(permit.receipt_id, wait=True, timeout=5.0)
    report: kvitto.Report = client.receipts.export(created.authorization_id)
    with client.protected(created.authorization_id, "x") as p:
        same: kvitto.Permit = p
    try:
        client.protect("a", "x")
    except kvitto.ConfirmationRequired as e:
        nonce: str = e.nonce
    except kvitto.KvittoError as e:
        code: str = e.code
        status: Optional[int] = e.status_code

async def concurrent(client: kvitto.AsyncClient) -> None:
    created: kvitto.CreatedAuthorization = await client.authorizations.create(user_id="u", agent_id="a", scopes=["x"])
    permit: kvitto.Permit = await client.protect(created.authorization_id, "x", verify=True)
    result: kvitto.CheckResult = await client.check(created.authorization_id, "x")
    got: kvitto.VerifiedReceipt = await client.receipts.get(permit.receipt_id)
    report: kvitto.Report = await client.receipts.export(since="2026-01-01T00:00:00Z")
    async with client.protected(created.authorization_id, "x") as p:
        same: kvitto.Permit = p
'''


def test_types_check_strictly(tmp_path):
    """mypy --strict over kvitto.client, the examples, and code using both
    clients: the inline types hold together and both clients' return types
    are the same."""
    pytest.importorskip("mypy")
    from conftest import ROOT

    use = tmp_path / "typed_use.py"
    use.write_text(TYPED_USE)
    examples = ROOT / "bindings" / "python" / "examples"
    mypy = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache")]
    for what in (["-p", "kvitto.client"], [str(examples / "fastapi_app.py"), str(examples / "agent_tool.py"), str(use)]):
        out = subprocess.run(mypy + what, capture_output=True, text=True, check=False, cwd=tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
