"""Spread-thin fan-out and the account life pattern (signals.spread)."""

from __future__ import annotations

from antidistill.signals.families import family_of
from antidistill.signals.spread import (
    SpreadConfig,
    hour_key,
    life_score,
    spread_score,
    spread_signals,
    standing,
)
from antidistill.storage.base import FeatureStats, IdentityStats

HOUR = 3600.0
DAY = 86400.0
NOW = 1_700_000_000.0
CFG = SpreadConfig()


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


def test_hour_key_is_the_creation_hour_when_known() -> None:
    assert hour_key(None, NOW) == f"h:{int(NOW // HOUR)}"
    assert hour_key(NOW - 5 * HOUR, NOW) == f"h:{int((NOW - 5 * HOUR) // HOUR)}"


def test_spread_needs_breadth_and_almost_no_established_sender() -> None:
    assert spread_score(feat(200, 0), CFG) == 1.0
    assert spread_score(feat(9, 0), CFG) == 0.0  # too narrow
    # an honest template: a fifth of its senders came back later
    assert spread_score(feat(200, 40), CFG) == 0.0
    assert 0.0 < spread_score(feat(200, 15), CFG) < 1.0
    assert spread_score(feat(20, 0), CFG) < spread_score(feat(40, 0), CFG)


def test_life_score_measures_a_crowd_of_young_identities() -> None:
    crowded, young = life_score(feat(300, 30), CFG)
    assert young == 270 and crowded == 1.0
    assert life_score(feat(300, 200), CFG)[0] == 0.0  # mostly established: an ordinary hour
    assert life_score(feat(12, 0), CFG)[0] == 0.0  # a quiet hour
    assert life_score(feat(0, 0, short=0), CFG) == (0.0, 0)


def test_spread_signals_only_for_young_senders_after_a_day_of_history() -> None:
    feats = {"t:a": feat(300, 0), "t:b": feat(300, 120), "h:1": feat(400, 40)}
    young = standing(ident(NOW, 0), None, NOW, CFG)
    sigs = spread_signals(feats, ["t:b", "t:a"], "h:1", young, CFG, 2 * DAY)
    assert [s.name for s in sigs] == ["spread", "life"]
    assert {family_of(s.name) for s in sigs} == {"content", "behaviour"}
    assert sigs[0].score == 1.0 and "t:a"[2:] in sigs[0].detail
    # before the deployment has seen a day, nobody can have matured: nothing
    assert spread_signals(feats, ["t:a"], "h:1", young, CFG, 3 * HOUR) == []
    # an established sender of the same feature: nothing
    back = standing(ident(NOW - 7 * HOUR, 3), None, NOW, CFG)
    assert spread_signals(feats, ["t:a"], "h:1", back, CFG, 2 * DAY) == []
    # life never fires alone: an honest template in a crowded hour gives nothing
    assert spread_signals(feats, ["t:b"], "h:1", young, CFG, 2 * DAY) == []
    # spread without a crowded hour stays one family
    only = spread_signals({"t:a": feat(300, 0), "h:1": feat(50, 40)}, ["t:a"], "h:1", young,
                          CFG, 2 * DAY)
    assert [s.name for s in only] == ["spread"]
