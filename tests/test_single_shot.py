"""Single-shot tool sessions: a relay forging an agent opens a new session per request."""

from __future__ import annotations

from typing import Any

import pytest

from antidistill.fingerprints.parse import ParsedPrompt
from antidistill.scoring.combine import DEFAULT_WEIGHTS
from antidistill.signals.continuity import (
    OPENING_VALUE,
    SINGLE_SHOT_MAX,
    opening_values,
    opens_tool_session,
    single_shot_signal,
)
from apps import FakeClock, asgi_client, clear_env, make_guard, recording_middleware

DAY = 86400.0
TOOLS = [{"type": "function", "function": {"name": "run_shell", "parameters": {}}}]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


def _parsed(n: int, *, tools: int = 1, system: str = "sys", assistant: tuple[str, ...] = (),
            user: str = "u") -> ParsedPrompt:
    params = {"tools_count": tools} if tools else {}
    return ParsedPrompt("openai", system, user, user, params, n, assistant=assistant)


def test_only_a_tool_request_without_history_opens_a_session() -> None:
    assert opens_tool_session(_parsed(2))  # system + user
    assert opens_tool_session(_parsed(1, system=""))
    assert not opens_tool_session(_parsed(2, tools=0))  # a chat request
    assert not opens_tool_session(_parsed(5))  # tool calls and results: a later turn
    assert not opens_tool_session(_parsed(3, assistant=("an earlier answer",)))


def test_opening_values_one_per_distinct_opening() -> None:
    def pseudo(kind: str, value: str) -> str:
        return f"{kind}:{abs(hash(value)):x}"

    a = opening_values("id", _parsed(2, user="first question"), pseudo)
    b = opening_values("id", _parsed(2, user="second question"), pseudo)
    assert set(a) == {OPENING_VALUE} and a != b
    assert opening_values("id", _parsed(2, user="first question"), pseudo) == a
    assert opening_values("id", _parsed(5), pseudo) == {}
    assert opening_values("id", None, pseudo) == {}


def test_single_shot_scores_relays_not_agents() -> None:
    assert single_shot_signal(1, 1, 0.0) is None  # every first request opens a session
    sig = single_shot_signal(3, 3, 600.0)
    assert sig is not None and sig.name == "continuity" and sig.score == SINGLE_SHOT_MAX
    two = single_shot_signal(2, 2, 60.0)
    assert two is not None and 0.0 < two.score < SINGLE_SHOT_MAX
    # a real agent: its sessions run several turns
    assert single_shot_signal(2, 12, 3600.0) is None
    assert single_shot_signal(4, 9, 3600.0) is None
    # an established identity that only ever sends one-shot tool calls is a known pipeline
    assert single_shot_signal(30, 30, 3 * DAY) is None
    # alone it stays below the flag threshold (weight 0.45), unless from a data centre
    w = DEFAULT_WEIGHTS["continuity"]
    assert SINGLE_SHOT_MAX * w < 0.4
    hosted = single_shot_signal(3, 3, 600.0, anonymous=True)
    assert hosted is not None and hosted.score * w >= 0.4


async def test_single_shot_end_to_end_through_the_middleware() -> None:
    clock = FakeClock()
    guard = make_guard(clock, detectors=["continuity"])
    mw, seen = recording_middleware(guard)

    def body(q: str) -> dict[str, Any]:
        return {"model": "m", "tools": TOOLS, "messages": [
            {"role": "system", "content": "You are a coding agent."},
            {"role": "user", "content": q}]}

    async with asgi_client(mw) as client:
        for i in range(3):
            await client.post("/v1/chat/completions", json=body(f"question number {i} here"),
                              headers={"authorization": "Bearer sk-relay"})
            clock.advance(40)
        first = body("fix the failing test in src/app.py please")
        r = await client.post("/v1/chat/completions", json=first,
                              headers={"authorization": "Bearer sk-agent"})
        answer = r.json()["choices"][0]["message"]["content"]
        for _ in range(3):
            clock.advance(40)
            first["messages"] += [{"role": "assistant", "content": answer},
                                  {"role": "user", "content": "ok, go on"}]
            await client.post("/v1/chat/completions", json=first,
                              headers={"authorization": "Bearer sk-agent"})
    relay = [{r.name: r.score for r in d.reasons} for d in seen[:3]]
    assert "continuity" not in relay[0]
    assert relay[2].get("continuity") == SINGLE_SHOT_MAX
    agent = [{r.name for r in d.reasons} for d in seen[3:]]
    assert not any("continuity" in names for names in agent)
