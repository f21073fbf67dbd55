"""The response filter, in process: every format, JSON and SSE, and random chunk boundaries."""

from __future__ import annotations

import functools
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from antidistill.enforcement.withhold import (
    ThinkScanner,
    WithholdPlan,
    response_filter,
    sniff_format,
    strip_think,
)
from reasoning_upstream import (
    ANSWER,
    ENCRYPTED,
    FORMATS,
    GEMINI_SIG,
    MARK,
    SIGNATURE,
    answer_of,
    body,
)

PLAN = WithholdPlan(reasoning=True, logprobs=True)
HINT = {"chat": "openai.chat", "completions": "openai.completions",
        "responses": "openai.responses", "anthropic": "anthropic.messages", "gemini": "gemini"}
SSE = [(b"content-type", b"text/event-stream; charset=utf-8")]
JSON = [(b"content-type", b"application/json"), (b"content-length", b"123")]


def run(fmt: str, stream: bool, cuts: list[int] | None = None, plan: WithholdPlan = PLAN,
        hint: str | None = "") -> bytes:
    raw = body(fmt, stream)
    f = response_filter(HINT[fmt.split(".")[0]] if hint == "" else hint, 200,
                        SSE if stream else JSON, plan)
    assert f is not None
    edges = [0, *sorted(set(cuts or [])), len(raw)]
    out = b"".join(f.feed(raw[a:b]) for a, b in zip(edges, edges[1:], strict=False) if b > a)
    return out + f.finish()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_reasoning_and_logprobs_removed_answer_whole(fmt: str, stream: bool) -> None:
    raw = body(fmt, stream)
    assert MARK.encode() in raw and answer_of(fmt, raw, stream) != ""
    out = run(fmt, stream)
    assert MARK.encode() not in out
    assert answer_of(fmt, out, stream) == ANSWER
    assert b"logProbability" not in out and b'"logprob"' not in out
    # Usage survives (the meter reads the original bytes anyway, but clients want it too).
    assert (b"usage" in out) == (b"usage" in raw)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_request_format_is_sniffed(fmt: str, stream: bool) -> None:
    out = run(fmt, stream, hint=None)
    assert MARK.encode() not in out and answer_of(fmt, out, stream) == ANSWER


def test_responses_stream_indices_renumbered() -> None:
    events = [json.loads(line[6:]) for line in run("responses", True).split(b"\n")
              if line.startswith(b"data: {")]
    assert {e.get("output_index") for e in events} - {None} == {0}
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    done = events[-1]["response"]["output"]
    assert [it["type"] for it in done] == ["message"]


def test_anthropic_stream_indices_renumbered() -> None:
    events = [json.loads(line[6:]) for line in run("anthropic", True).split(b"\n")
              if line.startswith(b"data: {")]
    assert {e["index"] for e in events if "index" in e} == {0}
    assert [e["type"] for e in events][:3] == ["message_start", "ping", "content_block_start"]


def test_logprobs_only_plan_keeps_reasoning() -> None:
    out = run("chat.deepseek", False, plan=WithholdPlan(reasoning=False, logprobs=True))
    doc = json.loads(out)
    assert doc["choices"][0]["logprobs"] is None
    assert MARK in doc["choices"][0]["message"]["reasoning_content"]


@pytest.mark.parametrize("fmt", ["responses", "anthropic", "gemini"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_seal_wraps_kept_blobs(fmt: str, stream: bool) -> None:
    plan = WithholdPlan(reasoning=False, seal=lambda blob: "sealed<" + blob + ">")
    out = run(fmt, stream, plan=plan).decode()
    blob = {"responses": ENCRYPTED, "anthropic": SIGNATURE, "gemini": GEMINI_SIG}[fmt]
    assert "sealed<" + blob + ">" in out.replace("\\u003c", "<").replace("\\u003e", ">")
    assert out.count(blob) == out.count("sealed<" + blob)


def test_pass_through_cases() -> None:
    assert response_filter("openai.chat", 400, JSON, PLAN) is None
    assert response_filter("openai.chat", 200, [(b"content-type", b"text/plain")], PLAN) is None
    gz = [*SSE, (b"content-encoding", b"gzip")]
    assert response_filter("openai.chat", 200, gz, PLAN) is None
    assert response_filter("openai.chat", 200, SSE, WithholdPlan(reasoning=False)) is None
    f = response_filter(None, 200, JSON, PLAN)
    assert f is not None and f.buffers
    assert f.start_headers(JSON) == JSON[:1]
    assert f.feed(b"not json") == b"" and f.finish() == b"not json"


def test_json_over_cap_is_forwarded_as_received() -> None:
    f = response_filter(None, 200, JSON, WithholdPlan(max_json_bytes=10))
    assert f is not None
    assert f.feed(b'{"choices": [') == b'{"choices": ['
    assert f.over_cap and f.feed(b"]}") == b"]}" and f.finish() == b""


def test_malformed_events_are_forwarded() -> None:
    f = response_filter("openai.chat", 200, SSE, PLAN)
    assert f is not None
    raw = (b": keep-alive\n\ndata: {not json\n\ndata: {\"choices\": 5}\n\n"
           b"data: {\"choices\": [{\"delta\": 3}]}\n\ndata: [DONE]\n\n")
    assert f.feed(raw) + f.finish() == raw


def test_sniff() -> None:
    assert sniff_format({"choices": []}) == "openai.chat"
    assert sniff_format({"type": "message_start"}) == "anthropic.messages"
    assert sniff_format({"type": "response.created"}) == "openai.responses"
    assert sniff_format({"candidates": []}) == "gemini"
    assert sniff_format({"x": 1}, "gemini") == "gemini"
    assert sniff_format({"x": 1}, "nope") is None


@pytest.mark.parametrize(("text", "want"), [
    ("<think>r</think>\n\nA", "A"),
    ("  <think>r</think>A<think>s</think> B", "AB"),
    ("r</think>A", "A"),
    ("plain answer", "plain answer"),
    ("A <think>r</think>B", "A B"),
    ("A</thinking> is fine", "A</thinking> is fine"),
    ("<think>unterminated", ""),
    ("", ""),
    ("<thi", "<thi"),
])
def test_strip_think(text: str, want: str) -> None:
    assert strip_think(text) == want


def test_hold_is_bounded() -> None:
    scanner = ThinkScanner(hold_chars=10)
    assert scanner.feed("hello ") == ""
    assert scanner.feed("world, this is long") == "hello world, this is long"
    assert scanner.feed(" <think>x</think>y") == " y"


SPLITS_PER_EXAMPLE = 5


@functools.cache
def unsplit(fmt: str, stream: bool) -> tuple[int, bytes]:
    return len(body(fmt, stream)), run(fmt, stream)


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), stream=st.booleans())
def test_random_chunk_boundaries(fmt: str, seed: int, stream: bool) -> None:
    # 400 examples x 5 splittings = 2,000 random splits per format.
    rng = random.Random(seed)
    raw_len, whole = unsplit(fmt, stream)
    for _ in range(SPLITS_PER_EXAMPLE):
        n = rng.choice([1, 3, 10, 40, raw_len // 2])
        cuts = rng.sample(range(1, raw_len), min(n, raw_len - 1))
        out = run(fmt, stream, cuts)
        assert MARK.encode() not in out
        assert answer_of(fmt, out, stream) == ANSWER
        assert out == whole


async def test_allowed_response_messages_forwarded_as_the_same_objects() -> None:
    from antidistill import AntiDistillMiddleware
    from apps import make_guard

    sent: list[dict[str, object]] = []
    got: list[object] = []
    raw = body("chat.deepseek", True)

    async def app(scope: object, receive: object, send: object) -> None:
        start = {"type": "http.response.start", "status": 200, "headers": SSE}
        sent.append(start)
        await send(start)  # type: ignore[operator]
        for i in range(0, len(raw), 100):
            msg = {"type": "http.response.body", "body": raw[i:i + 100], "more_body": True}
            sent.append(msg)
            await send(msg)  # type: ignore[operator]
        end = {"type": "http.response.body", "body": b"", "more_body": False}
        sent.append(end)
        await send(end)  # type: ignore[operator]

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b'{"model":"m","messages":[]}',
                "more_body": False}

    async def send(message: object) -> None:
        got.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions",
             "headers": [(b"authorization", b"Bearer sk-x")], "client": ("127.0.0.1", 1)}
    await AntiDistillMiddleware(app, guard=make_guard())(scope, receive, send)
    assert len(got) == len(sent) and all(a is b for a, b in zip(got, sent, strict=True))


def test_parsed_reasoning_releases_content_at_once() -> None:
    # A server that parses reasoning into its own field never has it inline: the answer
    # streams as it comes instead of waiting for a possible bare </think>.
    f = response_filter("openai.chat", 200, SSE, PLAN)
    assert f is not None
    raw = body("chat.deepseek", True)
    events = raw.split(b"\n\n")
    out = b""
    for i, ev in enumerate(events[:-4]):
        out += f.feed(ev + b"\n\n")
        if b"The first" in ev:
            assert b"The first" in out, i


def test_rewritten_event_keeps_id_and_event_lines() -> None:
    f = response_filter("anthropic.messages", 200, SSE, PLAN)
    assert f is not None
    raw = (b'event: content_block_start\nid: 7\ndata: {"type":"content_block_start","index":0,'
           b'"content_block":{"type":"thinking","thinking":""}}\n\n'
           b'event: content_block_start\nid: 8\nretry: 10\ndata: {"type":"content_block_start",'
           b'"index":1,"content_block":{"type":"text","text":""}}\n\n')
    out = f.feed(raw) + f.finish()
    assert out == (b'event: content_block_start\nid: 8\nretry: 10\ndata: {"type":'
                   b'"content_block_start","index":0,"content_block":{"type":"text",'
                   b'"text":""}}\n\n')


async def _through(settings: dict[str, object], fmt: str, stream: bool,
                   degrade: bool) -> bytes:
    import httpx

    from antidistill import AntiDistillMiddleware
    from antidistill.decision import Action
    from apps import make_guard

    guard = make_guard(**settings)
    if degrade:
        guard.on_decision(lambda ctx, d: d.with_action(Action.DEGRADE))
    raw = body(fmt, stream)

    async def app(scope: object, receive: object, send: object) -> None:
        ctype = b"text/event-stream" if stream else b"application/json"
        await send({"type": "http.response.start", "status": 200,  # type: ignore[operator]
                    "headers": [(b"content-type", ctype)]})
        await send({"type": "http.response.body", "body": raw})  # type: ignore[operator]

    transport = httpx.ASGITransport(app=AntiDistillMiddleware(app, guard=guard))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        got = await client.post("/v1/chat/completions", json={"model": "m", "messages": []},
                                headers={"authorization": "Bearer sk-1"})
    return got.content


@pytest.mark.parametrize("stream", [False, True])
async def test_withhold_settings(stream: bool) -> None:
    raw = body("chat.deepseek", stream)
    # Allowed requests are untouched unless their action is listed.
    assert await _through({}, "chat.deepseek", stream, False) == raw
    listed = await _through({"withhold_actions": ["allow"]}, "chat.deepseek", stream, False)
    assert MARK.encode() not in listed and answer_of("chat.deepseek", listed, stream) == ANSWER
    # Degrade withholds by default; an empty ANTIDISTILL_WITHHOLD switches it off.
    assert MARK.encode() not in await _through({}, "chat.deepseek", stream, True)
    assert await _through({"withhold": []}, "chat.deepseek", stream, True) == raw
    only_lp = await _through({"withhold": ["logprobs"]}, "chat.deepseek", stream, True)
    assert MARK.encode() in only_lp and b'"logprob"' not in only_lp
    # Monitor mode computes a degrade but enforces nothing, so nothing is withheld.
    assert await _through({"mode": "monitor"}, "chat.deepseek", stream, True) == raw


def test_withhold_settings_validation() -> None:
    from pydantic import ValidationError

    from antidistill import Settings

    with pytest.raises(ValidationError):
        Settings(withhold=["thoughts"])
    with pytest.raises(ValidationError):
        Settings(withhold_actions=["block"])
    assert Settings(withhold="reasoning").withhold == ["reasoning"]
