"""Differential test of the stores (issue #10, item 7).

One random operation sequence (observe, apply with buckets/risk/clusters/links/fields,
bucket operations, ``listed``, list writes, settings) on an injected clock is run through a
reference ``MemoryStore`` and through the store under test: ``memory://`` itself (a fresh
instance: determinism), Redis, Redis Cluster, and ``ResilientStore`` over Redis. Every
result must agree: bucket arithmetic and decayed risk to float precision, distinct counts
within HyperLogLog error (Redis counts distinct identities and values with HLLs: 0.81%
standard error; we allow three of them plus one).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from antidistill.storage import (
    ApplyBatch,
    BucketSpec,
    MemoryStore,
    ObserveBatch,
    ResilientStore,
    StateConfig,
    Store,
    storage_from_uri,
)

CONFIG = StateConfig(short_window=3600.0, long_window=7 * 86400.0, risk_half_life=6 * 3600.0)
IDENTITIES = [f"id-{i}" for i in range(12)]
FEATURES = [f"t:f{i}" for i in range(8)]
CLUSTERS = ["cl-a", "cl-b", "cl-c"]
LISTS = [("deny:identity", m) for m in IDENTITIES[:4]] + [("watch:template", "pt1:f1")]
STEPS = 260
SEEDS = (1, 2, 3)


def hll_close(a: int, b: int) -> bool:
    return abs(a - b) <= 3 * 0.0081 * max(a, b) + 1


def close(a: float, b: float) -> bool:
    return a == pytest.approx(b, rel=1e-6, abs=1e-6)


@pytest.fixture(params=[
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("redis_cluster", id="redis_cluster", marks=pytest.mark.redis_cluster),
    pytest.param("resilient", id="resilient-redis", marks=pytest.mark.redis),
])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    kind = request.param
    prefix = f"p{uuid.uuid4().hex[:10]}"
    store: Store
    if kind == "memory":
        store = MemoryStore(CONFIG, warn_workers=False)
    else:
        url = request.getfixturevalue("redis_cluster_url" if kind == "redis_cluster"
                                      else "redis_url")
        store = storage_from_uri(url, CONFIG, prefix=prefix, socket_timeout=2.0)
        if kind == "resilient":
            store = ResilientStore(store, fail_mode="closed")
    yield store
    await store.clear()
    await store.close()


def random_ops(seed: int) -> list[tuple[str, float, Any]]:
    """(operation, now, arguments): the clock moves on by 0 s to 40 min, now and then by
    hours, so windows roll over and risk decays."""
    rng = random.Random(seed)
    now, ops = 1_000_000.0, []
    for _ in range(STEPS):
        now += rng.choice((0.0, rng.uniform(0, 60), rng.uniform(0, 2400),
                           rng.uniform(3600, 30000) if rng.random() < 0.05 else 1.0))
        ident = rng.choice(IDENTITIES)
        kind = rng.choices(("observe", "apply", "buckets", "listed", "list", "setting"),
                           (40, 35, 10, 6, 4, 5))[0]
        if kind == "observe":
            args: Any = ObserveBatch(
                ident, features=rng.sample(FEATURES, rng.randint(0, 3)),
                identity_values={"temperature": str(rng.randint(0, 5))} if rng.random() < 0.5
                else {},
                list_checks=rng.sample(LISTS, rng.randint(0, 3)),
                clusters=rng.sample(CLUSTERS, rng.randint(0, 1)))
        elif kind == "apply":
            cluster = rng.choice((None, None, *CLUSTERS))
            args = ApplyBatch(
                ident, buckets=[BucketSpec(f"rq:{ident}", 5.0, 0.01, 1.0),
                                BucketSpec(f"tk:{ident}", 500.0, 0.5, rng.randint(10, 200))],
                risk_add=rng.choice((0.0, 0.0, rng.uniform(0.1, 2.0))), cluster=cluster,
                cluster_risk_add=rng.uniform(0, 1.0) if cluster else 0.0,
                link_features=rng.sample(FEATURES, rng.randint(0, 2)) if cluster else (),
                fields={"rf": round(rng.uniform(0, 1), 6)} if rng.random() < 0.5 else {},
                touch=rng.random() < 0.9,
                mature_features=rng.sample(FEATURES, rng.randint(0, 2))
                if rng.random() < 0.4 else ())
        elif kind == "buckets":
            args = [BucketSpec(f"tk:{ident}", 500.0, 0.5, rng.uniform(-50, 300), force=True),
                    BucketSpec(f"rq:{ident}", 5.0, 0.01, peek=True)]
        elif kind == "listed":
            args = (ident, rng.sample(LISTS, 3))
        elif kind == "list":
            args = (rng.random() < 0.6, *rng.choice(LISTS))
        else:
            args = (rng.choice(("mode", "epoch")), rng.choice((None, "enforce", "monitor")))
        ops.append((kind, now, args))
    return ops


async def run_op(store: Store, kind: str, now: float, args: Any) -> Any:
    if kind == "observe":
        return await store.observe(args, now)
    if kind == "apply":
        return await store.apply(args, now)
    if kind == "buckets":
        return await store.buckets(args, now)
    if kind == "listed":
        return await store.listed(args[0], args[1], now)
    if kind == "list":
        add, name, member = args
        await (store.list_add(name, member) if add else store.list_remove(name, member))
        return sorted(await store.list_members(name))
    name, value = args
    await store.set_setting(name, value)
    return await store.get_setting(name)


def assert_same(kind: str, want: Any, got: Any, where: str) -> None:
    if kind in ("apply", "buckets"):
        assert len(want) == len(got), where
        for w, g in zip(want, got, strict=True):
            assert w.allowed == g.allowed, (where, w, g)
            for attr in ("remaining", "retry_after", "reset_after"):
                assert close(getattr(w, attr), getattr(g, attr)), (where, attr, w, g)
    elif kind == "observe":
        wi, gi = want.identity, got.identity
        assert (wi.requests, wi.cluster) == (gi.requests, gi.cluster), (where, wi, gi)
        for attr in ("first_seen", "last_seen", "risk"):
            assert close(getattr(wi, attr), getattr(gi, attr)), (where, attr, wi, gi)
        assert wi.values.keys() == gi.values.keys(), where
        assert all(hll_close(wi.values[k], gi.values[k]) for k in wi.values), (where, wi, gi)
        assert wi.fields.keys() == gi.fields.keys(), (where, wi.fields, gi.fields)
        assert all(close(wi.fields[k], gi.fields[k]) for k in wi.fields), where
        assert want.features.keys() == got.features.keys(), where
        for f, wf in want.features.items():
            gf = got.features[f]
            assert hll_close(wf.short, gf.short) and hll_close(wf.long, gf.long), (where, f,
                                                                                   wf, gf)
            assert hll_close(wf.mature, gf.mature), (where, f, wf, gf)
            assert wf.cluster == gf.cluster and close(wf.first_seen, gf.first_seen), (where,
                                                                                      wf, gf)
        assert want.clusters.keys() == got.clusters.keys(), where
        for c, wc in want.clusters.items():
            gc = got.clusters[c]
            assert close(wc.risk, gc.risk) and hll_close(wc.members, gc.members), (where, wc,
                                                                                   gc)
            assert close(wc.first_seen, gc.first_seen) and close(wc.last_seen, gc.last_seen)
        assert want.listed == got.listed, where
    else:
        assert want == got, (where, want, got)


@pytest.mark.parametrize("seed", SEEDS)
async def test_stores_agree_on_a_random_operation_sequence(subject: Store, seed: int) -> None:
    reference = MemoryStore(CONFIG, warn_workers=False)
    ops = random_ops(seed)
    for step, (kind, now, args) in enumerate(ops):
        want = await run_op(reference, kind, now, args)
        got = await run_op(subject, kind, now, args)
        assert_same(kind, want, got, f"seed {seed} step {step} {kind} at {now}")
    end = ops[-1][1]
    for ident in IDENTITIES:  # the read side agrees too
        w, g = await reference.identity_state(ident, end), await subject.identity_state(ident, end)
        assert (w is None) == (g is None), ident
        if w is not None and g is not None:
            assert w.requests == g.requests and close(w.risk, g.risk), (ident, w, g)
    for cluster in CLUSTERS:
        wc, gc = await reference.cluster_state(cluster, end), await subject.cluster_state(
            cluster, end)
        assert (wc is None) == (gc is None) and (wc is None or close(wc.risk, gc.risk)), cluster
    want_top = [(e.id, round(e.risk, 6)) for e in await reference.top_identities(5, end)]
    got_top = [(e.id, round(e.risk, 6)) for e in await subject.top_identities(5, end)]
    assert want_top == got_top
