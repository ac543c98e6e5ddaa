"""Pseudonymous user ids for receipts: put ``from_email(...)`` in
``user_id`` instead of an e-mail address."""

from typing import Union

from kvitto._kvitto import email_hmac as _email_hmac

__all__ = ["from_email"]


def from_email(email: str, pepper: Union[bytes, str]) -> str:
    """``email_hmac:v1:`` + hex HMAC-SHA256(pepper, the address trimmed of
    surrounding white space and lower-cased), computed locally by
    kvitto-core's ``pii::email_hmac`` — the value kvitto-server computes for
    the same address and pepper. A str pepper is UTF-8 encoded."""
    return _email_hmac(email, pepper)
