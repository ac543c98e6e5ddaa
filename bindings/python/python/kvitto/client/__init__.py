"""A client of kvitto-server with a fail-closed ``protect()``.

::

    client = kvitto.Client("https://kvitto.internal", api_key, keys_pin="sha256:…")
    permit = client.protect(authorization_id, "mail:send", resource="mailto:ops@example.com")
    send_mail()  # reached only with an allow in hand

``protect()`` returns a :class:`Permit` only when the server allows; every
other outcome raises a :class:`ClientError`: :class:`DeniedError`,
:class:`ConfirmationRequired`, :class:`EscalationRequired` (the server's
decisions, all :class:`NotAllowedError`), :class:`KvittoError` (transport and
server failures, with ``.code`` and ``.status_code``; :class:`RateLimitedError`
for HTTP 429) and :class:`ReceiptVerificationError` (a signed receipt that
does not verify; also a ``kvitto.VerificationError``). :class:`AsyncClient`
has the same surface with coroutines. Receipts and exports are verified by
the package's Rust core. Needs httpx: ``pip install "kvitto[client]"``.
"""

try:
    import httpx as _httpx  # noqa: F401
except ImportError as _e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        'kvitto.client needs httpx, which is not installed: pip install "kvitto[client]" '
        "(or pip install httpx). Verifying receipts offline (kvitto.verify_receipt, "
        "kvitto.verify_export) does not need it."
    ) from _e

from kvitto.client._async import AsyncClient
from kvitto.client._errors import (
    ClientError,
    ConfirmationRequired,
    DeniedError,
    EscalationRequired,
    KvittoError,
    NotAllowedError,
    RateLimitedError,
    ReceiptPendingError,
    ReceiptVerificationError,
)
from kvitto.client._guard import AsyncProtected, Protected
from kvitto.client._sync import Client
from kvitto.client._types import (
    Authorization,
    Budget,
    Bundle,
    CheckResult,
    CreatedAuthorization,
    Permit,
    ReceiptRef,
    ScopeCounter,
    ScopeEntry,
    ScopeResult,
)

__all__ = [
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
]
