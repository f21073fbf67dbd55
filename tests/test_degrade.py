"""Request degradation per API format, on hand-built and real recorded request bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from antidistill.enforcement.degrade import (
    API_FORMATS,
    DegradePlan,
    degrade_body,
    detect_format,
)

DATA = Path(__file__).parent / "data" / "responses"
PLAN = DegradePlan()
# The recorded data set names formats as the degrade module once did; the parser's names now.
RECORDED = {"openai_chat": "openai.chat", "openai_completions": "openai.completions",
            "openai_responses": "openai.responses", "anthropic": "anthropic.messages",
            "gemini": "gemini", "unknown": "json"}


def enc(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def run(obj: Any, plan: DegradePlan = PLAN, **kw: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    res = degrade_body(enc(obj), plan, **kw)
    return json.loads(res.body), res.changes


MESSAGES = [
    {"role": "system", "content": "Réponds en français."},
    {"role": "user", "content": "Explique la photosynthèse étape par étape 🌱"},
]


def test_openai_chat_full_degrade_preserves_the_rest() -> None:
    body = enc(
        {
            "model": "gpt-4o",
            "messages": MESSAGES,
            "max_tokens": 4096,
            "logprobs": True,
            "top_logprobs": 20,
            "logit_bias": {"50256": -100},
            "n": 8,
            "temperature": 0.2,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    res = degrade_body(body, PLAN)
    assert res.changes == (
        "max_tokens:4096->256",
        "drop:logprobs",
        "drop:top_logprobs",
        "drop:logit_bias",
        "n:8->1",
    )
    assert json.loads(res.body) == {
        "model": "gpt-4o",
        "messages": MESSAGES,
        "max_tokens": 256,
        "n": 1,
        "temperature": 0.2,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    # Compact, non-ASCII kept as UTF-8 rather than \u escapes.
    assert "étape par étape 🌱".encode() in res.body
    assert b'": ' not in res.body and b", " not in res.body.replace("Réponds en".encode(), b"")


def test_under_cap_is_untouched_byte_for_byte() -> None:
    body = b'{"model": "gpt-4o",   "messages": [], "max_tokens": 100, "logprobs": false}'
    res = degrade_body(body, PLAN)
    assert res.changes == ()
    assert res.body is body


def test_chat_without_max_gets_one_and_reasoning_models_get_max_completion_tokens() -> None:
    obj, changes = run({"model": "gpt-4o-mini", "messages": MESSAGES})
    assert obj["max_tokens"] == 256 and changes == ("add:max_tokens=256",)
    for model in ("o3-mini", "openai/o4-mini", "gpt-5-nano"):
        obj, changes = run({"model": model, "messages": MESSAGES})
        assert "max_tokens" not in obj
        assert obj["max_completion_tokens"] == 256, model
    obj, changes = run({"model": "my-ft", "messages": MESSAGES, "reasoning_effort": "high"})
    assert obj["max_completion_tokens"] == 256
    assert obj["reasoning_effort"] == "low"
    assert changes == ("add:max_completion_tokens=256", "reasoning_effort:high->low")


def test_chat_caps_every_max_field_present_and_null() -> None:
    obj, changes = run(
        {"model": "gpt-4o", "messages": MESSAGES, "max_completion_tokens": 9000, "max_tokens": None}
    )
    assert obj["max_completion_tokens"] == 256 and obj["max_tokens"] == 256
    assert changes == ("max_tokens:null->256", "max_completion_tokens:9000->256")


def test_top_logprobs_without_logprobs_is_removed_for_chat() -> None:
    plan = DegradePlan(drop_params=("logprobs",))
    obj, changes = run(
        {
            "model": "gpt-4o",
            "messages": MESSAGES,
            "logprobs": True,
            "top_logprobs": 5,
            "max_tokens": 10,
        },
        plan,
    )
    assert "logprobs" not in obj and "top_logprobs" not in obj
    assert changes == ("drop:logprobs", "drop:top_logprobs")


def test_responses_api() -> None:
    obj, changes = run(
        {
            "model": "o4-mini",
            "input": [{"role": "user", "content": "Solve 12*13, show all reasoning."}],
            "max_output_tokens": 10_000,
            "reasoning": {"effort": "high", "summary": "detailed"},
            "include": ["reasoning.encrypted_content", "message.output_text.logprobs"],
            "top_logprobs": 5,
            "store": False,
        }
    )
    assert obj == {
        "model": "o4-mini",
        "input": [{"role": "user", "content": "Solve 12*13, show all reasoning."}],
        "max_output_tokens": 256,
        "reasoning": {"effort": "low"},
        "include": [],
        "store": False,
    }
    assert changes == (
        "max_output_tokens:10000->256",
        "drop:top_logprobs",
        "drop:include[message.output_text.logprobs]",
        "drop:include[reasoning.encrypted_content]",
        "reasoning.effort:high->low",
        "drop:reasoning.summary",
    )


def test_responses_minimal_body_gets_max_output_tokens() -> None:
    obj, changes = run({"model": "gpt-4.1", "input": "Tell me a story"})
    assert obj == {"model": "gpt-4.1", "input": "Tell me a story", "max_output_tokens": 256}
    assert changes == ("add:max_output_tokens=256",)
    # Low effort already: nothing to lower.
    obj, changes = run(
        {"model": "o3", "input": "x", "max_output_tokens": 5, "reasoning": {"effort": "minimal"}}
    )
    assert changes == ()


def test_anthropic_max_tokens_capped_never_removed_and_thinking_dropped() -> None:
    body = {
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 16_000,
        "thinking": {"type": "enabled", "budget_tokens": 10_000},
        "system": [
            {"type": "text", "text": "Tu es un assistant.", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [{"role": "user", "content": "Pourquoi le ciel est-il bleu ?"}],
        "stream": True,
    }
    obj, changes = run(body)
    assert obj["max_tokens"] == 256
    assert "thinking" not in obj
    assert changes == ("max_tokens:16000->256", "drop:thinking")
    assert {k: v for k, v in obj.items() if k not in ("max_tokens",)} == {
        k: v for k, v in body.items() if k not in ("max_tokens", "thinking")
    }
    # Cap far below an already small limit: still present, never deleted.
    obj, changes = run({**body, "max_tokens": 1}, DegradePlan(max_tokens_cap=1))
    assert obj["max_tokens"] == 1


def test_anthropic_thinking_kept_unless_budget_no_longer_fits() -> None:
    body = {
        "model": "claude-opus-4",
        "max_tokens": 16_000,
        "thinking": {"type": "enabled", "budget_tokens": 10_000},
        "messages": [{"role": "user", "content": "hi"}],
    }
    keep = DegradePlan(max_tokens_cap=12_000, hide_reasoning=False)
    obj, changes = run(body, keep)
    assert obj["thinking"] == body["thinking"] and changes == ("max_tokens:16000->12000",)
    obj, changes = run(body, DegradePlan(hide_reasoning=False))
    assert "thinking" not in obj
    assert changes == ("max_tokens:16000->256", "drop:thinking(budget>=max_tokens)")


def test_gemini_generation_config() -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "Écris un poème."}]}],
        "generationConfig": {
            "maxOutputTokens": 8192,
            "responseLogprobs": True,
            "logprobs": 5,
            "candidateCount": 4,
            "temperature": 0.7,
            "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True},
        },
    }
    obj, changes = run(body)
    assert obj == {
        "contents": body["contents"],
        "generationConfig": {"maxOutputTokens": 256, "candidateCount": 1, "temperature": 0.7},
    }
    assert changes == (
        "generationConfig.maxOutputTokens:8192->256",
        "drop:generationConfig.responseLogprobs",
        "drop:generationConfig.logprobs",
        "generationConfig.candidateCount:4->1",
        "drop:generationConfig.thinkingConfig",
    )


def test_gemini_snake_case_spelling_is_not_an_escape() -> None:
    obj, changes = run(
        {
            "contents": [{"parts": [{"text": "hi"}]}],
            "generation_config": {
                "max_output_tokens": 65536,
                "response_logprobs": True,
                "candidate_count": 8,
                "thinking_config": {},
            },
        }
    )
    assert obj["generation_config"] == {"max_output_tokens": 256, "candidate_count": 1}
    assert "generationConfig" not in obj
    assert len(changes) == 4


def test_gemini_without_config_gets_one() -> None:
    obj, changes = run({"contents": [{"parts": [{"text": "hi"}]}]})
    assert obj["generationConfig"] == {"maxOutputTokens": 256}
    assert changes == ("add:generationConfig.maxOutputTokens=256",)


def test_legacy_completions_logprobs_zero_still_dropped() -> None:
    obj, changes = run(
        {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "logprobs": 0, "echo": True}
    )
    assert obj == {
        "model": "gpt-3.5-turbo-instruct",
        "prompt": "Say hi",
        "echo": True,
        "max_tokens": 256,
    }
    assert changes == ("add:max_tokens=256", "drop:logprobs")


def test_embeddings_get_no_output_limit() -> None:
    body = enc({"model": "text-embedding-3-small", "input": "hello", "encoding_format": "float"})
    res = degrade_body(body, PLAN)
    assert res.changes == () and res.body is body


def test_plan_without_cap() -> None:
    plan = DegradePlan(max_tokens_cap=None, drop_params=(), hide_reasoning=False)
    body = enc({"model": "gpt-4o", "messages": MESSAGES, "max_tokens": 100_000, "logprobs": True})
    assert degrade_body(body, plan).body is body
    body = enc({"contents": [{"parts": [{"text": "hi"}]}]})
    assert degrade_body(body, plan).changes == ()


def test_duplicate_keys_collapse_to_one_capped_value() -> None:
    body = b'{"model":"gpt-4o","messages":[],"max_tokens":10,"max_tokens":100000}'
    res = degrade_body(body, PLAN)
    assert res.body.count(b"max_tokens") == 1
    assert json.loads(res.body)["max_tokens"] == 256


def test_change_labels_never_echo_client_strings() -> None:
    secret = "my-secret-system-prompt"
    obj, changes = run(
        {
            "model": "gpt-4o",
            "messages": [],
            "max_tokens": secret,
            "reasoning_effort": secret,
            "n": secret,
        }
    )
    assert obj["max_tokens"] == 256 and obj["reasoning_effort"] == "low" and obj["n"] == 1
    assert not any(secret in c for c in changes)
    assert changes == ("max_tokens:?->256", "n:?->1", "reasoning_effort:?->low")


def test_odd_values_do_not_crash() -> None:
    obj, changes = run(
        {
            "model": "o3",
            "input": "x",
            "include": [{"a": 1}, "reasoning.encrypted_content"],
            "reasoning": {"effort": None},
            "max_output_tokens": float("inf"),
        }
    )
    assert obj["include"] == [{"a": 1}]
    assert obj["max_output_tokens"] == 256 and obj["reasoning"] == {"effort": "low"}
    # Lone surrogates survive as escapes; the body stays valid JSON.
    body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"\\ud800x"}],"max_tokens":999}'
    res = degrade_body(body, PLAN)
    assert json.loads(res.body)["messages"][0]["content"] == "\ud800x"
    assert res.changes == ("max_tokens:999->256",)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b'{"model":"gpt-4o","max_tokens":4096',
        b"[1, 2]",
        b"null",
        b'"max_tokens"',
        b"\xff\xfe{}",
        b"[" * 100_000,
        b'{"a":' * 100_000,
        b"max_tokens=4096&logprobs=true",
    ],
)
def test_invalid_bodies_come_back_unchanged(body: bytes) -> None:
    res = degrade_body(body, PLAN)
    assert res.changes == ()
    assert res.body is body


def _real_requests() -> list[dict[str, Any]]:
    lines = (DATA / "real_requests.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_real_request_bodies_detected_and_degraded() -> None:
    rows = _real_requests()
    assert {RECORDED[r["api_format"]] for r in rows} == (
        set(API_FORMATS) | {"json"}) - {"openai.completions"}
    max_field = {
        "openai.chat": ("max_tokens", "max_completion_tokens"),
        "anthropic.messages": ("max_tokens",),
        "openai.responses": ("max_output_tokens",),
    }
    for row in rows:
        fmt = RECORDED[row["api_format"]]
        original = json.loads(row["body"])
        assert detect_format(original) == fmt, row["source_path"]
        res = degrade_body(row["body"].encode(), PLAN)
        assert degrade_body(row["body"].encode(), PLAN, api_format=fmt) == res
        out = json.loads(res.body)
        if fmt == "json":
            assert res.changes == ()
            continue
        if not res.changes:  # already within the plan, e.g. max_tokens=50
            assert res.body == row["body"].encode()
            assert any(0 < original.get(k, 10**9) <= 256 for k in max_field.get(fmt, ()))
            continue
        if fmt == "gemini":
            config = out["generationConfig"]
            assert config["maxOutputTokens"] <= 256
            untouched = {
                k: v
                for k, v in original["generationConfig"].items()
                if k not in ("maxOutputTokens", "thinkingConfig")
            }
            assert {k: v for k, v in config.items() if k != "maxOutputTokens"} == untouched
            assert out["contents"] == original["contents"]
            continue
        caps = [out[k] for k in max_field[fmt] if k in out]
        assert caps and all(c <= 256 for c in caps), row["source_path"]
        # Nothing else changes in these benign bodies.
        for key, value in original.items():
            if key not in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
                assert out[key] == value, (row["source_path"], key)
