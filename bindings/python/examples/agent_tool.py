"""An agent's tool wrapped by kvitto: before the tool runs, kvitto-server
is asked; when it wants the user's confirmation, the user is asked (with
the server's prompt hint), the answer goes back to the server, and the
check is made again — so the tool runs only on an allow, and a "no" ends
in a recorded denial (confirmation_denied), not in a silent skip.

    pip install "kvitto[client]"
    export KVITTO_URL=http://127.0.0.1:8080 KVITTO_API_KEY=kvitto_sk_…
    python agent_tool.py          # creates an authorization, asks you on the terminal

(tests/test_client_examples.py runs it, and the wrapper, against a real
kvitto-server.)
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Optional, TypeVar

import kvitto

F = TypeVar("F", bound=Callable[..., Any])


def confirmed_tool(
    client: kvitto.Client,
    authorization_id: str,
    scope: str,
    ask_user: Callable[[str], bool],
    *,
    resource: Optional[Callable[..., str]] = None,
    ttl_seconds: int = 60,
) -> Callable[[F], F]:
    """Decorate a tool: each call is protect()ed; a confirm decision asks
    `ask_user(prompt_hint)`, records the answer with
    client.confirmations.approve(nonce, approved=answer) and checks once
    more. Raises what protect() raises: DeniedError (also after the user
    said no), EscalationRequired (an approver must act; the agent cannot),
    KvittoError when the server cannot be asked."""

    def decorate(tool: F) -> F:
        @functools.wraps(tool)
        def run(*args: Any, **kwargs: Any) -> Any:
            where = resource(*args, **kwargs) if resource is not None else None
            try:
                client.protect(authorization_id, scope, resource=where)
            except kvitto.ConfirmationRequired as needed:
                approved = bool(ask_user(needed.prompt_hint or f"Allow {scope}?"))
                client.confirmations.approve(needed.nonce, approved=approved, ttl_seconds=ttl_seconds)
                # Ask again: an approval allows now; a rejection is denied (and recorded).
                client.protect(authorization_id, scope, resource=where)
            return tool(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate


def main() -> None:
    client = kvitto.Client(os.environ["KVITTO_URL"], os.environ["KVITTO_API_KEY"])
    user_id = kvitto.identifiers.from_email("alice@example.com", os.environ.get("KVITTO_PEPPER", "demo pepper"))
    auth = client.authorizations.create(
        user_id=user_id,
        agent_id="payments-agent",
        scopes=["payments:transfer"],
        requires_confirm_for=["payments:transfer"],
        budget_limit_micros=50_000_000,
    ).authorization_id

    def ask_user(prompt: str) -> bool:
        return input(f"{prompt} [y/N] ").strip().lower() in ("y", "yes")

    @confirmed_tool(client, auth, "payments:transfer", ask_user, resource=lambda iban, amount: f"iban:{iban}")
    def transfer(iban: str, amount: int) -> str:
        return f"transferred {amount} to {iban}"

    try:
        print(transfer("DE02100100109307118603", 120))
    except kvitto.DeniedError as e:
        print(f"not transferred: {e.reason} (receipt {e.receipt_id})")
    report = client.receipts.export(auth)
    print(f"audit trail: {report.valid} receipts, chain ok: {report.ok}")
    client.close()


if __name__ == "__main__":
    main()
