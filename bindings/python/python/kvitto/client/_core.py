"""The client's logic, once, for both the sync and the async client.

Every operation is a generator that yields *effects* — ``Send`` (one HTTP
attempt), ``Sleep`` and ``Blocking`` (a CPU-bound call such as
``verify_export``) — and receives their results; ``Client`` runs it with
httpx.Client and ``time.sleep``, ``AsyncClient`` with httpx.AsyncClient and
anyio. So retries, idempotency keys, error mapping, key caching and the
fail-closed decision of ``protect()`` are one implementation, and the two
clients cannot drift apart.

No verification happens here: receipts, exports and key documents go to the
Rust core (``kvitto.verify_receipt``, ``verify_export``,
``KeySet.from_json``). This module only routes them and checks that a
verified receipt is the one that was asked for."""

from __future__ import annotations

import datetime
import email.utils
import json
import os
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generator, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union
from urllib.parse import quote, urlsplit

from kvitto import _kvitto
from kvitto._kvitto import KeySet, Report, VerificationError, VerifiedReceipt
from kvitto.client._errors import (
    ConfirmationRequired,
    DeniedError,
    EscalationRequired,
    KvittoError,
    NotAllowedError,
    RateLimitedError,
    ReceiptPendingError,
    ReceiptVerificationError,
)
from kvitto.client._types import (
    Authorization,
    Bundle,
    CheckResult,
    CreatedAuthorization,
    Permit,
    ReceiptRef,
    Scope,
    _BadResponse,
    format_instant,
    parse_instant,
    scope_json,
)

Instant = Union[str, datetime.datetime]

#: Longest pause between two attempts, whatever Retry-After says.
MAX_BACKOFF = 30.0
#: How long a key document is used without asking again, unless the
#: server's Cache-Control says less.
KEYS_TTL = 300.0
USER_AGENT = f"kvitto-python/{_kvitto.__version__}"


# --- effects ----------------------------------------------------------------


@dataclass
class Send:
    """One HTTP attempt. ``body`` is serialized once per logical call, so
    every retry carries the same bytes and the same Idempotency-Key."""

    method: str
    path: str
    body: Optional[bytes] = None
    params: Optional[Dict[str, str]] = None
    idempotency_key: Optional[str] = None
    auth: bool = True
    timeout: Optional[float] = None
    stream_to: Optional[str] = None
    headers: Dict[str, str] = field(default_factory=dict)


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    content: bytes


@dataclass
class Sleep:
    seconds: float


@dataclass
class Blocking:
    """A CPU-bound call: run inline by Client, in a worker thread by
    AsyncClient (so the event loop keeps running)."""

    fn: Callable[..., Any]
    args: Tuple[Any, ...]


T = TypeVar("T")
Effect = Union[Send, Sleep, Blocking]
#: An operation: yields effects, receives their results, returns a T.
Op = Generator[Effect, Any, T]


# --- helpers ----------------------------------------------------------------


def new_idempotency_key() -> str:
    return "kvitto-py-" + uuid.uuid4().hex


def check_idempotency_key(key: Optional[str]) -> str:
    if key is None:
        return new_idempotency_key()
    if not isinstance(key, str) or not 1 <= len(key) <= 255 or not all("!" <= c <= "~" for c in key):
        raise ValueError("idempotency_key must be 1 to 255 visible ASCII characters")
    return key


def dumps(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def seg(value: str, what: str) -> str:
    """A path segment (ids are never empty; everything is percent-encoded)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    return quote(value, safe="")


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Retry-After in seconds: delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max((when - datetime.datetime.now(datetime.timezone.utc)).total_seconds(), 0.0)


def error_from(resp: Response, attempts: int = 1) -> KvittoError:
    """An error answer as a KvittoError: the server's code and message when
    the body is kvitto's ``{"error": {"code", "message"}}``."""
    code = message = None
    try:
        body = json.loads(resp.content)
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict) and isinstance(err.get("code"), str):
            code = err["code"]
            message = err.get("message") if isinstance(err.get("message"), str) else None
    except (ValueError, UnicodeDecodeError):
        pass
    status = resp.status
    retry_after = parse_retry_after(resp.headers.get("retry-after"))
    if code is None:
        code = "rate_limited" if status == 429 else "server_error" if status >= 500 else "http_error"
    if message is None:
        message = f"unexpected answer HTTP {status}"
    cls = RateLimitedError if status == 429 else KvittoError
    return cls(code, message, status_code=status, retry_after=retry_after, attempts=attempts)


def invalid_response(resp: Response, why: str) -> KvittoError:
    return KvittoError("invalid_response", f"the server's answer is not what the API documents: {why}", status_code=resp.status)


def json_of(resp: Response) -> Any:
    try:
        return json.loads(resp.content)
    except (ValueError, UnicodeDecodeError) as e:
        raise invalid_response(resp, f"not JSON ({e})") from None


def parsed(resp: Response, parse: Callable[[Any], T]) -> T:
    body = json_of(resp)
    try:
        return parse(body)
    except _BadResponse as e:
        raise invalid_response(resp, str(e)) from None


def _cache_ttl(headers: Mapping[str, str]) -> float:
    m = re.search(r"max-age=(\d+)", headers.get("cache-control") or "")
    if m is None:
        return KEYS_TTL
    return min(float(m.group(1)), KEYS_TTL)


def _peek(receipt: bytes, member: str) -> Optional[str]:
    """Read ``payload.<member>`` of a receipt *before* verifying it, only to
    pick the key document to verify it with (the core then checks it)."""
    try:
        v = json.loads(receipt)["payload"][member]
    except (ValueError, UnicodeDecodeError, KeyError, TypeError, IndexError):
        return None
    return v if isinstance(v, str) else None


def _first_line(path_or_bytes: Union[str, bytes]) -> bytes:
    if isinstance(path_or_bytes, bytes):
        return path_or_bytes.split(b"\n", 1)[0]
    with open(path_or_bytes, "rb") as f:
        return f.readline()


def _rve(e: VerificationError, receipt_id: Optional[str]) -> ReceiptVerificationError:
    return ReceiptVerificationError(getattr(e, "code", "invalid"), str(e), receipt_id=receipt_id)


# --- the shared core ---------------------------------------------------------


class Core:
    """State and operations shared by Client and AsyncClient."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        keys_pin: Optional[str],
        timeout: float,
        max_retries: int,
        workspace_id: Optional[str],
        retry_backoff: float,
    ) -> None:
        if not isinstance(base_url, str):
            raise TypeError("base_url must be a str such as 'https://kvitto.example.com'")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"base_url must be an http(s) URL without query or fragment, not {base_url!r}")
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key must be a non-empty str (kvitto-server init prints it)")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError("timeout must be a number of seconds > 0")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError("max_retries must be an int >= 0")
        if not isinstance(retry_backoff, (int, float)) or retry_backoff < 0:
            raise ValueError("retry_backoff must be a number of seconds >= 0")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key.strip()
        self.keys_pin = keys_pin
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.retry_backoff = float(retry_backoff)
        # The workspace whose receipts this client verifies: given, or learned
        # from the first receipt that verified (an API key sees one workspace).
        self.workspace_id = workspace_id
        self._keys: Dict[str, Tuple[KeySet, float]] = {}

    def __repr__(self) -> str:  # never the API key
        pin = f", keys_pin={self.keys_pin!r}" if self.keys_pin else ""
        return f"{type(self).__name__}({self.base_url!r}{pin})"

    def headers(self, req: Send) -> Dict[str, str]:
        h = {"User-Agent": USER_AGENT, "Accept": "application/json", **req.headers}
        if req.auth:
            h["Authorization"] = "Bearer " + self._api_key
        if req.body is not None:
            h["Content-Type"] = "application/json"
        if req.idempotency_key is not None:
            h["Idempotency-Key"] = req.idempotency_key
        return h

    # --- one logical call: attempts, backoff, error mapping -----------------

    def backoff(self, attempt: int, retry_after: Optional[float]) -> float:
        base: float = self.retry_backoff * (2.0**attempt) * (0.5 + random.random() / 2)
        return min(max(base, retry_after or 0.0), MAX_BACKOFF)

    def call(self, req: Send) -> Op[Response]:
        """Send ``req`` until it gets an answer below 500, retrying network
        errors, timeouts and 5xx up to ``max_retries`` times with backoff
        (and Retry-After), with the same body and Idempotency-Key. Returns
        the Response; raises KvittoError when the attempts run out."""
        attempt = 0
        while True:
            out = yield req
            if isinstance(out, Response) and out.status < 500:
                return out
            err = error_from(out, attempt + 1) if isinstance(out, Response) else out
            err.attempts = attempt + 1
            if attempt >= self.max_retries:
                raise err
            yield Sleep(self.backoff(attempt, err.retry_after))
            attempt += 1

    def expect(self, req: Send, *ok: int) -> Op[Response]:
        resp = yield from self.call(req)
        if resp.status not in ok:
            raise error_from(resp)
        return resp

    def post(self, path: str, body: Mapping[str, Any], key: Optional[str], *ok: int) -> Op[Tuple[Response, str]]:
        used = check_idempotency_key(key)
        resp = yield from self.expect(Send("POST", path, body=dumps(body), idempotency_key=used), *(ok or (200,)))
        return resp, used

    # --- resources ----------------------------------------------------------

    def create_authorization(self, key: Optional[str], **members: Any) -> Op[CreatedAuthorization]:
        resp, _ = yield from self.post("/v1/authorizations", _grant_body(members), key, 200, 201)
        return parsed(resp, CreatedAuthorization._parse)

    def get_authorization(self, authorization_id: str) -> Op[Authorization]:
        resp = yield from self.expect(Send("GET", "/v1/authorizations/" + seg(authorization_id, "authorization_id")), 200)
        return parsed(resp, Authorization._parse)

    def revoke(self, authorization_id: str, revoked_by: str, key: Optional[str]) -> Op[ReceiptRef]:
        path = f"/v1/authorizations/{seg(authorization_id, 'authorization_id')}/revoke"
        resp, _ = yield from self.post(path, {"revoked_by": revoked_by}, key)
        return parsed(resp, lambda o: ReceiptRef._parse(o["receipt"]) if isinstance(o, dict) and "receipt" in o else _missing("receipt"))

    def create_bundle(self, key: Optional[str], **members: Any) -> Op[Bundle]:
        resp, _ = yield from self.post("/v1/bundles", _grant_body(members), key, 200, 201)
        return parsed(resp, Bundle._parse)

    def list_bundles(self) -> Op[List[Bundle]]:
        resp = yield from self.expect(Send("GET", "/v1/bundles"), 200)

        def parse(o: Any) -> List[Bundle]:
            if not isinstance(o, dict) or not isinstance(o.get("bundles"), list):
                raise _BadResponse("missing member 'bundles'")
            return [Bundle._parse(b) for b in o["bundles"]]

        return parsed(resp, parse)

    def check(
        self,
        authorization_id: str,
        scopes: Union[str, Sequence[str]],
        resource: Optional[str],
        session_id: Optional[str],
        context: Optional[Mapping[str, Any]],
        estimated_cost_micros: Optional[int],
        key: Optional[str],
    ) -> Op[CheckResult]:
        if not isinstance(authorization_id, str):
            raise TypeError("authorization_id must be a str")
        names = [scopes] if isinstance(scopes, str) else _names(scopes, "scopes")
        body: Dict[str, Any] = {"authorization_id": authorization_id, "scopes": names}
        if resource is not None:
            body["resource"] = resource
        if session_id is not None:
            body["session_id"] = session_id
        if context is not None:
            body["context"] = dict(context)
        if estimated_cost_micros is not None:
            if isinstance(estimated_cost_micros, bool) or not isinstance(estimated_cost_micros, int):
                raise TypeError("estimated_cost_micros must be an int (micro-units)")
            body["estimated_cost_micros"] = estimated_cost_micros
        resp, used = yield from self.post("/v1/check", body, key)
        replayed = (resp.headers.get("idempotent-replayed") or "").lower() == "true"
        return parsed(resp, lambda o: CheckResult._parse(authorization_id, names, o, used, replayed))

    def resolve_confirmation(
        self, nonce: str, approved: bool, ttl_seconds: Optional[int], key: Optional[str]
    ) -> Op[ReceiptRef]:
        if not isinstance(approved, bool):
            raise TypeError("approved must be a bool")
        body: Dict[str, Any] = {"approved": approved}
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        resp, _ = yield from self.post("/v1/confirmations/" + seg(nonce, "nonce"), body, key)
        return parsed(resp, lambda o: ReceiptRef._parse(o["receipt"]) if isinstance(o, dict) and "receipt" in o else _missing("receipt"))

    def resolve_escalation(
        self, escalation_id: str, approved: bool, resolved_by: str, key: Optional[str]
    ) -> Op[ReceiptRef]:
        if not isinstance(approved, bool):
            raise TypeError("approved must be a bool")
        path = f"/v1/escalations/{seg(escalation_id, 'escalation_id')}/resolve"
        resp, _ = yield from self.post(path, {"approved": approved, "resolved_by": resolved_by}, key)
        return parsed(resp, lambda o: ReceiptRef._parse(o["receipt"]) if isinstance(o, dict) and "receipt" in o else _missing("receipt"))

    # --- key documents ------------------------------------------------------

    def keyset(self, workspace_id: str, refresh: bool = False) -> Op[KeySet]:
        """The workspace's key document from the server's public route, read
        by the Rust core and checked against ``keys_pin`` (any mismatch is
        ReceiptVerificationError ``pin_mismatch``), cached for the server's
        max-age (at most 5 minutes)."""
        cached = self._keys.get(workspace_id)
        if cached is not None and not refresh and time.monotonic() < cached[1]:
            return cached[0]
        path = f"/v1/workspaces/{seg(workspace_id, 'workspace_id')}/keys"
        resp = yield from self.expect(Send("GET", path, auth=False), 200)
        try:
            keys: KeySet = yield Blocking(KeySet.from_json, (resp.content, self.keys_pin))
        except VerificationError as e:
            raise _rve(e, None) from None
        self._keys[workspace_id] = (keys, time.monotonic() + _cache_ttl(resp.headers))
        return keys

    def verify(self, receipt: bytes, receipt_id: str, expect: Mapping[str, Any]) -> Op[VerifiedReceipt]:
        """Verify a signed receipt with the Rust core against the workspace's
        key document; a receipt naming a kid the cached document lacks gets
        one fresh fetch, unless pinned (a pinned document cannot gain keys).
        Then check it is the receipt asked for (``expect``)."""
        ws = self.workspace_id or _peek(receipt, "workspace_id")
        if ws is None:
            raise ReceiptVerificationError("bad_structure", "the receipt names no workspace_id", receipt_id=receipt_id)
        keys = yield from self.keyset(ws)
        try:
            try:
                verified = _kvitto.verify_receipt(receipt, keys)
            except VerificationError as e:
                if getattr(e, "code", None) != "unknown_kid" or self.keys_pin is not None:
                    raise
                keys = yield from self.keyset(ws, refresh=True)
                verified = _kvitto.verify_receipt(receipt, keys)
        except VerificationError as e:
            raise _rve(e, receipt_id) from None
        wrong = [(k, v) for k, v in (("receipt_id", receipt_id), *expect.items()) if verified.payload.get(k) != v]
        if wrong:
            detail = ", ".join(f"{k} is {verified.payload.get(k)!r}, not {v!r}" for k, v in wrong)
            raise ReceiptVerificationError(
                "receipt_mismatch", f"the receipt verifies but is not the one asked for: {detail}", receipt_id=receipt_id
            )
        if self.workspace_id is None:
            self.workspace_id = verified.workspace_id
        return verified

    # --- receipts -----------------------------------------------------------

    def get_receipt(
        self, receipt_id: str, wait: bool, timeout: float, expect: Mapping[str, Any]
    ) -> Op[VerifiedReceipt]:
        path = "/v1/receipts/" + seg(receipt_id, "receipt_id")
        deadline = time.monotonic() + timeout
        polls = 0
        while True:
            resp = yield from self.expect(Send("GET", path), 200, 202)
            polls += 1
            if resp.status == 200:
                break
            now = time.monotonic()
            if not wait or now >= deadline:
                why = "not signed yet" if not wait else f"not signed within {timeout:g} s"
                raise ReceiptPendingError(receipt_id, f"receipt {receipt_id} is {why}", attempts=polls)
            try:
                ready = parse_instant(json_of(resp).get("ready_at_estimate"))
                pause = (ready - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
            except (_BadResponse, AttributeError, KvittoError):
                pause = 0.02
            yield Sleep(min(max(pause, 0.005), 0.25, max(deadline - now, 0.0)))
        verified = yield from self.verify(resp.content, receipt_id, expect)
        return verified

    def export(
        self,
        authorization_id: Optional[str],
        since: Optional[Instant],
        until: Optional[Instant],
        path: Optional[Union[str, "os.PathLike[str]"]],
        chains: bool,
        timeout: Optional[float],
    ) -> Op[Report]:
        if (authorization_id is None) == (since is None):
            raise ValueError("give authorization_id=, or since= (and optionally until=), not both")
        if until is not None and since is None:
            raise ValueError("until= needs since=")
        params: Dict[str, str] = {}
        if authorization_id is not None:
            params["authorization_id"] = authorization_id
        else:
            params["since"] = format_instant(since, "since")  # type: ignore[arg-type]
            if until is not None:
                params["until"] = format_instant(until, "until")
        dest = os.fspath(path) if path is not None else None
        # The server waits up to --export-wait-secs (10 s) for pending
        # receipts before answering: give the read more than that.
        req = Send("GET", "/v1/receipts/export", params=params, stream_to=dest, timeout=timeout or max(self.timeout, 60.0))
        resp = yield from self.expect(req, 200)
        source: Union[str, bytes] = dest if dest is not None else resp.content
        first = yield Blocking(_first_line, (source,))
        ws = self.workspace_id or (_peek(first, "workspace_id") if first.strip() else None)
        if ws is None:
            raise KvittoError(
                "workspace_unknown",
                "the export is empty and this client does not know its workspace yet: pass workspace_id= to the client",
                status_code=200,
            )
        keys = yield from self.keyset(ws)
        report: Report = yield Blocking(_kvitto.verify_export, (source, keys, chains))
        if self.keys_pin is None and any(r.code == "unknown_kid" for r in report.failures()):
            keys = yield from self.keyset(ws, refresh=True)
            report = yield Blocking(_kvitto.verify_export, (source, keys, chains))
        return report

    # --- protect --------------------------------------------------------------

    def protect(
        self,
        authorization_id: str,
        scope: str,
        resource: Optional[str],
        session_id: Optional[str],
        context: Optional[Mapping[str, Any]],
        estimated_cost_micros: Optional[int],
        verify: bool,
        key: Optional[str],
        receipt_timeout: float,
    ) -> Op[Permit]:
        """The fail-closed primitive: a Permit only for ``allow``; every
        other outcome raises."""
        if not isinstance(scope, str):
            raise TypeError("protect() takes one scope (a str); use check() for several")
        result = yield from self.check(authorization_id, scope, resource, session_id, context, estimated_cost_micros, key)
        r = result.results.get(scope)
        if r is None:  # parse() already demands it; never allow without it
            raise KvittoError("invalid_response", f"no decision for {scope!r}", status_code=200)
        args: Dict[str, Any] = dict(authorization_id=authorization_id, scope=scope, result=r)
        if r.decision == "deny":
            raise DeniedError(f"{scope} denied: {r.reason}", **args)
        if r.decision == "confirm":
            if not r.confirm_nonce:
                raise KvittoError("invalid_response", "a confirm decision without confirm_nonce", status_code=200)
            raise ConfirmationRequired(f"{scope} needs the user's confirmation: {r.confirm_prompt_hint}", **args)
        if r.decision == "escalate":
            if not r.escalation_id:
                raise KvittoError("invalid_response", "an escalate decision without escalation_id", status_code=200)
            raise EscalationRequired(f"{scope} needs an approver ({r.escalation_to})", **args)
        if r.decision != "allow":
            raise NotAllowedError(f"{scope}: unknown decision {r.decision!r} (not allow)", **args)
        if r.receipt is None or r.reason != "ok":
            raise KvittoError("invalid_response", "an allow without its receipt or with a reason other than ok", status_code=200)
        decided_at = datetime.datetime.now(datetime.timezone.utc)
        verified: Optional[VerifiedReceipt] = None
        if verify:
            # The signed receipt must be this decision of this request: a
            # genuine receipt of another check does not pass for it.
            expect = {
                "kind": "check",
                "authorization_id": authorization_id,
                "scope": scope,
                "decision": "allow",
                "resource": resource,
                "session_id": session_id,
                "context": dict(context) if context is not None else {},
                "estimated_cost_micros": estimated_cost_micros,
            }
            verified = yield from self.get_receipt(r.receipt.receipt_id, True, receipt_timeout, expect)
            decided_at = verified.issued_at
        return Permit(
            authorization_id=authorization_id,
            scope=scope,
            receipt_id=r.receipt.receipt_id,
            reason=r.reason,
            decided_at=decided_at,
            budget=r.budget,
            idempotency_key=result.idempotency_key,
            replayed=result.replayed,
            receipt=verified,
            receipt_hash=verified.receipt_hash if verified is not None else None,
        )


def _names(value: Any, what: str) -> List[str]:
    if isinstance(value, (str, bytes)) or not all(isinstance(s, str) for s in value):
        raise TypeError(f"{what} must be a list of scope names (str)")
    return list(value)


def _missing(member: str) -> Any:
    raise _BadResponse(f"missing member {member!r}")


__all__ = ["Blocking", "Core", "Op", "Response", "Send", "Sleep"]


def transport_error(base_url: str, e: Exception) -> KvittoError:
    """An httpx exception as a KvittoError: ``timeout`` and ``network`` are
    returned (the caller may retry); anything else is raised."""
    import httpx

    what = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    if isinstance(e, httpx.TimeoutException):
        return KvittoError("timeout", f"no answer from {base_url} in time ({what})")
    if isinstance(e, httpx.TransportError):
        return KvittoError("network", f"could not talk to {base_url} ({what})")
    raise KvittoError("invalid_response", f"the answer from {base_url} could not be read ({what})") from e


def part_path(dest: str) -> str:
    return dest + ".part"


def _grant_body(members: Mapping[str, Any]) -> Dict[str, Any]:
    """The JSON body of an authorization or a bundle: members given as None
    left out, each of the others in its wire form."""
    body: Dict[str, Any] = {}
    for name, value in members.items():
        if value is None:
            continue
        if name == "scopes":
            if isinstance(value, (str, bytes)):
                raise TypeError("scopes must be a list of names or ScopeEntry, not a single str")
            value = [scope_json(s) for s in value]
        elif name == "expires_at":
            value = format_instant(value, "expires_at")
        elif name in ("requires_confirm_for", "requires_escalation_for"):
            value = _names(value, name)
        elif name in ("escalation_targets", "metadata"):
            value = dict(value)
        body[name] = value
    return body


class Configured:
    """What ``Client`` and ``AsyncClient`` show of their configuration: read
    from their shared ``Core``, the same for both."""

    _core: Core

    @property
    def base_url(self) -> str:
        return self._core.base_url

    @property
    def keys_pin(self) -> Optional[str]:
        return self._core.keys_pin

    @property
    def timeout(self) -> float:
        return self._core.timeout

    @property
    def max_retries(self) -> int:
        return self._core.max_retries

    @property
    def workspace_id(self) -> Optional[str]:
        """The workspace whose receipts this client verifies: given, or
        learned from the first receipt that verified; None before."""
        return self._core.workspace_id

    def __repr__(self) -> str:
        return repr(self._core).replace("Core(", f"{type(self).__name__}(", 1)
