"""A real uvicorn server on loopback, driven by the real ``openai`` client and by httpx."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from antidistill import AntiDistillMiddleware, Guard
from antidistill.storage.base import BucketSpec
from apps import (
    ChunkGate,
    FakeClock,
    Served,
    clear_env,
    make_fastapi_app,
    make_guard,
    make_starlette_app,
    mock_usage,
    reply_text,
    serve,
    wait_until,
)

pytestmark = pytest.mark.uvicorn

REPO = Path(__file__).resolve().parent.parent
KEY = "sk-test-uvicorn-1234"
MESSAGES: list[Any] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "List the planets closest to the sun"},
]
TOKEN_CAP, TOKEN_RATE = 100_000.0, 10.0


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def guard(clock: FakeClock) -> Guard:
    return make_guard(clock, request_capacity=3, request_refill_rate=1, request_interval=2,
                      token_capacity=TOKEN_CAP, token_refill_rate=TOKEN_RATE)


@pytest.fixture
def gate() -> ChunkGate:
    return ChunkGate(3)


@pytest.fixture
def served(guard: Guard, gate: ChunkGate) -> Iterator[Served]:
    app, _ = make_starlette_app(gate)
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    with serve(app) as s:
        yield s


def client_for(served: Served, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url + "/v1", api_key=key, max_retries=0,
                         timeout=10)


def tokens_left(served: Served, guard: Guard, clock: FakeClock) -> float:
    spec = BucketSpec("tk:" + guard.pseudonymize("key", KEY), TOKEN_CAP, TOKEN_RATE,
                      cost=0.0, peek=True)

    async def peek() -> float:
        [res] = await guard.store.buckets([spec], clock())
        return res.remaining

    return served.run(peek)


def test_openai_json_call(served: Served, guard: Guard, clock: FakeClock) -> None:
    with client_for(served) as client:
        completion = client.chat.completions.create(model="mock-1", messages=MESSAGES,
                                                    max_tokens=2000)
    assert completion.choices[0].message.content == reply_text(MESSAGES)
    assert completion.usage is not None
    prompt, done = mock_usage(MESSAGES, reply_text(MESSAGES))
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (prompt, done)
    # The 2000-token estimate was replaced by the reported usage.
    expected = TOKEN_CAP - completion.usage.total_tokens
    assert wait_until(lambda: tokens_left(served, guard, clock) == pytest.approx(expected))


def test_openai_streaming_call_reads_text_and_usage(
    served: Served, guard: Guard, clock: FakeClock
) -> None:
    text: list[str] = []
    usage = None
    chunks = 0
    with client_for(served) as client:
        stream = client.chat.completions.create(
            model="mock-1", messages=MESSAGES, stream=True,
            stream_options={"include_usage": True}, max_tokens=3000)
        for chunk in stream:
            chunks += 1
            if chunk.choices and chunk.choices[0].delta.content:
                text.append(chunk.choices[0].delta.content)
            if chunk.usage is not None:
                usage = chunk.usage
    assert "".join(text) == reply_text(MESSAGES)
    assert chunks >= 5
    assert usage is not None
    prompt, done = mock_usage(MESSAGES, reply_text(MESSAGES))
    assert (usage.prompt_tokens, usage.completion_tokens) == (prompt, done)
    expected = TOKEN_CAP - usage.total_tokens
    assert wait_until(lambda: tokens_left(served, guard, clock) == pytest.approx(expected))


def test_openai_client_gets_rate_limit_error_with_retry_after(
    served: Served, clock: FakeClock
) -> None:
    with client_for(served) as client:
        for _ in range(3):
            client.chat.completions.create(model="mock-1", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="mock-1", messages=MESSAGES)
        err = info.value
        assert err.status_code == 429
        assert err.response.headers["retry-after"] == "2"
        assert err.response.headers["ratelimit"] == '"requests";r=0;t=6'
        assert err.code == "rate_limit_exceeded"
        assert err.type == "rate_limit_error"
        # Streaming calls are refused the same way, before any byte of the stream.
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="mock-1", messages=MESSAGES, stream=True)
        clock.advance(2.0)
        ok = client.chat.completions.create(model="mock-1", messages=MESSAGES)
        assert ok.choices[0].message.content == reply_text(MESSAGES)
    with client_for(served, key="sk-another-customer") as other:
        assert other.chat.completions.create(model="mock-1", messages=MESSAGES).choices


def test_httpx_stream_gets_each_chunk_before_the_app_makes_the_next(
    served: Served, gate: ChunkGate
) -> None:
    with httpx.Client(base_url=served.base_url, timeout=5) as client, \
            client.stream("GET", "/stream", headers={"x-api-key": KEY}) as r:
        assert r.status_code == 200
        pieces = r.iter_raw()
        buffer = b""
        for i in range(3):
            want = f"chunk-{i}\n".encode()
            while len(buffer) < len(want):
                buffer += next(pieces)
            assert buffer == want  # exactly this chunk, nothing after it yet
            assert gate.produced == list(range(i + 1))
            buffer = b""
            if i < 2:
                gate.release(i + 1)
        assert b"".join(pieces) == b""


def test_sse_and_include_router_over_uvicorn(clock: FakeClock) -> None:
    guard = make_guard(clock, request_capacity=2)
    app, state = make_fastapi_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    body = {"model": "mock-1", "messages": MESSAGES, "stream": True,
            "stream_options": {"include_usage": True}}
    with serve(app) as s, httpx.Client(base_url=s.base_url, timeout=5) as client:
        with client.stream("POST", "/v1/chat/completions", json=body,
                           headers={"x-api-key": KEY}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = [line for line in r.iter_lines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]" and '"usage"' in lines[-2]
        assert client.get("/v1/models", headers={"x-api-key": KEY}).status_code == 200
        third = client.get("/v1/models", headers={"x-api-key": KEY})
        assert third.status_code == 429 and third.headers["retry-after"]
        assert client.get("/health").status_code == 200  # another identity (the IP)
    assert state.started and state.stopped


# -- examples/openai_server.py, started the documented way ----------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def example_server() -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ANTIDISTILL_")}
    env.update(ANTIDISTILL_SECRET="example-secret", ANTIDISTILL_REQUEST_CAPACITY="3",
               ANTIDISTILL_REQUEST_INTERVAL="3600", ANTIDISTILL_EVENTS="false")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "examples.openai_server:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"example server exited: {out}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_example_openai_server(example_server: str) -> None:
    with openai.OpenAI(base_url=example_server, api_key="sk-example", max_retries=0) as client:
        first = client.chat.completions.create(model="mock-1", messages=MESSAGES)
        again = client.chat.completions.create(model="mock-1", messages=MESSAGES, stream=True,
                                               stream_options={"include_usage": True})
        text, usage = "", None
        for chunk in again:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            usage = chunk.usage or usage
        assert first.choices[0].message.content == text  # deterministic reply
        assert first.usage is not None and usage is not None
        assert first.usage.total_tokens == usage.total_tokens > 0
        client.models.list()
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="mock-1", messages=MESSAGES)
        assert info.value.response.headers["retry-after"] == "1800"
