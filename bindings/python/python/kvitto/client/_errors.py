"""The client's exceptions: one base, ``ClientError``, for everything
``protect()`` can raise, split into "the server answered, and not with
allow" (``NotAllowedError`` and its three kinds) and "no trustworthy answer"
(``KvittoError`` for transport and server failures,
``ReceiptVerificationError`` for a receipt that does not verify)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from kvitto._kvitto import VerificationError

if TYPE_CHECKING:
    from kvitto.client._types import ScopeResult

__all__ = [
    "ClientError",
    "ConfirmationRequired",
    "DeniedError",
    "EscalationRequired",
    "KvittoError",
    "NotAllowedError",
    "RateLimitedError",
    "ReceiptPendingError",
    "ReceiptVerificationError",
]


class ClientError(Exception):
    """Base of every exception the client raises for a request that did not
    end in what was asked for. ``except kvitto.ClientError`` around
    ``protect()`` catches every way it can refuse; argument mistakes are
    ``TypeError`` / ``ValueError`` and are not caught by it."""


class NotAllowedError(ClientError):
    """The server decided, and the decision is not ``allow``.

    ``decision`` and ``reason`` are the server's; ``receipt_id`` names the
    receipt that records the decision (None when there is no chain to write
    to: an unknown or revoked authorization); ``result`` is the whole
    :class:`ScopeResult`. Raised as one of its subclasses, or as itself for
    a decision this client does not know (never treated as allow)."""

    def __init__(self, message: str, *, authorization_id: str, scope: str, result: "ScopeResult") -> None:
        super().__init__(message)
        self.authorization_id = authorization_id
        self.scope = scope
        self.result = result
        self.decision: str = result.decision
        self.reason: str = result.reason
        self.receipt_id: Optional[str] = result.receipt_id


class DeniedError(NotAllowedError):
    """``deny``: ``reason`` says why (``scope_not_authorized``,
    ``budget_exceeded``, ``rate_limit_exceeded`` — the scope's daily limit,
    not HTTP 429 —, ``authorization_revoked``, ``authorization_expired``,
    ``authorization_not_found``, ``confirmation_denied``,
    ``escalation_denied``, …)."""


class ConfirmationRequired(NotAllowedError):
    """``confirm``: ask the user (``prompt_hint`` is a sentence to show),
    then answer with ``client.confirmations.approve(nonce, approved=...)``
    and ask again."""

    def __init__(self, message: str, *, authorization_id: str, scope: str, result: "ScopeResult") -> None:
        super().__init__(message, authorization_id=authorization_id, scope=scope, result=result)
        self.nonce: str = result.confirm_nonce or ""
        self.prompt_hint: Optional[str] = result.confirm_prompt_hint


class EscalationRequired(NotAllowedError):
    """``escalate``: an approver (``escalation_to``, None if the
    authorization names none) resolves ``escalation_id`` with
    ``client.escalations.resolve(...)``; each approval lets one later check
    of the scope pass."""

    def __init__(self, message: str, *, authorization_id: str, scope: str, result: "ScopeResult") -> None:
        super().__init__(message, authorization_id=authorization_id, scope=scope, result=result)
        self.escalation_id: str = result.escalation_id or ""
        self.escalation_to: Optional[str] = result.escalation_to


class KvittoError(ClientError):
    """No decision could be had: a transport failure or an error answer.

    ``code`` is the server's stable code when it sent one
    (``unauthorized``, ``invalid_member``, ``authorization_not_found``,
    ``already_resolved``, ``internal``, ``shutting_down``,
    ``export_not_ready``, …; docs/server.md section 11), else the client's:
    ``timeout`` (connect, read, write or pool timeout), ``network`` (refused,
    reset, closed before the answer), ``server_error`` (a 5xx without a
    kvitto error body, e.g. from a proxy), ``rate_limited`` (429 without a
    body), ``http_error`` (another unexpected status), ``invalid_response``
    (an answer that is not what the API documents), ``receipt_pending``,
    ``workspace_unknown``. ``status_code`` is the HTTP status (None when no
    answer arrived); ``retryable`` says whether the client retries such a
    failure (network, timeout, 5xx); ``attempts`` how many requests were
    made."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status_code: Optional[int] = None,
        retry_after: Optional[float] = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after
        self.attempts = attempts

    @property
    def retryable(self) -> bool:
        return self.code in ("timeout", "network") or (self.status_code is not None and self.status_code >= 500)

    def __str__(self) -> str:
        where = f"HTTP {self.status_code}, " if self.status_code is not None else ""
        tries = f", after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{self.message} ({where}{self.code}{tries})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status_code={self.status_code!r}, message={self.message!r})"


class RateLimitedError(KvittoError):
    """HTTP 429 (from the server or a proxy in front of it): not retried;
    ``retry_after`` is the Retry-After header in seconds (None if absent).
    A scope's daily limit is a decision instead: ``DeniedError`` with reason
    ``rate_limit_exceeded``."""


class ReceiptPendingError(KvittoError):
    """The receipt was not signed yet (``wait=False``) or not within the
    wait's ``timeout`` (code ``receipt_pending``)."""

    def __init__(self, receipt_id: str, message: str, *, attempts: int = 1) -> None:
        super().__init__("receipt_pending", message, status_code=202, attempts=attempts)
        self.receipt_id = receipt_id


class ReceiptVerificationError(ClientError, VerificationError):
    """A receipt or key document that does not verify: both a
    ``kvitto.ClientError`` (so ``protect(verify=True)`` raises nothing
    outside that base) and a ``kvitto.VerificationError`` (a ``ValueError``,
    as offline verification raises).

    ``code`` is the Rust core's contract code (``signature_invalid``,
    ``pin_mismatch``, ``unknown_kid``, ``workspace_mismatch``, … all in
    ``kvitto.CODES``), or ``receipt_mismatch``: the receipt verifies but is
    not the one asked for (another id, authorization, scope or decision).
    ``receipt_id`` is the id asked for."""

    def __init__(self, code: str, message: str, *, receipt_id: Optional[str] = None) -> None:
        super().__init__(message)
        self.code = code
        self.receipt_id = receipt_id

    def __repr__(self) -> str:
        return f"ReceiptVerificationError(code={self.code!r}, receipt_id={self.receipt_id!r})"
