"""Spread-thin fan-out and the account life pattern (issue #12).

A campaign can put one or two requests on each of thousands of fresh accounts over a day:
per hour each template is sent by a few dozen identities, its long-window history grows
all day, and fan-out's novelty (``short / long``) fades within hours. What still sets it
apart is *who* sends it:

* ``spread`` (content): a template (or its opening window) sent by many identities over
  the long window of which almost none was *mature* when it sent it. An honest template
  (an extension's wrapper, a framework's turn format, a class's exercise phrasing) is also
  sent by accounts that came back hours or days later; a campaign's never is.
* ``life`` (behaviour): the sender itself is young and low-volume, and the hour it belongs
  to (the hour its account was created, when the host's identity resolver says so; else
  the hour of the request) is crowded with young identities. It is the account's own life
  pattern, "a few requests, from an account born among many others", and it is only
  emitted beside ``spread``: a launch day or a classroom also creates accounts in bulk.

An identity is *mature* from ``mature_age`` seconds after its creation (``Identity
.created_at``) or, without it, after its first sighting once it has come back at least
once. The guard adds mature identities to the mature counters of the features they send
(``ApplyBatch.mature_features``); ``FeatureStats.mature`` returns the count. Before the
deployment has seen ``history`` seconds, nobody can have matured: no evidence at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from antidistill.decision import Signal
from antidistill.signals.families import EVIDENCE
from antidistill.storage.base import FeatureStats, IdentityStats

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class SpreadConfig:
    mature_age: float = 6 * HOUR  # an identity that came back this much later is established
    low_volume: int = 3  # a young identity's requests (this one included) up to this
    history: float = 86400.0  # no evidence until the deployment has seen a day of returns
    min_identities: int = 10  # spread: long-window breadth, log scale from here ...
    saturate: int = 60  # ... to full
    mature_floor: float = 0.02  # share of mature senders at or below which it is fully rare
    mature_ceiling: float = 0.15  # ... and from which it carries no evidence
    life_min: int = 20  # life: young identities in the hour, log scale from here ...
    life_saturate: int = 200  # ... to full
    # Share of the hour's identities that are young: honest hours after the first day stay
    # at or below 0.11 (benchmarks/calibrate.py's cohorts; docs/detection.md).
    life_share_floor: float = 0.15  # from here ...
    life_share_full: float = 0.4  # ... to full


@dataclass(slots=True)
class Standing:
    """An identity's age and volume as the spread detector sees them."""

    age: float
    requests: int  # including this one
    mature: bool
    young: bool  # young and low-volume


def standing(ident: IdentityStats, created_at: float | None, now: float,
             cfg: SpreadConfig) -> Standing:
    """Age from the host's account creation time when known, else from the first sighting."""
    requests = ident.requests + 1
    born = created_at if created_at is not None else ident.first_seen
    age = max(0.0, now - born)
    # Without a creation time, age alone says nothing about a first request.
    mature = age >= cfg.mature_age and (created_at is not None or ident.requests >= 1)
    young = age < cfg.mature_age and requests <= cfg.low_volume
    return Standing(age, requests, mature, young)


def hour_keys(created_at: float | None, now: float) -> list[str]:
    """The store features of the identity's hour (its creation hour when known) and of the
    hour before: both are counted, so a crowd does not vanish at the top of the hour."""
    hour = int((created_at if created_at is not None else now) // HOUR)
    return [f"h:{hour}", f"h:{hour - 1}"]


def _log_ramp(n: int, lo: int, hi: int) -> float:
    if n < lo:
        return 0.0
    return min(1.0, math.log(n / (lo - 1)) / math.log(hi / (lo - 1)))


def _ramp(x: float, lo: float, hi: float) -> float:
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


def spread_score(st: FeatureStats, cfg: SpreadConfig) -> float:
    """Breadth of a feature over the long window, if almost none of its senders is mature."""
    if st.long < cfg.min_identities:
        return 0.0
    rare = 1.0 - _ramp(st.mature / st.long, cfg.mature_floor, cfg.mature_ceiling)
    return _log_ramp(st.long, cfg.min_identities, cfg.saturate) * rare


def life_score(hours: Sequence[FeatureStats], cfg: SpreadConfig) -> tuple[float, int]:
    """How crowded with young identities the identity's hours are (score, young count)."""
    total = sum(max(h.long, h.short) for h in hours)
    young = max(0, total - sum(h.mature for h in hours))
    if total <= 0:
        return 0.0, 0
    share = _ramp(young / total, cfg.life_share_floor, cfg.life_share_full)
    return _log_ramp(young, cfg.life_min, cfg.life_saturate) * share, young


def spread_signals(
    features: Mapping[str, FeatureStats], keys: Sequence[str], hours: Sequence[str],
    who: Standing, cfg: SpreadConfig, seen_for: float,
) -> list[Signal]:
    """``spread`` for the best of ``keys`` and, beside it, ``life`` (``seen_for``: seconds
    since the deployment's epoch). Only a young, low-volume sender gets either."""
    if not who.young or seen_for < cfg.history:
        return []
    best, best_key = 0.0, ""
    for key in keys:
        st = features.get(key)
        if st is not None:
            s = spread_score(st, cfg)
            if s > best:
                best, best_key = s, key
    if best <= 0.0:
        return []
    st = features[best_key]
    out = [Signal("spread", best, f"{best_key[2:18]} sent by {st.long} identities, "
                                  f"{st.mature} of them established")]
    hst = [st for h in hours if (st := features.get(h)) is not None]
    if hst and best >= EVIDENCE:
        score, young = life_score(hst, cfg)
        if score > 0.0:
            out.append(Signal("life", score, f"young account ({who.requests} requests), "
                                             f"one of {young} young in its hour"))
    return out
