"""The native JSON path (msgspec) gives exactly what the standard library gives.

Every check runs with the native path on and with it forced off (the stdlib fallback), and
compares the two: values with their types, exception types, parsed prompts and metered usage.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antidistill.enforcement.metering import ResponseMeter
from antidistill.fingerprints import jsonio
from antidistill.fingerprints.parse import parse_body

DATA = Path(__file__).parent / "data"
BODIES = [json.loads(line)["body"].encode() for line in
          (DATA / "prompts" / "request_bodies.jsonl").read_text().splitlines()]
RESPONSES = sorted((DATA / "responses").glob("*.json")) + sorted(
    (DATA / "responses").glob("*.sse"))

# Where msgspec and json could part ways: numbers at every limit, escapes, whitespace,
# duplicates, syntax errors.
EDGE_DOCUMENTS = [
    '{"a":-0}', '{"a":-0.0}', '{"a":1e400}', '{"a":-1e400}', '1.7976931348623157e309',
    '{"a":1,"b":2,"a":3}', '"\\ud800"', '{"\\ud800":1}', '"\\ud83d\\ude00"', '"a\x01b"',
    '{"a":NaN}', '[Infinity]', '[-Infinity]', '[1.5e-320]', '4.9e-324', '2.5e-324', '1e-400',
    '{"a":18446744073709551615}', '{"a":18446744073709551616}', '{"a":-9223372036854775809}',
    '[' + '9' * 400 + ']', '[' + '9' * 4300 + ']', '[' + '9' * 4301 + ']',
    '[-' + '9' * 4301 + ']', '[' + '9' * 30 + '.5]', '1' + '0' * 25 + 'e-10',
    '  {"a":1}  ', '{"a":1}\x0c', '\x0c{"a":1}', '\ufeff{}', '{"a":"\\u0000"}', '"\u2028"',
    '"\\/"', '"\\x41"', '"\t"', '01', '-', '1.', '.5', '[1,]', '{"a":1,}', '[1 2]',
    '{"a" 1}', '{1:2}', '{"a":1}garbage', '', ' ', 'null', 'true', '"x"', '[]', '{}',
    '[' * 500 + ']' * 500, '[' * 990 + ']' * 990, '[' * 1030 + ']' * 1030,
    '[' * 5000 + ']' * 5000, '{"a":' * 3000,
]


@pytest.fixture(params=[True, False], ids=["native", "stdlib"])
def native(request: pytest.FixtureRequest) -> Iterator[bool]:
    if request.param and not jsonio.NATIVE:
        pytest.skip("msgspec is not installed (the fast extra)")
    jsonio.use_native(request.param)
    try:
        yield request.param
    finally:
        jsonio.use_native(True)


def _outcome(fn: Any, data: Any) -> tuple[str, Any]:
    try:
        value = fn(data)
    except RecursionError:
        return "recursion", None
    except json.JSONDecodeError as exc:
        return "syntax", exc.msg
    except ValueError as exc:
        return "value", type(exc).__name__
    return "ok", _typed(value)


def _typed(value: Any) -> list[Any]:
    """The value as a flat list of events, each scalar with its type (1, 1.0 and True
    differ); iterative, as documents may be nested hundreds deep."""
    out: list[Any] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            out.append(("dict", list(v)))
            stack.extend(reversed(list(v.values())))
        elif isinstance(v, list):
            out.append(("list", len(v)))
            stack.extend(reversed(v))
        elif isinstance(v, float) and math.isnan(v):
            out.append(("float", "nan"))
        else:
            out.append((type(v).__name__, v))
    return out


def test_native_path_is_on_when_msgspec_is_installed() -> None:
    pytest.importorskip("msgspec")
    assert jsonio.NATIVE and jsonio.native_enabled()
    jsonio.use_native(False)
    try:
        assert not jsonio.native_enabled()
        with pytest.raises(ValueError):
            jsonio.native_loads(b"{}")
    finally:
        jsonio.use_native(True)


@pytest.mark.parametrize("doc", EDGE_DOCUMENTS, ids=range(len(EDGE_DOCUMENTS)))
def test_edge_documents_decode_as_the_stdlib_does(native: bool, doc: str) -> None:
    for data in (doc, doc.encode("utf-8", "surrogatepass")):
        assert _outcome(jsonio.loads, data) == _outcome(json.loads, data)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=_JSON, ascii_only=st.booleans())
def test_generated_documents_decode_as_the_stdlib_does(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    for enabled in (True, False):
        jsonio.use_native(enabled)
        try:
            assert _outcome(jsonio.loads, text) == _outcome(json.loads, text)
            raw = text.encode("utf-8", "surrogatepass")
            assert _outcome(jsonio.loads, raw) == _outcome(json.loads, raw)
        finally:
            jsonio.use_native(True)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet='{}[]",:0123456789.eE+-tfrunal \\u\n\t\x0c', max_size=40))
def test_near_json_garbage_decodes_as_the_stdlib_does(text: str) -> None:
    assert _outcome(jsonio.loads, text) == _outcome(json.loads, text)


def _parsed_both_ways(body: bytes, **kw: Any) -> tuple[Any, Any]:
    jsonio.use_native(False)
    try:
        stdlib = parse_body(body, "application/json", **kw)
    finally:
        jsonio.use_native(True)
    return parse_body(body, "application/json", **kw), stdlib


@pytest.mark.parametrize("i", range(len(BODIES)))
def test_real_bodies_parse_the_same_both_ways(i: int) -> None:
    native, stdlib = _parsed_both_ways(BODIES[i])
    assert native == stdlib


def test_odd_bodies_parse_the_same_both_ways() -> None:
    rng = random.Random(5)
    bodies = [
        b'{"model":"m","max_tokens":' + b"9" * 5000 + b',"messages":[]}',
        b'{"messages":[{"role":"user","content":"hi"}],"seed":18446744073709551616}',
        b'{"messages":[{"role":"user","content":"\\ud800 lone"}],"temperature":NaN}',
        b'{"messages":[{"role":"user","content":"x"}],"logit_bias":{"1":1e400}}',
        b'{"messages":' + b"[" * 3000 + b"]" * 3000 + b"}",
        b'{"messages":[{"role":"user","content":"cut here',
        b'\xef\xbb\xbf{"prompt":"with a byte order mark"}',
    ]
    for body in BODIES[:20]:
        cut = rng.randrange(1, len(body))
        bodies.append(body[:cut])
    for body in bodies:
        for truncated in (False, True):
            native, stdlib = _parsed_both_ways(body, truncated=truncated)
            assert native == stdlib, body[:60]


def _meter(body: bytes, content_type: str, piece: int) -> Any:
    meter = ResponseMeter(content_type)
    for i in range(0, len(body), piece):
        meter.feed(body[i:i + piece])
    usage = meter.finish()
    return None if usage is None else (usage, usage.answer)


@pytest.mark.parametrize("path", RESPONSES, ids=[p.name for p in RESPONSES])
def test_metered_usage_is_the_same_both_ways(path: Path) -> None:
    body = path.read_bytes()
    ctype = "text/event-stream" if path.suffix == ".sse" else "application/json"
    variants = [body]
    if path.suffix == ".json":
        variants += [body.rstrip() + b"\n\n", body.rstrip()[:-1] + b" \x0c}",
                     body.replace(b'"usage"', b'"usage" ', 1), body[: len(body) // 2]]
    for data in variants:
        for piece in (7, 1 << 20):
            jsonio.use_native(False)
            try:
                stdlib = _meter(data, ctype, piece)
            finally:
                jsonio.use_native(True)
            assert _meter(data, ctype, piece) == stdlib


def test_usage_as_last_member_with_odd_numbers(native: bool) -> None:
    head = b'{"id":"x","choices":[{"message":{"content":"hello"}}],"usage":'
    cases = {
        b'{"prompt_tokens":12,"completion_tokens":3}}': (12, 3),
        b'{"prompt_tokens":12,"completion_tokens":3} }\n': (12, 3),
        b'{"prompt_tokens":' + b"9" * 30 + b',"completion_tokens":3}}': (10**9, 3),
    }
    for tail, expected in cases.items():
        meter = ResponseMeter("application/json")
        meter.feed(head + tail)
        usage = meter.finish()
        assert usage is not None
        assert (usage.prompt_tokens, usage.completion_tokens) == expected


@pytest.mark.parametrize("path", RESPONSES, ids=[p.name for p in RESPONSES])
def test_meter_without_answer_reports_the_same_usage(path: Path) -> None:
    """``keep_answer=False`` (no continuity detector): the same counts, no answer text."""
    body = path.read_bytes()
    ctype = "text/event-stream" if path.suffix == ".sse" else "application/json"
    for piece in (7, 1 << 20):
        kept = _meter(body, ctype, piece)
        meter = ResponseMeter(ctype, keep_answer=False)
        for i in range(0, len(body), piece):
            meter.feed(body[i:i + piece])
        usage = meter.finish()
        assert kept is not None and usage is not None
        assert kept[1], "the fixture has an answer to skip"
        assert usage == kept[0] and usage.answer == ""


def test_middleware_reads_answers_only_for_continuity() -> None:
    from antidistill import AntiDistillMiddleware, Guard, Settings

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not called")

    with_continuity = AntiDistillMiddleware(app, guard=Guard(Settings(secret="x" * 32)))
    budgets_only = AntiDistillMiddleware(app, guard=Guard(Settings(secret="x" * 32,
                                                                   detectors=[])))
    assert "continuity" in with_continuity.guard.detectors and with_continuity.keep_answer
    assert not budgets_only.keep_answer


def test_without_msgspec_the_stdlib_path_is_complete() -> None:
    """An install without the ``fast`` extra: no msgspec to import, everything still works."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['msgspec'] = None\n"
        "from antidistill.fingerprints import jsonio\n"
        "from antidistill.fingerprints.parse import parse_body\n"
        "from antidistill.enforcement.metering import ResponseMeter\n"
        "assert not jsonio.NATIVE and not jsonio.native_enabled()\n"
        "assert jsonio.loads('[1, 2.5, \"x\"]') == [1, 2.5, 'x']\n"
        "p = parse_body(b'{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}')\n"
        "assert (p.format, p.user) == ('openai.chat', 'hi'), p\n"
        "m = ResponseMeter('application/json')\n"
        "m.feed(b'{\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}')\n"
        "u = m.finish()\n"
        "assert u is not None and (u.prompt_tokens, u.completion_tokens) == (3, 4), u\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
