"""What the client returns: frozen dataclasses parsed from the server's
JSON (docs/server.md section 4). Members the server adds later are
ignored, never an error; a member that is missing or of the wrong type is
``KvittoError(code="invalid_response")``."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Union

if TYPE_CHECKING:
    from kvitto._kvitto import VerifiedReceipt

__all__ = [
    "Authorization",
    "Budget",
    "Bundle",
    "CheckResult",
    "CreatedAuthorization",
    "Permit",
    "ReceiptRef",
    "ScopeCounter",
    "ScopeEntry",
    "ScopeResult",
]

Scope = Union[str, "ScopeEntry"]


class _BadResponse(Exception):
    """A member of an answer is missing or of the wrong type (becomes
    KvittoError invalid_response)."""


_INSTANT = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)\Z")


def parse_instant(text: str) -> datetime.datetime:
    """An RFC 3339 instant as an aware UTC datetime (to the microsecond)."""
    m = _INSTANT.match(text) if isinstance(text, str) else None
    if m is None:
        raise _BadResponse(f"not an RFC 3339 instant: {text!r}")
    y, mo, d, h, mi, s, frac, off = m.groups()
    micro = int((frac or "0").ljust(6, "0")[:6])
    if off in ("Z", "z"):
        tz = datetime.timezone.utc
    else:
        sign = 1 if off[0] == "+" else -1
        tz = datetime.timezone(sign * datetime.timedelta(hours=int(off[1:3]), minutes=int(off[4:6])))
    try:
        value = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=tz)
    except ValueError as e:
        raise _BadResponse(f"not an RFC 3339 instant: {text!r}") from e
    return value.astimezone(datetime.timezone.utc)


def format_instant(value: Union[str, datetime.datetime], what: str) -> str:
    """An aware datetime as RFC 3339 UTC (milliseconds when exact); a str
    is passed through for the server to judge."""
    if isinstance(value, str):
        return value
    if not isinstance(value, datetime.datetime):
        raise TypeError(f"{what} must be an aware datetime or an RFC 3339 string, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime (a naive one has no time zone)")
    u = value.astimezone(datetime.timezone.utc)
    frac = f"{u.microsecond // 1000:03d}" if u.microsecond % 1000 == 0 else f"{u.microsecond:06d}"
    return u.strftime("%Y-%m-%dT%H:%M:%S.") + frac + "Z"


def _get(obj: Mapping[str, Any], key: str, kind: Any, *, nullable: bool = False) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise _BadResponse(f"missing member {key!r}")
    v = obj[key]
    if v is None and nullable:
        return None
    if kind is int and isinstance(v, bool):
        raise _BadResponse(f"{key}: expected an integer, got a boolean")
    if not isinstance(v, kind):
        raise _BadResponse(f"{key}: expected {getattr(kind, '__name__', kind)}, got {type(v).__name__}")
    return v


def _opt(obj: Mapping[str, Any], key: str, kind: Any) -> Any:
    """A member that may be absent or null."""
    if not isinstance(obj, Mapping) or obj.get(key) is None:
        return None
    return _get(obj, key, kind)


def _strs(obj: Mapping[str, Any], key: str) -> List[str]:
    v = _get(obj, key, list)
    if not all(isinstance(s, str) for s in v):
        raise _BadResponse(f"{key}: expected a list of strings")
    return list(v)


def _str_map(obj: Mapping[str, Any], key: str) -> Dict[str, str]:
    v = _get(obj, key, dict)
    if not all(isinstance(s, str) for s in v.values()):
        raise _BadResponse(f"{key}: expected an object of strings")
    return dict(v)


@dataclass(frozen=True)
class ScopeEntry:
    """A scope to grant with constraints: ``ScopeEntry("mail:send",
    constraints={"max_per_day": 5})``. A plain name (str) grants without."""

    name: str
    constraints: Dict[str, Any] = field(default_factory=dict)

    @property
    def max_per_day(self) -> Optional[int]:
        v = self.constraints.get("max_per_day")
        return v if isinstance(v, int) else None

    def to_json(self) -> Dict[str, Any]:
        return {"name": self.name, "constraints": dict(self.constraints)}

    @classmethod
    def _parse(cls, obj: Any) -> "ScopeEntry":
        if isinstance(obj, str):
            return cls(obj)
        constraints = obj.get("constraints") if isinstance(obj, Mapping) else None
        if not isinstance(constraints, Mapping):
            constraints = {}
        # The server spells "no limit" as null: a constraint that is not there.
        return cls(_get(obj, "name", str), {k: v for k, v in constraints.items() if v is not None})


def scope_json(scope: Scope) -> Any:
    if isinstance(scope, ScopeEntry):
        return scope.to_json()
    if isinstance(scope, str):
        return scope
    raise TypeError(f"a scope is a str or a ScopeEntry, not {type(scope).__name__}")


@dataclass(frozen=True)
class ReceiptRef:
    """Where a receipt is: ``status`` is ``pending`` when answered (the
    background signer signs it within milliseconds); fetch and verify it
    with ``client.receipts.get(receipt_id)``."""

    receipt_id: str
    status: str
    url: str
    ready_at_estimate: datetime.datetime

    @classmethod
    def _parse(cls, obj: Any) -> "ReceiptRef":
        return cls(
            receipt_id=_get(obj, "receipt_id", str),
            status=_get(obj, "status", str),
            url=_get(obj, "url", str),
            ready_at_estimate=parse_instant(_get(obj, "ready_at_estimate", str)),
        )


@dataclass(frozen=True)
class Budget:
    """An authorization's budget around one check, in micro-units."""

    limit_micros: int
    spent_before_micros: int
    spent_after_micros: int

    @property
    def remaining_micros(self) -> int:
        return max(self.limit_micros - self.spent_after_micros, 0)

    @classmethod
    def _parse(cls, obj: Any) -> "Budget":
        return cls(
            limit_micros=_get(obj, "limit_micros", int),
            spent_before_micros=_get(obj, "spent_before_micros", int),
            spent_after_micros=_get(obj, "spent_after_micros", int),
        )


@dataclass(frozen=True)
class ScopeResult:
    """One scope's decision: ``allow``, ``deny``, ``confirm`` or
    ``escalate``, with ``reason`` (``ok`` for allow) and what the decision
    needs (the nonce and prompt hint of a confirm, the escalation id and
    target of an escalate). ``receipt`` is None only for an unknown or
    revoked authorization (no chain to write to)."""

    scope: str
    decision: str
    reason: str
    receipt: Optional[ReceiptRef]
    confirm_nonce: Optional[str]
    confirm_prompt_hint: Optional[str]
    escalation_id: Optional[str]
    escalation_to: Optional[str]
    budget: Optional[Budget]

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"

    @property
    def receipt_id(self) -> Optional[str]:
        return self.receipt.receipt_id if self.receipt is not None else None

    @classmethod
    def _parse(cls, scope: str, obj: Any) -> "ScopeResult":
        receipt = _opt(obj, "receipt", dict)
        budget = _opt(obj, "budget", dict)
        return cls(
            scope=scope,
            decision=_get(obj, "decision", str),
            reason=_get(obj, "reason", str),
            receipt=ReceiptRef._parse(receipt) if receipt is not None else None,
            confirm_nonce=_opt(obj, "confirm_nonce", str),
            confirm_prompt_hint=_opt(obj, "confirm_prompt_hint", str),
            escalation_id=_opt(obj, "escalation_id", str),
            escalation_to=_opt(obj, "escalation_to", str),
            budget=Budget._parse(budget) if budget is not None else None,
        )


@dataclass(frozen=True)
class CheckResult:
    """The answer to ``client.check``: ``results[scope]`` for every scope
    asked, in the order asked. ``replayed`` is true when the server
    answered a retry with the first response (Idempotent-Replayed), so
    nothing was counted twice; ``idempotency_key`` is the key sent."""

    authorization_id: str
    results: Dict[str, ScopeResult]
    idempotency_key: str
    replayed: bool = False

    def __getitem__(self, scope: str) -> ScopeResult:
        return self.results[scope]

    @property
    def allowed(self) -> bool:
        """Every scope asked is allowed."""
        return bool(self.results) and all(r.allowed for r in self.results.values())

    @classmethod
    def _parse(cls, authorization_id: str, scopes: List[str], obj: Any, key: str, replayed: bool) -> "CheckResult":
        raw = _get(obj, "results", dict)
        results = {s: ScopeResult._parse(s, raw[s]) for s in raw}
        missing = [s for s in scopes if s not in results]
        if missing:
            raise _BadResponse(f"results: no decision for {missing}")
        return cls(authorization_id, results, key, replayed)


@dataclass(frozen=True)
class CreatedAuthorization:
    """``authorizations.create``: the new id and its ``authorization.created``
    receipt (seq 0)."""

    authorization_id: str
    receipt: ReceiptRef

    @classmethod
    def _parse(cls, obj: Any) -> "CreatedAuthorization":
        return cls(_get(obj, "authorization_id", str), ReceiptRef._parse(_get(obj, "receipt", dict)))


@dataclass(frozen=True)
class ScopeCounter:
    """A scope's allows today (UTC) and its daily limit (None: no limit)."""

    allowed_today: int
    max_per_day: Optional[int]


@dataclass(frozen=True)
class Authorization:
    """An authorization's grant and state (``authorizations.get``):
    ``status`` is ``active``, ``expired`` or ``revoked``; ``receipts`` the
    length of its chain; ``counters`` per scope for today."""

    authorization_id: str
    workspace_id: str
    status: str
    user_id: str
    agent_id: str
    scopes: List[ScopeEntry]
    requires_confirm_for: List[str]
    requires_escalation_for: List[str]
    escalation_targets: Dict[str, str]
    expires_at: Optional[datetime.datetime]
    budget_limit_micros: Optional[int]
    budget_spent_micros: int
    metadata: Dict[str, Any]
    bundle_id: Optional[str]
    created_at: datetime.datetime
    revoked_at: Optional[datetime.datetime]
    revoked_by: Optional[str]
    receipts: int
    head_hash: str
    counters: Dict[str, ScopeCounter]

    @classmethod
    def _parse(cls, obj: Any) -> "Authorization":
        expires = _opt(obj, "expires_at", str)
        revoked_at = _opt(obj, "revoked_at", str)
        counters = {
            name: ScopeCounter(_get(c, "allowed_today", int), _opt(c, "max_per_day", int))
            for name, c in _get(obj, "counters", dict).items()
        }
        return cls(
            authorization_id=_get(obj, "authorization_id", str),
            workspace_id=_get(obj, "workspace_id", str),
            status=_get(obj, "status", str),
            user_id=_get(obj, "user_id", str),
            agent_id=_get(obj, "agent_id", str),
            scopes=[ScopeEntry._parse(s) for s in _get(obj, "scopes", list)],
            requires_confirm_for=_strs(obj, "requires_confirm_for"),
            requires_escalation_for=_strs(obj, "requires_escalation_for"),
            escalation_targets=_str_map(obj, "escalation_targets"),
            expires_at=parse_instant(expires) if expires is not None else None,
            budget_limit_micros=_opt(obj, "budget_limit_micros", int),
            budget_spent_micros=_get(obj, "budget_spent_micros", int),
            metadata=dict(_get(obj, "metadata", dict)),
            bundle_id=_opt(obj, "bundle_id", str),
            created_at=parse_instant(_get(obj, "created_at", str)),
            revoked_at=parse_instant(revoked_at) if revoked_at is not None else None,
            revoked_by=_opt(obj, "revoked_by", str),
            receipts=_get(obj, "receipts", int),
            head_hash=_get(obj, "head_hash", str),
            counters=counters,
        )


@dataclass(frozen=True)
class Bundle:
    """A scope bundle: a named template (agent, scopes, rules, budget) that
    ``authorizations.create(bundle_id=...)`` fills in."""

    bundle_id: str
    agent_id: str
    scopes: List[ScopeEntry]
    requires_confirm_for: List[str]
    requires_escalation_for: List[str]
    escalation_targets: Dict[str, str]
    budget_limit_micros: Optional[int]
    created_at: datetime.datetime

    @classmethod
    def _parse(cls, obj: Any) -> "Bundle":
        return cls(
            bundle_id=_get(obj, "bundle_id", str),
            agent_id=_get(obj, "agent_id", str),
            scopes=[ScopeEntry._parse(s) for s in _get(obj, "scopes", list)],
            requires_confirm_for=_strs(obj, "requires_confirm_for"),
            requires_escalation_for=_strs(obj, "requires_escalation_for"),
            escalation_targets=_str_map(obj, "escalation_targets"),
            budget_limit_micros=_opt(obj, "budget_limit_micros", int),
            created_at=parse_instant(_get(obj, "created_at", str)),
        )


@dataclass(frozen=True)
class Permit:
    """Proof in hand that the server allowed this action: returned by
    ``protect()`` only on ``allow``.

    ``decided_at`` is the receipt's signed ``issued_at`` when verified
    (``verify=True``), else the client's clock when the allow arrived (the
    check answer carries no time). With ``verify=True``, ``receipt`` is the
    signed receipt verified by the Rust core against the workspace's key
    document, and ``receipt_hash`` its hash (``sha256:…``), the value the
    chain's next receipt names as ``prev``."""

    authorization_id: str
    scope: str
    receipt_id: str
    reason: str
    decided_at: datetime.datetime
    budget: Optional[Budget] = None
    idempotency_key: str = ""
    replayed: bool = False
    receipt: Optional["VerifiedReceipt"] = field(default=None, compare=False)
    receipt_hash: Optional[str] = None

    @property
    def verified(self) -> bool:
        return self.receipt is not None
