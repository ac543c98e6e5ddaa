"""``kvitto.AsyncClient``: the asynchronous client (httpx.AsyncClient;
sleeps and worker threads through anyio). Every method runs one operation of
``_core`` — the same code Client runs — so both have the same surface,
return types and exceptions."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Type, Union

import anyio
import anyio.to_thread
import httpx

from kvitto._kvitto import Report, VerifiedReceipt
from kvitto.client._core import Blocking, Configured, Core, Instant, Op, Response, Send, Sleep, T, part_path, transport_error
from kvitto.client._errors import KvittoError
from kvitto.client._guard import Arg, AsyncProtected
from kvitto.client._types import (
    Authorization,
    Bundle,
    CheckResult,
    CreatedAuthorization,
    Permit,
    ReceiptRef,
    Scope,
)

__all__ = ["AsyncClient"]


class AsyncClient(Configured):
    """An asynchronous client of kvitto-server: Client's surface with
    every request method a coroutine.

    ``Client(base_url, api_key, *, keys_pin=None, timeout=10.0,
    max_retries=2)``: ``timeout`` is per attempt (connect, read, write, each);
    network errors, timeouts and 5xx answers are retried up to
    ``max_retries`` times with exponential backoff (``retry_backoff``
    seconds doubled each time, with jitter; a 5xx's Retry-After is
    honoured up to 30 s), every POST with one Idempotency-Key per logical
    call so a retried check is counted once. ``keys_pin`` (``sha256:…``) pins
    the workspace's key document; ``workspace_id`` names the workspace when
    known (else it is learned from the first receipt that verifies).
    ``http_client`` is an ``httpx.Client`` to use instead of one of the
    client's own (TLS, proxies; it is not closed by ``close()``).

    Use it as an async context manager, or call ``await aclose()``; use it
    from one event loop."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        keys_pin: Optional[str] = None,
        timeout: float = 10.0,
        max_retries: int = 2,
        workspace_id: Optional[str] = None,
        retry_backoff: float = 0.25,
        http_client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        self._core = Core(
            base_url,
            api_key,
            keys_pin=keys_pin,
            timeout=timeout,
            max_retries=max_retries,
            workspace_id=workspace_id,
            retry_backoff=retry_backoff,
        )
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise TypeError("http_client must be an httpx.AsyncClient (Client takes an httpx.Client)")
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient(follow_redirects=False)
        self.authorizations = Authorizations(self)
        self.bundles = Bundles(self)
        self.confirmations = Confirmations(self)
        self.escalations = Escalations(self)
        self.receipts = Receipts(self)

    # --- the two calls an app makes before every action ------------------------

    async def check(
        self,
        authorization_id: str,
        scopes: Union[str, Sequence[str]],
        *,
        resource: Optional[str] = None,
        session_id: Optional[str] = None,
        context: Optional[Mapping[str, Any]] = None,
        estimated_cost_micros: Optional[int] = None,
        idempotency_key: Optional[str] = None,
    ) -> CheckResult:
        """``POST /v1/check``: the decision for each scope, whatever it is
        (nothing raises for a deny). Prefer ``protect()`` to guard an
        action."""
        return await self._run(
            self._core.check(authorization_id, scopes, resource, session_id, context, estimated_cost_micros, idempotency_key)
        )

    async def protect(
        self,
        authorization_id: str,
        scope: str,
        *,
        resource: Optional[str] = None,
        session_id: Optional[str] = None,
        context: Optional[Mapping[str, Any]] = None,
        estimated_cost_micros: Optional[int] = None,
        verify: bool = False,
        idempotency_key: Optional[str] = None,
        receipt_timeout: float = 30.0,
    ) -> Permit:
        """Fail closed: return a Permit only when the server allows ``scope``
        now; otherwise raise — DeniedError, ConfirmationRequired,
        EscalationRequired (all NotAllowedError), KvittoError for transport
        and server failures, and with ``verify=True``
        ReceiptVerificationError when the signed receipt of the allow does
        not verify against the workspace's (pinned) key document or is not
        the receipt of this decision. Everything raised is a
        ``kvitto.ClientError``."""
        return await self._run(
            self._core.protect(
                authorization_id,
                scope,
                resource,
                session_id,
                context,
                estimated_cost_micros,
                verify,
                idempotency_key,
                receipt_timeout,
            )
        )

    def protected(
        self,
        authorization_id: Arg,
        scope: Arg,
        *,
        resource: Arg = None,
        session_id: Arg = None,
        context: Arg = None,
        estimated_cost_micros: Arg = None,
        verify: bool = False,
        receipt_timeout: float = 30.0,
        permit_arg: Optional[str] = None,
    ) -> AsyncProtected:
        """protect() as an async context manager (``async with
        client.protected(a, s) as permit:``) or a decorator on a coroutine
        function (``@client.protected(a, s)``): the check
        runs at every call, the body only on allow. In the decorator form
        any of ``authorization_id``, ``scope``, ``resource``, ``session_id``,
        ``context`` and ``estimated_cost_micros`` may be a callable, called
        with the wrapped function's arguments; ``permit_arg`` names a keyword
        argument that receives the Permit."""
        options: Dict[str, Any] = dict(
            authorization_id=authorization_id,
            scope=scope,
            resource=resource,
            session_id=session_id,
            context=context,
            estimated_cost_micros=estimated_cost_micros,
            verify=verify,
            receipt_timeout=receipt_timeout,
        )
        return AsyncProtected(self, options, permit_arg)

    # --- lifecycle ------------------------------------------------------------

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.aclose()

    # --- the driver -------------------------------------------------------------

    async def _run(self, op: Op[T]) -> T:
        value: Any = None
        error: Optional[Exception] = None
        try:
            while True:
                try:
                    effect = op.throw(error) if error is not None else op.send(value)
                except StopIteration as stop:
                    done: T = stop.value
                    return done
                value, error = None, None
                try:
                    if isinstance(effect, Send):
                        value = await self._send(effect)
                    elif isinstance(effect, Sleep):
                        await anyio.sleep(effect.seconds)
                    elif isinstance(effect, Blocking):
                        value = await anyio.to_thread.run_sync(effect.fn, *effect.args)
                    else:  # pragma: no cover - the core yields nothing else
                        raise AssertionError(f"unknown effect {effect!r}")
                except Exception as e:  # handed to the operation, which may catch it
                    error = e
        finally:
            op.close()

    async def _send(self, req: Send) -> Union[Response, KvittoError]:
        url = self._core.base_url + req.path
        headers = self._core.headers(req)
        timeout = httpx.Timeout(req.timeout or self._core.timeout)
        try:
            if req.stream_to is None:
                r = await self._http.request(req.method, url, content=req.body, params=req.params, headers=headers, timeout=timeout)
                return Response(r.status_code, r.headers, r.content)
            async with self._http.stream(req.method, url, params=req.params, headers=headers, timeout=timeout) as r:
                if r.status_code != 200:
                    return Response(r.status_code, r.headers, await r.aread())
                part = part_path(req.stream_to)
                try:
                    with open(part, "wb") as f:
                        async for chunk in r.aiter_bytes():
                            f.write(chunk)
                    os.replace(part, req.stream_to)
                finally:
                    if os.path.exists(part):
                        os.remove(part)
                return Response(200, r.headers, b"")
        except httpx.HTTPError as e:
            return transport_error(self._core.base_url, e)


class _Resource:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._core = client._core


class Authorizations(_Resource):
    """``client.authorizations``: what a user grants an agent."""

    async def create(
        self,
        *,
        user_id: str,
        agent_id: Optional[str] = None,
        scopes: Optional[Sequence[Scope]] = None,
        bundle_id: Optional[str] = None,
        requires_confirm_for: Optional[Sequence[str]] = None,
        requires_escalation_for: Optional[Sequence[str]] = None,
        escalation_targets: Optional[Mapping[str, str]] = None,
        expires_at: Optional[Instant] = None,
        budget_limit_micros: Optional[int] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
    ) -> CreatedAuthorization:
        """``POST /v1/authorizations``. ``scopes``: names or
        ``ScopeEntry(name, constraints={"max_per_day": n})``; ``bundle_id``
        in place of ``agent_id`` and ``scopes``; ``expires_at`` an aware
        datetime or RFC 3339 text. Members left None are not sent (a
        bundle's then apply). ``user_id`` should be
        ``kvitto.identifiers.from_email(...)``, never an address."""
        return await self._client._run(
            self._core.create_authorization(
                idempotency_key,
                user_id=user_id,
                agent_id=agent_id,
                scopes=scopes,
                bundle_id=bundle_id,
                requires_confirm_for=requires_confirm_for,
                requires_escalation_for=requires_escalation_for,
                escalation_targets=escalation_targets,
                expires_at=expires_at,
                budget_limit_micros=budget_limit_micros,
                metadata=metadata,
            )
        )

    async def get(self, authorization_id: str) -> Authorization:
        """``GET /v1/authorizations/{id}``: grant, status, chain length,
        budget spent and today's counters."""
        return await self._client._run(self._core.get_authorization(authorization_id))

    async def revoke(self, authorization_id: str, *, revoked_by: str, idempotency_key: Optional[str] = None) -> ReceiptRef:
        """``POST /v1/authorizations/{id}/revoke``: its ``authorization.revoked``
        receipt closes the chain; every later check is denied."""
        return await self._client._run(self._core.revoke(authorization_id, revoked_by, idempotency_key))


class Bundles(_Resource):
    """``client.bundles``: named templates for authorizations."""

    async def create(
        self,
        *,
        bundle_id: str,
        agent_id: str,
        scopes: Sequence[Scope],
        requires_confirm_for: Optional[Sequence[str]] = None,
        requires_escalation_for: Optional[Sequence[str]] = None,
        escalation_targets: Optional[Mapping[str, str]] = None,
        budget_limit_micros: Optional[int] = None,
        idempotency_key: Optional[str] = None,
    ) -> Bundle:
        """``POST /v1/bundles`` (a bundle id is used once: 409 ``bundle_exists``)."""
        return await self._client._run(
            self._core.create_bundle(
                idempotency_key,
                bundle_id=bundle_id,
                agent_id=agent_id,
                scopes=scopes,
                requires_confirm_for=requires_confirm_for,
                requires_escalation_for=requires_escalation_for,
                escalation_targets=escalation_targets,
                budget_limit_micros=budget_limit_micros,
            )
        )

    async def list(self) -> List[Bundle]:
        """``GET /v1/bundles``."""
        return await self._client._run(self._core.list_bundles())


class Confirmations(_Resource):
    """``client.confirmations``: the user's answer to a ``confirm``."""

    async def approve(
        self, nonce: str, approved: bool = True, ttl_seconds: Optional[int] = 60, *, idempotency_key: Optional[str] = None
    ) -> ReceiptRef:
        """``POST /v1/confirmations/{nonce}``: ``approved=False`` rejects
        (the next check of the scope is denied, ``confirmation_denied``); an
        approval lets checks of the scope pass for ``ttl_seconds`` (None:
        the server's default, 300)."""
        return await self._client._run(self._core.resolve_confirmation(nonce, approved, ttl_seconds, idempotency_key))


class Escalations(_Resource):
    """``client.escalations``: the approver's answer to an ``escalate``."""

    async def resolve(
        self, escalation_id: str, approved: bool = True, *, resolved_by: str, idempotency_key: Optional[str] = None
    ) -> ReceiptRef:
        """``POST /v1/escalations/{id}/resolve``: an approval lets one later
        check of the scope pass; a rejection makes the next one
        ``escalation_denied``."""
        return await self._client._run(self._core.resolve_escalation(escalation_id, approved, resolved_by, idempotency_key))


class Receipts(_Resource):
    """``client.receipts``: signed receipts, verified by the Rust core."""

    async def get(self, receipt_id: str, *, wait: bool = True, timeout: float = 30.0) -> VerifiedReceipt:
        """``GET /v1/receipts/{id}``, waiting (up to ``timeout`` seconds,
        polling at the server's ``ready_at_estimate``) until it is signed,
        then verified against the workspace's key document (pinned by
        ``keys_pin``; cached). Raises ReceiptVerificationError (a
        VerificationError) when it does not verify — it never returns an
        unverified receipt — and ReceiptPendingError when still unsigned."""
        return await self._client._run(self._core.get_receipt(receipt_id, wait, timeout, {}))

    async def export(
        self,
        authorization_id: Optional[str] = None,
        *,
        since: Optional[Instant] = None,
        until: Optional[Instant] = None,
        path: Optional[Union[str, "os.PathLike[str]"]] = None,
        chains: bool = True,
        timeout: Optional[float] = None,
    ) -> Report:
        """``GET /v1/receipts/export``: one chain (``authorization_id``) or
        every chain with a receipt in [since, until), as JSON Lines — saved
        to ``path`` when given (written whole, then renamed), else kept in
        memory — verified with ``kvitto.verify_export`` (chains too) against
        the workspace's key document. Returns the Report; check
        ``report.ok``. ``timeout`` is per attempt (default: at least 60 s,
        as the server may wait 10 s for its signer)."""
        return await self._client._run(self._core.export(authorization_id, since, until, path, chains, timeout))
