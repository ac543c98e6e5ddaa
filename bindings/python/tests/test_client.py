"""kvitto.Client and kvitto.AsyncClient against a real kvitto-server on
127.0.0.1: every test runs twice (the `side` fixture), once per client,
with the same body, the same return types and the same exceptions.

Every decision path of protect() — allow, each deny reason, confirm,
escalate —, the confirmation and escalation flows, budget and daily limit,
revocation, expiry, bundles, idempotency keys, verify=True end to end,
exports verified, key rotation (a re-fetch on an unknown kid only when not
pinned), and the decorator and context-manager forms."""

import datetime
import json
import time

import pytest

import kvitto
from kvitto import ScopeEntry
from clientkit import Proxy

USER = kvitto.identifiers.from_email("alice@example.com", "test pepper")


def grant(side, client=None, **members):
    """A fresh authorization (created through the client under test)."""
    client = client or side.client
    members.setdefault("user_id", USER)
    members.setdefault("agent_id", "agent-7")
    members.setdefault("scopes", ["mail:read"])
    created = side(client.authorizations.create(**members))
    assert isinstance(created, kvitto.CreatedAuthorization)
    assert created.authorization_id.startswith("auth_") and created.receipt.receipt_id.startswith("rcpt_")
    return created.authorization_id


class Action:
    """The guarded action: counts its runs."""

    def __init__(self):
        self.runs = 0

    def __call__(self, *args, **kwargs):
        self.runs += 1
        return "done"


def test_allow_returns_a_permit(side):
    auth = grant(side, scopes=["mail:read", "mail:send"])
    permit = side(side.client.protect(auth, "mail:send", resource="mailto:ops@example.com", context={"n": 1}))
    assert isinstance(permit, kvitto.Permit)
    assert (permit.authorization_id, permit.scope, permit.reason) == (auth, "mail:send", "ok")
    assert permit.receipt_id.startswith("rcpt_") and permit.budget is None
    assert permit.receipt is None and permit.receipt_hash is None and not permit.verified
    assert permit.decided_at.tzinfo is not None and not permit.replayed
    assert permit.idempotency_key.startswith("kvitto-py-")
    with pytest.raises(Exception):
        permit.scope = "other"  # frozen

    result = side(side.client.check(auth, ["mail:send", "mail:read", "wire:send"]))
    assert isinstance(result, kvitto.CheckResult)
    assert list(result.results) == ["mail:send", "mail:read", "wire:send"]
    assert [r.decision for r in result.results.values()] == ["allow", "allow", "deny"]
    assert result["wire:send"].reason == "scope_not_authorized" and not result.allowed
    assert result.results["mail:read"].allowed and isinstance(result.results["mail:read"], kvitto.ScopeResult)
    assert result.results["mail:read"].receipt.status == "pending"
    assert side(side.client.check(auth, "mail:read")).allowed  # one scope as a str


def test_verify_true_end_to_end(side, kvserver):
    pin = kvserver.pin()
    client = side.new(kvserver.base, kvserver.api_key, keys_pin=pin)
    created = side(client.authorizations.create(user_id=USER, agent_id="agent-7", scopes=["mail:send"]))
    auth = created.authorization_id
    permit = side(client.protect(auth, "mail:send", resource="mailto:ops@example.com", context={"subject": "hi"},
                                 verify=True))
    r = permit.receipt
    assert permit.verified and isinstance(r, kvitto.VerifiedReceipt)
    assert r.kind == "check" and r.receipt_id == permit.receipt_id and r.authorization_id == auth
    assert r.payload["scope"] == "mail:send" and r.payload["decision"] == "allow"
    assert r.payload["resource"] == "mailto:ops@example.com" and r.payload["context"] == {"subject": "hi"}
    assert permit.receipt_hash == r.receipt_hash and r.keys_sha256 == pin
    assert permit.decided_at == r.issued_at
    assert client.workspace_id == kvserver.workspace_id

    first = side(client.receipts.get(created.receipt.receipt_id))
    assert first.kind == "authorization.created" and first.seq == 0 and first.payload["user_id"] == USER
    assert r.seq == 1 and r.prev == first.receipt_hash  # chained
    again = side(client.receipts.get(permit.receipt_id, wait=False))  # signed by now
    assert again.receipt_hash == r.receipt_hash


def test_every_deny_reason_raises_denied(side):
    action = Action()
    client = side.client

    def attempt(auth, scope, **kw):
        with pytest.raises(kvitto.DeniedError) as e:
            side(client.protect(auth, scope, **kw))
        err = e.value
        assert isinstance(err, kvitto.NotAllowedError) and isinstance(err, kvitto.ClientError)
        assert not isinstance(err, kvitto.KvittoError)  # a decision, not a transport error
        assert err.decision == "deny" and err.scope == scope and err.authorization_id == auth
        return err

    err = attempt("auth_00000000000000000000000000", "mail:read")
    assert err.reason == "authorization_not_found" and err.receipt_id is None

    auth = grant(side, scopes=["mail:read"])
    err = attempt(auth, "wire:send")
    assert err.reason == "scope_not_authorized" and err.receipt_id.startswith("rcpt_")
    assert err.result.receipt.receipt_id == err.receipt_id
    assert action.runs == 0


def test_daily_limit(side, kvserver):
    auth = grant(side, scopes=[ScopeEntry("mail:send", constraints={"max_per_day": 2}), "mail:read"])
    action = Action()
    for _ in range(2):
        side(side.client.protect(auth, "mail:send"))
        action()
    with pytest.raises(kvitto.DeniedError) as e:
        side(side.client.protect(auth, "mail:send"))
        action()
    assert e.value.reason == "rate_limit_exceeded" and e.value.receipt_id is not None
    assert action.runs == 2
    view = side(side.client.authorizations.get(auth))
    assert view.counters["mail:send"] == kvitto.ScopeCounter(allowed_today=2, max_per_day=2)
    assert view.counters["mail:send"].max_per_day == 2
    assert [s.max_per_day for s in view.scopes] == [2, None]


def test_budget(side):
    auth = grant(side, scopes=["payments:transfer"], budget_limit_micros=1000)
    p = side(side.client.protect(auth, "payments:transfer", estimated_cost_micros=600))
    assert p.budget == kvitto.Budget(limit_micros=1000, spent_before_micros=0, spent_after_micros=600)
    assert p.budget.remaining_micros == 400
    with pytest.raises(kvitto.DeniedError) as e:
        side(side.client.protect(auth, "payments:transfer", estimated_cost_micros=600))
    assert e.value.reason == "budget_exceeded" and e.value.result.budget.spent_before_micros == 600
    p = side(side.client.protect(auth, "payments:transfer", estimated_cost_micros=400))  # exactly to the limit
    assert p.budget.spent_after_micros == 1000
    view = side(side.client.authorizations.get(auth))
    assert view.budget_spent_micros == 1000 and view.budget_limit_micros == 1000


def test_confirmation_flow(side):
    auth = grant(side, scopes=["payments:transfer"], requires_confirm_for=["payments:transfer"])
    client = side.client
    with pytest.raises(kvitto.ConfirmationRequired) as e:
        side(client.protect(auth, "payments:transfer", resource="iban:DE00"))
    c = e.value
    assert c.decision == "confirm" and c.reason == "confirmation_required"
    assert c.nonce.startswith("cn_") and "payments:transfer" in c.prompt_hint and c.receipt_id
    ref = side(client.confirmations.approve(c.nonce, approved=True, ttl_seconds=600))
    assert isinstance(ref, kvitto.ReceiptRef) and ref.receipt_id.startswith("rcpt_")
    assert side(client.protect(auth, "payments:transfer")).reason == "ok"
    assert side(client.protect(auth, "payments:transfer")).reason == "ok"  # within the ttl
    with pytest.raises(kvitto.KvittoError) as again:
        side(client.confirmations.approve(c.nonce))
    assert (again.value.code, again.value.status_code) == ("already_resolved", 409)

    # A rejection: the next check is denied once, the one after asks again.
    auth = grant(side, scopes=["payments:transfer"], requires_confirm_for=["payments:transfer"])
    with pytest.raises(kvitto.ConfirmationRequired) as e:
        side(client.protect(auth, "payments:transfer"))
    side(client.confirmations.approve(e.value.nonce, approved=False))
    with pytest.raises(kvitto.DeniedError) as d:
        side(client.protect(auth, "payments:transfer"))
    assert d.value.reason == "confirmation_denied"
    with pytest.raises(kvitto.ConfirmationRequired):
        side(client.protect(auth, "payments:transfer"))
    with pytest.raises(kvitto.KvittoError) as nf:
        side(client.confirmations.approve("cn_" + "0" * 32))
    assert (nf.value.code, nf.value.status_code) == ("confirmation_not_found", 404)


def test_escalation_flow(side):
    auth = grant(
        side,
        scopes=["records:delete"],
        requires_escalation_for=["records:delete"],
        escalation_targets={"records:delete": "ops-oncall"},
    )
    client = side.client
    with pytest.raises(kvitto.EscalationRequired) as e:
        side(client.protect(auth, "records:delete"))
    esc = e.value
    assert esc.escalation_id.startswith("esc_") and esc.escalation_to == "ops-oncall"
    assert esc.reason == "escalation_required" and esc.receipt_id
    side(client.escalations.resolve(esc.escalation_id, approved=True, resolved_by="bob"))
    assert side(client.protect(auth, "records:delete")).reason == "ok"  # one approval, one allow
    with pytest.raises(kvitto.EscalationRequired) as e:
        side(client.protect(auth, "records:delete"))
    side(client.escalations.resolve(e.value.escalation_id, approved=False, resolved_by="bob"))
    with pytest.raises(kvitto.DeniedError) as d:
        side(client.protect(auth, "records:delete"))
    assert d.value.reason == "escalation_denied"
    with pytest.raises(kvitto.KvittoError) as again:
        side(client.escalations.resolve(e.value.escalation_id, resolved_by="bob"))
    assert again.value.code == "already_resolved"


def test_revocation(side):
    auth = grant(side, scopes=["mail:read", "payments:transfer"], requires_confirm_for=["payments:transfer"])
    client = side.client
    with pytest.raises(kvitto.ConfirmationRequired) as pending:
        side(client.protect(auth, "payments:transfer"))
    ref = side(client.authorizations.revoke(auth, revoked_by="alice"))
    assert isinstance(ref, kvitto.ReceiptRef)
    with pytest.raises(kvitto.DeniedError) as e:
        side(client.protect(auth, "mail:read"))
    assert e.value.reason == "authorization_revoked" and e.value.receipt_id is None
    view = side(client.authorizations.get(auth))
    assert view.status == "revoked" and view.revoked_by == "alice" and view.revoked_at is not None
    with pytest.raises(kvitto.KvittoError) as again:
        side(client.authorizations.revoke(auth, revoked_by="alice"))
    assert (again.value.code, again.value.status_code) == ("authorization_revoked", 409)
    with pytest.raises(kvitto.KvittoError) as late:
        side(client.confirmations.approve(pending.value.nonce))
    assert late.value.code == "authorization_revoked"


def test_expiry(side):
    # Nothing is asserted before expires_at: a slow machine only waits longer.
    for lead in (1.0, 5.0, 30.0):
        at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=lead)
        try:
            auth = grant(side, scopes=["mail:read"], expires_at=at)
            break
        except kvitto.KvittoError as e:  # already past when it arrived
            assert e.code == "invalid_member"
    view = side(side.client.authorizations.get(auth))
    assert datetime.timedelta(0) <= view.expires_at - at < datetime.timedelta(milliseconds=1)  # ms, rounded up
    while datetime.datetime.now(datetime.timezone.utc) <= view.expires_at + datetime.timedelta(milliseconds=5):
        time.sleep(0.05)
    with pytest.raises(kvitto.DeniedError) as e:
        side(side.client.protect(auth, "mail:read"))
    assert e.value.reason == "authorization_expired" and e.value.receipt_id is not None
    assert side(side.client.authorizations.get(auth)).status == "expired"


def test_authorization_view(side, kvserver):
    auth = grant(
        side,
        scopes=["mail:read", ScopeEntry("mail:send", {"max_per_day": 3})],
        requires_confirm_for=["mail:send"],
        budget_limit_micros=5,
        metadata={"ticket": "T-1"},
    )
    view = side(side.client.authorizations.get(auth))
    assert isinstance(view, kvitto.Authorization)
    assert view.authorization_id == auth and view.workspace_id == kvserver.workspace_id
    assert view.status == "active" and view.user_id == USER and view.agent_id == "agent-7"
    assert view.scopes == [ScopeEntry("mail:read"), ScopeEntry("mail:send", {"max_per_day": 3})]
    assert view.requires_confirm_for == ["mail:send"] and view.requires_escalation_for == []
    assert view.metadata == {"ticket": "T-1"} and view.budget_spent_micros == 0 and view.expires_at is None
    assert view.receipts == 1 and view.head_hash.startswith("sha256:") and view.created_at.tzinfo is not None
    with pytest.raises(kvitto.KvittoError) as e:
        side(side.client.authorizations.get("auth_00000000000000000000000000"))
    assert (e.value.code, e.value.status_code) == ("authorization_not_found", 404)


def test_bundles(side):
    name = f"support-{side.kind}-{time.time_ns()}"
    b = side(side.client.bundles.create(
        bundle_id=name, agent_id="support-agent", scopes=["tickets:read", ScopeEntry("tickets:close", {"max_per_day": 1})],
        requires_confirm_for=["tickets:close"], budget_limit_micros=10))
    assert isinstance(b, kvitto.Bundle) and b.bundle_id == name and b.scopes[1].max_per_day == 1
    assert name in [x.bundle_id for x in side(side.client.bundles.list())]
    with pytest.raises(kvitto.KvittoError) as e:
        side(side.client.bundles.create(bundle_id=name, agent_id="x", scopes=["a"]))
    assert (e.value.code, e.value.status_code) == ("bundle_exists", 409)
    auth = grant(side, agent_id=None, scopes=None, bundle_id=name)
    view = side(side.client.authorizations.get(auth))
    assert view.bundle_id == name and view.agent_id == "support-agent" and view.budget_limit_micros == 10
    assert side(side.client.protect(auth, "tickets:read")).reason == "ok"
    with pytest.raises(kvitto.ConfirmationRequired):
        side(side.client.protect(auth, "tickets:close"))


def test_server_errors_are_kvitto_errors(side, kvserver):
    bad = side.new(kvserver.base, "kvitto_sk_wrong")
    with pytest.raises(kvitto.KvittoError) as e:
        side(bad.protect("auth_x", "mail:read"))
    err = e.value
    assert (err.code, err.status_code, err.attempts, err.retryable) == ("unauthorized", 401, 1, False)
    assert "kvitto_sk_wrong" not in str(err) and "kvitto_sk_wrong" not in repr(bad)
    with pytest.raises(kvitto.KvittoError) as e:
        side(side.client.authorizations.create(user_id="alice@example.com", agent_id="a", scopes=["x"]))
    assert (e.value.code, e.value.status_code) == ("invalid_member", 400) and "pii-id" in e.value.message
    with pytest.raises(kvitto.KvittoError) as e:
        side(side.client.receipts.get("rcpt_00000000000000000000000000"))
    assert (e.value.code, e.value.status_code) == ("receipt_not_found", 404)
    with pytest.raises(kvitto.KvittoError) as e:
        side(side.client.check("auth_x", ["bad scope"]))
    assert e.value.code == "invalid_member"


def test_idempotency_keys(side, kvserver):
    auth = grant(side, scopes=[ScopeEntry("mail:send", {"max_per_day": 5})])
    key = f"job-42-step-3-{side.kind}-{time.time_ns()}"
    first = side(side.client.protect(auth, "mail:send", idempotency_key=key))
    again = side(side.client.protect(auth, "mail:send", idempotency_key=key))
    assert again.receipt_id == first.receipt_id and again.replayed and not first.replayed
    assert again.idempotency_key == key
    assert kvserver.authorization(auth)["counters"]["mail:send"]["allowed_today"] == 1
    with pytest.raises(kvitto.KvittoError) as e:  # the same key for another request
        side(side.client.protect(auth, "mail:send", resource="other", idempotency_key=key))
    assert (e.value.code, e.value.status_code) == ("idempotency_key_reused", 422)
    with pytest.raises(ValueError):
        side(side.client.protect(auth, "mail:send", idempotency_key="has space"))


def test_export_verified(side, kvserver, tmp_path):
    client = side.new(kvserver.base, kvserver.api_key, keys_pin=kvserver.pin())
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    auth = grant(side, client, scopes=["mail:read", "payments:transfer"], requires_confirm_for=["payments:transfer"])
    side(client.protect(auth, "mail:read"))
    with pytest.raises(kvitto.ConfirmationRequired) as c:
        side(client.protect(auth, "payments:transfer"))
    side(client.confirmations.approve(c.value.nonce))
    side(client.protect(auth, "payments:transfer"))
    with pytest.raises(kvitto.DeniedError):
        side(client.protect(auth, "wire:send"))
    side(client.authorizations.revoke(auth, revoked_by="alice"))

    report = side(client.receipts.export(auth))
    assert isinstance(report, kvitto.Report)
    assert report.ok and report.valid == 7 and report.invalid == 0
    (chain,) = report.chains
    assert chain.authorization_id == auth and chain.ok and chain.closed and chain.head_seq == 6

    path = tmp_path / "export.jsonl"
    report = side(client.receipts.export(auth, path=path))
    assert report.ok and report.valid == 7 and len(path.read_bytes().splitlines()) == 7
    assert not (tmp_path / "export.jsonl.part").exists()
    assert kvitto.verify_export(str(path), kvitto.KeySet.from_json(kvserver.key_document())).ok

    report = side(client.receipts.export(since=start))
    assert report.ok and auth in [c.authorization_id for c in report.chains]
    text = start.strftime("%Y-%m-%dT%H:%M:%SZ")  # RFC 3339 text goes to the server as it is
    report = side(client.receipts.export(since=text, until=start + datetime.timedelta(days=1)))
    assert report.ok
    with pytest.raises(ValueError):
        side(client.receipts.export(auth, since=start))
    with pytest.raises(ValueError):
        side(client.receipts.export(until=start))
    with pytest.raises(ValueError):
        side(client.receipts.export(since=datetime.datetime(2026, 1, 1)))  # naive


def test_decorator_and_context_manager(side):
    auth = grant(side, scopes=["mail:send"])
    action = Action()
    send = side.guarded(side.client, action, lambda to, **kw: kw.get("auth", auth), "mail:send",
                        resource=lambda to, **kw: f"mailto:{to}", permit_arg="permit")
    seen = []
    action_with_permit = lambda to, permit=None, **kw: (seen.append(permit), action())[1]  # noqa: E731
    send = side.guarded(side.client, action_with_permit, lambda to, **kw: kw.get("auth", auth), "mail:send",
                        resource=lambda to, **kw: f"mailto:{to}", permit_arg="permit")
    assert send("ops@example.com") == "done"
    assert action.runs == 1 and isinstance(seen[0], kvitto.Permit) and seen[0].scope == "mail:send"
    with pytest.raises(kvitto.DeniedError):
        send("ops@example.com", auth="auth_00000000000000000000000000")
    assert action.runs == 1

    out = side.within(side.client, lambda permit: (action(), permit.receipt_id)[1], auth, "mail:send")
    assert out.startswith("rcpt_") and action.runs == 2
    with pytest.raises(kvitto.DeniedError):
        side.within(side.client, lambda permit: action(), auth, "wire:send")
    assert action.runs == 2
    with pytest.raises(TypeError):  # a callable needs the decorator form
        side.within(side.client, lambda permit: action(), lambda: auth, "mail:send")
    with pytest.raises(TypeError):  # the wrong kind of function for this client
        if side.is_async:
            side.client.protected(auth, "mail:send")(lambda: None)
        else:
            async def coro():
                return None
            side.client.protected(auth, "mail:send")(coro)


def test_key_rotation_refetches_only_when_not_pinned(side, kvserver):
    ws = kvserver.workspace()  # rotation must not disturb the other tests' pins
    proxy = Proxy(kvserver.base)
    try:
        unpinned = side.new(proxy.base, ws["api_key"])
        pinned = side.new(proxy.base, ws["api_key"], keys_pin=kvserver.pin(ws["workspace_id"]))
        auth = grant(side, unpinned, scopes=["mail:read"])
        for c in (unpinned, pinned):
            assert side(c.protect(auth, "mail:read", verify=True)).verified
        keys_path = f"/v1/workspaces/{ws['workspace_id']}/keys"
        assert len(proxy.requests_to(keys_path)) == 2  # one fetch each, then the cache
        side(unpinned.protect(auth, "mail:read", verify=True))
        assert len(proxy.requests_to(keys_path)) == 2

        status, body = kvserver.raw("POST", keys_path + "/rotate", api_key=ws["api_key"])
        assert status == 200, body
        new_kid = json.loads(body)["kid"]
        p = side(unpinned.protect(auth, "mail:read", verify=True))
        assert p.receipt.kid == new_kid and len(proxy.requests_to(keys_path)) == 3  # one re-fetch
        action = Action()
        for _ in range(2):
            with pytest.raises(kvitto.ReceiptVerificationError) as e:
                side(pinned.protect(auth, "mail:read", verify=True))
                action()
            assert e.value.code == "unknown_kid"
        assert action.runs == 0 and len(proxy.requests_to(keys_path)) == 3  # a pin never re-fetches
    finally:
        proxy.close()


def test_concurrent_protects_keep_the_limit_exact(side):
    """12 protect() calls at once through one client (4 threads for
    Client, asyncio.gather for AsyncClient) against a limit of 5 a day:
    exactly 5 permits."""
    import asyncio
    import concurrent.futures

    auth = grant(side, scopes=[ScopeEntry("mail:send", {"max_per_day": 5})])

    def outcome(call):
        try:
            return side(call()) and "allow"
        except kvitto.DeniedError as e:
            return e.reason

    if side.is_async:
        async def one():
            try:
                await side.client.protect(auth, "mail:send")
                return "allow"
            except kvitto.DeniedError as e:
                return e.reason

        async def all_at_once():
            return await asyncio.gather(*(one() for _ in range(12)))

        outcomes = side(all_at_once())
    else:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            outcomes = list(pool.map(lambda _: outcome(lambda: side.client.protect(auth, "mail:send")), range(12)))
    assert sorted(outcomes) == ["allow"] * 5 + ["rate_limit_exceeded"] * 7
    assert side(side.client.authorizations.get(auth)).counters["mail:send"].allowed_today == 5
