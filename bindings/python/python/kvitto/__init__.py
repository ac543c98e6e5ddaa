"""Verify kvitto receipts offline: signed, hash-chained records of AI agents'
authorization decisions (docs/format.md).

Everything here is re-exported from the native module ``kvitto._kvitto``,
a thin layer over kvitto's Rust verification core: every verdict, error
code, framing decision and chain result comes from the core, and every
report field from the schema the ``kvitto`` CLI prints.
"""

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
