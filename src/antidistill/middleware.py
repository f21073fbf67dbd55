"""``AntiDistillMiddleware``: the pure-ASGI entry point.

Never Starlette's base HTTP middleware class. Everything computable once is computed in
``__init__``; each HTTP request gets a :class:`_Responder` that reads the body once (up to
``max_body_bytes``), asks the guard for the final decision, then either answers with our own
error response *before* calling the app, or calls the app with a one-shot replay of the
(possibly rewritten) body and a ``send`` wrapper that forwards every message as it arrives
while metering usage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from antidistill.context import RequestContext, current_decision
from antidistill.decision import Action, Decision
from antidistill.enforcement.apply import OVERSIZE, refusal
from antidistill.enforcement.responses import ErrorBody, encode, simple_error
from antidistill.enforcement.sending import ResponseSender
from antidistill.enforcement.withholding import Withholding
from antidistill.guard import Guard
from antidistill.settings import Settings
from antidistill.storage.deferred import flush_before_shutdown
from antidistill.storage.resilient import StoreUnavailable

logger = logging.getLogger("antidistill")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_TOO_LARGE = simple_error(413, "request_too_large", "Request body exceeds the size limit.")
_UNREADABLE = simple_error(400, "invalid_request_body", "Request body could not be read.")
_UNAVAILABLE = simple_error(503, "service_unavailable",
                            "Usage checks are unavailable; try again shortly.")
# Framing headers that no longer describe a replaced body.
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})


class AntiDistillMiddleware:
    """Protect an ASGI app. ``app.add_middleware(AntiDistillMiddleware)`` reads the environment;
    pass ``guard=Guard(...)`` (or ``settings=Settings(...)``) to configure in code."""

    def __init__(
        self, app: ASGIApp, *, guard: Guard | None = None, settings: Settings | None = None
    ) -> None:
        self.app = app
        self.guard = guard if guard is not None else Guard(settings)
        s = self.guard.settings
        self.max_body = s.max_body_bytes
        self.reject_oversize = s.oversize_action == "reject"
        self.withholding = Withholding(s, self.guard.pseudonymize, self.guard.counters)
        # The answer text is read from responses only for session continuity.
        self.keep_answer = self.guard.remember_answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                # Queued store writes are sent before the server stops the loop.
                send = flush_before_shutdown(send, self.guard.store)
            await self.app(scope, receive, send)
            return
        policy = self.guard.routes.lookup(scope.get("method", "GET"), scope.get("path", "/"))
        if policy == "exempt":
            await self.app(scope, receive, send)
            return
        await _Responder(self, scope, receive, send, policy).run()


class _Responder:
    """One request's work: body, decision, enforcement, the app call and the settlement."""

    __slots__ = ("mw", "guard", "scope", "receive", "send", "ctx", "replay")

    def __init__(self, mw: AntiDistillMiddleware, scope: Scope, receive: Receive,
                 send: Send, policy: str) -> None:
        self.mw, self.guard = mw, mw.guard
        self.scope, self.receive, self.send = scope, receive, send
        self.ctx: RequestContext = mw.guard.context(scope, policy)
        self.replay = _BodyReplay(receive)

    async def run(self) -> None:
        guard, ctx = self.guard, self.ctx
        metrics = guard.metrics
        t0 = time.perf_counter() if metrics is not None else 0.0
        if ctx.policy == "inspect" and ctx.method in BODY_METHODS:
            if not await self._read_body():
                return
        try:
            decision = await guard.check(ctx, self.replay if self.replay.consumed else None)
        except StoreUnavailable:
            await _respond(_UNAVAILABLE, self.send, [("Retry-After", "1")])
            return
        if metrics is not None:
            metrics.observe_overhead(time.perf_counter() - t0, decision.route or "default")
        state = self.scope.get("state")
        if state is None:
            state = self.scope["state"] = {}
        state["antidistill"] = decision
        token = current_decision.set(decision)
        try:
            await self._serve(decision)
        finally:
            current_decision.reset(token)

    async def _read_body(self) -> bool:
        """Buffer the body for analysis; False when it was refused as oversize."""
        replay, cap = self.replay, self.mw.max_body
        await replay.read(cap)
        # Analyse at most the cap (the chunk that crossed it may be much larger); the app
        # still gets every byte through the replay.
        self.ctx.body = replay.body[:cap] if replay.over_cap else replay.body
        self.ctx.body_truncated = replay.over_cap
        if replay.over_cap and self.mw.reject_oversize:
            await _respond(_TOO_LARGE, self.send)
            return False
        return True

    async def _serve(self, decision: Decision) -> None:
        action = decision.action
        if decision.enforced and action is not Action.ALLOW:
            if action.is_denied():
                await _respond(await self.guard.deny_response(self.ctx, decision), self.send)
                return
            if (refused := refusal(decision)) is not None:
                await _respond(_TOO_LARGE if refused == OVERSIZE else _UNREADABLE, self.send)
                return
            if action is Action.DELAY and decision.delay_seconds:
                await asyncio.sleep(min(decision.delay_seconds, self.guard.settings.max_delay))
        withholding = self.mw.withholding
        if withholding.binder is not None:
            blobs = withholding.unbind_blobs(self.replay, decision, self.guard.mode)
            if blobs is not None:
                self.scope["state"]["antidistill_blobs"] = blobs
        if self.replay.replaced:
            self.scope["headers"] = _reframe(self.scope.get("headers") or [],
                                             len(self.replay.body))
        ctx = self.ctx
        plan = withholding.response_plan(decision, ctx.policy == "inspect")
        # The API format matters only to a filter; reading it may parse the body.
        parsed = ctx.parsed if plan is not None else None
        meter = ResponseSender(plan, parsed.format if parsed else None, self.mw.keep_answer)
        await self.mw.app(self.scope,
                          self.replay.receive if self.replay.consumed else self.receive,
                          meter.wrap(self.send))
        usage = meter.finish()
        if usage is not None and self.ctx.estimated_tokens:
            try:
                await self.guard.settle(self.ctx, decision, usage)
            except Exception as exc:  # settlement is bookkeeping, never an error page
                self.guard.counters["settle_errors"] += 1
                logger.warning("antidistill: usage settlement failed: %s", type(exc).__name__)


class _BodyReplay:
    """Reads the request body once and replays it to the app exactly once.

    The first ``receive`` the app makes returns everything buffered in one message (with
    ``more_body`` True when the body was longer than the cap and the rest is still streaming);
    later calls go to the server's ``receive``. A disconnect seen while reading is delivered
    after the replayed body.
    """

    __slots__ = ("_receive", "_size", "body", "over_cap", "complete", "consumed", "_replayed",
                 "_pending", "replaced")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._size = 0
        self.body = b""
        self.over_cap = False
        self.complete = False
        self.consumed = False
        self._replayed = False
        self._pending: Message | None = None
        self.replaced = False

    async def read(self, cap: int) -> None:
        self.consumed = True
        await self._read_until(cap)
        # A last chunk that crossed the cap is over it too, though nothing follows it.
        self.over_cap = self._size > cap

    async def read_rest(self, limit: int) -> bool:
        """Read on to the end of the body (for a rewrite); False when it exceeds ``limit``."""
        if not self.complete and self._pending is None:
            await self._read_until(limit)
        return self.complete and self._size <= limit

    async def _read_until(self, cap: int) -> None:
        chunks = [self.body] if self.body else []
        while True:
            message = await self._receive()
            if message["type"] != "http.request":
                self._pending = message  # http.disconnect: hand it on after the body
                break
            chunk = message.get("body", b"")
            if chunk:
                chunks.append(chunk)
                self._size += len(chunk)
            if not message.get("more_body", False):
                self.complete = True
                break
            if self._size > cap:
                break
        self.body = b"".join(chunks)

    def replace(self, body: bytes) -> None:
        self.body = body
        self.replaced = True

    async def receive(self) -> Message:
        if not self._replayed:
            self._replayed = True
            # A disconnect seen while reading leaves more_body True: the body is incomplete,
            # and the app learns why from the http.disconnect that follows.
            return {"type": "http.request", "body": self.body, "more_body": not self.complete}
        if self._pending is not None:
            message, self._pending = self._pending, None
            return message
        return await self._receive()


async def _respond(err: ErrorBody, send: Send, extra: list[tuple[str, str]] | None = None) -> None:
    status, payload, headers = err
    body = encode(payload)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers + (extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _reframe(headers: Any, length: int) -> list[tuple[bytes, bytes]]:
    """Headers of a rewritten, fully buffered body: one Content-Length and no chunking."""
    out = [(k, v) for k, v in headers if k.lower() not in _FRAMING]
    out.append((b"content-length", str(length).encode()))
    return out
