"""The middleware end to end: streaming, body replay, route policies, pass-through scopes,
monitor mode and the decision handed to the app."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from antidistill import Action, AntiDistillMiddleware, Decision, Guard, Signal, current_decision
from antidistill.context import RequestContext
from apps import (
    ChunkGate,
    FakeClock,
    asgi_client,
    clear_env,
    make_fastapi_app,
    make_guard,
    make_starlette_app,
)

Message = MutableMapping[str, Any]
KEY = {"authorization": "Bearer sk-test-middleware-0001"}
CHAT = {"model": "mock-1", "messages": [{"role": "user", "content": "What is a monad?"}]}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


def http_scope(method: str, path: str, headers: dict[str, str] | None = None,
               client: tuple[str, int] | None = ("127.0.0.1", 50000)) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1", "method": method, "scheme": "http", "path": path,
        "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": client, "server": ("testserver", 80),
    }


class FakeServer:
    """A scripted ASGI server side: hands out ``messages`` then waits, records what is sent."""

    def __init__(self, messages: list[Message]) -> None:
        self.incoming = list(messages)
        self.sent: list[Message] = []
        self.finished = asyncio.Event()

    async def receive(self) -> Message:
        if self.incoming:
            return self.incoming.pop(0)
        await self.finished.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.finished.set()

    @property
    def starts(self) -> list[Message]:
        return [m for m in self.sent if m["type"] == "http.response.start"]

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent
                        if m["type"] == "http.response.body")


def request_messages(body: bytes, parts: int = 1) -> list[Message]:
    if not body:
        return [{"type": "http.request", "body": b"", "more_body": False}]
    size = -(-len(body) // parts)
    chunks = [body[i:i + size] for i in range(0, len(body), size)]
    return [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)]


# -- streaming --------------------------------------------------------------------------------


async def test_stream_chunk_reaches_client_before_app_produces_the_next() -> None:
    # httpx's ASGITransport buffers whole responses, so this drives the middleware with raw
    # ASGI: each chunk must be forwarded while the app is still blocked on the next one.
    gate = ChunkGate(3)
    app, _ = make_starlette_app(gate)
    mw = AntiDistillMiddleware(app, guard=make_guard())
    queue: asyncio.Queue[Message] = asyncio.Queue()
    done = asyncio.Event()

    async def receive() -> Message:
        await done.wait()
        return {"type": "http.disconnect"}

    first = True

    async def receive_once() -> Message:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()

    task = asyncio.create_task(mw(http_scope("GET", "/stream", KEY), receive_once, queue.put))
    start = await asyncio.wait_for(queue.get(), 2)
    assert start["type"] == "http.response.start" and start["status"] == 200
    for i in range(3):
        msg = await asyncio.wait_for(queue.get(), 2)
        assert msg["type"] == "http.response.body"
        assert msg["body"] == f"chunk-{i}\n".encode()
        # The client holds chunk i while the app has produced nothing after it.
        assert gate.produced == list(range(i + 1))
        if i < 2:
            assert not task.done()
            gate.release(i + 1)
    end = await asyncio.wait_for(queue.get(), 2)
    assert end["type"] == "http.response.body" and not end.get("more_body", False)
    await asyncio.wait_for(task, 2)
    done.set()
    assert queue.empty()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/stream", b""),
        ("GET", "/sse", b""),
        ("GET", "/file", b""),
        ("POST", "/v1/chat/completions", json.dumps(CHAT).encode()),
        ("POST", "/v1/chat/completions",
         json.dumps({**CHAT, "stream": True, "stream_options": {"include_usage": True}}).encode()),
        ("POST", "/echo", b"x" * 200_000),
    ],
)
async def test_response_start_sent_exactly_once(method: str, path: str, body: bytes) -> None:
    app, _ = make_starlette_app(ChunkGate(4, auto=True))
    mw = AntiDistillMiddleware(app, guard=make_guard(max_body_bytes=65536))
    server = FakeServer(request_messages(body, parts=3))
    await asyncio.wait_for(mw(http_scope(method, path, KEY), server.receive, server.send), 5)
    assert len(server.starts) == 1
    assert server.starts[0]["status"] == 200
    assert server.sent[0]["type"] == "http.response.start"
    assert server.sent[-1]["type"] == "http.response.body"
    assert not server.sent[-1].get("more_body", False)
    if path == "/file":
        assert server.body == Path(__file__).with_name("apps.py").read_bytes()


async def test_denied_response_starts_once_and_app_is_not_called() -> None:
    app, state = make_starlette_app()
    mw = AntiDistillMiddleware(app, guard=make_guard(request_capacity=1))
    for expected in (200, 429):
        server = FakeServer(request_messages(json.dumps(CHAT).encode()))
        await mw(http_scope("POST", "/echo", KEY), server.receive, server.send)
        assert len(server.starts) == 1
        assert server.starts[0]["status"] == expected
    assert state.requests == 1


async def test_sse_and_file_pass_through_byte_for_byte() -> None:
    plain, _ = make_starlette_app(ChunkGate(3, auto=True))
    protected, _ = make_starlette_app(ChunkGate(3, auto=True))
    protected.add_middleware(AntiDistillMiddleware, guard=make_guard())
    stream_req = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with asgi_client(plain) as a, asgi_client(protected) as b:
        for path in ("/sse", "/file", "/stream"):
            ra, rb = await a.get(path, headers=KEY), await b.get(path, headers=KEY)
            assert rb.status_code == 200
            assert rb.content == ra.content and rb.content
            assert rb.headers["content-type"] == ra.headers["content-type"]
        ra = await a.post("/v1/chat/completions", json=stream_req, headers=KEY)
        rb = await b.post("/v1/chat/completions", json=stream_req, headers=KEY)
        assert rb.headers["content-type"].startswith("text/event-stream")
        assert rb.content == ra.content
        assert rb.text.rstrip().endswith("data: [DONE]")
    assert rb.content.count(b"data: ") == ra.content.count(b"data: ") >= 5


# -- the request body is replayed exactly once -------------------------------------------------

BINARY = random.Random(7).randbytes(300_000)


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (json.dumps(CHAT).encode(), "application/json"),
        (json.dumps({**CHAT, "messages": [{"role": "user", "content": "h\u00e9llo \u2603"}]},
                    ensure_ascii=False).encode(), "application/json"),
        (BINARY, "application/octet-stream"),
        (b'{"model": "m", "messages": [{"role": "user", "content": "unterminated',
         "application/json"),
        (b"\xff\xfe{not json at all\x00", "application/json"),
        (b"[" * 5000, "application/json"),
        (b"", "application/json"),
    ],
    ids=["json", "utf8", "binary", "truncated-json", "garbage", "deep-nesting", "empty"],
)
async def test_app_reads_the_exact_body(body: bytes, ctype: str) -> None:
    app, state = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=make_guard(max_body_bytes=65536))
    async with asgi_client(app) as client:
        r = await client.post("/echo", content=body, headers={**KEY, "content-type": ctype})
    assert r.status_code == 200
    assert r.content == body
    assert r.headers["x-body-sha256"] == hashlib.sha256(body).hexdigest()
    assert state.requests == 1


async def test_ten_megabytes_over_the_cap_reach_the_app_intact() -> None:
    big = json.dumps({**CHAT, "messages": [
        {"role": "user", "content": "lorem ipsum " * (10 * 1024 * 1024 // 12)}]}).encode()
    assert len(big) > 10 * 1024 * 1024
    app, state = make_starlette_app()
    guard = make_guard(max_body_bytes=65536)
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    async with asgi_client(app) as client:
        r = await client.post("/echo", content=big, headers=KEY)
    assert r.status_code == 200
    assert int(r.headers["x-body-length"]) == len(big)
    assert r.headers["x-body-sha256"] == hashlib.sha256(big).hexdigest()
    assert r.content == big


async def test_chunked_upload_without_content_length_over_the_cap() -> None:
    piece = bytes(range(256)) * 256  # 64 KiB
    total = 40

    async def upload() -> AsyncIterator[bytes]:
        for i in range(total):
            yield bytes([i]) + piece[1:]

    expected = b"".join([bytes([i]) + piece[1:] for i in range(total)])
    app, state = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=make_guard(max_body_bytes=65536))
    async with asgi_client(app) as client:
        r = await client.post("/echo", content=upload(), headers=KEY)
    assert r.status_code == 200
    assert r.content == expected
    sizes = [s for s in state.body_messages[-1] if s]
    # The buffered prefix arrives as one message, the rest straight from the server.
    assert sizes[0] > 65536 and len(sizes) > 1 and sum(sizes) == len(expected)


async def test_oversize_reject_answers_413_without_calling_the_app() -> None:
    app, state = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware,
                       guard=make_guard(max_body_bytes=1024, oversize_action="reject"))
    async with asgi_client(app) as client:
        r = await client.post("/echo", content=b"a" * 5000, headers=KEY)
        ok = await client.post("/echo", content=b"a" * 100, headers=KEY)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"
    assert ok.status_code == 200 and state.requests == 1


@pytest.mark.parametrize("policy", ["inspect", "budget"])
async def test_receive_after_the_body_returns_the_servers_next_message(policy: str) -> None:
    seen: list[Message] = []

    async def app(scope: Any, receive: Callable[[], Awaitable[Message]],
                  send: Callable[[Message], Awaitable[None]]) -> None:
        while True:
            msg = await receive()
            seen.append(dict(msg))
            if msg["type"] == "http.disconnect":
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    body = json.dumps(CHAT).encode()
    mw = AntiDistillMiddleware(app, guard=make_guard(routes={"POST /raw": policy}))
    server = FakeServer([*request_messages(body, parts=2), {"type": "http.disconnect"}])
    await asyncio.wait_for(mw(http_scope("POST", "/raw", KEY), server.receive, server.send), 2)
    requests = [m for m in seen if m["type"] == "http.request"]
    assert b"".join(m["body"] for m in requests) == body  # the body once, never twice
    assert seen[-1] == {"type": "http.disconnect"}
    assert not requests[-1]["more_body"]
    if policy == "inspect":
        assert len(requests) == 1  # replayed in one message
    assert server.starts[0]["status"] == 200


async def _disconnect_mid_body() -> tuple[list[Message], FakeServer]:
    seen: list[Message] = []

    async def app(scope: Any, receive: Callable[[], Awaitable[Message]],
                  send: Callable[[Message], Awaitable[None]]) -> None:
        while True:
            msg = await receive()
            seen.append(dict(msg))
            if msg["type"] == "http.disconnect" or not msg.get("more_body", False):
                break

    mw = AntiDistillMiddleware(app, guard=make_guard())
    server = FakeServer([
        {"type": "http.request", "body": b'{"model": "m", "messages": [', "more_body": True},
        {"type": "http.disconnect"},
    ])
    await asyncio.wait_for(mw(http_scope("POST", "/echo", KEY), server.receive, server.send), 2)
    return seen, server


async def test_client_disconnect_mid_body_raises_nothing_and_sends_no_error() -> None:
    seen, server = await _disconnect_mid_body()
    assert seen[0]["body"] == b'{"model": "m", "messages": ['
    assert all(m.get("status", 200) < 500 for m in server.starts)
    assert server.starts == []  # the app chose not to answer a gone client


async def test_client_disconnect_mid_body_is_not_presented_as_a_complete_body() -> None:
    seen, _ = await _disconnect_mid_body()
    assert seen[0]["more_body"] is True
    assert seen[-1]["type"] == "http.disconnect"


# -- route policies ---------------------------------------------------------------------------


async def test_include_router_routes_are_budgeted() -> None:
    app, state = make_fastapi_app()
    app.add_middleware(AntiDistillMiddleware, guard=make_guard(request_capacity=2))
    async with asgi_client(app) as client:
        codes = [(await client.post("/v1/chat/completions", json=CHAT, headers=KEY)).status_code
                 for _ in range(3)]
        models = await client.get("/v1/models", headers={"x-api-key": "sk-other"})
    assert codes == [200, 200, 429]
    assert models.status_code == 200
    assert state.decisions[-1] is not None and state.decisions[-1].action == Action.ALLOW


async def test_unmatched_path_gets_the_default_policy() -> None:
    app, _ = make_fastapi_app()
    app.add_middleware(AntiDistillMiddleware, guard=make_guard(request_capacity=2))
    async with asgi_client(app) as client:
        codes = [(await client.get("/no/such/route", headers=KEY)).status_code
                 for _ in range(3)]
    assert codes == [404, 404, 429]


async def test_exempt_route_is_exempt_and_nothing_else() -> None:
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=make_guard(
        request_capacity=1, routes={"GET /health": "exempt"}))
    async with asgi_client(app) as client:
        health = [await client.get("/health", headers=KEY) for _ in range(5)]
        post_health = [(await client.post("/health", headers=KEY)).status_code
                       for _ in range(2)]
        other = await client.get("/decision", headers=KEY)
    assert [r.status_code for r in health] == [200] * 5
    assert not any(r.json()["has_decision"] for r in health)
    assert post_health == [200, 429]
    assert other.status_code == 429


async def test_budget_policy_skips_body_inspection_but_keeps_budgets() -> None:
    app, state = make_starlette_app()
    guard = make_guard(request_capacity=2, default_policy="budget")
    seen: list[RequestContext] = []

    @guard.scorer
    def look(ctx: RequestContext) -> None:
        seen.append(ctx)

    app.add_middleware(AntiDistillMiddleware, guard=guard)
    async with asgi_client(app) as client:
        codes = [(await client.post("/echo", json=CHAT, headers=KEY)).status_code
                 for _ in range(3)]
    assert codes == [200, 200, 429]
    assert all(ctx.body == b"" and ctx.parsed is None for ctx in seen)
    assert state.requests == 2


# -- lifespan and websockets pass through ----------------------------------------------------


def test_lifespan_and_websocket_pass_through() -> None:
    app, state = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=make_guard(request_capacity=1))
    with TestClient(app) as client:
        assert state.started and not state.stopped
        for i in range(3):  # more connections than the request budget: not http, not counted
            with client.websocket_connect("/ws") as ws:
                ws.send_text(f"hi{i}")
                assert ws.receive_text() == f"ws:hi{i}"
        assert client.get("/decision", headers=KEY).status_code == 200
        assert client.get("/decision", headers=KEY).status_code == 429
    assert state.stopped


async def test_raw_lifespan_messages_reach_the_app() -> None:
    app, state = make_fastapi_app()
    mw = AntiDistillMiddleware(app, guard=make_guard())
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await asyncio.wait_for(
        mw({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send), 2)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete",
                                        "lifespan.shutdown.complete"]
    assert state.started and state.stopped


# -- monitor mode and the decision seen by the app -------------------------------------------


def _blocking_guard(mode: str, **kw: Any) -> Guard:
    guard = make_guard(mode=mode, weights={"custom": 1.0}, **kw)

    @guard.scorer
    def custom(ctx: RequestContext) -> Signal:
        return Signal("custom", 1.0, "test scorer")

    return guard


async def test_enforce_mode_blocks_what_detection_denies() -> None:
    app, state = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=_blocking_guard("enforce"))
    async with asgi_client(app) as client:
        r = await client.post("/echo", json=CHAT, headers=KEY)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "access_denied"
    assert state.requests == 0


async def test_monitor_mode_serves_what_detection_would_deny() -> None:
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=_blocking_guard("monitor"))
    async with asgi_client(app) as client:
        r = await client.post("/decision", json=CHAT, headers=KEY)
    assert r.status_code == 200
    d = r.json()["decision"]
    assert d["action"] == "block" and d["enforced"] is False
    assert d["reasons"][0]["name"] == "custom"
    assert r.json()["same_as_contextvar"] is True


def _collector(into: list[Decision]) -> Any:
    def collect(ctx: RequestContext, decision: Decision) -> None:
        into.append(decision)

    return collect


async def test_monitor_mode_enforces_nothing_unless_asked() -> None:
    """Monitor mode watches: an exhausted budget is reported on the decision, not answered
    with 429 — unless the operator opts in with ``monitor_enforce_budgets``."""
    for opt_in, expected in ((False, [200, 200]), (True, [200, 429])):
        app, _ = make_starlette_app()
        guard = make_guard(mode="monitor", request_capacity=1, monitor_enforce_budgets=opt_in)
        seen: list[Decision] = []
        guard.on_decision(_collector(seen))
        app.add_middleware(AntiDistillMiddleware, guard=guard)
        async with asgi_client(app) as client:
            codes = [(await client.post("/echo", json=CHAT, headers=KEY)).status_code
                     for _ in range(2)]
        assert codes == expected
        budget = [r for r in seen[-1].reasons if r.name == "budget"]
        assert len(budget) == 1 and ("not enforced" in budget[0].detail) is not opt_in


async def test_monitor_mode_budget_refusal_is_a_429_not_a_detection_block() -> None:
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=_blocking_guard(
        "monitor", request_capacity=1, monitor_enforce_budgets=True))
    async with asgi_client(app) as client:
        codes = [(await client.post("/echo", json=CHAT, headers=KEY)).status_code
                 for _ in range(2)]
    assert codes == [200, 429]


async def test_decision_is_in_request_state_and_contextvar() -> None:
    clock = FakeClock()
    app, state = make_starlette_app()
    guard = make_guard(clock)
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    async with asgi_client(app) as client:
        r = await client.get("/decision", headers=KEY)
    body = r.json()
    assert body["same_as_contextvar"] is True
    assert body["decision"]["identity"] == guard.pseudonymize("key", "sk-test-middleware-0001")
    assert {b["name"] for b in body["decision"]["budgets"]} >= {"requests", "tokens"}
    # The route pattern that matched (here none: "default"), never the client's raw path.
    assert state.decisions[0].route == "default"
    assert current_decision.get() is None  # reset after the request
