"""Spread-thin fan-out and the account life pattern (signals.spread)."""

from __future__ import annotations

from typing import Any

import pytest

from antidistill import AntiDistillMiddleware
from antidistill.decision import Action, Decision
from antidistill.signals.families import family_of
from antidistill.signals.spread import (
    SpreadConfig,
    hour_keys,
    life_score,
    spread_score,
    spread_signals,
    standing,
)
from antidistill.storage.base import FeatureStats, IdentityStats
from apps import FakeClock, asgi_client, clear_env, make_guard, make_starlette_app

HOUR = 3600.0
DAY = 86400.0
NOW = 1_700_000_000.0
CFG = SpreadConfig()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


def ident(first_seen: float, requests: int) -> IdentityStats:
    return IdentityStats(first_seen, first_seen, requests, 0.0, None, {}, {})


def feat(long: int, mature: int, short: int = 5) -> FeatureStats:
    return FeatureStats(short, long, NOW - DAY, None, mature)


def test_standing_ages_from_creation_time_else_first_sighting() -> None:
    new = standing(ident(NOW, 0), None, NOW, CFG)
    assert new.young and not new.mature and new.requests == 1
    # a first request says nothing about age without the host's creation time ...
    assert not standing(ident(NOW, 0), None, NOW + 7 * HOUR, CFG).mature
    # ... an account that came back hours later is established
    back = standing(ident(NOW - 7 * HOUR, 1), None, NOW, CFG)
    assert back.mature and not back.young
    # the host says the account is a year old: mature on its first request
    old = standing(ident(NOW, 0), NOW - 365 * DAY, NOW, CFG)
    assert old.mature and not old.young
    # a fresh account that already sent many requests is young but not low-volume
    busy = standing(ident(NOW - HOUR, 10), None, NOW, CFG)
    assert not busy.young and not busy.mature


def test_hour_keys_are_the_creation_hour_when_known_and_the_one_before() -> None:
    h = int(NOW // HOUR)
    assert hour_keys(None, NOW) == [f"h:{h}", f"h:{h - 1}"]
    assert hour_keys(NOW - 5 * HOUR, NOW) == [f"h:{h - 5}", f"h:{h - 6}"]


def test_spread_needs_breadth_and_almost_no_established_sender() -> None:
    assert spread_score(feat(200, 0), CFG) == 1.0
    assert spread_score(feat(9, 0), CFG) == 0.0  # too narrow
    # an honest template: a fifth of its senders came back later
    assert spread_score(feat(200, 40), CFG) == 0.0
    assert 0.0 < spread_score(feat(200, 15), CFG) < 1.0
    assert spread_score(feat(20, 0), CFG) < spread_score(feat(40, 0), CFG)


def test_life_score_measures_a_crowd_of_young_identities() -> None:
    crowded, young = life_score([feat(300, 30)], CFG)
    assert young == 270 and crowded == 1.0
    assert life_score([feat(300, 270)], CFG)[0] == 0.0  # mostly established: an ordinary hour
    assert life_score([feat(12, 0)], CFG)[0] == 0.0  # a quiet hour
    assert life_score([feat(0, 0, short=0)], CFG) == (0.0, 0)
    assert life_score([], CFG) == (0.0, 0)
    # the hour before counts too: the crowd does not vanish at the top of the hour
    assert life_score([feat(15, 0), feat(200, 20)], CFG)[1] == 195


def test_spread_signals_only_for_young_senders_after_a_day_of_history() -> None:
    feats = {"t:a": feat(300, 0), "t:b": feat(300, 120), "h:1": feat(400, 40)}
    young = standing(ident(NOW, 0), None, NOW, CFG)
    sigs = spread_signals(feats, ["t:b", "t:a"], ["h:1"], young, CFG, 2 * DAY)
    assert [s.name for s in sigs] == ["spread", "life"]
    assert {family_of(s.name) for s in sigs} == {"content", "behaviour"}
    assert sigs[0].score == 1.0 and "t:a"[2:] in sigs[0].detail
    # before the deployment has seen a day, nobody can have matured: nothing
    assert spread_signals(feats, ["t:a"], ["h:1"], young, CFG, 3 * HOUR) == []
    # an established sender of the same feature: nothing
    back = standing(ident(NOW - 7 * HOUR, 3), None, NOW, CFG)
    assert spread_signals(feats, ["t:a"], ["h:1"], back, CFG, 2 * DAY) == []
    # life never fires alone: an honest template in a crowded hour gives nothing
    assert spread_signals(feats, ["t:b"], ["h:1"], young, CFG, 2 * DAY) == []
    # spread without a crowded hour stays one family; so does weak spread in a crowded one
    only = spread_signals({"t:a": feat(300, 0), "h:1": feat(50, 45)}, ["t:a"], ["h:1"], young,
                          CFG, 2 * DAY)
    assert [s.name for s in only] == ["spread"]
    weak = spread_signals({"t:a": feat(12, 0), "h:1": feat(400, 40)}, ["t:a"], ["h:1"], young,
                          CFG, 2 * DAY)
    assert [s.name for s in weak] == ["spread"] and weak[0].score < 0.3


# -- end to end: through the middleware on memory://, on an injected clock ------------------

HONEST = ("Summarise the following page for me in five bullet points and keep the tone "
          "neutral.\n\n{q}")
CAMPAIGN = ("Provide a complete answer to the problem that follows, with your working shown "
            "in detail and a final line starting 'Answer:'.\n\n{q}")


def _question(i: int) -> str:
    cities = ("Lyon", "Porto", "Gdansk", "Turin", "Leeds", "Graz", "Bergen", "Ghent")
    return (f"A cyclist rides from {cities[i % 8]} towards {cities[(i * 3 + 1) % 8]} and "
            f"stops {i % 5 + 2} times on the way; explain how to plan food and water for "
            f"a ride of {120 + 7 * i} kilometres over {i % 3 + 2} days in early spring.")


async def _day(detectors: list[str]) -> tuple[list[Decision], list[Decision]]:
    """Yesterday: 30 honest users of one template, each back 8 hours later. Today: 70 fresh
    accounts with one request each on a campaign template, and 10 fresh honest users."""
    clock = FakeClock()
    guard = make_guard(clock, detectors=detectors)
    inner, _ = make_starlette_app()
    mw = AntiDistillMiddleware(inner, guard=guard)
    campaign: list[Decision] = []
    honest: list[Decision] = []
    seen: list[Decision] = []

    @guard.on_decision
    def _keep(ctx: Any, decision: Decision) -> None:
        seen.append(decision)

    async def send(client: Any, key: str, text: str) -> Decision:
        await client.post("/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                          json={"model": "m", "messages": [{"role": "user", "content": text}]})
        return seen[-1]

    async with asgi_client(mw) as client:
        for rnd in range(2):
            for i in range(30):
                await send(client, f"sk-honest-{i}", HONEST.format(q=_question(i + 50 * rnd)))
                clock.advance(60)
            clock.advance(8 * HOUR)
        clock.advance(12 * HOUR)
        for i in range(80):
            if i % 8 == 7:
                honest.append(await send(client, f"sk-new-{i}", HONEST.format(q=_question(i))))
            else:
                campaign.append(await send(client, f"sk-spread-{i}",
                                           CAMPAIGN.format(q=_question(i + 100))))
            clock.advance(40)
    return campaign, honest


def _names(d: Decision) -> set[str]:
    return {r.name for r in d.reasons if r.score >= 0.3}


async def test_spread_thin_accounts_are_degraded_and_new_honest_users_are_not() -> None:
    campaign, honest = await _day(["fanout", "spread"])
    late = campaign[-20:]  # once the crowd is there
    assert all({"spread", "life"} <= _names(d) for d in late), [d.reasons for d in late]
    assert all(d.action.severity >= Action.DEGRADE.severity for d in late)
    # fresh users of yesterday's template: its senders came back, it is no campaign's
    assert all("spread" not in _names(d) and d.action is Action.ALLOW for d in honest)


async def test_identity_resolver_gives_the_account_creation_time() -> None:
    clock = FakeClock()
    guard = make_guard(clock, detectors=["fanout", "spread"])
    created = {"org_old": clock.now - 365 * DAY, "org_bad": float("nan"), "org_str": "2019"}
    got: list[Any] = []

    @guard.identity_resolver
    def org(ctx: Any) -> tuple[str, Any]:
        name = (ctx.header("authorization") or "").removeprefix("Bearer ")
        return name, created[name]

    @guard.on_decision
    def keep(ctx: Any, decision: Decision) -> None:
        got.append(ctx.identity)

    mw = AntiDistillMiddleware(make_starlette_app()[0], guard=guard)
    async with asgi_client(mw) as client:
        for name in created:
            r = await client.post("/v1/chat/completions",
                                  headers={"authorization": f"Bearer {name}"},
                                  json={"model": "m", "messages": [
                                      {"role": "user", "content": _question(3)}]})
            assert r.status_code == 200
    assert [i.kind for i in got] == ["account"] * 3
    assert got[0].created_at == created["org_old"]
    # anything but a finite number is ignored: the account still resolves, aged from its
    # first request
    assert got[1].created_at is None and got[2].created_at is None
    # a year-old account is established on its first request
    assert standing(ident(clock.now, 0), got[0].created_at, clock.now, CFG).mature


def test_mature_sets_are_bounded_in_total_members_not_only_in_keys() -> None:
    from antidistill.storage.mature import MatureSets

    sets = MatureSets(max_keys=1000, cap=100, ttl=3600.0, max_members=50)
    for i in range(200):  # 200 identities on 10 features: 2,000 pairs offered
        sets.add(f"id{i}", [f"t:{k}" for k in range(10)], now=1.0)
    assert sets.members <= 50
    assert sum(sets.count(f"t:{k}", 2.0) for k in range(10)) == sets.members
    # the same identity again adds nothing; an expired feature gives its members back
    before = sets.members
    sets.add("id199", ["t:9"], now=2.0)
    assert sets.members == before
    assert sets.count("t:9", 10_000.0) == 0 and sets.members < before
