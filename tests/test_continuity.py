"""Session continuity: the server's own answers, found again in a later history."""

from __future__ import annotations

from typing import Any

import pytest

from antidistill.decision import Signal
from antidistill.signals.continuity import (
    BENIGN_SESSIONS,
    CONTINUED_FIELD,
    LIST,
    Continuity,
    answer_members,
    continued_fields,
    continuity,
    continuity_signal,
    continuous_sessions,
    history_checks,
    normalise,
)
from apps import FakeClock, asgi_client, clear_env, make_guard, recording_middleware


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


def _pseudo(kind: str, value: str) -> str:
    return f"{kind}:{abs(hash((kind, value))):x}"


ANSWER = "The capital of France is Paris, which is also its largest city."


def test_normalise_ignores_whitespace_differences() -> None:
    assert normalise("  The  capital\n\nof France ") == "The capital of France"
    assert len(normalise("x " * 1000)) == 256


def test_history_checks_and_counts() -> None:
    members = set(answer_members("id1", ANSWER, _pseudo))
    listed = {(LIST, m) for m in members}
    real = history_checks("id1", [ANSWER + "  "], _pseudo)
    c = continuity(real, listed)
    assert (c.turns, c.own, c.foreign, c.answered_before) == (1, 1, 0, True)
    assert continuity_signal(c) is None
    forged = history_checks("id1", ["A long answer this server never gave anyone."], _pseudo)
    c = continuity(forged, listed)
    assert (c.turns, c.own, c.foreign, c.answered_before) == (1, 0, 1, True)
    sig = continuity_signal(c)
    assert isinstance(sig, Signal) and sig.name == "continuity"
    # another identity's answer is not this one's; without its own marker: no evidence
    other = continuity(history_checks("id2", [ANSWER], _pseudo), listed)
    assert (other.own, other.foreign, other.answered_before) == (0, 1, False)
    assert continuity_signal(other) is None
    # nothing recorded for this identity yet (a first request, an unmetered response): quiet
    assert continuity_signal(continuity(forged, set())) is None
    # short answers ("OK") are everyone's: not checked
    assert history_checks("id1", ["OK", "Sure."], _pseudo) == []


async def test_continuity_end_to_end_through_the_middleware() -> None:
    clock = FakeClock()
    guard = make_guard(clock, detectors=["continuity"])
    mw, seen = recording_middleware(guard)
    hdr = {"authorization": "Bearer sk-continuity-1"}
    first_q = "please tell me something about the history of the city of Lyon"
    async with asgi_client(mw) as client:
        r = await client.post("/v1/chat/completions", headers=hdr, json={
            "model": "m", "messages": [{"role": "user", "content": first_q}]})
        answer = r.json()["choices"][0]["message"]["content"]
        clock.advance(30)
        msgs = [{"role": "user", "content": first_q},
                {"role": "assistant", "content": answer},
                {"role": "user", "content": "and what about its food?"}]
        await client.post("/v1/chat/completions", headers=hdr,
                          json={"model": "m", "messages": msgs})
        clock.advance(30)
        forged = [{"role": "user", "content": first_q},
                  {"role": "assistant", "content": "Lyon is a city that I described at length."},
                  {"role": "user", "content": "and what about its food?"}]
        await client.post("/v1/chat/completions", headers=hdr,
                          json={"model": "m", "messages": forged})
    names = [{r.name for r in d.reasons} for d in seen]
    assert "continuity" not in names[1]
    assert "continuity" in names[2]


def test_continued_sessions_are_counted_per_identity() -> None:
    own = Continuity(turns=2, own=1, foreign=1, answered_before=True)
    assert continued_fields(own, {}) == {CONTINUED_FIELD: 1.0}
    assert continued_fields(own, {CONTINUED_FIELD: 4.0, "gm": 3.0}) == {CONTINUED_FIELD: 5.0}
    forged = Continuity(turns=1, own=0, foreign=1, answered_before=True)
    assert continued_fields(forged, {CONTINUED_FIELD: 4.0}) == {}
    assert continued_fields(None, {}) == {}
    # most of the identity's requests continued sessions, and at least three did
    assert continuous_sessions({CONTINUED_FIELD: 3.0}, requests=5)
    assert not continuous_sessions({CONTINUED_FIELD: 2.0}, requests=2)
    assert not continuous_sessions({CONTINUED_FIELD: 3.0}, requests=7)
    assert not continuous_sessions({}, requests=0)


async def test_an_identity_that_holds_sessions_opens_new_ones_with_benign_evidence() -> None:
    """Each request that continues a session with the server's own answer is counted on the
    identity; once most of its requests did, a new session's opening (no history to check)
    carries that benign evidence too."""
    from antidistill.signals.pipeline import benign_evidence
    from antidistill.storage.base import ObserveBatch

    clock = FakeClock()
    guard = make_guard(clock, detectors=["continuity"])
    mw, seen = recording_middleware(guard)
    hdr = {"authorization": "Bearer sk-continuity-sessions"}
    msgs: list[dict[str, str]] = []
    async with asgi_client(mw) as client:
        for turn in range(5):
            msgs.append({"role": "user", "content": f"step {turn} of the refactoring, please"})
            r = await client.post("/v1/chat/completions", headers=hdr,
                                  json={"model": "m", "messages": msgs})
            msgs.append({"role": "assistant",
                         "content": r.json()["choices"][0]["message"]["content"]})
            clock.advance(20)
    ident = seen[-1].identity
    obs = await guard.store.observe(ObserveBatch(identity=ident), clock())
    assert obs.identity.fields[CONTINUED_FIELD] == 4.0  # turns 2-5 held the earlier answers
    ctx = guard.context({"type": "http", "method": "POST", "path": "/v1/chat/completions",
                         "headers": [], "client": ("127.0.0.1", 1)})
    assert benign_evidence(ctx, obs) == BENIGN_SESSIONS


async def test_memory_lists_stay_bounded() -> None:
    from antidistill.storage.base import StateConfig
    from antidistill.storage.memory import MemoryStore

    store = MemoryStore(StateConfig(max_features=100))
    for i in range(1000):
        await store.list_add(LIST, f"m{i}", ttl=3600.0 + i)
    members = await store.list_members(LIST, limit=10_000)
    assert len(members) <= 100
    assert "m999" in members  # the latest answers are kept, the soonest to expire dropped


async def test_answers_and_networks_on_every_backend(store_factory: Any) -> None:
    """The state continuity and churn keep (list members, identity values) on each store."""
    from antidistill.signals.churn import PREFIX_VALUE

    store = await store_factory()
    ident = "key:c0ffee"
    for m in answer_members(ident, ANSWER, _pseudo):
        await store.list_add(LIST, m, 3600.0)
    real = history_checks(ident, [ANSWER], _pseudo)
    forged = history_checks(ident, ["An answer nobody ever got from this server."], _pseudo)
    from antidistill.storage.base import ObserveBatch

    now = 1_780_000_000.0
    for i in range(4):
        obs = await store.observe(ObserveBatch(
            identity=ident, identity_values={PREFIX_VALUE: f"net{i}"},
            list_checks=real + forged), now + i)
    assert obs.identity.values[PREFIX_VALUE] == 4
    assert continuity(real, obs.listed).own == 1
    c = continuity(forged, obs.listed)
    assert (c.own, c.foreign, c.answered_before) == (0, 1, True)
