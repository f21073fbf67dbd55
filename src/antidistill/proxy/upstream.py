"""The reverse proxy: a pure-ASGI app that forwards every HTTP request to one upstream.

:func:`create_proxy_app` puts :class:`~antidistill.AntiDistillMiddleware` in front of an
:class:`UpstreamProxy`, so a model server written in any language gets the same protection as a
Python app. One pooled ``httpx.AsyncClient`` per app (opened by the ASGI lifespan, or at the
first request when the server runs no lifespan); bodies are streamed both ways, the response
relayed byte for byte (``aiter_raw``: gzip stays gzip, SSE events arrive as the upstream sends
them); a client that goes away cancels the upstream request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from antidistill.enforcement.responses import encode, simple_error
from antidistill.errors import ConfigurationError
from antidistill.proxy.headers import header, response_headers, upstream_request_headers
from antidistill.settings import Settings

logger = logging.getLogger("antidistill.proxy")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Headers httpx would add on its own; a proxy adds nothing the client did not send.
_CLIENT_DEFAULTS = ("accept", "accept-encoding", "connection", "user-agent")


class ClientGone(Exception):
    """The downstream client disconnected; the upstream request is abandoned."""


class UpstreamProxy:
    """Forward HTTP requests to ``upstream`` (an ``http(s)://host:port[/prefix]`` URL).

    ``transport`` is for tests and special set-ups (e.g. ``httpx.AsyncHTTPTransport(uds=...)``);
    by default a pooled transport with ``max_connections`` connections is used.
    """

    def __init__(
        self,
        upstream: str,
        *,
        timeout: float = 300.0,
        connect_timeout: float = 5.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(
                "the upstream must be an http:// or https:// URL with a host, e.g. "
                "ANTIDISTILL_UPSTREAM_URL=http://127.0.0.1:8000")
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.prefix = parts.path.rstrip("/").encode("latin-1")
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout, pool=connect_timeout)
        self.limits = httpx.Limits(max_connections=max_connections,
                                   max_keepalive_connections=max_connections)
        self._transport = transport
        self._http: httpx.AsyncClient | None = None

    # -- client lifecycle ------------------------------------------------------------------
    def client(self) -> httpx.AsyncClient:
        """The pooled client, created on first use."""
        if self._http is None:
            http = httpx.AsyncClient(base_url=self.base, timeout=self.timeout, limits=self.limits,
                                     transport=self._transport, follow_redirects=False,
                                     trust_env=False)
            for name in _CLIENT_DEFAULTS:
                del http.headers[name]
            self._http = http
        return self._http

    async def aclose(self) -> None:
        """Close the pooled client (the next request opens a new one)."""
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- requests --------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "http":
            await self._forward(scope, receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})  # not proxied

    def _build(self, scope: Scope, body_done: asyncio.Event, receive: Receive) -> httpx.Request:
        raw_path = scope.get("raw_path") or scope.get("path", "/").encode("utf-8")
        query = scope.get("query_string") or b""
        target = (self.prefix + raw_path + (b"?" + query if query else b"")).decode("latin-1")
        incoming = scope.get("headers") or []
        peer = scope.get("client")
        headers = upstream_request_headers(incoming, client=peer[0] if peer else None,
                                           scheme=scope.get("scheme", "http"))
        length = header(incoming, b"content-length")
        has_body = (length is not None and length.strip() not in (b"", b"0")) or (
            header(incoming, b"transfer-encoding") is not None)
        content: AsyncIterator[bytes] | None = None
        if has_body:
            content = _request_body(receive, body_done)
        else:
            body_done.set()
        http = self.client()
        # ``url`` must stay a raw target: httpx would re-quote an already percent-encoded path.
        url = httpx.URL(self.base).copy_with(raw_path=target.encode("latin-1"))
        return http.build_request(scope.get("method", "GET"), url, headers=headers,
                                  content=content)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        body_done = asyncio.Event()
        try:
            request = self._build(scope, body_done, receive)
        except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
            _log_failure("request not forwardable", exc)
            await _error(send, 400, "invalid_request", "The request could not be forwarded.")
            return
        relay = asyncio.ensure_future(self._relay(request, send))
        watch = asyncio.ensure_future(_wait_disconnect(receive, body_done))
        try:
            await asyncio.wait({relay, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (relay, watch):
                if not task.done():
                    task.cancel()
            for task in (relay, watch):
                with contextlib.suppress(asyncio.CancelledError, ClientGone, OSError):
                    await task

    async def _relay(self, request: httpx.Request, send: Send) -> None:
        try:
            response = await self.client().send(request, stream=True)
        except ClientGone:
            return
        except httpx.TimeoutException as exc:
            _log_failure("upstream timed out", exc)
            await _error(send, 504, "upstream_timeout",
                         "The model server did not answer in time.")
            return
        except httpx.HTTPError as exc:
            _log_failure("upstream unreachable", exc)
            await _error(send, 502, "upstream_unavailable",
                         "The model server could not be reached.")
            return
        try:
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": response_headers(response.headers.raw)})
            async for chunk in response.aiter_raw():
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.HTTPError as exc:
            # Too late for a status: returning with the response unfinished makes the server
            # close the connection, so the client sees a truncated body, never a complete one.
            _log_failure("upstream failed mid-response", exc)
        finally:
            await response.aclose()


async def _request_body(receive: Receive, done: asyncio.Event) -> AsyncIterator[bytes]:
    """Stream what the app's ``receive`` yields (the middleware's replay first)."""
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return
    finally:
        done.set()


async def _wait_disconnect(receive: Receive, body_done: asyncio.Event) -> None:
    """Return when the client disconnects (``receive`` is ours only once the body is read)."""
    await body_done.wait()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _error(send: Send, status: int, code: str, message: str) -> None:
    _, payload, _ = simple_error(status, code, message)
    body = encode(payload)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _log_failure(what: str, exc: BaseException) -> None:
    logger.warning("antidistill proxy: %s (%s)", what, type(exc).__name__)


def create_proxy_app(
    settings: Settings | None = None,
    *,
    upstream: str | None = None,
    guard: Any = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Any:
    """The protected reverse proxy: ``AntiDistillMiddleware(UpstreamProxy(upstream))``.

    ``settings`` default to the environment; ``upstream`` defaults to
    ``settings.upstream_url``. Pass ``guard`` to share a configured :class:`~antidistill.Guard`
    (its settings then win). Returns the ASGI app; ``app.app`` is the :class:`UpstreamProxy`.
    """
    from antidistill.guard import Guard
    from antidistill.middleware import AntiDistillMiddleware

    if guard is None:
        guard = Guard(settings)
    s: Settings = guard.settings
    url = upstream or s.upstream_url
    if not url:
        raise ConfigurationError(
            "no upstream: set ANTIDISTILL_UPSTREAM_URL (e.g. http://127.0.0.1:8000) or pass "
            "--upstream to `antidistill proxy`")
    forwarder = UpstreamProxy(url, timeout=s.upstream_timeout,
                              connect_timeout=s.upstream_connect_timeout,
                              max_connections=s.upstream_max_connections, transport=transport)
    return AntiDistillMiddleware(forwarder, guard=guard)
