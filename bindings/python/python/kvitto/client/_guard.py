"""``client.protected(...)``: protect() as a decorator and a context
manager, for Client (sync functions, ``with``) and AsyncClient (coroutine
functions, ``async with``). The check runs at every call or entry, never at
decoration; the body runs only with a Permit in hand."""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Mapping, Optional, TypeVar, Union

from kvitto.client._types import Permit

if TYPE_CHECKING:
    from kvitto.client._async import AsyncClient
    from kvitto.client._sync import Client

F = TypeVar("F", bound=Callable[..., Any])

#: A value, or a callable computing it from the wrapped function's arguments.
Arg = Union[Any, Callable[..., Any]]

_NAMES = ("authorization_id", "scope", "resource", "session_id", "context", "estimated_cost_micros")


class _Base:
    def __init__(self, options: Dict[str, Any], permit_arg: Optional[str]) -> None:
        self._options = options
        self._permit_arg = permit_arg

    def _fixed(self) -> Dict[str, Any]:
        for name in _NAMES:
            if callable(self._options.get(name)):
                raise TypeError(f"{name} is a callable: that needs the decorator form, whose call gives it arguments")
        return dict(self._options)

    def _resolved(self, args: Any, kwargs: Mapping[str, Any]) -> Dict[str, Any]:
        out = dict(self._options)
        for name in _NAMES:
            if callable(out.get(name)):
                out[name] = out[name](*args, **kwargs)
        return out

    def _with_permit(self, kwargs: Dict[str, Any], permit: Permit) -> Dict[str, Any]:
        if self._permit_arg is not None:
            kwargs = dict(kwargs)
            kwargs[self._permit_arg] = permit
        return kwargs


class Protected(_Base):
    """``with client.protected(auth_id, scope) as permit: ...`` or
    ``@client.protected(auth_id, scope)`` on a function."""

    def __init__(self, client: "Client", options: Dict[str, Any], permit_arg: Optional[str]) -> None:
        super().__init__(options, permit_arg)
        self._client = client

    def __enter__(self) -> Permit:
        return self._client.protect(**self._fixed())

    def __exit__(self, *exc: Any) -> None:
        return None

    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            raise TypeError("Client.protected wraps plain functions; use AsyncClient.protected for coroutine functions")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            permit = self._client.protect(**self._resolved(args, kwargs))
            return fn(*args, **self._with_permit(kwargs, permit))

        return wrapper  # type: ignore[return-value]


class AsyncProtected(_Base):
    """``async with client.protected(auth_id, scope) as permit: ...`` or
    ``@client.protected(auth_id, scope)`` on a coroutine function."""

    def __init__(self, client: "AsyncClient", options: Dict[str, Any], permit_arg: Optional[str]) -> None:
        super().__init__(options, permit_arg)
        self._client = client

    async def __aenter__(self) -> Permit:
        return await self._client.protect(**self._fixed())

    async def __aexit__(self, *exc: Any) -> None:
        return None

    def __enter__(self) -> None:
        raise TypeError("AsyncClient.protected is an async context manager: use `async with`")

    def __exit__(self, *exc: Any) -> None:  # pragma: no cover - __enter__ always raises
        return None

    def __call__(self, fn: F) -> F:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError("AsyncClient.protected wraps coroutine functions (async def); use Client.protected otherwise")

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            permit = await self._client.protect(**self._resolved(args, kwargs))
            result: Awaitable[Any] = fn(*args, **self._with_permit(kwargs, permit))
            return await result

        return wrapper  # type: ignore[return-value]
