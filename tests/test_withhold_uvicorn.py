"""Withholding end to end: a real uvicorn server, the real ``openai`` and ``anthropic`` clients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from antidistill import AntiDistillMiddleware, Guard
from antidistill.context import RequestContext
from antidistill.decision import Action, Decision
from antidistill.storage.base import BucketSpec
from apps import FakeClock, Served, clear_env, make_guard, serve, wait_until
from reasoning_upstream import (
    ANSWER,
    MARK,
    SIGNATURE,
    answer_of,
    body,
    make_reasoning_app,
)

pytestmark = pytest.mark.uvicorn
KEY, OTHER = "sk-withhold-test-1", "sk-withhold-test-2"
TOKEN_CAP = 100_000.0
MSG: list[Any] = [{"role": "user", "content": "List the first primes"}]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


def _guard(degrade: bool, **settings: Any) -> Guard:
    guard = make_guard(FakeClock(), token_capacity=TOKEN_CAP, token_refill_rate=0.001,
                       **settings)
    if degrade:
        @guard.on_decision
        def force(ctx: RequestContext, decision: Decision) -> Decision:
            return decision.with_action(Action.DEGRADE)
    return guard


@pytest.fixture
def degraded() -> Iterator[tuple[Served, Guard, Any]]:
    guard = _guard(True)
    app = make_reasoning_app()
    with serve(AntiDistillMiddleware(app, guard=guard)) as s:
        yield s, guard, app


@pytest.fixture
def allowed() -> Iterator[tuple[Served, Guard, Any]]:
    guard = _guard(False)
    app = make_reasoning_app()
    with serve(AntiDistillMiddleware(app, guard=guard)) as s:
        yield s, guard, app


def oa(served: Served, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url + "/v1", api_key=key, max_retries=0,
                         timeout=10)


def an(served: Served, key: str = KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=served.base_url, api_key=key, max_retries=0, timeout=10)


def tokens_left(served: Served, guard: Guard, key: str = KEY) -> float:
    spec = BucketSpec("tk:" + guard.pseudonymize("key", key), TOKEN_CAP, 0.001, cost=0.0,
                      peek=True)

    async def peek() -> float:
        [res] = await guard.store.buckets([spec], guard.clock())
        return res.remaining

    return served.run(peek)


@pytest.mark.parametrize("model", ["deepseek", "openrouter", "think", "think_close"])
def test_openai_chat_json(degraded: tuple[Served, Guard, Any], model: str) -> None:
    served, _, _ = degraded
    with oa(served) as client:
        done = client.chat.completions.create(model=model, messages=MSG, logprobs=True)
    msg = done.choices[0].message
    assert msg.content == ANSWER
    assert MARK not in json.dumps(done.model_dump())
    assert done.choices[0].logprobs is None


@pytest.mark.parametrize("model", ["deepseek", "openrouter", "think", "think_close"])
def test_openai_chat_stream_and_metering(degraded: tuple[Served, Guard, Any],
                                         model: str) -> None:
    served, guard, _ = degraded
    text, dumped, usage = [], [], None
    with oa(served) as client:
        for chunk in client.chat.completions.create(model=model, messages=MSG, stream=True,
                                                    max_tokens=3000):
            dumped.append(json.dumps(chunk.model_dump()))
            if chunk.choices and chunk.choices[0].delta.content:
                text.append(chunk.choices[0].delta.content)
            usage = chunk.usage or usage
    assert "".join(text) == ANSWER
    assert not any(MARK in d for d in dumped)
    assert usage is not None and usage.total_tokens == 52
    # The server's reported usage (reasoning tokens included) is what was charged.
    assert wait_until(lambda: tokens_left(served, guard) == pytest.approx(TOKEN_CAP - 52,
                                                                          abs=0.1))


def test_openai_completions(degraded: tuple[Served, Guard, Any]) -> None:
    served, _, _ = degraded
    with oa(served) as client:
        done = client.completions.create(model="m", prompt="primes?")
        streamed = "".join(c.choices[0].text for c in client.completions.create(
            model="m", prompt="primes?", stream=True) if c.choices)
    assert done.choices[0].text == ANSWER and streamed == ANSWER


def test_openai_responses_json_and_stream(degraded: tuple[Served, Guard, Any]) -> None:
    served, _, _ = degraded
    with oa(served) as client:
        done = client.responses.create(model="o-reasoner", input="primes?")
        assert done.output_text == ANSWER
        assert [it.type for it in done.output] == ["message"]
        events = []
        with client.responses.stream(model="o-reasoner", input="primes?") as stream:
            for event in stream:
                events.append(event.type)
            final = stream.get_final_response()
    assert final.output_text == ANSWER
    assert not any("reasoning" in e for e in events)
    assert MARK not in json.dumps(final.model_dump()) + json.dumps(done.model_dump())


def test_anthropic_json_and_stream(degraded: tuple[Served, Guard, Any]) -> None:
    served, guard, _ = degraded
    with an(served) as client:
        done = client.messages.create(model="claude-reasoner", max_tokens=2000, messages=MSG)
        assert [b.type for b in done.content] == ["text"]
        with client.messages.stream(model="claude-reasoner", max_tokens=2000,
                                    messages=MSG) as stream:
            streamed = "".join(stream.text_stream)
            final = stream.get_final_message()
    assert done.content[0].text == ANSWER  # type: ignore[union-attr]
    assert streamed == ANSWER
    assert [b.type for b in final.content] == ["text"]
    assert MARK not in json.dumps(final.model_dump()) + json.dumps(done.model_dump())
    assert wait_until(lambda: tokens_left(served, guard) == pytest.approx(
        TOKEN_CAP - 2 * 52, abs=0.1))


@pytest.mark.parametrize("method", ["generateContent", "streamGenerateContent"])
def test_gemini_with_httpx(degraded: tuple[Served, Guard, Any], method: str) -> None:
    served, _, _ = degraded
    stream = method.startswith("stream")
    url = f"{served.base_url}/v1beta/models/gemini-reasoner:{method}" + (
        "?alt=sse" if stream else "")
    req = {"contents": [{"role": "user", "parts": [{"text": "primes?"}]}]}
    got = httpx.post(url, json=req, headers={"x-goog-api-key": KEY}, timeout=10)
    assert got.status_code == 200
    assert MARK.encode() not in got.content
    assert answer_of("gemini", got.content, stream) == ANSWER
    if not stream:
        assert int(got.headers["content-length"]) == len(got.content)
        assert "thoughtSignature" not in got.text and "logprobsResult" not in got.text


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/responses"])
@pytest.mark.parametrize("stream", [False, True])
def test_not_degraded_is_byte_identical(allowed: tuple[Served, Guard, Any], path: str,
                                        stream: bool) -> None:
    served, _, _ = allowed
    fmt = {"/v1/chat/completions": "chat.deepseek", "/v1/messages": "anthropic",
           "/v1/responses": "responses"}[path]
    req = {"model": "deepseek", "messages": MSG, "input": "x", "stream": stream}
    got = httpx.post(served.base_url + path, json=req,
                     headers={"authorization": "Bearer " + KEY}, timeout=10)
    assert got.content == body(fmt, stream)


def test_blob_binding_roundtrip_and_replay() -> None:
    guard = _guard(False, bind_reasoning_blobs=True)
    app = make_reasoning_app()
    with serve(AntiDistillMiddleware(app, guard=guard)) as served:
        with an(served) as client:
            first = client.messages.create(model="claude-reasoner", max_tokens=100,
                                           messages=MSG)
            with client.messages.stream(model="claude-reasoner", max_tokens=100,
                                        messages=MSG) as stream:
                streamed = stream.get_final_message()
        thinking = first.content[0]
        assert thinking.type == "thinking" and thinking.signature != SIGNATURE
        assert thinking.signature.startswith("adb1.") and thinking.signature.endswith(SIGNATURE)
        assert streamed.content[0].signature == thinking.signature  # type: ignore[union-attr]
        history: list[Any] = [*MSG, {"role": "assistant", "content": [
            b.model_dump(exclude_none=True) for b in first.content]},
            {"role": "user", "content": "and the next ones?"}]
        # The honest caller's own blobs go back to the upstream as issued.
        with an(served) as client:
            again = client.messages.create(model="claude-reasoner", max_tokens=100,
                                           messages=history)
        assert again.content[-1].text == ANSWER  # type: ignore[union-attr]
        upstream = json.loads(app.state.requests[-1])
        sent = upstream["messages"][1]["content"]
        assert sent[0]["signature"] == SIGNATURE and sent[1]["data"].endswith("==")
        assert "adb1." not in app.state.requests[-1].decode()
        # Another identity replaying them: stripped before the upstream, counted.
        with an(served, key=OTHER) as other:
            other.messages.create(model="claude-reasoner", max_tokens=100, messages=history)
        replayed = app.state.requests[-1].decode()
        assert SIGNATURE not in replayed and "adb1." not in replayed
        assert [b["type"] for b in json.loads(replayed)["messages"][1]["content"]] == ["text"]
        assert guard.counters["blob_replays"] == 2


def test_blob_binding_responses_and_gemini() -> None:
    from reasoning_upstream import ENCRYPTED, GEMINI_SIG

    # Gemini clients send x-goog-api-key: without it in the list every caller is its IP.
    guard = _guard(False, bind_reasoning_blobs=True,
                   api_key_headers=["authorization", "x-goog-api-key"])
    app = make_reasoning_app()
    with serve(AntiDistillMiddleware(app, guard=guard)) as served:
        with oa(served) as client:
            done = client.responses.create(model="o-reasoner", input="primes?")
            item = done.output[0]
            assert item.type == "reasoning" and item.encrypted_content is not None
            assert item.encrypted_content.startswith("adb1.")
            history = [o.model_dump(exclude_none=True) for o in done.output]
            client.responses.create(model="o-reasoner", input=[
                *history, {"role": "user", "content": "more"}])  # type: ignore[list-item]
            assert json.loads(app.state.requests[-1])["input"][0]["encrypted_content"] == \
                ENCRYPTED
        with oa(served, key=OTHER) as other:
            other.responses.create(model="o-reasoner", input=[
                *history, {"role": "user", "content": "more"}])  # type: ignore[list-item]
            sent = json.loads(app.state.requests[-1])["input"]
            assert [i.get("type") for i in sent] == ["message", None]
        url = f"{served.base_url}/v1beta/models/g:streamGenerateContent?alt=sse"
        req = {"contents": [{"role": "user", "parts": [{"text": "primes?"}]}]}
        got = httpx.post(url, json=req, headers={"x-goog-api-key": KEY}, timeout=10)
        sealed = [p["thoughtSignature"] for line in got.text.splitlines()
                  if line.startswith("data: ")
                  for c in json.loads(line[6:])["candidates"] for p in c["content"]["parts"]
                  if "thoughtSignature" in p]
        assert len(sealed) == 1 and sealed[0].startswith("adb1.")
        turn = {"contents": [*req["contents"], {"role": "model", "parts": [
            {"text": "The first", "thoughtSignature": sealed[0]}]},
            {"role": "user", "parts": [{"text": "more"}]}]}
        httpx.post(url, json=turn, headers={"x-goog-api-key": KEY}, timeout=10)
        assert json.loads(app.state.requests[-1])["contents"][1]["parts"][0][
            "thoughtSignature"] == GEMINI_SIG
        httpx.post(url, json=turn, headers={"x-goog-api-key": OTHER}, timeout=10)
        assert "thoughtSignature" not in app.state.requests[-1].decode()
    assert guard.counters["blob_replays"] == 2
