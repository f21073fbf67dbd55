"""The storage contract, run over memory://, standalone Redis and Redis Cluster."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from antidistill.errors import ConfigurationError
from antidistill.storage import (
    ApplyBatch,
    BucketSpec,
    MemoryStore,
    ObserveBatch,
    StateConfig,
    Store,
    storage_from_uri,
)
from antidistill.storage.base import decayed
from antidistill.storage.memory import detect_multiple_workers, token_bucket
from antidistill.storage.windows import WindowLimits, limit_name, limits_uri

APPROX = 1e-6
StoreFactory = Callable[..., Awaitable[Store]]  # the conftest fixture's type


def bucket(key: str = "bk", **kw: Any) -> BucketSpec:
    kw.setdefault("capacity", 10.0)
    kw.setdefault("refill_per_second", 1.0)
    return BucketSpec(key, **kw)


# -- token buckets -----------------------------------------------------------------------------
async def test_bucket_new_and_drain(store: Store) -> None:
    results = await store.buckets([bucket() for _ in range(10)], now=100.0)
    assert [r.allowed for r in results] == [True] * 10
    assert results[0].remaining == pytest.approx(9.0)
    assert results[0].reset_after == pytest.approx(1.0)
    assert results[-1].remaining == pytest.approx(0.0)
    assert results[-1].reset_after == pytest.approx(10.0)
    (denied,) = await store.buckets([bucket()], now=100.0)
    assert not denied.allowed
    assert denied.remaining == pytest.approx(0.0)
    assert denied.retry_after == pytest.approx(1.0)
    assert denied.reset_after == pytest.approx(10.0)


async def test_bucket_refill_and_capacity_clamp(store: Store) -> None:
    await store.buckets([bucket(cost=10)], now=0.0)
    (r,) = await store.buckets([bucket()], now=2.5)
    assert r.allowed and r.remaining == pytest.approx(1.5)
    (r,) = await store.buckets([bucket(peek=True)], now=1000.0)
    assert r.remaining == pytest.approx(10.0)  # never above capacity
    assert r.reset_after == 0.0


async def test_bucket_retry_after_is_exact(store: Store) -> None:
    spec = bucket(capacity=5, refill_per_second=0.5)
    await store.buckets([spec] * 5, now=10.0)
    (r,) = await store.buckets([spec], now=10.0)
    assert not r.allowed and r.retry_after == pytest.approx(2.0)
    (early,) = await store.buckets([spec], now=10.0 + 1.999)
    assert not early.allowed
    (on_time,) = await store.buckets([spec], now=10.0 + r.retry_after)
    assert on_time.allowed and on_time.remaining == pytest.approx(0.0, abs=APPROX)


async def test_bucket_cost_above_capacity_from_full_bucket(store: Store) -> None:
    (r,) = await store.buckets([bucket(cost=25)], now=0.0)
    assert r.allowed and r.remaining == pytest.approx(-15.0)
    assert r.reset_after == pytest.approx(25.0)
    (r,) = await store.buckets([bucket(cost=1)], now=0.0)
    assert not r.allowed and r.retry_after == pytest.approx(16.0)
    # a cost above capacity only needs a full bucket: 25 s later it is full again
    (r,) = await store.buckets([bucket(cost=25)], now=24.0)
    assert not r.allowed and r.retry_after == pytest.approx(1.0)


async def test_bucket_force_debt_and_debt_limit(store: Store) -> None:
    (r,) = await store.buckets([bucket(cost=30, force=True, debt_limit=5)], now=0.0)
    assert r.allowed  # a full bucket conformed (min(cost, capacity) = 10)
    assert r.remaining == pytest.approx(-5.0)  # clamped at -debt_limit
    (r,) = await store.buckets([bucket(cost=3, force=True, debt_limit=5)], now=0.0)
    assert not r.allowed and r.remaining == pytest.approx(-5.0)
    assert r.retry_after == pytest.approx(8.0) and r.reset_after == pytest.approx(15.0)
    # without a debt limit the debt keeps growing
    (r,) = await store.buckets([bucket(cost=3, force=True)], now=0.0)
    assert r.remaining == pytest.approx(-8.0)
    # a negative forced cost gives tokens back, never above capacity
    (r,) = await store.buckets([bucket(cost=-5, force=True)], now=0.0)
    assert r.allowed and r.remaining == pytest.approx(-3.0)
    (r,) = await store.buckets([bucket(cost=-100, force=True)], now=0.0)
    assert r.remaining == pytest.approx(10.0) and r.reset_after == 0.0


async def test_bucket_peek_does_not_consume(store: Store) -> None:
    await store.buckets([bucket(cost=4)], now=0.0)
    for _ in range(3):
        (r,) = await store.buckets([bucket(cost=8, peek=True)], now=0.0)
        assert not r.allowed and r.remaining == pytest.approx(6.0)
        assert r.retry_after == pytest.approx(2.0)
    (r,) = await store.buckets([bucket(cost=6)], now=0.0)
    assert r.allowed and r.remaining == pytest.approx(0.0)


async def test_bucket_zero_refill(store: Store) -> None:
    spec = bucket(capacity=2, refill_per_second=0.0)
    await store.buckets([spec, spec], now=0.0)
    (r,) = await store.buckets([spec], now=10_000.0)
    assert not r.allowed and math.isinf(r.retry_after) and math.isinf(r.reset_after)


async def test_buckets_are_independent_and_clock_skew_safe(store: Store) -> None:
    await store.buckets([bucket("a", cost=10)], now=50.0)
    (b,) = await store.buckets([bucket("b", cost=1)], now=50.0)
    assert b.remaining == pytest.approx(9.0)
    # an instance whose clock lags must not refill (or un-refill) the bucket
    (a,) = await store.buckets([bucket("a", peek=True)], now=40.0)
    assert a.remaining == pytest.approx(0.0)
    (a,) = await store.buckets([bucket("a", peek=True)], now=53.0)
    assert a.remaining == pytest.approx(3.0)


def test_python_bucket_matches_spec_for_fresh_bucket() -> None:
    result, level, ts = token_bucket(bucket(cost=3), None, 0.0, 7.0)
    assert result.allowed and level == 7.0 and ts == 7.0


# -- observe / apply ---------------------------------------------------------------------------
SMALL = StateConfig(short_window=600.0, long_window=7000.0, risk_half_life=100.0)


async def test_feature_distinct_counts_and_window_expiry(store_factory: StoreFactory) -> None:
    store = await store_factory(SMALL)
    t0 = 1000.0
    for i, ident in enumerate(["id-a", "id-b", "id-c"], start=1):
        res = await store.observe(ObserveBatch(ident, features=["tpl:1"]), t0 + i)
        assert (res.features["tpl:1"].short, res.features["tpl:1"].long) == (i, i)
        assert res.features["tpl:1"].first_seen == pytest.approx(t0 + 1)
    res = await store.observe(ObserveBatch("id-a", features=["tpl:1", "tpl:2"]), t0 + 10)
    assert (res.features["tpl:1"].short, res.features["tpl:1"].long) == (3, 3)
    assert (res.features["tpl:2"].short, res.features["tpl:2"].long) == (1, 1)
    assert res.features["tpl:1"].cluster is None
    # one short window plus a sub-bucket later, only the newcomer is in the short window
    t1 = t0 + 600 + 100 + 10
    res = await store.observe(ObserveBatch("id-d", features=["tpl:1"]), t1)
    assert (res.features["tpl:1"].short, res.features["tpl:1"].long) == (1, 4)
    res = await store.observe(ObserveBatch("id-e", features=["tpl:1"]), t1 + 1)
    assert (res.features["tpl:1"].short, res.features["tpl:1"].long) == (2, 5)
    # after the long window everybody but the newest sighting is gone
    t2 = t1 + 7000 + 1000 + 10
    res = await store.observe(ObserveBatch("id-f", features=["tpl:1"]), t2)
    assert (res.features["tpl:1"].short, res.features["tpl:1"].long) == (1, 1)


async def test_long_window_counts_identities_outside_the_short_window(
    store_factory: StoreFactory,
) -> None:
    # a slow fan-out: one identity per short window must still add up in the long window
    store = await store_factory(SMALL)
    for i in range(5):
        res = await store.observe(ObserveBatch(f"slow-{i}", features=["seg:x"]), 5000.0 + 800 * i)
        assert res.features["seg:x"].short == 1
        assert res.features["seg:x"].long == i + 1


async def test_identity_first_seen_requests_last_seen_fields(store: Store) -> None:
    res = await store.observe(ObserveBatch("id-1"), 10.0)
    ident = res.identity
    assert (ident.first_seen, ident.last_seen, ident.requests) == (10.0, 10.0, 0)
    assert ident.risk == 0.0 and ident.cluster is None and dict(ident.fields) == {}
    assert await store.identity_state("id-1", 10.0) is None
    await store.apply(ApplyBatch("id-1", fields={"ewma": 1.5}), 10.0)
    await store.apply(ApplyBatch("id-1"), 20.0)
    res = await store.observe(ObserveBatch("id-1"), 30.0)
    ident = res.identity
    assert (ident.first_seen, ident.last_seen, ident.requests) == (10.0, 20.0, 2)
    assert dict(ident.fields) == {"ewma": 1.5}
    await store.apply(ApplyBatch("id-1", touch=False, fields={"ewma": 2.0, "gap": 3.0}), 40.0)
    state = await store.identity_state("id-1", 40.0)
    assert state is not None and state.requests == 2 and state.last_seen == 20.0
    assert dict(state.fields) == {"ewma": 2.0, "gap": 3.0}


async def test_identity_values_distinct(store: Store) -> None:
    seen = []
    for temp in ["0.7", "0.9", "0.7", "1.0", "0.9"]:
        res = await store.observe(
            ObserveBatch("id-v", identity_values={"temperature": temp, "model": "m1"}), 5.0
        )
        seen.append((res.identity.values["temperature"], res.identity.values["model"]))
    assert seen == [(1, 1), (2, 1), (2, 1), (3, 1), (3, 1)]
    other = await store.observe(ObserveBatch("id-w", identity_values={"temperature": "0.7"}), 5.0)
    assert dict(other.identity.values) == {"temperature": 1}


async def test_lists_and_settings(store: Store) -> None:
    await store.list_add("deny:identity", "id-bad")
    await store.list_add("watch:template", "pt1:abc", ttl=3600)
    await store.list_add("deny:identity", "id-gone", ttl=-1)  # already expired
    checks = [
        ("deny:identity", "id-bad"),
        ("deny:identity", "id-good"),
        ("deny:identity", "id-gone"),
        ("watch:template", "pt1:abc"),
        ("allow:identity", "id-bad"),
    ]
    res = await store.observe(ObserveBatch("id-bad", list_checks=checks), 1.0)
    assert res.listed == {("deny:identity", "id-bad"), ("watch:template", "pt1:abc")}
    assert await store.list_members("deny:identity") == ["id-bad"]
    await store.list_remove("deny:identity", "id-bad")
    await store.list_remove("deny:identity", "never-there")
    assert await store.list_members("deny:identity") == []
    res = await store.observe(ObserveBatch("id-bad", list_checks=checks), 1.0)
    assert res.listed == {("watch:template", "pt1:abc")}

    assert await store.get_setting("mode") is None
    await store.set_setting("mode", "monitor")
    assert await store.get_setting("mode") == "monitor"
    await store.set_setting("mode", None)
    assert await store.get_setting("mode") is None


async def test_clusters_link_features_and_fresh_identity(store_factory: StoreFactory) -> None:
    store = await store_factory(SMALL)
    await store.apply(
        ApplyBatch(
            "id-x1",
            cluster="cl-1",
            cluster_risk_add=0.5,
            risk_add=0.2,
            link_features=["tpl:hydra", "seg:hydra"],
        ),
        100.0,
    )
    await store.apply(ApplyBatch("id-x2", cluster="cl-1"), 100.0)
    # a brand-new identity sending a linked feature finds the cluster on its first request
    res = await store.observe(ObserveBatch("id-fresh", features=["tpl:hydra", "tpl:other"]), 110.0)
    assert res.identity.requests == 0 and res.identity.cluster is None
    assert res.features["tpl:hydra"].cluster == "cl-1"
    assert res.features["tpl:other"].cluster is None
    cl = res.clusters["cl-1"]
    assert cl.risk == pytest.approx(0.5 * 0.5 ** (10 / 100))
    assert cl.members == 2 and cl.first_seen == 100.0 and cl.last_seen == 100.0
    # a member finds its cluster through its own state
    res = await store.observe(ObserveBatch("id-x1"), 120.0)
    assert res.identity.cluster == "cl-1" and "cl-1" in res.clusters
    assert res.identity.risk == pytest.approx(0.2 * 0.5 ** (20 / 100))
    # a linked feature keeps its first cluster
    await store.apply(ApplyBatch("id-y", cluster="cl-2", link_features=["tpl:hydra"]), 130.0)
    batch = ObserveBatch("id-z", features=["tpl:hydra"], clusters=["cl-2"])
    res = await store.observe(batch, 130.0)
    assert res.features["tpl:hydra"].cluster == "cl-1"
    assert set(res.clusters) == {"cl-1", "cl-2"} and res.clusters["cl-2"].risk == 0.0
    assert await store.cluster_state("cl-nope", 130.0) is None
    state = await store.cluster_state("cl-1", 130.0)
    assert state is not None and state.members == 2


async def test_risk_decays_with_half_life(store_factory: StoreFactory) -> None:
    store = await store_factory(SMALL)
    await store.apply(ApplyBatch("id-r", risk_add=1.0), 0.0)
    res = await store.observe(ObserveBatch("id-r"), 100.0)
    assert res.identity.risk == pytest.approx(0.5)
    await store.apply(ApplyBatch("id-r", risk_add=1.0), 100.0)
    res = await store.observe(ObserveBatch("id-r"), 200.0)
    assert res.identity.risk == pytest.approx(0.75)
    await store.apply(ApplyBatch("id-r", risk_add=-10.0), 200.0)  # floors at 0
    res = await store.observe(ObserveBatch("id-r"), 200.0)
    assert res.identity.risk == 0.0
    assert decayed(2.0, 0.0, 300.0, 100.0) == pytest.approx(0.25)


async def test_top_identities_and_clusters(store_factory: StoreFactory) -> None:
    store = await store_factory(SMALL)
    await store.apply(ApplyBatch("id-a", risk_add=3.0, cluster="c-a", cluster_risk_add=1.0), 0.0)
    await store.apply(ApplyBatch("id-b", risk_add=1.0, cluster="c-b", cluster_risk_add=4.0), 0.0)
    await store.apply(ApplyBatch("id-c", risk_add=2.5, cluster="c-c", cluster_risk_add=0.5), 50.0)
    await store.apply(ApplyBatch("id-d"), 50.0)  # no risk: not ranked
    now = 100.0
    top = await store.top_identities(10, now)
    assert [e.id for e in top] == ["id-c", "id-a", "id-b"]
    assert top[0].risk == pytest.approx(2.5 * 0.5**0.5)
    assert top[1].risk == pytest.approx(1.5) and top[1].last_seen == 0.0
    assert [e.id for e in await store.top_identities(2, now)] == ["id-c", "id-a"]
    clusters = await store.top_clusters(10, now)
    assert [e.id for e in clusters] == ["c-b", "c-a", "c-c"]
    assert clusters[0].risk == pytest.approx(2.0)
    # a later risk increase re-ranks
    await store.apply(ApplyBatch("id-b", risk_add=5.0), now)
    assert (await store.top_identities(1, now))[0].id == "id-b"


async def test_top_k_trims_ranking(store_factory: StoreFactory) -> None:
    store = await store_factory(StateConfig(top_k=3))
    for i in range(8):
        await store.apply(ApplyBatch(f"id-{i}", risk_add=float(i + 1)), 0.0)
    top = await store.top_identities(10, 0.0)
    assert [e.id for e in top][:3] == ["id-7", "id-6", "id-5"]
    assert len(top) <= 6  # memory trims lazily at 2 x top_k, Redis at top_k


async def test_concurrent_apply_is_atomic(store: Store) -> None:
    spec = BucketSpec("shared", capacity=50, refill_per_second=0.0)
    results = await asyncio.gather(
        *(store.apply(ApplyBatch(f"id-{i % 7}", buckets=[spec]), 1.0) for i in range(100))
    )
    assert sum(r[0].allowed for r in results) == 50
    (state,) = await store.buckets([BucketSpec("shared", 50, 0.0, peek=True)], 1.0)
    assert state.remaining == pytest.approx(0.0)
    ident = await store.identity_state("id-0", 1.0)
    assert ident is not None and ident.requests == len(range(0, 100, 7))


async def test_apply_returns_bucket_results_in_order(store: Store) -> None:
    specs = [bucket("x", cost=3), bucket("y", capacity=2, cost=5), bucket("x", cost=3)]
    res = await store.apply(ApplyBatch("id-o", buckets=specs), 0.0)
    assert [r.allowed for r in res] == [True, True, True]
    assert [round(r.remaining, 6) for r in res] == [7.0, -3.0, 4.0]


# -- Redis specifics: keys, slots, round trips -------------------------------------------------
async def _exercise(store: Store) -> None:
    await store.observe(
        ObserveBatch(
            "id-k",
            features=["tpl:k1", "seg:k2"],
            identity_values={"temperature": "0.2"},
            list_checks=[("deny:identity", "id-k")],
        ),
        1000.0,
    )
    await store.apply(
        ApplyBatch(
            "id-k",
            buckets=[bucket("req:id-k", cost=3)],
            risk_add=0.5,
            cluster="cl-k",
            cluster_risk_add=0.5,
            link_features=["tpl:k1"],
            fields={"ewma": 1.0},
        ),
        1000.0,
    )
    await store.list_add("deny:network", "net-1")
    await store.set_setting("mode", "enforce")


@pytest.mark.parametrize("store_backend", ["redis", "redis_cluster"], indirect=True)
async def test_key_hygiene(store_factory: StoreFactory) -> None:
    from redis.crc import key_slot

    store = await store_factory()
    await _exercise(store)
    prefix = store.prefix  # type: ignore[attr-defined]
    keys = await store.keys()  # type: ignore[attr-defined]
    assert len(keys) >= 10
    client = store.client  # type: ignore[attr-defined]
    persistent = {f"{prefix}:{{l:deny:network}}", f"{prefix}:{{settings}}"}
    for key in keys:
        assert key.startswith(prefix + ":{"), key
        ttl = await client.pttl(key)
        if key in persistent:
            assert ttl == -1, key
        else:
            assert ttl > 0, key
    assert persistent <= set(keys)
    # every key of one entity shares its hash tag, so each script call is single-slot on
    # Cluster (one call per feature or bucket; the scripts derive the entity's other keys
    # from its base key); standalone batches them into one call per script
    cmds = [
        *store._feature_cmds(["tpl:k1", "tpl:k2"], "id-k", 1000.0),  # type: ignore[attr-defined]
        *store._bucket_cmds([bucket("req:id-k"), bucket("tok:id-k")], 1000.0),  # type: ignore[attr-defined]
        store._risk_cmd("c", "cl-k", 1.0, touch=True, risk_add=1, member="id-k"),  # type: ignore[attr-defined]
        store._risk_cmd("i", "id-k", 1.0, touch=True, risk_add=1),  # type: ignore[attr-defined]
    ]
    cluster = store_backend_is_cluster(store)
    assert len(cmds) == (6 if cluster else 4)
    for cmd in cmds:
        slots = {key_slot(k.encode()) for k in cmd.keys}
        if cluster:
            assert len(slots) == 1, cmd.keys
        else:  # batched calls, and the global ranking set updated inside the script
            assert len(slots) <= 2
    for key in keys:  # every stored key is in its entity's slot
        tag = key[key.index("{") : key.index("}") + 1]
        assert key_slot(key.encode()) == key_slot(tag[1:-1].encode()), key
    feature_keys = [k for k in keys if "{f:tpl:k1}" in k]
    assert {k.rsplit(":", 2)[-2] if ":s:" in k or ":l:" in k else "m" for k in feature_keys} >= {
        "m",
        "s",
    }


def store_backend_is_cluster(store: Store) -> bool:
    return bool(getattr(store, "cluster_mode", False))


@pytest.mark.parametrize("store_backend", ["redis", "redis_cluster"], indirect=True)
async def test_round_trips_per_request(store_factory: StoreFactory) -> None:
    store = await store_factory()
    await store.apply(ApplyBatch("id-q", cluster="cl-q", link_features=["tpl:q"]), 1.0)
    # which lists exist is read once per LIST_REFRESH seconds: a round trip of its own
    warm = store.round_trips  # type: ignore[attr-defined]
    await store.observe(ObserveBatch("id-w", list_checks=[("deny:identity", "id-w")]), 1.0)
    assert store.round_trips - warm == 2  # type: ignore[attr-defined]
    before = store.round_trips  # type: ignore[attr-defined]
    features = [f"tpl:{i}" for i in range(8)]
    batch = ObserveBatch(
        "id-rt",
        features=features,
        identity_values={"t": "1"},
        list_checks=[("deny:identity", "id-rt")],
    )
    await store.observe(batch, 2.0)
    assert store.round_trips - before == 1  # type: ignore[attr-defined]
    await store.apply(ApplyBatch("id-rt", buckets=[bucket("r1"), bucket("r2")]), 2.0)
    assert store.round_trips - before == 2  # type: ignore[attr-defined]
    # an uncached cluster found through a feature costs one more round trip on Cluster (its
    # state is another slot; standalone reads it in the same script call)...
    res = await store.observe(ObserveBatch("id-rt", features=["tpl:q"]), 3.0)
    assert "cl-q" in res.clusters
    extra = 1 if store_backend_is_cluster(store) else 0
    assert store.round_trips - before == 3 + extra  # type: ignore[attr-defined]
    # ...which the caller avoids by passing the clusters it cached
    await store.observe(ObserveBatch("id-rt", features=["tpl:q"], clusters=["cl-q"]), 3.0)
    assert store.round_trips - before == 4 + extra  # type: ignore[attr-defined]
    if store_backend_is_cluster(store):
        # one pipeline, fanned out per slot: many slots, still one round trip
        assert store.slot_batches > 10  # type: ignore[attr-defined]


@pytest.mark.parametrize("store_backend", ["redis"], indirect=True)
async def test_memory_per_feature(store_factory: StoreFactory) -> None:
    store = await store_factory()
    for i in range(20):
        await store.observe(ObserveBatch("id-1", features=[f"one-off:{i}"]), 1000.0)
    for j in range(50):
        await store.observe(ObserveBatch(f"id-{j}", features=["hot"]), 1000.0)
    client = store.client  # type: ignore[attr-defined]
    one_off = [k for k in await store.keys() if "one-off:7}" in k]  # type: ignore[attr-defined]
    assert len(one_off) == 2  # meta + one short HLL: no long-window HLL until a 2nd identity
    hot = [k for k in await store.keys() if "{f:hot}" in k]  # type: ignore[attr-defined]
    assert len(hot) == 3
    one_off_bytes = sum([await client.memory_usage(k) for k in one_off])
    assert one_off_bytes < 400


# -- memory backend specifics ------------------------------------------------------------------
async def test_memory_lru_bounds_and_set_cap() -> None:
    cfg = StateConfig(max_identities=3, max_features=2, feature_set_cap=4)
    store = MemoryStore(cfg, warn_workers=False)
    for i in range(10):
        await store.apply(ApplyBatch(f"id-{i}"), 1.0)
        await store.observe(ObserveBatch(f"id-{i}", features=[f"f{i}", "hot"]), 1.0)
    assert len(store._identities) <= 3 and len(store._features) <= 2
    res = await store.observe(ObserveBatch("id-new", features=["hot"]), 1.0)
    assert res.features["hot"].short == 4  # saturated at the cap
    assert await store.identity_state("id-0", 1.0) is None  # evicted
    assert await store.identity_state("id-9", 1.0) is not None


async def test_memory_ttl_is_lazy_and_uses_now() -> None:
    store = MemoryStore(StateConfig(identity_ttl=100.0), warn_workers=False)
    await store.apply(ApplyBatch("id-t", risk_add=1.0), 0.0)
    assert await store.identity_state("id-t", 99.0) is not None
    assert await store.identity_state("id-t", 101.0) is None
    assert await store.top_identities(5, 101.0) == []


def test_detect_multiple_workers() -> None:
    assert detect_multiple_workers({}, ["app.py"], ["bash"]) is None
    assert detect_multiple_workers({"WEB_CONCURRENCY": "4"}, [], []) == "WEB_CONCURRENCY=4"
    assert detect_multiple_workers({"WEB_CONCURRENCY": "1"}, [], []) is None
    assert detect_multiple_workers({"GUNICORN_CMD_ARGS": "--workers=3 -b :80"}, [], [])
    assert detect_multiple_workers({}, ["gunicorn", "-w", "2", "app:app"], [])
    assert detect_multiple_workers({}, ["gunicorn", "-w4", "app:app"], [])
    parent = ["/usr/bin/python", "/usr/bin/uvicorn", "app:app", "--workers", "8"]
    assert detect_multiple_workers({}, ["python", "-c", "spawn"], parent) == (
        "parent command line workers=8"
    )
    gunicorn = ["gunicorn: master [app:app]"]
    assert detect_multiple_workers({}, [], gunicorn, siblings=3)
    assert detect_multiple_workers({}, [], gunicorn, siblings=1) is None


def test_warn_if_multiple_workers_logs_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from antidistill.storage import memory

    monkeypatch.setattr(memory, "_warned", False)
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    with caplog.at_level(logging.WARNING, logger="antidistill"):
        MemoryStore()
        MemoryStore()
    warnings = [r for r in caplog.records if "several workers" in r.getMessage()]
    assert len(warnings) == 1


# -- URIs ----------------------------------------------------------------------------------------
def test_storage_from_uri_schemes() -> None:
    assert isinstance(storage_from_uri("memory://"), MemoryStore)
    with pytest.raises(ConfigurationError, match="unknown storage scheme"):
        storage_from_uri("mongodb://localhost")
    with pytest.raises(ConfigurationError):
        storage_from_uri("localhost:6379")
    with pytest.raises(ConfigurationError, match="prefix"):
        storage_from_uri("redis://localhost:6379", prefix="bad{tag}")
    from antidistill.storage import RedisClusterStore, RedisStore

    for uri in (
        "redis://localhost:6379/0",
        "rediss://localhost:6380",
        "redis+unix:///tmp/redis.sock",
        "valkey://localhost",
        "redis+sentinel://h1:26379,h2:26380/mymaster",
    ):
        store = storage_from_uri(uri)
        assert type(store) is RedisStore, uri
    cluster = storage_from_uri("redis+cluster://a:7000,b:7001,[::1]:7002")
    assert isinstance(cluster, RedisClusterStore)
    with pytest.raises(ConfigurationError, match="service name"):
        storage_from_uri("redis+sentinel://h1:26379")


def test_missing_redis_py_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "redis" else real(name, *a)
    )
    with pytest.raises(ConfigurationError, match=r"pip install 'antidistill\[redis\]'"):
        storage_from_uri("redis://localhost")


# -- window limits -------------------------------------------------------------------------------
def test_limits_uri_and_names() -> None:
    assert limits_uri("memory://") == "async+memory://"
    assert limits_uri("redis+cluster://a:1,b:2") == "async+redis+cluster://a:1,b:2"
    assert limits_uri("valkey://h:1") == "async+redis://h:1"
    with pytest.raises(ConfigurationError):
        limits_uri("memcached://x")
    from limits import parse

    assert limit_name(parse("60/minute")) == "60/minute"
    assert limit_name(parse("10 per 5 seconds")) == "10/5second"


@pytest.mark.parametrize("backend", ["memory", "redis", "redis_cluster"])
async def test_window_limits(backend: str, request: pytest.FixtureRequest) -> None:
    if backend == "memory":
        uri = "memory://"
    else:
        uri = request.getfixturevalue("redis_url" if backend == "redis" else "redis_cluster_url")
        request.applymarker(getattr(pytest.mark, backend))
    import uuid

    prefix = f"w{uuid.uuid4().hex[:8]}"
    windows = WindowLimits("3/minute;5/day", uri, prefix=prefix, socket_timeout=2.0)
    try:
        first = await windows.hit("id-w")
        assert [b.name for b in first] == ["window:3/minute", "window:5/day"]
        assert [b.remaining for b in first] == [2, 4] and all(b.allowed for b in first)
        assert first[0].window == 60 and first[1].window == 86400
        assert 0 < first[0].reset_after <= 60
        await windows.hit("id-w")
        third = await windows.hit("id-w")
        assert all(b.allowed for b in third) and third[0].remaining == 0
        fourth = await windows.hit("id-w")
        assert [b.allowed for b in fourth] == [False, True]
        assert fourth[0].retry_after > 0 and fourth[1].retry_after == 0
        assert fourth[1].remaining == 2  # the refused request consumed nothing
        other = await windows.hit("id-other", cost=2)
        assert [b.remaining for b in other] == [1, 3]
    finally:
        await windows.reset()
        await windows.close()


@pytest.mark.parametrize("store_backend", ["redis", "redis_cluster"], indirect=True)
async def test_checks_against_empty_lists_are_skipped_until_a_list_appears(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis reads which lists exist at most every LIST_REFRESH seconds and skips checks
    against absent ones: one instance's own additions count at once, another instance's
    within the refresh interval."""
    from antidistill.storage import redis as redis_store

    a = await store_factory()
    b = await store_factory()
    b.prefix = a.prefix  # type: ignore[attr-defined]  # a second instance on the same state
    checks = [("deny:identity", "id-x"), ("allow:identity", "id-x"),
              ("watch:template", "pt1:t")]
    sent: list[str] = []
    original = redis_store._Cmd.queue

    def spy(cmd: Any, pipe: Any) -> None:
        if cmd.script is None:
            sent.append(str(cmd.args[0]))
        else:  # a list's members are asked in one script call per list
            sent.append("ZSCORE" if ":{l:" in cmd.keys[0] else "EVALSHA")
        original(cmd, pipe)

    monkeypatch.setattr(redis_store._Cmd, "queue", spy)
    res = await a.observe(ObserveBatch("id-x", list_checks=checks), 1.0)
    assert res.listed == frozenset()
    assert sent.count("EXISTS") == 3 and "ZSCORE" not in sent  # read, all absent
    sent.clear()
    await a.observe(ObserveBatch("id-x", list_checks=checks), 2.0)
    assert "ZSCORE" not in sent and "EXISTS" not in sent  # nothing to ask

    await b.list_add("deny:identity", "id-x")  # through another instance
    res = await a.observe(ObserveBatch("id-x", list_checks=checks), 3.0)
    assert res.listed == frozenset()  # not seen yet: within the refresh interval
    a._lists_read -= redis_store.LIST_REFRESH  # type: ignore[attr-defined]
    sent.clear()
    res = await a.observe(ObserveBatch("id-x", list_checks=checks), 4.0)
    assert res.listed == {("deny:identity", "id-x")}
    assert sent.count("ZSCORE") == 1

    await a.list_add("watch:template", "pt1:t")  # through this instance: at once
    res = await a.observe(ObserveBatch("id-x", list_checks=checks), 5.0)
    assert res.listed == {("deny:identity", "id-x"), ("watch:template", "pt1:t")}


def test_the_redis_extra_brings_the_hiredis_parser() -> None:
    """``antidistill[redis]`` installs redis-py with hiredis, whose C parser redis-py then
    picks for every connection (the pure-Python one costs 10-25% more client CPU)."""
    from redis.asyncio.connection import DefaultParser
    from redis.utils import HIREDIS_AVAILABLE

    assert HIREDIS_AVAILABLE
    assert "Hiredis" in DefaultParser.__name__
