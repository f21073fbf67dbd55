"""Tiny real apps and helpers shared by the middleware end-to-end tests.

Everything here is a real Starlette / FastAPI app; the tests put ``AntiDistillMiddleware`` in
front of them and drive them with httpx (``ASGITransport``), raw ASGI calls, or a real uvicorn
server on a loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from antidistill import Guard, Settings, current_decision

T = TypeVar("T")

SECRET = "test-secret-not-for-production"
FILE_PATH = os.path.abspath(__file__)


def make_guard(clock: FakeClock | None = None, **settings: Any) -> Guard:
    """A guard on ``memory://`` with a fake clock; keyword arguments are ``Settings`` fields."""
    settings.setdefault("secret", SECRET)
    return Guard(Settings(**settings), clock=clock or FakeClock())


def recording_middleware(guard: Guard) -> tuple[Any, list[Any]]:
    """The test Starlette app behind ``guard``'s middleware, and the list the app appends
    each request's decision (``current_decision``) to, as the app sees it."""
    from antidistill import AntiDistillMiddleware

    inner, _ = make_starlette_app()
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(current_decision.get())
        await inner(scope, receive, send)

    return AntiDistillMiddleware(app, guard=guard), seen


def asgi_client(app: Any, client: tuple[str, int] = ("127.0.0.1", 123)) -> httpx.AsyncClient:
    """An httpx client that calls ``app`` in process; ``client`` is the peer address."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=client),
                             base_url="http://testserver")


def clear_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop every ``ANTIDISTILL_*`` variable so the developer's shell cannot change a test."""
    for name in list(os.environ):
        if name.upper().startswith("ANTIDISTILL_"):
            monkeypatch.delenv(name, raising=False)


class FakeClock:
    """A mutable clock for ``Guard(clock=...)``: tests advance it instead of sleeping."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- OpenAI-compatible chat mock --------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def reply_text(messages: list[dict[str, Any]]) -> str:
    """The mock's deterministic reply: the last user turn's words, reversed."""
    last = ""
    for m in messages:
        if m.get("role") == "user":
            last = _text_of(m.get("content"))
    words = last.split() or ["(empty)"]
    return "echo: " + " ".join(reversed(words))


def mock_usage(messages: list[dict[str, Any]], reply: str) -> tuple[int, int]:
    """(prompt, completion) tokens: one per word plus 3 per message, one per reply word."""
    prompt = sum(len(_text_of(m.get("content")).split()) + 3 for m in messages)
    return prompt, len(reply.split())


def _usage_override(request: Request) -> tuple[int, int] | None:
    # Lets a test make the "model" report any usage, e.g. far above the pre-flight estimate.
    raw = request.headers.get("x-mock-usage")
    if not raw:
        return None
    prompt, _, completion = raw.partition(",")
    return int(prompt), int(completion)


def _chunk(cid: str, created: int, model: str, delta: dict[str, Any],
           finish: str | None = None) -> bytes:
    payload = {
        "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


async def chat_completions(request: Request) -> Response:
    """``POST /v1/chat/completions``: JSON or SSE (``stream_options.include_usage``)."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"error": {"message": "invalid JSON", "type": "invalid_request_error",
                                       "param": None, "code": None}}, status_code=400)
    messages = body.get("messages") or []
    model = str(body.get("model") or "mock-1")
    reply = reply_text(messages)
    prompt, completion = _usage_override(request) or mock_usage(messages, reply)
    usage = {"prompt_tokens": prompt, "completion_tokens": completion,
             "total_tokens": prompt + completion}
    cid, created = "chatcmpl-mock", 1_700_000_000
    if not body.get("stream"):
        return JSONResponse({
            "id": cid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": usage,
        })
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    async def events() -> AsyncIterator[bytes]:
        yield _chunk(cid, created, model, {"role": "assistant", "content": ""})
        for i, word in enumerate(reply.split()):
            yield _chunk(cid, created, model, {"content": (" " if i else "") + word})
        yield _chunk(cid, created, model, {}, "stop")
        if include_usage:
            tail = {"id": cid, "object": "chat.completion.chunk", "created": created,
                    "model": model, "choices": [], "usage": usage}
            yield b"data: " + json.dumps(tail).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


# -- event-gated streaming ------------------------------------------------------------------


@dataclass
class ChunkGate:
    """Releases a streaming endpoint's chunks one by one.

    Chunk 0 is produced at once; chunk ``i`` only after ``release(i)``. ``produced`` records
    what the app has generated so far, so a test can prove the client holds chunk ``i`` before
    the app has produced chunk ``i + 1``. ``release`` may be called from any thread.
    """

    chunks: int = 3
    auto: bool = False  # release every chunk at once (tests that only need a stream)
    produced: list[int] = field(default_factory=list)
    _events: list[asyncio.Event] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    def _setup(self) -> None:
        if not self._events:
            self._loop = asyncio.get_running_loop()
            self._events = [asyncio.Event() for _ in range(self.chunks)]
            self._events[0].set()
            if self.auto:
                for event in self._events:
                    event.set()
            self._ready.set()

    async def stream(self) -> AsyncIterator[bytes]:
        self._setup()
        for i in range(self.chunks):
            await self._events[i].wait()
            self.produced.append(i)
            yield f"chunk-{i}\n".encode()

    def release(self, i: int) -> None:
        if not self._ready.wait(5):
            raise RuntimeError("the gated endpoint never started")
        assert self._loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._events[i].set()
        else:
            self._loop.call_soon_threadsafe(self._events[i].set)


# -- the apps ---------------------------------------------------------------------------------


@dataclass
class AppState:
    """What the apps observed (readable by tests without going through HTTP)."""

    requests: int = 0
    body_messages: list[list[int]] = field(default_factory=list)
    started: bool = False
    stopped: bool = False
    decisions: list[Any] = field(default_factory=list)


async def _read_counted(request: Request, state: AppState) -> bytes:
    sizes: list[int] = []
    parts: list[bytes] = []
    async for chunk in request.stream():
        sizes.append(len(chunk))
        parts.append(chunk)
    state.requests += 1
    state.body_messages.append(sizes)
    return b"".join(parts)


def _routes(state: AppState, gate: ChunkGate) -> list[Any]:
    async def echo(request: Request) -> Response:
        """Returns the exact bytes it received, with their length, hash and read count."""
        body = await _read_counted(request, state)
        return Response(body, media_type="application/octet-stream", headers={
            "x-body-length": str(len(body)),
            "x-body-sha256": hashlib.sha256(body).hexdigest(),
            "x-body-chunks": str(len([s for s in state.body_messages[-1] if s])),
            "x-request-count": str(state.requests),
        })

    async def decision(request: Request) -> JSONResponse:
        d = getattr(request.state, "antidistill", None)
        state.decisions.append(d)
        ctx_d = current_decision.get()
        return JSONResponse({
            "decision": d.as_dict() if d is not None else None,
            "same_as_contextvar": d is not None and d is ctx_d,
        })

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "has_decision": hasattr(request.state, "antidistill")})

    async def gated(request: Request) -> StreamingResponse:
        return StreamingResponse(gate.stream(), media_type="text/plain")

    async def sse(request: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"event: tick\ndata: {{\"n\": {i}}}\n\n".encode()

        return StreamingResponse(events(), media_type="text/event-stream")

    async def file(request: Request) -> FileResponse:
        return FileResponse(FILE_PATH, media_type="text/x-python")

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text("ws:" + text)
        await websocket.close()

    return [
        Route("/echo", echo, methods=["POST", "PUT", "PATCH"]),
        Route("/decision", decision, methods=["GET", "POST"]),
        Route("/health", health, methods=["GET", "POST"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/stream", gated),
        Route("/sse", sse),
        Route("/file", file),
        WebSocketRoute("/ws", ws),
    ]


def make_starlette_app(gate: ChunkGate | None = None) -> tuple[Starlette, AppState]:
    """A Starlette app with every test endpoint, and the state it records."""
    state = AppState()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.started = True
        yield
        state.stopped = True

    app = Starlette(routes=_routes(state, gate or ChunkGate()), lifespan=lifespan)
    return app, state


def make_fastapi_app() -> tuple[FastAPI, AppState]:
    """A FastAPI app whose model routes come from ``include_router`` (slowapi's blind spot)."""
    state = AppState()
    router = APIRouter(prefix="/v1")

    @router.post("/chat/completions")
    async def chat(request: Request) -> Response:
        return await chat_completions(request)

    @router.get("/models")
    async def models(request: Request) -> dict[str, Any]:
        d = getattr(request.state, "antidistill", None)
        state.decisions.append(d)
        return {"object": "list", "data": [{"id": "mock-1", "object": "model"}]}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.started = True
        yield
        state.stopped = True

    app = FastAPI(lifespan=lifespan)
    app.include_router(router)

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    return app, state


# -- a real uvicorn server on loopback --------------------------------------------------------


@dataclass
class Served:
    port: int
    loop: asyncio.AbstractEventLoop

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, make: Callable[[], Awaitable[T]], timeout: float = 5.0) -> T:
        """Run a coroutine on the server's event loop (e.g. to peek at the guard's store)."""
        async def call() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)


@contextlib.contextmanager
def serve(app: Any, *, timeout: float = 10.0, proxy_headers: bool = True) -> Iterator[Served]:
    """Run ``app`` under uvicorn in a thread on a free loopback port; stop it on exit.

    ``proxy_headers`` is uvicorn's ``--proxy-headers`` (on by default, as in uvicorn)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            ws="none", http="h11", proxy_headers=proxy_headers)
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        except BaseException as exc:  # surfaced in the test thread below
            failure.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"uvicorn did not start: {failure!r}")
        time.sleep(0.01)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout):
        pass
    try:
        yield Served(port, loop)
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
        if failure:
            raise failure[0]


def wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll a server-side condition (bookkeeping that runs after the last byte is sent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()
