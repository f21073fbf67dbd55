"""Response metering over real wire formats, split at arbitrary chunk boundaries."""

from __future__ import annotations

import gzip
import json
import random
import tracemalloc
from pathlib import Path

import pytest

from antidistill.enforcement.metering import (
    NO_USAGE,
    ResponseMeter,
    Usage,
    estimate_request_cost,
    estimate_tokens,
)

DATA = Path(__file__).parent / "data" / "responses"
SSE = "text/event-stream"
JSON = "application/json"

# Expected usage per fixture, read off the fixtures by hand (see tests/data/responses).
SSE_CASES = {
    "openai_chat_stream_include_usage.sse": Usage(31, 24, "sse.openai_usage"),
    # 89 characters of streamed text, no usage chunk: ceil(89 / 4).
    "openai_chat_stream_no_usage.sse": Usage(0, 23, "sse.counted"),
    # input 472 + cache write 0 + cache read 2048; message_delta says 87.
    "anthropic_messages_stream.sse": Usage(2520, 87, "sse.anthropic"),
    "openai_responses_stream.sse": Usage(37, 14, "sse.openai_usage"),
    # candidates 29 + thoughts 100.
    "gemini_stream.sse": Usage(11, 129, "sse.gemini"),
}
JSON_CASES = {
    "openai_chat_completion.json": Usage(19, 27, "json"),
    "openai_responses.json": Usage(14, 203, "json"),
    "anthropic_message.json": Usage(1336, 17, "json"),
    "gemini_generate_content.json": Usage(8, 15, "json"),
    "gemini_stream_array.json": Usage(6, 10, "json"),
}


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def meter_chunks(chunks: list[bytes], content_type: str = SSE, **kw: int) -> Usage | None:
    meter = ResponseMeter(content_type, **kw)  # type: ignore[arg-type]
    for chunk in chunks:
        meter.feed(chunk)
    return meter.finish()


def random_split(body: bytes, rng: random.Random, max_piece: int = 40) -> list[bytes]:
    out, i = [], 0
    while i < len(body):
        n = rng.randint(1, max_piece)
        out.append(body[i : i + n])
        i += n
    return out


def with_newlines(body: bytes, newline: bytes) -> bytes:
    # Fixture JSON has no raw newlines inside strings, so every newline is framing.
    return body.replace(b"\r\n", b"\n").replace(b"\n", newline)


@pytest.mark.parametrize("name", sorted(SSE_CASES))
def test_sse_fixture_whole(name: str) -> None:
    assert meter_chunks([load(name)]) == SSE_CASES[name]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("name", sorted(SSE_CASES))
def test_sse_every_two_way_split(name: str, newline: bytes) -> None:
    body = with_newlines(load(name), newline)
    expected = SSE_CASES[name]
    for i in range(len(body) + 1):
        got = meter_chunks([body[:i], body[i:]])
        assert got == expected, f"split at byte {i}"


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
@pytest.mark.parametrize("name", sorted(SSE_CASES))
def test_sse_byte_by_byte_and_random(name: str, newline: bytes) -> None:
    body = with_newlines(load(name), newline)
    expected = SSE_CASES[name]
    assert meter_chunks([body[i : i + 1] for i in range(len(body))]) == expected
    rng = random.Random(20240607)
    for _ in range(30):
        assert meter_chunks(random_split(body, rng)) == expected


def test_fixtures_split_inside_utf8_sequences() -> None:
    # The splits above must actually cut multi-byte characters for the test to mean much.
    body = load("anthropic_messages_stream.sse")
    cut = body.index("⛰".encode()) + 1
    assert meter_chunks([body[:cut], body[cut:]]) == SSE_CASES["anthropic_messages_stream.sse"]


def test_stream_without_final_blank_line() -> None:
    body = load("openai_chat_stream_include_usage.sse").replace(b"data: [DONE]\n\n", b"")
    assert meter_chunks([body.rstrip(b"\n")]) == Usage(31, 24, "sse.openai_usage")


def test_responses_stream_without_completed_is_counted() -> None:
    lines = load("openai_responses_stream.sse").split(b"\n\n")
    body = b"\n\n".join(ev for ev in lines if b"response.completed" not in ev)
    # "Three primary colours of light: red, green, and blue." is 53 characters.
    assert meter_chunks([body]) == Usage(0, 14, "sse.counted")


def test_anthropic_stream_cut_before_message_delta() -> None:
    body = load("anthropic_messages_stream.sse")
    body = body[: body.index(b"event: message_delta")]
    # 207 characters of thinking + text beat message_start's placeholder output count.
    assert meter_chunks([body]) == Usage(2520, 52, "sse.anthropic")


def test_anthropic_message_delta_is_cumulative_last_wins() -> None:
    body = (
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":'
        b'{"input_tokens":10,"output_tokens":1}}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":40}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":95,'
        b'"input_tokens":10,"cache_read_input_tokens":5}}\n\n'
    )
    assert meter_chunks([body]) == Usage(15, 95, "sse.anthropic")


def test_noise_is_ignored() -> None:
    good = load("openai_chat_stream_include_usage.sse")
    noise = (
        b": keep-alive\n\n"
        b"data: {not json\n\n"
        b"data: \xff\xfe\xfd\n\n"
        b"data: [1, 2, 3]\n\n"
        b'data: {"choices": "oops", "usage": {"prompt_tokens": -5}}\n\n'
        b"event: unknown\nid: 7\nretry: 1000\n\n"
        b"data: [DONE]\n\n"
    )
    assert meter_chunks([noise, good, noise]) == Usage(31, 24, "sse.openai_usage")
    assert meter_chunks([noise]) is None


def test_multi_line_data_event_is_joined() -> None:
    body = (
        b'data: {"type":"message_start","message":{"usage":{"input_tokens":3,\n'
        b'data: "output_tokens":1}}}\n\n'
        b'data: {"type":"message_delta",\ndata: "usage":{"output_tokens":5}}\n\n'
    )
    assert meter_chunks([body]) == Usage(3, 5, "sse.anthropic")
    # A CRLF cut between CR and LF must not end the event early (a spurious blank line).
    crlf = body.replace(b"\n", b"\r\n")
    for i in range(len(crlf) + 1):
        assert meter_chunks([crlf[:i], crlf[i:]]) == Usage(3, 5, "sse.anthropic"), i


@pytest.mark.parametrize("name", sorted(JSON_CASES))
def test_json_fixtures(name: str) -> None:
    body = load(name)
    assert meter_chunks([body], JSON) == JSON_CASES[name]
    rng = random.Random(7)
    assert meter_chunks(random_split(body, rng, 100), JSON) == JSON_CASES[name]


def test_content_type_parameters_and_case() -> None:
    body = load("openai_chat_completion.json")
    assert meter_chunks([body], "Application/JSON; charset=utf-8") == Usage(19, 27, "json")
    assert meter_chunks([body], "application/problem+json") == Usage(19, 27, "json")
    sse = load("gemini_stream.sse")
    assert meter_chunks([sse], "text/event-stream; charset=utf-8") == SSE_CASES["gemini_stream.sse"]
    assert meter_chunks([body], "text/plain") is None
    assert meter_chunks([body], None) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("encoding", ["gzip", "br", "GZIP", "deflate, gzip"])
def test_encoded_bodies_are_not_metered(encoding: str) -> None:
    for name, ctype in (("openai_chat_completion.json", JSON), ("gemini_stream.sse", SSE)):
        meter = ResponseMeter(ctype, content_encoding=encoding)
        meter.feed(gzip.compress(load(name)))
        assert meter.finish() is None


def test_identity_encoding_is_metered() -> None:
    meter = ResponseMeter(JSON, content_encoding="identity")
    meter.feed(load("anthropic_message.json"))
    assert meter.finish() == Usage(1336, 17, "json")


def _huge_chat_completion(text_bytes: int) -> bytes:
    # Model output that quotes usage objects must not be mistaken for the real one.
    decoy = '{"usage": {"prompt_tokens": 999999, "completion_tokens": 888888}} '
    content = (decoy + "é" * 200 + " ") * (text_bytes // (len(decoy) + 401) + 1)
    obj = json.loads(load("openai_chat_completion.json"))
    obj["choices"][0]["message"]["content"] = content
    return json.dumps(obj, ensure_ascii=False).encode()


def test_huge_json_over_cap_reads_usage_from_tail_with_bounded_memory() -> None:
    body = _huge_chat_completion(3_000_000)
    assert len(body) > 3_000_000
    view = memoryview(body)
    meter = ResponseMeter(JSON, max_json_bytes=65_536)
    tracemalloc.start()
    try:
        for i in range(0, len(body), 16_384):
            meter.feed(bytes(view[i : i + 16_384]))
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert retained < 64_000
    assert meter.finish() == Usage(19, 27, "json")


def test_huge_json_under_default_cap_parses_fully() -> None:
    body = _huge_chat_completion(500_000)
    assert meter_chunks([body[:1000], body[1000:]], JSON) == Usage(19, 27, "json")


def test_huge_sse_event_reads_usage_from_tail() -> None:
    # A Responses stream whose response.completed event repeats a 2 MB output.
    lines = load("openai_responses_stream.sse").split(b"\n\n")
    completed = json.loads(
        next(ev for ev in lines if b"response.completed" in ev).split(b"data: ")[1]
    )
    completed["response"]["output"][0]["content"][0]["text"] = "x" * 2_000_000
    big = b"event: response.completed\ndata: " + json.dumps(completed).encode() + b"\n\n"
    meter = ResponseMeter(SSE, max_json_bytes=65_536)
    for i in range(0, len(big), 1000):
        meter.feed(big[i : i + 1000])
    assert meter.finish() == Usage(37, 14, "sse.openai_usage")
    assert meter_chunks([big], max_json_bytes=65_536) == Usage(37, 14, "sse.openai_usage")


def test_oversized_line_in_a_multi_line_event_does_not_leak_into_the_next() -> None:
    body = (
        b'data: {"choices":[{"delta":{"content":"ab"}}],\n'
        b"data: " + b"x" * 20_000 + b"\n\n"
        b'data: {"choices":[{"delta":{"content":"abcdefgh"}}]}\n\n'
    )
    # Only the second, well-formed event counts: 8 characters -> 2 tokens.
    assert meter_chunks([body], max_json_bytes=4096) == Usage(0, 2, "sse.counted")


def test_truncated_json() -> None:
    body = load("openai_chat_completion.json")
    assert meter_chunks([body[: body.index(b'"usage"')]], JSON) is None
    # Cut after the usage object: not valid JSON any more, usage still readable.
    cut = body[: body.index(b'"service_tier"')]
    assert meter_chunks([cut], JSON) == Usage(19, 27, "json")


def test_garbage_never_raises() -> None:
    rng = random.Random(99)
    for ctype in (SSE, JSON):
        for _ in range(200):
            meter = ResponseMeter(ctype, max_json_bytes=4096)
            for _ in range(rng.randint(1, 8)):
                meter.feed(rng.randbytes(rng.randint(0, 3000)))
            result = meter.finish()
            assert result is None or isinstance(result, Usage)
    deep = ResponseMeter(JSON)
    deep.feed(b'{"usage":' + b"[" * 200_000)
    assert deep.finish() is None


def test_empty_and_finish_idempotent() -> None:
    assert meter_chunks([], JSON) is None
    assert meter_chunks([b"", b""], SSE) is None
    meter = ResponseMeter(JSON)
    meter.feed(load("gemini_generate_content.json"))
    first = meter.finish()
    meter.feed(load("anthropic_message.json"))  # ignored after finish
    assert meter.finish() == first == Usage(8, 15, "json")


def test_usage_total_and_no_usage() -> None:
    assert Usage(31, 24, "json").total == 55
    assert NO_USAGE.total == 0 and NO_USAGE.source == "none"


def test_estimates() -> None:
    assert estimate_tokens(0) == 0
    assert estimate_tokens(-3) == 0
    assert estimate_tokens(1) == 1
    assert estimate_tokens(4) == 1
    assert estimate_tokens(5) == 2
    assert estimate_tokens(4000) == 1000
    assert estimate_request_cost(400, None) == 100 + 256
    assert estimate_request_cost(400, 50) == 150
    assert estimate_request_cost(400, 100_000) == 100 + 4096
    assert estimate_request_cost(400, 100_000, output_cap=1000) == 1100
    assert estimate_request_cost(0, None, default_output=10) == 10
    assert estimate_request_cost(8, -5) == 2


@pytest.mark.parametrize("name", sorted(SSE_CASES))
def test_answer_prefix_is_kept_however_the_stream_is_split(name: str) -> None:
    """Session continuity hashes the answer's first characters: the same for any split."""
    body = load(name)
    whole = meter_chunks([body])
    assert whole is not None
    rng = random.Random(5)
    for _ in range(10):
        got = meter_chunks(random_split(body, rng))
        assert got is not None and got.answer == whole.answer


def test_json_answer_is_the_message_text() -> None:
    body = json.dumps({"choices": [{"index": 0, "message": {
        "role": "assistant", "content": "Paris \"is\" the capital. \u00e9"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5}}).encode()
    got = meter_chunks([body], "application/json")
    assert got is not None and got.answer == "Paris \"is\" the capital. \u00e9"
    anth = json.dumps({"content": [{"type": "text", "text": "Bonjour" * 200}],
                       "usage": {"input_tokens": 1, "output_tokens": 2}}).encode()
    got = meter_chunks([anth], "application/json")
    assert got is not None and got.answer == ("Bonjour" * 200)[:512]
