"""Verify kvitto receipts offline: signed, hash-chained records of AI agents'
authorization decisions (docs/format.md) — and, with ``kvitto.client``, ask
kvitto-server for those decisions.

Everything verifying is re-exported from the native module ``kvitto._kvitto``,
a thin layer over kvitto's Rust verification core: every verdict, error
code, framing decision and chain result comes from the core, and every
report field from the schema the ``kvitto`` CLI prints.

The client (``kvitto.Client``, ``kvitto.AsyncClient``, ``kvitto.ClientError``
and the rest of ``kvitto.client.__all__``) is imported on first use, so
offline verification needs no HTTP library; the client needs httpx
(``pip install "kvitto[client]"``).
"""

from typing import TYPE_CHECKING, Any

from kvitto._kvitto import (
    CODES,
    SCHEMA,
    ChainReport,
    Key,
    KeySet,
    ReceiptResult,
    Report,
    VerificationError,
    VerifiedReceipt,
    __version__,
    canonicalize,
    fetch_keys,
    verify_chain,
    verify_export,
    verify_receipt,
)
from kvitto import identifiers

if TYPE_CHECKING:  # `X as X`: explicit re-exports for type checkers
    from kvitto.client import (
        AsyncClient as AsyncClient,
        AsyncProtected as AsyncProtected,
        Authorization as Authorization,
        Budget as Budget,
        Bundle as Bundle,
        CheckResult as CheckResult,
        Client as Client,
        ClientError as ClientError,
        ConfirmationRequired as ConfirmationRequired,
        CreatedAuthorization as CreatedAuthorization,
        DeniedError as DeniedError,
        EscalationRequired as EscalationRequired,
        KvittoError as KvittoError,
        NotAllowedError as NotAllowedError,
        Permit as Permit,
        Protected as Protected,
        RateLimitedError as RateLimitedError,
        ReceiptPendingError as ReceiptPendingError,
        ReceiptRef as ReceiptRef,
        ReceiptVerificationError as ReceiptVerificationError,
        ScopeCounter as ScopeCounter,
        ScopeEntry as ScopeEntry,
        ScopeResult as ScopeResult,
    )

#: Names re-exported from kvitto.client, imported when first used.
_CLIENT = frozenset(
    {
        "AsyncClient",
        "AsyncProtected",
        "Authorization",
        "Budget",
        "Bundle",
        "CheckResult",
        "Client",
        "ClientError",
        "ConfirmationRequired",
        "CreatedAuthorization",
        "DeniedError",
        "EscalationRequired",
        "KvittoError",
        "NotAllowedError",
        "Permit",
        "Protected",
        "RateLimitedError",
        "ReceiptPendingError",
        "ReceiptRef",
        "ReceiptVerificationError",
        "ScopeCounter",
        "ScopeEntry",
        "ScopeResult",
    }
)


def __getattr__(name: str) -> Any:
    if name == "client":
        import kvitto.client

        return kvitto.client
    if name in _CLIENT:
        from kvitto import client

        return getattr(client, name)
    raise AttributeError(f"module 'kvitto' has no attribute {name!r}")


def __dir__() -> "list[str]":
    return sorted(set(globals()) | _CLIENT)


__all__ = [
    "CODES",
    "SCHEMA",
    "ChainReport",
    "Key",
    "KeySet",
    "ReceiptResult",
    "Report",
    "VerificationError",
    "VerifiedReceipt",
    "__version__",
    "canonicalize",
    "fetch_keys",
    "identifiers",
    "verify_chain",
    "verify_export",
    "verify_receipt",
]
