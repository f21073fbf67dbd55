"""``AntiDistillMiddleware``: the pure-ASGI entry point.

Never Starlette's base HTTP middleware class. Per request: decide the route policy from
method and path, read the body once (up to ``max_body_bytes``), evaluate, then either answer
with our own error response *before* calling the app, or call the app with a one-shot replay
of the body and a ``send`` wrapper that forwards every message as it arrives while metering
usage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from antidistill.context import RequestContext, current_decision
from antidistill.decision import Action, Decision
from antidistill.enforcement.blobs import BlobBinder
from antidistill.enforcement.degrade import DegradePlan, degrade_body
from antidistill.enforcement.metering import ResponseMeter, Usage
from antidistill.enforcement.responses import ErrorBody, encode, error_body, simple_error
from antidistill.enforcement.withhold import ResponseFilter, WithholdPlan, response_filter
from antidistill.guard import Guard, error_site
from antidistill.settings import Settings

logger = logging.getLogger("antidistill")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# The parser's format names -> the degrade rewrite's (it picks field names per API).
_DEGRADE_FORMAT = {
    "openai.chat": "openai_chat",
    "openai.completions": "openai_completions",
    "openai.responses": "openai_responses",
    "anthropic.messages": "anthropic",
    "gemini": "gemini",
}


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
        self.degrade_plan = DegradePlan(max_tokens_cap=s.degrade_max_tokens)
        self.withhold_plan = WithholdPlan(reasoning="reasoning" in s.withhold,
                                          logprobs="logprobs" in s.withhold)
        self.withhold_actions = frozenset(Action(a) for a in s.withhold_actions) | {
            Action.DEGRADE}
        self.binder = (BlobBinder(self.guard.pseudonymize.derive(b"antidistill-blob"))
                       if s.bind_reasoning_blobs else None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        guard = self.guard
        method: str = scope.get("method", "GET")
        path: str = scope.get("path", "/")
        policy = guard.routes.lookup(method, path)
        if policy == "exempt":
            await self.app(scope, receive, send)
            return
        metrics = guard.metrics
        t0 = time.perf_counter() if metrics is not None else 0.0
        identity, trusted = guard.resolve_identity(scope)
        headers = scope.get("headers")
        ctx = RequestContext(method, path, list(headers) if headers else [], identity,
                             guard.clock(), policy, scope=scope, trusted_peer=trusted)
        replay = _BodyReplay(receive)
        if policy == "inspect" and method in BODY_METHODS:
            await replay.read(self.max_body)
            # Analyse at most the cap (the chunk that crossed it may be much larger); the app
            # still gets every byte through the replay.
            ctx.body = replay.body[: self.max_body] if replay.over_cap else replay.body
            ctx.body_truncated = replay.over_cap
            if replay.over_cap and self.reject_oversize:
                await _respond(simple_error(413, "request_too_large",
                                            "Request body exceeds the size limit."), send)
                return
        if guard._identity_resolver is not None:
            await guard.apply_identity_hook(ctx)
        try:
            decision = await guard.evaluate(ctx)
        except Exception as exc:
            decision_or_none = self._failure(exc)
            if decision_or_none is None:
                await _respond(simple_error(503, "service_unavailable",
                                            "Usage checks are unavailable; try again shortly."),
                               send, [("Retry-After", "1")])
                return
            decision = decision_or_none
        if metrics is not None:
            metrics.observe_overhead(time.perf_counter() - t0, guard.routes.pattern(method, path))
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["antidistill"] = decision
        token = current_decision.set(decision)
        try:
            action = decision.action
            if action is not Action.ALLOW and decision.enforced:
                if action.is_denied():
                    await self._deny(ctx, decision, send)
                    return
                if action is Action.DELAY and decision.delay_seconds:
                    await asyncio.sleep(min(decision.delay_seconds, guard.settings.max_delay))
            if self.binder is not None and replay.complete and replay.body:
                self._unbind_blobs(replay, scope, decision)
            if (decision.enforced and action is Action.DEGRADE and replay.complete
                    and replay.body):
                result = degrade_body(replay.body, self.degrade_plan,
                                      api_format=_DEGRADE_FORMAT.get(
                                          ctx.parsed.format if ctx.parsed else ""))
                if result.changes:
                    replay.replace(result.body)
                    scope["headers"] = _set_content_length(scope.get("headers") or [],
                                                           len(result.body))
                    decision = _with_changes(decision, result.changes)
                    scope["state"]["antidistill"] = decision
            meter = _Metering(self._response_plan(decision, policy == "inspect"),
                              ctx.parsed.format if ctx.parsed else None)
            await self.app(scope, replay.receive if replay.consumed else receive,
                           meter.wrap(send))
            usage = meter.finish()
            if usage is not None and ctx.estimated_tokens:
                try:
                    await guard.settle(ctx, decision, usage)
                except Exception as exc:  # settlement is bookkeeping, never an error page
                    guard.counters["settle_errors"] += 1
                    logger.warning("antidistill: usage settlement failed: %s", type(exc).__name__)
        finally:
            current_decision.reset(token)

    def _response_plan(self, decision: Decision, inspected: bool) -> WithholdPlan | None:
        """What the response loses (None: forwarded untouched, no filter at all).

        Blobs are sealed only on routes whose requests are read, where they come back."""
        seal = (self.binder.sealer(decision.identity)
                if self.binder is not None and inspected else None)
        if (decision.enforced and decision.action in self.withhold_actions
                and self.withhold_plan.active):
            self.guard.counters["withheld"] += 1
            return self.withhold_plan if seal is None else WithholdPlan(
                self.withhold_plan.reasoning, self.withhold_plan.logprobs, seal)
        return WithholdPlan(reasoning=False, seal=seal) if seal is not None else None

    def _unbind_blobs(self, replay: _BodyReplay, scope: Scope, decision: Decision) -> None:
        """Unwrap the caller's own reasoning blobs; strip and count everyone else's."""
        assert self.binder is not None
        check = self.binder.check_request(replay.body, decision.identity,
                                          strip=self.guard.mode != "monitor")  # counts only
        if check.changed:
            replay.replace(check.body)
            scope["headers"] = _set_content_length(scope.get("headers") or [], len(check.body))
        if check.stripped:
            self.guard.counters["blob_replays"] += len(check.replays)
            if self.guard.mode != "monitor":
                self.guard.counters["blob_stripped"] += check.stripped
            scope["state"]["antidistill_blobs"] = check

    def _failure(self, exc: Exception) -> Decision | None:
        """Fail open with an allow decision, or None for fail-closed storage outages."""
        from antidistill.storage.resilient import StoreUnavailable

        self.guard.counters["errors"] += 1
        if isinstance(exc, StoreUnavailable):
            return None
        logger.error("antidistill: evaluation failed (%s at %s); request allowed (fail-open)",
                     type(exc).__name__, error_site(exc))
        return Decision(action=Action.ALLOW, score=0.0, enforced=False)

    async def _deny(self, ctx: RequestContext, decision: Decision, send: Send) -> None:
        body: ErrorBody | None = None
        hook = self.guard._error_response
        if hook is not None:
            got = await self.guard.hooks.call(hook, ctx, decision)
            if isinstance(got, tuple) and len(got) == 3:
                body = got
        await _respond(body or error_body(decision), send)


class _BodyReplay:
    """Reads the request body once and replays it to the app exactly once.

    The first ``receive`` the app makes returns everything buffered in one message (with
    ``more_body`` True when the body was longer than the cap and the rest is still streaming);
    later calls go to the server's ``receive``. A disconnect seen while reading is delivered
    after the replayed body.
    """

    __slots__ = ("_receive", "_chunks", "body", "over_cap", "complete", "consumed",
                 "_replayed", "_pending")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._chunks: list[bytes] = []
        self.body = b""
        self.over_cap = False
        self.complete = False
        self.consumed = False
        self._replayed = False
        self._pending: Message | None = None

    async def read(self, cap: int) -> None:
        self.consumed = True
        size = 0
        while True:
            message = await self._receive()
            if message["type"] != "http.request":
                self._pending = message  # http.disconnect: hand it on after the body
                break
            chunk = message.get("body", b"")
            if chunk:
                self._chunks.append(chunk)
                size += len(chunk)
            if not message.get("more_body", False):
                self.complete = True
                break
            if size > cap:
                self.over_cap = True
                break
        self.body = b"".join(self._chunks)
        self._chunks = []

    def replace(self, body: bytes) -> None:
        self.body = body

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


class _Metering:
    """Feeds body chunks to a usage meter. Without a plan every message is forwarded as the
    very object the app sent; with one, bodies go through a :class:`ResponseFilter`."""

    __slots__ = ("api_format", "filter", "held", "meter", "plan", "status")

    def __init__(self, plan: WithholdPlan | None = None, api_format: str | None = None) -> None:
        self.meter: ResponseMeter | None = None
        self.status = 0
        self.plan = plan
        self.api_format = api_format
        self.filter: ResponseFilter | None = None
        self.held: tuple[Message, Message] | None = None

    def _on_start(self, message: Message) -> None:
        self.status = message.get("status", 0)
        ctype = encoding = None
        for name, value in message.get("headers") or ():
            lname = name.lower()
            if lname == b"content-type":
                ctype = value.decode("latin-1")
            elif lname == b"content-encoding":
                encoding = value.decode("latin-1")
        if 200 <= self.status < 300:
            self.meter = ResponseMeter(ctype, content_encoding=encoding)

    def wrap(self, send: Send) -> Send:
        if self.plan is not None:
            return self._wrap_filtered(send, self.plan)

        async def metered_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                self._on_start(message)
            elif kind == "http.response.body" and self.meter is not None:
                chunk = message.get("body", b"")
                if chunk:
                    self.meter.feed(chunk)
            await send(message)

        return metered_send

    def _wrap_filtered(self, send: Send, plan: WithholdPlan) -> Send:
        async def filtered_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                self._on_start(message)
                headers = list(message.get("headers") or ())
                f = self.filter = response_filter(self.api_format, self.status, headers, plan)
                if f is None:
                    await send(message)
                    return
                fixed = {**message, "headers": f.start_headers(headers)}
                if f.buffers:
                    self.held = (message, fixed)  # sent once the filtered length is known
                else:
                    await send(fixed)
                return
            if kind != "http.response.body":
                await send(message)
                return
            chunk = message.get("body", b"")
            if chunk and self.meter is not None:
                self.meter.feed(chunk)  # the meter sees the upstream's own bytes
            if self.filter is None:
                await send(message)
                return
            await self._send_filtered(send, self.filter, chunk,
                                      bool(message.get("more_body", False)))

        return filtered_send

    async def _send_filtered(self, send: Send, f: ResponseFilter, chunk: bytes,
                             more: bool) -> None:
        data = f.feed(chunk) if chunk else b""
        if not more:
            data += f.finish()
        if self.held is not None:
            original, fixed = self.held
            if f.over_cap:
                self.held = None
                await send(original)  # too large to filter: forwarded as received
            elif more:
                return
            else:
                self.held = None
                length = (b"content-length", str(len(data)).encode())
                await send({**fixed, "headers": [*fixed["headers"], length]})
        if data or not more:
            await send({"type": "http.response.body", "body": data, "more_body": more})

    def finish(self) -> Usage | None:
        return self.meter.finish() if self.meter is not None else None


async def _respond(err: ErrorBody, send: Send, extra: list[tuple[str, str]] | None = None) -> None:
    status, payload, headers = err
    body = encode(payload)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers + (extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _set_content_length(headers: Any, length: int) -> list[tuple[bytes, bytes]]:
    out = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    out.append((b"content-length", str(length).encode()))
    return out


def _with_changes(decision: Decision, changes: tuple[str, ...]) -> Decision:
    from dataclasses import replace

    return replace(decision, degrade=changes)
