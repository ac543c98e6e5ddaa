"""protect() fails closed under faults: a small HTTP proxy on 127.0.0.1
(tests/clientkit.py) sits between the client and a real kvitto-server and
breaks things — the server down, connections reset, answers held past the
timeout, a 500, a 429 with Retry-After, malformed answers, a tampered or
substituted receipt, a key document that does not match the pin. Each
time protect() raises, every time it is asked, and the guarded action never
runs (counted). And a check whose answer is lost after the server committed
it is retried with the same Idempotency-Key and counted once.

Timeouts here are small only where the proxy never answers (it holds the
answer until the client gives up and closes the connection), so the slow
path does not depend on the machine's speed."""

import json

import pytest

import kvitto
from kvitto import ScopeEntry
from clientkit import Act, Proxy, Upstream, closed_port

TRIES = 3  # protect() is asked this many times for each fault


class Action:
    def __init__(self):
        self.runs = 0

    def __call__(self, *a, **kw):
        self.runs += 1


@pytest.fixture()
def proxy(kvserver):
    made = []

    def make(rule=None):
        p = Proxy(kvserver.base, rule)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def new_authorization(kvserver, **members):
    body = {"user_id": "user-1", "agent_id": "agent-7", "scopes": ["mail:send"], **members}
    status, text = kvserver.raw("POST", "/v1/authorizations", body)
    assert status == 201, text
    return json.loads(text)["authorization_id"]


def refused(side, client, auth, action, **kw):
    """protect() TRIES times, the action after each: every call raises;
    the errors are returned."""
    errors = []
    for _ in range(TRIES):
        with pytest.raises(kvitto.ClientError) as e:
            side(client.protect(auth, "mail:send", **kw))
            action()
        errors.append(e.value)
    assert action.runs == 0
    return errors


def only(path):
    return lambda seen: seen.path.startswith(path)


def test_server_down(side, kvserver):
    client = side.new(f"http://127.0.0.1:{closed_port()}", kvserver.api_key)
    action = Action()
    for err in refused(side, client, "auth_x", action):
        assert isinstance(err, kvitto.KvittoError) and not isinstance(err, kvitto.NotAllowedError)
        assert (err.code, err.status_code, err.attempts, err.retryable) == ("network", None, 3, True)
    once = side.new(f"http://127.0.0.1:{closed_port()}", kvserver.api_key, max_retries=0)
    with pytest.raises(kvitto.KvittoError) as e:
        side(once.protect("auth_x", "mail:send"))
    assert e.value.attempts == 1
    # The decorator and the context manager fail closed the same way.
    wrapped = side.guarded(client, action, "auth_x", "mail:send")
    with pytest.raises(kvitto.KvittoError):
        wrapped()
    with pytest.raises(kvitto.KvittoError):
        side.within(client, lambda permit: action(), "auth_x", "mail:send")
    assert action.runs == 0


def test_connection_reset(side, kvserver, proxy):
    auth = new_authorization(kvserver)
    p = proxy(lambda s: Act("reset") if s.path == "/v1/check" else Act())
    client = side.new(p.base, kvserver.api_key)
    action = Action()
    for err in refused(side, client, auth, action):
        assert err.code == "network" and err.attempts == 3
    checks = p.requests_to("/v1/check")
    assert len(checks) == TRIES * 3
    # One logical call, one key: every attempt of a call carries the same key and bytes.
    for i in range(TRIES):
        attempts = checks[3 * i : 3 * i + 3]
        assert len({a.headers["idempotency-key"] for a in attempts}) == 1
        assert len({a.body for a in attempts}) == 1
    assert len({a.headers["idempotency-key"] for a in checks}) == TRIES  # a new key per call


@pytest.mark.parametrize("how", ["hold", "hold_body"])
def test_slow_answers_past_the_timeout(side, kvserver, proxy, how):
    auth = new_authorization(kvserver)
    p = proxy(lambda s: Act(how) if s.path == "/v1/check" else Act())
    # Small, because the proxy never answers: it holds until the client gives up.
    client = side.new(p.base, kvserver.api_key, timeout=0.2)
    action = Action()
    for err in refused(side, client, auth, action):
        assert (err.code, err.status_code, err.attempts) == ("timeout", None, 3)
    p.wait_for(lambda p: p.gave_up == TRIES * 3)  # each attempt was abandoned by the client
    assert len({s.headers["idempotency-key"] for s in p.requests_to("/v1/check")}) == TRIES


def test_server_error_500(side, kvserver, proxy):
    auth = new_authorization(kvserver)
    body = json.dumps({"error": {"code": "internal", "message": "internal error (logged on the server)"}}).encode()
    p = proxy(lambda s: Act("respond", 500, {"content-type": "application/json"}, body) if s.path == "/v1/check" else Act())
    client = side.new(p.base, kvserver.api_key)
    action = Action()
    for err in refused(side, client, auth, action):
        assert (err.code, err.status_code, err.attempts, err.retryable) == ("internal", 500, 3, True)
    assert len(p.requests_to("/v1/check")) == TRIES * 3
    # A 5xx from something without kvitto's error body.
    bare = proxy(lambda s: Act("respond", 502, {"content-type": "text/html"}, b"<h1>Bad Gateway</h1>"))
    with pytest.raises(kvitto.KvittoError) as e:
        side(side.new(bare.base, kvserver.api_key, max_retries=0).protect(auth, "mail:send"))
    assert (e.value.code, e.value.status_code) == ("server_error", 502)


def test_a_500_then_an_answer_is_retried(side, kvserver, proxy):
    auth = new_authorization(kvserver, scopes=[{"name": "mail:send", "constraints": {"max_per_day": 5}}])
    p = proxy(lambda s: Act("respond", 503, {"retry-after": "0"}, b"") if s.n == 0 else Act())
    permit = side(side.new(p.base, kvserver.api_key).protect(auth, "mail:send"))
    assert permit.reason == "ok" and len(p.requests_to("/v1/check")) == 2
    assert kvserver.authorization(auth)["counters"]["mail:send"]["allowed_today"] == 1


def test_rate_limited_429(side, kvserver, proxy):
    auth = new_authorization(kvserver)
    p = proxy(lambda s: Act("respond", 429, {"retry-after": "7"}, b"slow down"))
    client = side.new(p.base, kvserver.api_key)
    action = Action()
    for err in refused(side, client, auth, action):
        assert isinstance(err, kvitto.RateLimitedError) and isinstance(err, kvitto.KvittoError)
        assert (err.code, err.status_code, err.retry_after, err.attempts) == ("rate_limited", 429, 7.0, 1)
    assert len(p.requests_to("/v1/check")) == TRIES  # a 429 is not retried
    dated = proxy(lambda s: Act("respond", 429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, b""))
    with pytest.raises(kvitto.RateLimitedError) as e:
        side(side.new(dated.base, kvserver.api_key).protect(auth, "mail:send"))
    assert e.value.retry_after == 0.0  # a date in the past: now


def answer(body, status=200):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return lambda s: Act("respond", status, {"content-type": "application/json"}, raw) if s.path == "/v1/check" else Act()


@pytest.mark.parametrize(
    "body, code",
    [
        (b"<html>not json</html>", "invalid_response"),
        ({"results": {}}, "invalid_response"),
        ({"results": {"mail:send": {"decision": "allow", "reason": "ok", "receipt": None}}}, "invalid_response"),
        ({"results": {"mail:send": {"decision": "allow", "reason": "ok"}}}, "invalid_response"),
        ({"results": {"mail:send": {"decision": "allow", "reason": "nope", "receipt": None,
                                    "confirm_nonce": None, "confirm_prompt_hint": None, "escalation_id": None,
                                    "escalation_to": None, "budget": None}}}, "invalid_response"),
        ({"results": {"mail:send": {"decision": "maybe", "reason": "ok", "receipt": None, "confirm_nonce": None,
                                    "confirm_prompt_hint": None, "escalation_id": None, "escalation_to": None,
                                    "budget": None}}}, None),
    ],
)
def test_malformed_answers_never_allow(side, kvserver, proxy, body, code):
    p = proxy(answer(body))
    client = side.new(p.base, kvserver.api_key)
    action = Action()
    for err in refused(side, client, "auth_x", action):
        if code is None:  # an unknown decision is not allow
            assert type(err) is kvitto.NotAllowedError and err.decision == "maybe"
        else:
            assert err.code == code and err.attempts == 1


def tamper(seen, up):
    if seen.method == "GET" and seen.path.startswith("/v1/receipts/rcpt_") and up.status == 200:
        return Upstream(up.status, up.headers, up.body.replace(b"mailto:ops@example.com", b"mailto:eve@example.com"))
    return up


def test_tampered_receipt(side, kvserver, proxy):
    auth = new_authorization(kvserver)
    p = proxy(lambda s: Act(edit=tamper))
    client = side.new(p.base, kvserver.api_key, keys_pin=kvserver.pin())
    action = Action()
    for err in refused(side, client, auth, action, resource="mailto:ops@example.com", verify=True):
        assert isinstance(err, kvitto.ReceiptVerificationError)
        assert isinstance(err, kvitto.VerificationError) and isinstance(err, ValueError)
        assert err.code == "signature_invalid" and err.receipt_id.startswith("rcpt_")
    # receipts.get raises too, never returns it.
    ok = side(side.client.protect(auth, "mail:send", resource="mailto:ops@example.com"))
    with pytest.raises(kvitto.VerificationError) as e:
        side(client.receipts.get(ok.receipt_id))
    assert e.value.code == "signature_invalid"
    # And an export through the same proxy is reported, not trusted.
    exported = proxy(lambda s: Act(edit=lambda s, up: Upstream(up.status, up.headers, up.body.replace(
        b"mailto:ops@example.com", b"mailto:eve@example.com", 1))))
    report = side(side.new(exported.base, kvserver.api_key, keys_pin=kvserver.pin()).receipts.export(auth))
    assert not report.ok and [r.code for r in report.failures()] == ["signature_invalid"]
    assert report.chains[0].code == "chain_invalid_receipt"


def test_substituted_receipt(side, kvserver, proxy):
    """A genuine, verifying receipt — but not the one of this allow."""
    auth = new_authorization(kvserver)
    created = kvserver.authorization(auth)  # noqa: F841 (the chain exists)
    status, page = kvserver.raw("GET", f"/v1/receipts?authorization_id={auth}")
    first = json.dumps(json.loads(page)["receipts"][0], separators=(",", ":")).encode()

    def swap(seen, up):
        if seen.path.startswith("/v1/receipts/rcpt_") and up.status in (200, 202):
            return Upstream(200, {"content-type": "application/json"}, first)
        return up

    p = proxy(lambda s: Act(edit=swap))
    client = side.new(p.base, kvserver.api_key, keys_pin=kvserver.pin())
    action = Action()
    for err in refused(side, client, auth, action, verify=True):
        assert isinstance(err, kvitto.ReceiptVerificationError) and err.code == "receipt_mismatch"


def test_key_document_not_matching_the_pin(side, kvserver, proxy, sample):
    auth = new_authorization(kvserver)
    action = Action()
    other_pin = kvitto.KeySet.from_file(str(sample / "keys.json")).sha256
    wrong = side.new(kvserver.base, kvserver.api_key, keys_pin=other_pin)
    for err in refused(side, wrong, auth, action, verify=True):
        assert isinstance(err, kvitto.ReceiptVerificationError) and err.code == "pin_mismatch"
    # The right pin, and a proxy serving another key document in its place.
    doc = (sample / "keys.json").read_bytes()
    p = proxy(lambda s: Act("respond", 200, {"content-type": "application/json"}, doc) if "/keys" in s.path else Act())
    swapped = side.new(p.base, kvserver.api_key, keys_pin=kvserver.pin())
    for err in refused(side, swapped, auth, action, verify=True):
        assert err.code == "pin_mismatch"
    # Unpinned, the substitute is read but the receipt is not of its workspace.
    unpinned = side.new(p.base, kvserver.api_key)
    for err in refused(side, unpinned, auth, action, verify=True):
        assert err.code == "workspace_mismatch"


def test_receipt_never_signed(side, kvserver, proxy):
    auth = new_authorization(kvserver)
    pending = json.dumps({"status": "pending", "receipt_id": "rcpt_x", "ready_at_estimate": "2026-01-01T00:00:00.000Z"})

    def rule(seen):
        if seen.path.startswith("/v1/receipts/rcpt_"):
            return Act("respond", 202, {"content-type": "application/json"}, pending.encode())
        return Act()

    p = proxy(rule)
    client = side.new(p.base, kvserver.api_key)
    action = Action()
    # Never signed, so the short wait always runs out.
    for err in refused(side, client, auth, action, verify=True, receipt_timeout=0.05):
        assert isinstance(err, kvitto.ReceiptPendingError) and err.code == "receipt_pending"
    ok = side(side.client.protect(auth, "mail:send"))
    with pytest.raises(kvitto.ReceiptPendingError) as e:
        side(client.receipts.get(ok.receipt_id, wait=False))
    assert e.value.receipt_id == ok.receipt_id and e.value.attempts == 1


def test_lost_answer_is_retried_and_counted_once(side, kvserver, proxy):
    auth = new_authorization(
        kvserver, scopes=[{"name": "mail:send", "constraints": {"max_per_day": 5}}], budget_limit_micros=10_000
    )
    # The first check reaches the server, which commits it; its answer is dropped.
    p = proxy(lambda s: Act("forward_drop") if s.n == 0 else Act())
    client = side.new(p.base, kvserver.api_key, keys_pin=kvserver.pin())
    permit = side(client.protect(auth, "mail:send", estimated_cost_micros=1200, verify=True))
    first, second = p.requests_to("/v1/check")
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == permit.idempotency_key
    assert first.body == second.body
    lost = json.loads(p.answers[0].body)["results"]["mail:send"]
    assert permit.receipt_id == lost["receipt"]["receipt_id"] and permit.replayed  # the first answer, replayed
    view = kvserver.authorization(auth)
    assert view["counters"]["mail:send"]["allowed_today"] == 1
    assert view["budget_spent_micros"] == 1200
    assert view["receipts"] == 2  # authorization.created + one check
    assert permit.verified and permit.receipt.seq == 1


def test_lost_answer_of_a_confirmation_and_a_revocation(side, kvserver, proxy):
    auth = new_authorization(kvserver, scopes=["mail:send"], requires_confirm_for=["mail:send"])
    drop_posts = {"n": 0}

    def rule(seen):
        if seen.method == "POST" and seen.path != "/v1/check":
            drop_posts["n"] += 1
            if drop_posts["n"] % 2 == 1:  # the first attempt of each resolution
                return Act("forward_drop")
        return Act()

    p = proxy(rule)
    client = side.new(p.base, kvserver.api_key)
    with pytest.raises(kvitto.ConfirmationRequired) as c:
        side(client.protect(auth, "mail:send"))
    side(client.confirmations.approve(c.value.nonce))  # retried; no already_resolved
    assert side(client.protect(auth, "mail:send")).reason == "ok"
    side(client.authorizations.revoke(auth, revoked_by="alice"))  # retried; no authorization_revoked
    assert kvserver.authorization(auth)["receipts"] == 5


def test_export_not_ready_is_retried(side, kvserver, proxy):
    auth = new_authorization(kvserver)
    body = json.dumps({"error": {"code": "export_not_ready", "message": "1 receipts are not signed yet"}}).encode()
    p = proxy(lambda s: Act("respond", 503, {"retry-after": "0"}, body) if s.path.startswith("/v1/receipts/export")
              and len(p.requests_to("/v1/receipts/export")) == 1 else Act())
    report = side(side.new(p.base, kvserver.api_key).receipts.export(auth))
    assert report.ok and len(p.requests_to("/v1/receipts/export")) == 2


def test_receipt_of_another_check_of_the_same_scope(side, kvserver, proxy):
    """A replayed allow: the check's answer names a genuine, verifying
    receipt of an earlier allow of the same authorization and scope, but of
    another request (another resource). It is not this decision's receipt."""
    auth = new_authorization(kvserver)
    with kvitto.Client(kvserver.base, kvserver.api_key, timeout=300) as c:
        earlier = c.protect(auth, "mail:send", resource="mailto:someone@example.com")

    def replay(seen, up):
        if seen.path == "/v1/check" and up.status == 200:
            body = json.loads(up.body)
            body["results"]["mail:send"]["receipt"]["receipt_id"] = earlier.receipt_id
            return Upstream(200, up.headers, json.dumps(body).encode())
        return up

    p = proxy(lambda s: Act(edit=replay))
    client = side.new(p.base, kvserver.api_key)
    action = Action()
    for err in refused(side, client, auth, action, resource="mailto:ops@example.com", verify=True):
        assert err.code == "receipt_mismatch" and err.receipt_id == earlier.receipt_id
        assert "resource is 'mailto:someone@example.com'" in str(err)
