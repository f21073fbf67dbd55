"""parse_body: every API dialect on real SDK bodies, and hostile input that must not raise."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from antidistill.fingerprints.parse import FORMATS, ParsedPrompt, parse_body

DATA = Path(__file__).parent / "data" / "prompts"
BODIES = [json.loads(line) for line in (DATA / "request_bodies.jsonl").read_text().splitlines()]

EXPECTED_FORMAT = {
    "openai.chat": "openai.chat",
    "azure.chat": "openai.chat",
    "openrouter.chat": "openai.chat",
    "openai.responses": "openai.responses",
    "anthropic.messages": "anthropic.messages",
    "bedrock.converse": "anthropic.messages",
    "gemini": "gemini",
    "ollama.generate": "openai.completions",
}


def _p(obj: Any, **kw: Any) -> ParsedPrompt:
    return parse_body(json.dumps(obj).encode(), "application/json", **kw)


@pytest.mark.parametrize("rec", BODIES, ids=[f"{b['kind']}-{i}" for i, b in enumerate(BODIES)])
def test_real_sdk_bodies(rec: dict[str, str]) -> None:
    body = rec["body"].encode()
    p = parse_body(body, "application/json", path=rec["path"])
    assert p.format == EXPECTED_FORMAT[rec["kind"]]
    assert p.error == ""
    assert p.user and p.last_user and p.last_user in p.user
    # Base64 attachments are not text: they never reach the user text.
    assert "iVBORw0KGgo" not in p.user and "JVBERi0" not in p.user
    # Without the path hint the JSON shape decides, and finds the same text.
    q = parse_body(body)
    assert q.user == p.user and q.system == p.system


def test_real_bodies_system_text() -> None:
    by_kind: dict[str, dict[str, str]] = {}
    for b in BODIES:
        by_kind.setdefault(b["kind"], b)
    chat = parse_body(by_kind["openai.chat"]["body"].encode(), path="/v1/chat/completions")
    assert chat.system.startswith("You are File Analyst.")
    resp = parse_body(by_kind["openai.responses"]["body"].encode(), path="/v1/responses")
    assert resp.system.startswith("You are File Analyst.")
    assert "Current Task:" in resp.user and "Current Task:" not in resp.system


def test_openai_chat_parts_roles_and_params() -> None:
    p = _p(
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "sys one"},
                {"role": "developer", "content": [{"type": "text", "text": "dev two"}]},
                {"role": "user", "content": "first question"},
                {"role": "assistant", "content": "an answer"},
                {"role": "tool", "content": "tool output"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "second"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                        {"type": "input_text", "text": "part"},
                    ],
                },
            ],
            "max_tokens": 4096,
            "max_completion_tokens": 100,
            "logprobs": True,
            "top_logprobs": 20,
            "n": 4,
            "temperature": 1.3,
            "top_p": 0.9,
            "seed": 7,
            "stream": True,
            "stream_options": {"include_usage": True},
            "logit_bias": {str(i): -100 for i in range(5000)},
            "tools": [{"type": "function"}, {"type": "function"}],
            "reasoning": {"effort": "high"},
            "user": "ignored",
            "messages_extra": 1,
        },
        path="/v1/chat/completions",
    )
    assert p.format == "openai.chat"
    assert p.system == "sys one\ndev two"
    assert p.user == "first question\nsecond\npart"
    assert p.last_user == "second\npart"
    assert p.n_messages == 6
    assert "an answer" not in p.user and "tool output" not in p.user
    prm = p.params
    assert prm["max_tokens"] == 4096 and prm["max_completion_tokens"] == 100
    assert prm["logprobs"] is True and prm["top_logprobs"] == 20 and prm["n"] == 4
    assert prm["temperature"] == 1.3 and prm["top_p"] == 0.9 and prm["seed"] == 7
    assert prm["stream"] is True and prm["stream_options"] == {"include_usage": True}
    assert len(prm["logit_bias"]) == 2000
    assert prm["tools_count"] == 2 and prm["reasoning"] == {"effort": "high"}
    assert "user" not in prm and "messages_extra" not in prm


def test_anthropic_system_blocks_and_thinking() -> None:
    p = _p(
        {
            "model": "claude",
            "max_tokens": 64000,
            "system": [{"type": "text", "text": "block one"}, {"type": "text", "text": "two"}],
            "thinking": {"type": "enabled", "budget_tokens": 32000},
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": "hello"},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "x", "content": "file data"}
                    ],
                },
            ],
        },
        path="/v1/messages",
    )
    assert p.format == "anthropic.messages"
    assert p.system == "block one\ntwo"
    assert p.user == "hi" and p.last_user == "hi"
    assert p.params["thinking"] == {"type": "enabled", "budget_tokens": 32000}
    # Shape alone (no path) recognises Anthropic by its top-level system.
    q = _p({"system": "s", "messages": [{"role": "user", "content": "u"}]})
    assert q.format == "anthropic.messages" and q.system == "s"


def test_responses_and_completions() -> None:
    p = _p(
        {
            "model": "o3",
            "instructions": "be terse",
            "input": "what is 2+2",
            "max_output_tokens": 9,
            "reasoning": {"effort": "high", "summary": "detailed"},
        }
    )
    assert (p.format, p.system, p.user) == ("openai.responses", "be terse", "what is 2+2")
    assert p.params["max_output_tokens"] == 9
    p = _p(
        {
            "input": [
                {"role": "developer", "content": "dev"},
                {"role": "user", "content": [{"type": "input_text", "text": "q1"}]},
                {"type": "function_call_output", "call_id": "c", "output": "42"},
            ]
        },
        path="/v1/responses",
    )
    assert (p.system, p.user, p.last_user, p.n_messages) == ("dev", "q1", "q1", 3)
    p = _p(
        {"model": "davinci", "prompt": ["one", "two", [1, 2, 3]], "logprobs": 5},
        path="/v1/completions",
    )
    assert (p.format, p.user, p.last_user, p.n_messages) == (
        "openai.completions",
        "one\ntwo",
        "two",
        3,
    )
    assert p.params["logprobs"] == 5


def test_gemini_generation_config_mapping() -> None:
    p = _p(
        {
            "systemInstruction": {"parts": [{"text": "sys"}]},
            "contents": [
                {"role": "user", "parts": [{"text": "a"}, {"inlineData": {"data": "xx"}}]},
                {"role": "model", "parts": [{"text": "reply"}]},
                {"parts": [{"text": "b"}]},
            ],
            "generationConfig": {
                "maxOutputTokens": 8192,
                "responseLogprobs": True,
                "logprobs": 5,
                "candidateCount": 8,
                "temperature": 2.0,
                "topP": 0.5,
                "thinkingConfig": {"thinkingBudget": 24576},
            },
        },
        path="/v1beta/models/gemini-2.5-pro:generateContent",
    )
    assert (p.format, p.system, p.user, p.last_user) == ("gemini", "sys", "a\nb", "b")
    assert p.params == {
        "max_tokens": 8192,
        "logprobs": True,
        "top_logprobs": 5,
        "n": 8,
        "temperature": 2.0,
        "top_p": 0.5,
        "thinking": {"thinkingBudget": 24576},
    }
    q = _p(
        {"system_instruction": {"parts": {"text": "s2"}}, "contents": {"parts": [{"text": "c"}]}}
    )
    assert (q.format, q.system, q.user) == ("gemini", "s2", "c")


def test_text_and_form_bodies() -> None:
    p = parse_body(b"Tell me a story about a dragon.", "text/plain")
    assert (p.format, p.user, p.last_user) == (
        "text",
        "Tell me a story about a dragon.",
        "Tell me a story about a dragon.",
    )
    p = parse_body(b"q=hello+world%21&x=1", "application/x-www-form-urlencoded")
    assert p.format == "text" and "hello world!" in p.user


@pytest.mark.parametrize(
    "body, fmt, error",
    [
        (b"", "empty", ""),
        (b" \n\t ", "empty", ""),
        (b"\x00\x01\x02{}", "binary", "binary: nul"),
        (bytes(range(1, 32)) * 50, "binary", "binary: control"),
        (b"[" * 10_000 + b"]" * 10_000, "invalid", "depth"),
        (b'{"a":' * 10_000, "invalid", "depth"),
        (b'{"messages": [}', "invalid", None),
        (b"42", "json", ""),
        (b'"just a string"', "json", ""),
        (b"[1, 2, 3]", "json", ""),
        (b"null", "json", ""),
        (b'{"messages": {"role": "user", "content": 5}}', "openai.chat", ""),
        (b'{"messages": "x", "contents": 3, "prompt": {}, "input": 1.5}', "json", ""),
        (b'{"messages": [1, null, [], {"role": 5, "content": {"text": 3}}]}', "openai.chat", ""),
        (
            b'{"system": 7, "messages": [{"role": "user", "content": [null, 1, {"text": []}]}]}',
            "anthropic.messages",
            "",
        ),
        (b'{"contents": [{"parts": "nope"}, 5], "generationConfig": []}', "gemini", ""),
    ],
)
def test_hostile_inputs_never_raise(body: bytes, fmt: str, error: str | None) -> None:
    p = parse_body(body, "application/json")
    assert p.format == fmt
    if error is not None:
        assert p.error == error
    else:
        assert p.error.startswith("json: ")
    assert isinstance(p.user, str) and isinstance(p.params, dict)


def test_non_utf8_is_decoded_with_replacement() -> None:
    body = '{"messages": [{"role": "user", "content": "caf\u00e9 au lait"}]}'.encode("latin-1")
    p = parse_body(body, path="/v1/chat/completions")
    assert p.error == "utf8" and p.format == "openai.chat"
    assert p.user == "caf\ufffd au lait"


def test_lone_surrogates_and_bom() -> None:
    p = parse_body(b'\xef\xbb\xbf{"messages": [{"role": "user", "content": "a\\ud800b"}]}')
    assert p.format == "openai.chat" and p.user == "a\ud800b"


def test_ten_megabytes_and_caps() -> None:
    big = "word " * 2_000_000
    p = _p(
        {
            "messages": [
                {"role": "system", "content": "S" * 200_000},
                {"role": "user", "content": "HEAD " + big + " TAIL"},
            ]
        },
        max_chars=1000,
    )
    assert len(p.user) <= 1000 and len(p.system) <= 1000
    assert p.user.startswith("HEAD") and p.user.endswith("TAIL")
    p = parse_body(b"x" * 10_000_000)
    assert p.format == "text" and len(p.user) <= 65536


def test_random_garbage_never_raises() -> None:
    rng = random.Random(1234)
    seeds = [b["body"].encode() for b in BODIES]
    for _ in range(400):
        src = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 8)):
            i = rng.randrange(len(src))
            src[i] = rng.randrange(256)
        cut = rng.randrange(len(src) + 1)
        p = parse_body(
            bytes(src[:cut]),
            truncated=rng.random() < 0.5,
            path=rng.choice(["", "/v1/messages", "/v1/chat/completions"]),
        )
        assert p.format in FORMATS


def test_truncated_chat_recovers_text() -> None:
    body = json.dumps(
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": 'You are "Tutor".\nBe kind.'},
                {"role": "assistant", "content": "Earlier reply"},
                {"role": "user", "content": "Solve: Janet\u2019s ducks lay 16 eggs per day. " * 50},
            ],
        }
    ).encode()
    cut = body[: len(body) // 2]
    p = parse_body(cut, "application/json", truncated=True, path="/v1/chat/completions")
    assert p.format == "openai.chat" and p.truncated and p.error == ""
    assert p.system == 'You are "Tutor".\nBe kind.'
    assert p.user.startswith("Solve: Janet\u2019s ducks") and "Earlier reply" not in p.user
    # Format from the prefix when there is no path; a cut escape sequence is dropped.
    p = parse_body(b'{"messages":[{"role":"user","content":"caf\\u00e', truncated=True)
    assert (p.format, p.user) == ("openai.chat", "caf")
    # A cut inside a multi-byte character is expected in a truncated body, not an error.
    p = parse_body('{"prompt": "\u4f60\u597d'.encode()[:-1], truncated=True)
    assert (p.format, p.user, p.error) == ("openai.completions", "\u4f60", "")


def test_truncated_anthropic_and_gemini() -> None:
    body = json.dumps(
        {
            "system": "SYS",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "question text " * 100}]}
            ],
        }
    ).encode()
    p = parse_body(body[:300], truncated=True, path="/v1/messages")
    assert p.format == "anthropic.messages" and p.system == "SYS"
    assert p.user.startswith("question text")
    body = json.dumps({"contents": [{"parts": [{"text": "gemini text " * 100}]}]}).encode()
    p = parse_body(body[:200], truncated=True)
    assert p.format == "gemini" and p.user.startswith("gemini text")
