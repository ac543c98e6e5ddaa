"""What the client tests share: a real kvitto-server on 127.0.0.1 (one per
session, with a workspace per test that needs its own), a fault-injecting
HTTP proxy in front of it, and `Side`, which runs the same test body
against Client and AsyncClient.

Nothing here races a clock: waits are on events with a patience that only
a real hang reaches, and the proxy's "slow" answers are held until the
client gives up and closes the connection."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import socket
import struct
import subprocess
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import httpx

import kvitto

PATIENCE = 300.0  # seconds; only a real hang gets near it


class Server:
    """kvitto-server serving a fresh data directory on a free loopback port;
    lives until close()."""

    def __init__(self, bin_, data):
        self.bin = bin_
        self.data = data
        init = subprocess.run(
            [str(bin_), "init", "--data", str(data), "--format", "json"], capture_output=True, check=False
        )
        assert init.returncode == 0, init.stderr.decode()
        self.creds = json.loads(init.stdout)
        env = dict(os.environ, KVITTO_LOG="warn")
        self.proc = subprocess.Popen(
            [str(bin_), "serve", "--data", str(data), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        line = self.proc.stdout.readline().decode().strip()
        assert line.startswith("listening on http://127.0.0.1:"), (line, self.proc.stderr.read().decode())
        self.base = line[len("listening on ") :]
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    @property
    def api_key(self) -> str:
        return self.creds["api_key"]

    @property
    def workspace_id(self) -> str:
        return self.creds["workspace_id"]

    def workspace(self) -> Dict[str, str]:
        """Another workspace (its own key and API key), beside the running server."""
        out = subprocess.run(
            [str(self.bin), "workspace", "create", "--data", str(self.data), "--format", "json"],
            capture_output=True,
            check=False,
        )
        assert out.returncode == 0, out.stderr.decode()
        return json.loads(out.stdout)

    def raw(self, method: str, path: str, body: Any = None, api_key: Optional[str] = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", "Bearer " + (api_key or self.api_key))
        try:
            with urllib.request.urlopen(req, timeout=PATIENCE) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def key_document(self, workspace_id: Optional[str] = None) -> bytes:
        status, doc = self.raw("GET", f"/v1/workspaces/{workspace_id or self.workspace_id}/keys")
        assert status == 200
        return doc

    def pin(self, workspace_id: Optional[str] = None) -> str:
        return kvitto.KeySet.from_json(self.key_document(workspace_id)).sha256

    def authorization(self, authorization_id: str, api_key: Optional[str] = None) -> Dict[str, Any]:
        status, body = self.raw("GET", f"/v1/authorizations/{authorization_id}", api_key=api_key)
        assert status == 200, body
        return json.loads(body)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(PATIENCE)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --- the fault proxy ---------------------------------------------------------


@dataclass
class Seen:
    """One request the proxy received."""

    method: str
    path: str
    headers: Dict[str, str]
    body: bytes
    n: int  # 0-based, over all requests


@dataclass
class Upstream:
    status: int
    headers: Dict[str, str]
    body: bytes


@dataclass
class Act:
    """What the proxy does with one request.

    kind: "forward" (to the server, then answer, `edit` may change the
    answer), "respond" (answer `status`/`headers`/`body` without the
    server), "forward_drop" (forward, so the server commits, then close
    without answering), "reset" (RST, nothing forwarded), "hold" (answer
    nothing until the client closes the connection), "hold_body" (send the
    head of an answer and part of its body, then hold)."""

    kind: str = "forward"
    status: int = 200
    headers: Dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    edit: Optional[Callable[[Seen, Upstream], Upstream]] = None


FORWARD = Act()
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


class Proxy:
    """An HTTP/1.1 proxy on 127.0.0.1 in front of `upstream`, run by an
    asyncio loop on its own thread. `rule(seen) -> Act` decides per
    request (default: forward). Records every request in `seen`, every
    upstream answer in `answers`, and counts connections the client
    closed while held (`gave_up`)."""

    def __init__(self, upstream: str, rule: Optional[Callable[[Seen], Act]] = None):
        self.upstream = upstream
        self.rule = rule or (lambda s: FORWARD)
        self.seen: List[Seen] = []
        self.answers: List[Upstream] = []
        self.gave_up = 0
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        assert self._ready.wait(PATIENCE)
        self.base = f"http://127.0.0.1:{self.port}"

    # --- waiting (for the test thread) ---

    def wait_for(self, pred: Callable[["Proxy"], bool]) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: pred(self), PATIENCE), "the proxy never saw it"

    def _note(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def requests_to(self, prefix: str, method: Optional[str] = None) -> List[Seen]:
        with self._cond:
            return [s for s in self.seen if s.path.startswith(prefix) and (method is None or s.method == method)]

    # --- the loop ---

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._http = httpx.AsyncClient(base_url=self.upstream, timeout=PATIENCE)
        self._tasks: set = set()
        self._server = await asyncio.start_server(self._track, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await self._conn(reader, writer)
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                with self._cond:
                    seen = Seen(method, target, headers, body, len(self.seen))
                    self.seen.append(seen)
                    self._cond.notify_all()
                act = self.rule(seen)
                if act.kind == "reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                if act.kind in ("hold", "hold_body"):
                    if act.kind == "hold_body":
                        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"res")
                        await writer.drain()
                    await reader.read()  # until the client closes: it gave up
                    with self._cond:
                        self.gave_up += 1
                        self._cond.notify_all()
                    writer.transport.abort()
                    return
                if act.kind == "respond":
                    up = Upstream(act.status, dict(act.headers), act.body)
                else:
                    up = await self._forward(seen)
                    with self._cond:
                        self.answers.append(up)
                        self._cond.notify_all()
                    if act.edit is not None:
                        up = act.edit(seen, up)
                    if act.kind == "forward_drop":
                        writer.transport.abort()
                        return
                await self._answer(writer, up)
        except Exception:  # a client that went away mid-answer
            writer.transport.abort()

    async def _forward(self, seen: Seen) -> Upstream:
        headers = {k: v for k, v in seen.headers.items() if k not in HOP and k != "host"}
        r = await self._http.request(seen.method, seen.path, content=seen.body or None, headers=headers)
        return Upstream(r.status_code, {k.lower(): v for k, v in r.headers.items() if k.lower() not in HOP}, r.content)

    async def _answer(self, writer: asyncio.StreamWriter, up: Upstream) -> None:
        head = [f"HTTP/1.1 {up.status} X"]
        head += [f"{k}: {v}" for k, v in up.headers.items() if k.lower() not in HOP]
        head.append(f"Content-Length: {len(up.body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + up.body)
        await writer.drain()

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._http.aclose()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(PATIENCE)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(PATIENCE)


# --- one test body, both clients --------------------------------------------


class Side:
    """Client or AsyncClient behind one interface: `side(x)` returns x, or
    runs x to completion on this side's event loop when it is awaitable, so
    a test body written once exercises both clients."""

    def __init__(self, kind: str, base_url: str, api_key: str, **options: Any):
        self.kind = kind
        self.loop = asyncio.new_event_loop() if kind == "async" else None
        self.clients: List[Any] = []
        self.client = self.new(base_url, api_key, **options)

    @property
    def is_async(self) -> bool:
        return self.kind == "async"

    def new(self, base_url: str, api_key: str, **options: Any) -> Any:
        options.setdefault("timeout", PATIENCE)
        options.setdefault("retry_backoff", 0.01)
        cls = kvitto.AsyncClient if self.is_async else kvitto.Client
        c = cls(base_url, api_key, **options)
        self.clients.append(c)
        return c

    def __call__(self, value: Any) -> Any:
        if inspect.isawaitable(value):
            assert self.loop is not None, "an awaitable from the sync client"
            return self.loop.run_until_complete(value)
        return value

    def guarded(self, client: Any, action: Callable[..., Any], *args: Any, **options: Any) -> Callable[..., Any]:
        """`action` wrapped by client.protected(*args, **options): a plain
        function for Client, a coroutine function for AsyncClient; calling
        the result runs it (through side())."""
        if self.is_async:

            async def run(*a: Any, **kw: Any) -> Any:
                return action(*a, **kw)

            wrapped = client.protected(*args, **options)(run)
        else:
            wrapped = client.protected(*args, **options)(action)
        return lambda *a, **kw: self(wrapped(*a, **kw))

    def within(self, client: Any, action: Callable[[Any], Any], *args: Any, **options: Any) -> Any:
        """`with client.protected(...) as permit: action(permit)` (or `async with`)."""
        guard = client.protected(*args, **options)
        if self.is_async:

            async def run() -> Any:
                async with guard as permit:
                    return action(permit)

            return self(run())
        with guard as permit:
            return action(permit)

    def close(self) -> None:
        for c in self.clients:
            if self.is_async:
                self(c.aclose())
            else:
                c.close()
        if self.loop is not None:
            self.loop.close()
