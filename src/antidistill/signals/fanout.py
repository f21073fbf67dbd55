"""Cross-account fan-out: the same template or segment suddenly sent by many identities.

A campaign's content is *rare in the population's history but suddenly shared by many
otherwise unrelated identities*. For each content feature the store returns the distinct
identities in the short window (``short``) and in the long window (``long``, which includes
the short one). Two things must both hold:

* breadth: ``short`` is well above what one customer or a small team produces
  (``min_identities``, scored on a log scale up to ``saturate``), and
* novelty: most of the feature's identities are recent (``short / long`` high). A template
  used steadily by hundreds of developers (an agent framework's turn format, an SDK example)
  has a long history, so ``short / long`` stays low and it carries no evidence.

One company's batch job on one account has ``short == 1`` whatever its volume.

Novelty also needs history: a feature first seen in the deployment's first hours has an
unknown age (the popular SDK, the framework everyone already used). ``maturity`` ramps
from 0 for features first seen within ``warmup`` seconds of the deployment's epoch (the first
request it ever saw, kept in the store) to 1 a further ``warmup`` later. So a cold start is
quiet, and is best run in monitor mode for its first day anyway.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from antidistill.decision import Signal
from antidistill.storage.base import FeatureStats


@dataclass(frozen=True, slots=True)
class FanoutConfig:
    min_identities: int = 6
    saturate: int = 40
    novelty_floor: float = 0.35  # share of recent identities below which there is no evidence
    novelty_full: float = 0.8
    segment_factor: float = 0.85  # a shared segment is weaker evidence than a whole skeleton
    warmup: float = 3600.0  # seconds after the epoch during which features have unknown age
    young_feature: float = 12 * 3600.0  # "low and slow": features younger than this ...
    slow_min_identities: int = 10  # ... count their whole (long-window) breadth from here
    slow_saturate: int = 60
    slow_factor: float = 0.9


def breadth(short: int, cfg: FanoutConfig) -> float:
    if short < cfg.min_identities:
        return 0.0
    span = math.log(cfg.saturate / (cfg.min_identities - 1))
    return min(1.0, math.log(short / (cfg.min_identities - 1)) / span)


def novelty(stats: FeatureStats, cfg: FanoutConfig) -> float:
    share = stats.short / max(stats.long, stats.short, 1)
    return min(1.0, max(0.0, (share - cfg.novelty_floor) / (cfg.novelty_full - cfg.novelty_floor)))


def maturity(stats: FeatureStats, epoch: float | None, cfg: FanoutConfig) -> float:
    if epoch is None:
        return 1.0
    age_at_first_sight = stats.first_seen - epoch - cfg.warmup
    return min(1.0, max(0.0, age_at_first_sight / cfg.warmup))


def feature_score(
    stats: FeatureStats, cfg: FanoutConfig, epoch: float | None = None,
    now: float | None = None,
) -> float:
    if stats.short < cfg.min_identities and stats.long < cfg.slow_min_identities:
        return 0.0  # too narrow for either score (most features): skip the arithmetic
    fast = breadth(stats.short, cfg) * novelty(stats, cfg)
    slow = 0.0
    if now is not None and now - stats.first_seen <= cfg.young_feature:
        # Low and slow: a feature that did not exist ``young_feature`` seconds ago and has
        # since been sent by many identities. Every one of its identities is recent, so the
        # long-window count measures the campaign; the bar is higher than in one window.
        slow = cfg.slow_factor * min(1.0, max(0.0, math.log(
            max(stats.long, 1) / (cfg.slow_min_identities - 1))) / math.log(
            cfg.slow_saturate / (cfg.slow_min_identities - 1)))
    return max(fast, slow) * maturity(stats, epoch, cfg)


def fanout_signal(
    features: Mapping[str, FeatureStats], template_keys: list[str], segment_keys: list[str],
    cfg: FanoutConfig, epoch: float | None = None, now: float | None = None,
) -> tuple[Signal | None, str | None]:
    """The strongest content fan-out, and the feature key that carries it."""
    best, best_key, best_stats = 0.0, None, None
    narrow, slow_narrow = cfg.min_identities, cfg.slow_min_identities
    for keys, factor in ((template_keys, 1.0), (segment_keys, cfg.segment_factor)):
        for key in keys:
            st = features.get(key)
            # feature_score's own first test, without the call (most features are narrow)
            if st is None or (st.short < narrow and st.long < slow_narrow):
                continue
            s = feature_score(st, cfg, epoch, now) * factor
            if s > best:
                best, best_key, best_stats = s, key, st
    if best_key is None or best_stats is None or best <= 0.0:
        return None, None
    kind = "template" if best_key.startswith("t:") else "segment"
    detail = (
        f"{kind} {best_key[2:18]} sent by {best_stats.short} identities in the short window "
        f"({best_stats.long} in the long window)"
    )
    return Signal("fanout", best, detail), best_key
