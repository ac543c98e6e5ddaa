"""A FastAPI endpoint guarded by kvitto's protect(): the mail is sent only
with an allow — and its verified, signed receipt — in hand.

    pip install "kvitto[client]" fastapi uvicorn
    export KVITTO_URL=http://127.0.0.1:8080 KVITTO_API_KEY=kvitto_sk_… KVITTO_KEYS_PIN=sha256:…
    uvicorn --factory fastapi_app:app_from_env

    curl -s localhost:8000/mail -H 'X-Authorization-Id: auth_…' \\
         -H 'Content-Type: application/json' -d '{"to": "ops@example.com", "subject": "weekly report"}'

Answers: 200 with the receipt id when the server allowed; 403 when it
denied, or wants the user's confirmation or an approver (the body says
which, with the nonce or escalation id to resolve it); 503 when no
trustworthy answer could be had — kvitto-server unreachable, timing out,
failing, rate limiting, or its receipt not verifying. Never 200 without an
allow: every path but protect()'s return raises before the mail is sent.
(tests/test_client_examples.py drives it against a real kvitto-server.)
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, AsyncIterator, Callable, Dict, List, Optional

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import kvitto


class Mail(BaseModel):
    to: str
    subject: str


def create_app(
    base_url: str,
    api_key: str,
    *,
    keys_pin: Optional[str] = None,
    timeout: float = 10.0,
    send: Optional[Callable[[Mail], None]] = None,
) -> FastAPI:
    """The app. `send` delivers a mail (default: appended to app.state.outbox)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One AsyncClient for the app's life, on the app's event loop.
        async with kvitto.AsyncClient(base_url, api_key, keys_pin=keys_pin, timeout=timeout) as client:
            app.state.kvitto = client
            yield

    app = FastAPI(title="mailer guarded by kvitto", lifespan=lifespan)
    outbox: List[Mail] = []
    app.state.outbox = outbox
    deliver = send or outbox.append

    @app.exception_handler(kvitto.NotAllowedError)
    async def not_allowed(request: Request, e: kvitto.NotAllowedError) -> JSONResponse:
        body: Dict[str, Any] = {"decision": e.decision, "reason": e.reason, "receipt_id": e.receipt_id}
        if isinstance(e, kvitto.ConfirmationRequired):
            body.update(confirm_nonce=e.nonce, prompt=e.prompt_hint)
        if isinstance(e, kvitto.EscalationRequired):
            body.update(escalation_id=e.escalation_id, escalation_to=e.escalation_to)
        return JSONResponse({"error": body}, status_code=403)

    @app.exception_handler(kvitto.ClientError)
    async def unavailable(request: Request, e: kvitto.ClientError) -> JSONResponse:
        # Transport and server failures, and receipts that do not verify:
        # the decision is unknown, so the action is refused, retryably.
        code = getattr(e, "code", "unavailable")
        headers = {}
        if isinstance(e, kvitto.RateLimitedError) and e.retry_after is not None:
            headers["Retry-After"] = str(int(e.retry_after))
        return JSONResponse({"error": {"code": code, "message": "authorization service unavailable"}},
                            status_code=503, headers=headers)

    @app.post("/mail")
    async def send_mail(mail: Mail, request: Request, x_authorization_id: str = Header()) -> Dict[str, Any]:
        client: kvitto.AsyncClient = request.app.state.kvitto
        permit = await client.protect(
            x_authorization_id,
            "mail:send",
            resource=f"mailto:{mail.to}",
            context={"subject": mail.subject},
            verify=True,  # the signed receipt verified against the (pinned) key document
        )
        deliver(mail)  # reached only with an allow in hand
        return {"sent": True, "receipt_id": permit.receipt_id, "receipt_hash": permit.receipt_hash}

    return app


def app_from_env() -> FastAPI:
    return create_app(
        os.environ["KVITTO_URL"], os.environ["KVITTO_API_KEY"], keys_pin=os.environ.get("KVITTO_KEYS_PIN") or None
    )
