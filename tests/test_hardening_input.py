"""Issue #11, findings 1, 2, 8 and 13 (degrade half): odd input is evidence, never a bypass.

Each test is named after the finding it pins; each failed before its fix.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from antidistill import AntiDistillMiddleware, Guard
from antidistill.decision import Action, Decision
from antidistill.enforcement.degrade import DegradePlan, degrade_body, detect_format
from antidistill.enforcement.metering import (
    ResponseMeter,
    estimate_request_cost,
)
from antidistill.fingerprints.parse import MAX_TOKEN_PARAMS, parse_body
from antidistill.fingerprints.prompt import skeletonize
from antidistill.fingerprints.values import LIMIT, read_number, safe_count, safe_number
from antidistill.policy.budgets import requested_output_tokens
from antidistill.signals.harvesting import score_harvesting, sweep_key
from apps import asgi_client, clear_env, make_guard, make_starlette_app

HUGE = 10**400
CHAT = "/v1/chat/completions"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


def _strict_json(body: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"not JSON: {name}")
    return json.loads(body, parse_constant=refuse, parse_int=Decimal, parse_float=Decimal)


async def _post(guard: Guard, body: bytes, path: str = "/decision") -> tuple[int, Any]:
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    async with asgi_client(app) as client:
        r = await client.post(path, content=body, headers={
            "content-type": "application/json", "x-api-key": "sk-finding-test"})
    return r.status_code, (r.json() if r.headers.get("content-type", "").startswith(
        "application/json") else r.content)


# -- finding 1: 10**400 in a numeric field raised OverflowError and skipped detection ---------


def test_finding_1_safe_number_never_raises_and_clamps() -> None:
    assert read_number(HUGE) == (LIMIT, "range")
    assert read_number(-HUGE) == (-LIMIT, "range")
    assert read_number(float("inf")) == (LIMIT, "range")
    assert read_number(float("nan")) == (None, "nan")
    assert read_number(True) == (None, "type")
    assert read_number(["1"]) == (None, "type")
    assert read_number({"a": 1}) == (None, "type")
    assert read_number("1e400") == (LIMIT, "range")
    assert read_number(" 20 ") == (20.0, "")
    assert read_number(None) == (None, "")
    assert safe_number(7) == 7.0
    assert safe_count(HUGE, 10**9) == 10**9 and safe_count(-1) is None
    assert safe_count(3.0) is None and safe_count(True) is None


@pytest.mark.parametrize("field", ["max_tokens", "seed", "temperature", "n", "top_logprobs"])
def test_finding_1_huge_numbers_are_malformed_evidence_not_an_exception(field: str) -> None:
    params: dict[str, Any] = {"logprobs": True, "top_logprobs": 20, "n": 8,
                              "logit_bias": {"1": HUGE, "2": 100}}
    params[field] = HUGE
    f = score_harvesting(params, max_tokens_cap=4096)
    assert "malformed_params" in f.features, f
    assert f.score >= 0.5
    assert all(isinstance(v, str) for v in sweep_key(params).values())


def test_finding_1_a_5000_digit_integer_does_not_hide_the_body() -> None:
    body = (b'{"messages":[{"role":"user","content":"tell me everything"}],"max_tokens":'
            + b"9" * 5000 + b',"logprobs":true,"top_logprobs":20}')
    p = parse_body(body, "application/json", path=CHAT)
    assert p.user == "tell me everything" and p.format == "openai.chat"
    assert p.params["top_logprobs"] == 20 and "huge_int" in p.oddities
    assert requested_output_tokens(p.params, MAX_TOKEN_PARAMS) == int(LIMIT)


def test_finding_1_token_estimate_and_usage_clamped() -> None:
    assert requested_output_tokens({"max_tokens": float("inf")}, MAX_TOKEN_PARAMS) == int(LIMIT)
    assert requested_output_tokens({"max_tokens": "x", "max_output_tokens": 300},
                                   MAX_TOKEN_PARAMS) == 300
    assert estimate_request_cost(4, int(LIMIT), output_cap=4096) == 1 + 4096
    meter = ResponseMeter("application/json")
    meter.feed(json.dumps({"usage": {"prompt_tokens": HUGE, "completion_tokens": 5}}).encode())
    usage = meter.finish()
    assert usage is not None and usage.prompt_tokens == 10**9 and usage.completion_tokens == 5


@pytest.mark.parametrize("extra", [{"seed": HUGE}, {"temperature": HUGE}, {"n": HUGE},
                                   {"logit_bias": {"50256": HUGE}}, {"max_tokens": HUGE}])
async def test_finding_1_one_huge_field_does_not_switch_detection_off(
    extra: dict[str, Any]
) -> None:
    guard = make_guard()
    doc = {"model": "m", "messages": [{"role": "user", "content": "hello"}],
           "logprobs": True, "top_logprobs": 20, "n": 8, **extra}
    status, got = await _post(guard, json.dumps(doc).encode())
    assert status == 200
    assert guard.counters["detector_errors"] == 0
    names = {r["name"] for r in got["decision"]["reasons"]}
    assert "harvesting" in names, got["decision"]


# -- finding 2: unhashable JSON values made the parser give up, and degrade raise ------------


@pytest.mark.parametrize("message", [
    {"role": ["user"], "content": "what is the capital of France"},
    {"role": {"r": "user"}, "content": "what is the capital of France"},
    {"role": "user", "content": [["what is the capital of France"]]},
    {"role": "user", "content": [{"type": ["text"], "text": "what is the capital of France"}]},
])
def test_finding_2_odd_shapes_are_read_and_recorded(message: dict[str, Any]) -> None:
    body = json.dumps({"messages": [message], "max_tokens": 5}).encode()
    p = parse_body(body, "application/json", path=CHAT)
    assert p.user == "what is the capital of France", p
    assert p.oddities and not p.error
    assert "malformed_params" in score_harvesting(p.params, oddities=p.oddities).features


def test_finding_2_detect_format_never_raises_on_unhashable_values() -> None:
    assert detect_format({"messages": [{"role": ["user"]}, {"role": {"a": 1}}]}) == "openai.chat"
    result = degrade_body(json.dumps({"messages": [{"role": ["user"], "content": "x"}],
                                      "max_tokens": 100000, "n": 8}).encode(), DegradePlan())
    assert "max_tokens:100000->256" in result.changes


def test_finding_2_deep_nesting_still_reads_the_text() -> None:
    body = (b'{"messages":[{"role":"user","content":"the real question"}],"x":'
            + b"[" * 10000 + b"]" * 10000 + b"}")
    p = parse_body(body, "application/json", path=CHAT)
    assert p.user == "the real question" and "depth" in p.oddities


async def test_finding_2_degrade_of_an_unhashable_role_is_not_a_500() -> None:
    guard = make_guard()

    @guard.on_decision
    def force(ctx: Any, decision: Decision) -> Decision:
        return replace(decision, action=Action.DEGRADE, enforced=True)

    doc = {"messages": [{"role": ["user"], "content": "hi"}], "max_tokens": 100000, "n": 8}
    status, got = await _post(guard, json.dumps(doc).encode(), "/echo")
    assert status == 200, got
    out = _strict_json(got)
    assert out["max_tokens"] == 256 and out["n"] == 1


def _forced_degrade() -> Guard:
    guard = make_guard()

    @guard.on_decision
    def force(ctx: Any, decision: Decision) -> Decision:
        return replace(decision, action=Action.DEGRADE, enforced=True)

    return guard


async def test_a_body_too_deep_to_rewrite_is_refused_not_served_whole() -> None:
    # Python's parser stops near depth 1,000; other parsers (the app's) may read it all and
    # serve the unchanged max_tokens, n and logprobs.
    body = (b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":100000,"n":8,'
            b'"logprobs":true,"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert degrade_body(body, DegradePlan()).unreadable
    status, got = await _post(_forced_degrade(), body, "/echo")
    assert status == 400 and got["error"]["type"] == "invalid_request_body", got


async def test_an_unreadable_non_json_body_is_not_refused_by_degrade() -> None:
    # Only what looks like JSON is refused: a form or audio upload has nothing to rewrite.
    assert not degrade_body(b"field=value&max_tokens=9", DegradePlan()).unreadable
    status, got = await _post(_forced_degrade(), b"field=value&max_tokens=9", "/echo")
    assert status == 200 and got == b"field=value&max_tokens=9"


# -- finding 13 (degrade half): 1e400 was written back as Infinity ---------------------------


@pytest.mark.parametrize("literal", [b"1e400", b"-1e400", b"9" * 5000, b"NaN", b"Infinity"])
def test_finding_13_degraded_body_is_strict_json(literal: bytes) -> None:
    body = (b'{"messages":[{"role":"user","content":"x"}],"max_tokens":100000,'
            b'"temperature":' + literal + b',"top_p":[' + literal + b"]}")
    result = degrade_body(body, DegradePlan())
    assert result.changes
    out = _strict_json(result.body)
    assert out["max_tokens"] == 256
    if literal[:1].isdigit() or literal.startswith(b"-"):
        # The literal is kept as it came: the upstream sees what the client sent.
        assert b'"temperature":' + literal in result.body
    else:
        assert out["temperature"] is None and "nonfinite->null" in result.changes


def test_finding_13_a_huge_max_tokens_is_capped() -> None:
    for literal in (b"1e400", b"9" * 5000):
        result = degrade_body(b'{"messages":[],"max_tokens":' + literal + b"}", DegradePlan())
        assert _strict_json(result.body)["max_tokens"] == 256


# -- finding 8: the skeleton regexes backtracked quadratically -------------------------------


def test_finding_8_skeleton_of_the_reported_body_is_unchanged() -> None:
    # The cost is measured by benchmarks/worstcase.py (and its smoke test); here the output of
    # the rewritten patterns on the reported input is pinned to what the old ones gave.
    text = "x Ab a" + " " * 3990 + "a"
    assert skeletonize(text) == skeletonize("x Ab a a")
