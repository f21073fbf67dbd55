"""Property tests (hypothesis) of every request analyser: never raises, well-formed output.

Bodies are generated JSON with the shapes a fuzzing or evading client sends: wrong types
everywhere, unhashable roles, content as numbers or nested lists, ``10**400``, ``1e400``,
5,000-digit integers, cut bodies. ``max_examples`` is bounded so the suite stays fast;
``benchmarks/fuzz.py`` runs the long campaign through the real middleware.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from antidistill.enforcement import degrade as degrade_mod
from antidistill.enforcement.degrade import API_FORMATS, DegradePlan
from antidistill.enforcement.metering import ResponseMeter
from antidistill.fingerprints import parse as parse_mod
from antidistill.fingerprints import prompt as prompt_mod
from antidistill.fingerprints import request as request_mod
from antidistill.fingerprints.parse import FORMATS, ParsedPrompt
from antidistill.fingerprints.prompt import fingerprint_prompt
from antidistill.signals.harvesting import score_harvesting, sweep_key
from antidistill.signals.intent import detect_intent

FAST = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

BIG_INT = "1" + "0" * 5000
BIG_FLOAT = "1e400"
_MARKS = {"\x01BIGINT": BIG_INT, "\x01BIGFLOAT": BIG_FLOAT, "\x01NEGBIG": "-" + BIG_INT}
KEYS = ["model", "messages", "role", "content", "text", "type", "system", "prompt", "input",
        "instructions", "contents", "parts", "max_tokens", "max_completion_tokens",
        "max_output_tokens", "n", "logprobs", "top_logprobs", "logit_bias", "temperature",
        "top_p", "seed", "stream", "thinking", "reasoning", "reasoning_effort", "include",
        "generationConfig", "maxOutputTokens", "candidateCount", "stream_options", "tools"]
ROLES = ["user", "system", "developer", "assistant", "tool", "model"]

# Text alphabets the skeleton, normaliser and intent scanners are sensitive to.
ADVERSARIAL_TEXT = st.lists(
    st.sampled_from([" ", "  ", "a", "A", "Ab", "x", ":", "://", "www.", "@", ".",
                              '"', "'", "`", "```", "「", "」", "«", "»", "《", "》", "(", "[",
                              "{", "}", "\n", "\t", "аb", "中", "\u200b", "é", "1", "%",
                              "<think>", "step by step", "You are", "Ignore previous",
                              "\ud800", "\x00", "\x01", "\x02"]),
    max_size=200,
).map("".join)
TEXT = st.one_of(st.text(max_size=60), ADVERSARIAL_TEXT)

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False), TEXT,
    st.sampled_from(list(_MARKS)),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=4)), inner,
                        max_size=3),
    ),
    max_leaves=8,
)
MESSAGE = st.fixed_dictionaries(
    {"role": st.one_of(st.sampled_from(ROLES), VALUES), "content": st.one_of(TEXT, VALUES)},
    optional={"type": VALUES},
)
REQUEST = st.builds(
    lambda base, turns, key: {**base, key: turns} if turns is not None else base,
    st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6),
    st.none() | st.lists(MESSAGE, max_size=3),
    st.sampled_from(["messages", "contents", "input"]),
)


def _dumps(doc: Any) -> bytes:
    text = json.dumps(doc, ensure_ascii=False)
    for mark, literal in _MARKS.items():
        text = text.replace(json.dumps(mark), literal)
    return text.encode("utf-8", "surrogatepass")


BODIES = st.one_of(
    REQUEST.map(_dumps),
    st.tuples(REQUEST.map(_dumps), st.floats(0, 1)).map(lambda t: t[0][: int(len(t[0]) * t[1])]),
    st.binary(max_size=300),
    st.integers(1, 3000).map(lambda d: b'{"messages":' + b"[" * d + b'"x"' + b"]" * d + b"}"),
)
PATHS = st.sampled_from(["", "/v1/chat/completions", "/v1/completions", "/v1/responses",
                         "/v1/messages", "/v1beta/models/g:generateContent", "/x"])


def _check_parsed(p: ParsedPrompt) -> None:
    assert p.format in FORMATS
    assert not p.error.startswith("internal"), p.error
    assert all(isinstance(t, str) for t in (p.system, p.user, p.last_user))
    assert isinstance(p.params, dict) and isinstance(p.oddities, tuple)
    assert all(isinstance(o, str) for o in p.oddities)


@FAST
@given(BODIES, PATHS, st.booleans())
def test_parser_never_gives_up(body: bytes, path: str, truncated: bool) -> None:
    # _parse, not parse_body: the public function's last-resort except would hide a bug.
    p = parse_mod._parse(body, "application/json", truncated, path, 64, 4096)
    _check_parsed(p)
    assert len(p.user) <= 4096 and len(p.system) <= 4096


@FAST
@given(st.lists(MESSAGE, min_size=1, max_size=4))
def test_parser_reads_text_of_odd_shapes(messages: list[dict[str, Any]]) -> None:
    """Whatever the role and content shapes, a string content of a user-ish turn is read."""
    messages.append({"role": ["user"], "content": "the last question"})
    p = parse_mod._parse(_dumps({"messages": messages}), None, False,
                         "/v1/chat/completions", 64, 65536)
    _check_parsed(p)
    assert p.last_user == "the last question"
    assert "role" in p.oddities


_FP = re.compile(r"^[a-z]+[0-9]:[0-9a-f]{16}$")


@FAST
@given(TEXT, TEXT, TEXT)
def test_prompt_fingerprint_well_formed(system: str, user: str, last: str) -> None:
    fp = fingerprint_prompt(ParsedPrompt("openai.chat", system, user, last or user, {}, 1))
    assert fp.exact.startswith("px1:") or _FP.match(fp.exact), fp.exact
    assert _FP.match(fp.skeleton), fp.skeleton
    assert fp.n_chars >= 0 and fp.n_words >= 0
    assert all(isinstance(s, str) for s in fp.segments)


HEADER_NAMES = st.sampled_from([b"user-agent", b"accept", b"accept-encoding",
                                b"accept-language", b"x-stainless-lang", b"x-stainless-os",
                                b"x-goog-api-client", b"cf-ja4", b"cf-bot-score",
                                b"content-type", b"x-custom"])
HEADERS = st.lists(st.tuples(st.one_of(HEADER_NAMES, st.binary(max_size=12)),
                             st.one_of(st.binary(max_size=300),
                                       ADVERSARIAL_TEXT.map(lambda s: s.encode("utf-8",
                                                                               "replace")))),
                   max_size=12)


@FAST
@given(HEADERS, st.booleans())
def test_request_fingerprint_well_formed(headers: list[tuple[bytes, bytes]],
                                         trusted: bool) -> None:
    fp = request_mod._fingerprint(headers, trusted, "cf-ja4", "cf-bot-score")
    assert re.match(r"^ho1:[0-9a-f]{16}$", fp.header_order), fp.header_order
    assert re.match(r"^cf1:[0-9a-f]{16}$", fp.client), fp.client
    assert isinstance(fp.ua_family, str) and isinstance(fp.ua_kind, str)


@FAST
@given(st.one_of(TEXT, ADVERSARIAL_TEXT.map(lambda s: s * 20)))
def test_intent_well_formed(text: str) -> None:
    for m in detect_intent(text, max_chars=4096):
        assert 0.0 < m.score <= 1.0
        assert isinstance(m.category, str) and isinstance(m.evidence, str)


@FAST
@given(REQUEST, st.integers(0, 10**5))
def test_harvesting_well_formed(doc: dict[str, Any], cap: int) -> None:
    params = parse_mod._parse(_dumps(doc), None, False, "", 64, 4096).params
    f = score_harvesting(params, max_tokens_cap=cap, oddities=("role",))
    assert 0.0 <= f.score <= 1.0
    assert all(isinstance(x, str) for x in f.features)
    assert all(isinstance(v, str) and len(v) <= 32 for v in sweep_key(params).values())


USAGE = st.dictionaries(st.sampled_from(["prompt_tokens", "completion_tokens", "input_tokens",
                                         "output_tokens", "cache_read_input_tokens",
                                         "promptTokenCount", "candidatesTokenCount"]),
                        st.one_of(st.integers(), st.integers(min_value=10**300), VALUES),
                        max_size=4)


def _response_bodies() -> st.SearchStrategy[tuple[str, bytes]]:
    json_body = st.tuples(TEXT, USAGE).map(lambda t: _dumps(
        {"choices": [{"message": {"content": t[0]}}], "usage": t[1]}))
    sse = st.lists(st.tuples(TEXT, USAGE), max_size=4).map(lambda evs: b"".join(
        b"data: " + _dumps({"choices": [{"delta": {"content": t}}], "usage": u}) + b"\n\n"
        for t, u in evs) + b"data: [DONE]\n\n")
    return st.one_of(st.tuples(st.just("application/json"), json_body),
                     st.tuples(st.just("text/event-stream"), sse),
                     st.tuples(st.sampled_from(["application/json", "text/event-stream"]),
                               st.binary(max_size=400)))


@FAST
@given(_response_bodies(), st.integers(1, 64))
def test_metering_well_formed(response: tuple[str, bytes], step: int) -> None:
    ctype, body = response
    meter = ResponseMeter(ctype)
    for i in range(0, len(body), step):
        meter.feed(body[i:i + step])
    usage = meter.finish()
    if usage is not None:
        for count in (usage.prompt_tokens, usage.completion_tokens):
            assert isinstance(count, int) and 0 <= count <= 3 * 10**9


_TOUCHED = {"max_tokens", "max_completion_tokens", "max_output_tokens", "logprobs",
            "top_logprobs", "logit_bias", "n", "thinking", "reasoning_effort",
            "include_reasoning", "reasoning", "include", "generationConfig",
            "generation_config"}


def _strict(body: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"non-JSON constant {name}")
    return json.loads(body, parse_constant=refuse, parse_int=Decimal, parse_float=Decimal)


@FAST
@given(REQUEST, st.sampled_from([None, *API_FORMATS]))
def test_degrade_output_is_json_with_the_same_other_fields(doc: dict[str, Any],
                                                           fmt: str | None) -> None:
    body = _dumps(doc)
    # _degrade, not degrade_body: its last-resort except would hide a bug.
    result = degrade_mod._degrade(body, DegradePlan(), fmt)
    if not result.changes:
        assert result.body == body
        return
    out, before = _strict(result.body), _strict(body)
    assert isinstance(out, dict)
    for key, value in before.items():
        if key not in _TOUCHED:
            assert out.get(key) == value, key
    assert set(out) - set(before) <= _TOUCHED


# -- the linear scanners give exactly what the regexes they replace gave --------------------

_L = "\x00"
OLD_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s" + _L + r"]+|www\.[^\s" + _L + r"]+")
OLD_NAME = re.compile(r"  *[A-Z][\w'’-]+(?: [A-Z][\w'’-]+)*")
OLD_QUOTE = re.compile(
    r'"[^"\n' + _L + r']{1,500}"(?!\s?:)'
    r"|'(?<!\w')[^'\n" + _L + r"]{1,300}'(?!\w)"
    r"|「[^」]{1,500}」|『[^』]{1,500}』|«[^»]{1,500}»|《[^》]{1,200}》"
)
URLISH = st.lists(st.sampled_from(["a", "w", ".", ":", "/", "://", "www.", " ", _L,
                                           "1", "+", "-", "X", "é", "\n", "h"]),
                 max_size=40).map("".join)
NAMEISH = st.lists(st.sampled_from([" ", "  ", "A", "Ab", "b", "x", "'", "’", "-",
                                            "É", ".", "\n", "_", "1"]), max_size=30).map("".join)
QUOTEISH = st.lists(st.sampled_from(['"', "'", "「", "」", "『", "』", "«", "»", "《", "》",
                                             "a", "a", "a", " ", ":", "\n", _L, "é"]),
                   max_size=60).map("".join)


@settings(max_examples=250, deadline=None, database=None)
@given(URLISH, NAMEISH, QUOTEISH)
def test_linear_scanners_match_the_old_regexes(urls: str, names: str, quotes: str) -> None:
    assert prompt_mod._mask_urls(urls) == OLD_URL.sub("{u}", urls)
    mark = lambda m: "<" + m.group() + ">"  # noqa: E731
    assert prompt_mod._NAME.sub(mark, names) == OLD_NAME.sub(mark, names)
    assert prompt_mod._mask_quotes(quotes) == OLD_QUOTE.sub("{q}", quotes)
    long_quotes = quotes * 20  # spans near the 200/500-character limits
    assert prompt_mod._mask_quotes(long_quotes) == OLD_QUOTE.sub("{q}", long_quotes)
