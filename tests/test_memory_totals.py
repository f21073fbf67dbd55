"""memory:// keeps each feature's window totals beside its per-sub-bucket tallies, so
counting a feature needs no sum; the totals must always be the sums they stand for.

The reference (``_summed``) is the computation the store did before the totals: the sums of
the tallies. It is checked after every call over random schedules that exercise every path
that changes a tally: repeat sightings, sightings that move sub-bucket, the cap on a
feature's set, the long window sliding, a lagging clock, identities forgotten by the LRU
(which takes them out of probation features), feature eviction and expiry, and links.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antidistill.storage.base import ApplyBatch, ObserveBatch, StateConfig
from antidistill.storage.memory import MemoryStore


def _summed(store: MemoryStore, key: str) -> tuple[int, int]:
    """The reference: a feature's (short, long) counts as the sums of its tallies."""
    feat = store._features.get(key)
    assert feat is not None
    short, long = sum(feat.short.values()), sum(feat.long.values())
    return short, max(long, short)


def _check_all(store: MemoryStore) -> None:
    for segment in (store._features.probation, store._features.protected):
        for key, feat in segment.items():
            assert feat.n_short == sum(feat.short.values()), key
            assert feat.n_long == sum(feat.long.values()), key


def _run(seed: int, steps: int, cfg: StateConfig) -> None:
    rng = random.Random(seed)
    store = MemoryStore(cfg, warn_workers=False)
    keys = [f"s:{i}" for i in range(12)] + ["t:a", "t:b", "c:x"]
    now = 1_000_000.0

    async def go() -> None:
        nonlocal now
        for _ in range(steps):
            r = rng.random()
            # mostly small steps; sometimes a sub-bucket, an hour, a day; sometimes back
            now += rng.choice((0.5, 3.0, 20.0, 400.0, 3700.0, 90_000.0)) if r < 0.9 \
                else -rng.choice((30.0, 500.0))
            ident = f"id{rng.randrange(40)}"
            feats = rng.sample(keys, rng.randint(1, 6))
            feats += rng.sample(feats, rng.randint(0, 1))  # a repeated key in one batch
            obs = await store.observe(ObserveBatch(identity=ident, features=feats), now)
            for key in feats:
                got = obs.features[key]
                if key in store._features:
                    assert (got.short, got.long) == _summed(store, key), key
            _check_all(store)
            link = rng.sample(feats, 1) if rng.random() < 0.1 else []
            await store.apply(ApplyBatch(identity=ident, cluster="cl:1" if link else None,
                                         link_features=link), now)
            _check_all(store)

    asyncio.run(go())


@pytest.mark.parametrize("seed", range(6))
def test_totals_follow_the_tallies(seed: int) -> None:
    # Small bounds: identities and features are evicted, sets hit their cap, sightings
    # are trimmed by the protected bound.
    cfg = StateConfig(short_window=60.0, long_window=3600.0, feature_set_cap=7,
                      max_identities=15, max_features=9, max_sightings=25,
                      identity_ttl=5000.0)
    _run(seed, 600, cfg)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cap=st.integers(2, 50),
       short_window=st.sampled_from([10.0, 60.0, 3600.0]))
def test_totals_follow_the_tallies_any_bounds(seed: int, cap: int, short_window: float) -> None:
    cfg = StateConfig(short_window=short_window, long_window=short_window * 24,
                      feature_set_cap=cap, max_identities=20, max_features=12)
    _run(seed, 150, cfg)
