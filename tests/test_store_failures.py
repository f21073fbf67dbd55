"""Failure handling against real redis-server processes that we stop and restart."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from antidistill.errors import StorageError
from antidistill.storage import (
    ApplyBatch,
    BucketSpec,
    ObserveBatch,
    ResilientStore,
    Store,
    StoreUnavailable,
    storage_from_uri,
)

SECRET_ID = "id-marker-7f3a9c"  # must never show up in logs


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class CountingPings:
    """Wrap a store's ping to count probes."""

    def __init__(self, store: Store) -> None:
        self.count = 0
        self._ping = store.ping
        store.ping = self  # type: ignore[method-assign]

    async def __call__(self) -> bool:
        self.count += 1
        return await self._ping()


def spec(capacity: float = 100.0) -> BucketSpec:
    return BucketSpec(f"req:{SECRET_ID}", capacity=capacity, refill_per_second=0.0)


async def one_request(store: Store, now: float) -> bool:
    res = await store.observe(ObserveBatch(SECRET_ID, features=["tpl:f"]), now)
    assert res.identity is not None
    (bucket,) = await store.apply(ApplyBatch(SECRET_ID, buckets=[spec()], risk_add=0.1), now)
    return bucket.allowed


async def wait_for(predicate: object, timeout: float) -> float:
    """Poll ``predicate()`` (sync) until true; return the seconds it took."""
    start = time.monotonic()
    while not predicate():  # type: ignore[operator]
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


async def test_fail_open_serves_from_memory_and_recovers(
    dedicated_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = dedicated_redis
    primary: Any = storage_from_uri(server.url, prefix="fo", socket_timeout=0.2)
    clock = FakeClock()
    store = ResilientStore(primary, fail_mode="open", open_after=2, probe_interval=1.0, clock=clock)
    pings = CountingPings(primary)
    caplog.set_level(logging.INFO, logger="antidistill")
    try:
        assert await one_request(store, 1.0)
        assert not store.degraded and store.errors == 0

        server.stop()
        for i in range(30):  # zero exceptions while Redis is gone
            assert await one_request(store, 2.0 + i)
        assert store.degraded and store.trips == 1
        assert store.errors == 2  # after tripping the primary is not touched any more
        assert store.fallbacks == 60
        # probes: at most one per probe_interval of the injected clock
        for _ in range(10):
            await one_request(store, 40.0)
            await asyncio.sleep(0)
        assert pings.count == 0
        clock.t += 1.0
        for _ in range(10):
            await one_request(store, 41.0)
            await asyncio.sleep(0.01)
        assert pings.count == 1 and store.degraded

        server.start()
        clock.t += 1.0
        await one_request(store, 42.0)  # starts a probe in the background
        await wait_for(lambda: not store.degraded, timeout=2.0)
        trips_before = primary.round_trips
        assert await one_request(store, 43.0)
        assert primary.round_trips > trips_before
        assert store.trips == 1

        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        infos = [r for r in caplog.records if "recovered" in r.getMessage()]
        assert len(warnings) == 1 and len(infos) == 1
        assert SECRET_ID not in caplog.text and "fo:" not in caplog.text
    finally:
        await store.clear()
        await store.close()


async def test_fail_closed_raises_store_unavailable(dedicated_redis: Any) -> None:
    server = dedicated_redis
    primary = storage_from_uri(server.url, prefix="fc", socket_timeout=0.2)
    clock = FakeClock()
    store = ResilientStore(primary, fail_mode="closed", open_after=2, clock=clock)
    try:
        assert await one_request(store, 1.0)
        server.stop()
        for _ in range(4):
            with pytest.raises(StoreUnavailable):
                await store.apply(ApplyBatch(SECRET_ID, buckets=[spec()]), 2.0)
        assert store.degraded and store.errors == 2 and store.fallbacks == 0
        assert isinstance(StoreUnavailable("x"), StorageError)
        with pytest.raises(StoreUnavailable):  # admin writes are refused, never faked
            await store.list_add("deny:identity", SECRET_ID)
        server.start()
        clock.t += 5.0
        with pytest.raises(StoreUnavailable):  # this one only starts the probe
            await store.apply(ApplyBatch(SECRET_ID, buckets=[spec()]), 3.0)
        await wait_for(lambda: not store.degraded, timeout=2.0)
        await store.apply(ApplyBatch(SECRET_ID, buckets=[spec()]), 4.0)
    finally:
        await store.close()


async def test_raw_store_wraps_driver_errors(dedicated_redis: Any) -> None:
    primary = storage_from_uri(dedicated_redis.url, prefix="raw", socket_timeout=0.2)
    try:
        # short timeouts and no retries: the settings, not a wall-clock bound
        pool_kwargs = primary.client.connection_pool.connection_kwargs
        assert pool_kwargs["socket_timeout"] == 0.2
        assert pool_kwargs["retry"].get_retries() == 0
        dedicated_redis.stop()
        trips = primary.round_trips
        with pytest.raises(StorageError):
            await primary.apply(ApplyBatch(SECRET_ID, buckets=[spec()]), 1.0)
        assert primary.round_trips == trips + 1
        assert await primary.ping() is False
    finally:
        await primary.close()


@pytest.mark.parametrize("backend", ["redis", "redis_cluster"])
async def test_noscript_after_script_flush(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("redis_url" if backend == "redis" else "redis_cluster_url")
    store: Any = storage_from_uri(url, prefix="ns", socket_timeout=2.0)
    try:
        assert await request_ok(store, 1.0)
        client = store.client
        await client.script_flush()  # on Cluster redis-py sends it to every primary
        before = store.round_trips
        assert await request_ok(store, 2.0)
        # observe and apply each: the pipeline, SCRIPT LOADs, the failed commands again
        assert store.round_trips - before == 4
        state = await store.identity_state(SECRET_ID, 2.0)
        assert state is not None and state.requests == 2  # nothing applied twice
    finally:
        await store.clear()
        await store.close()


async def request_ok(store: Store, now: float) -> bool:
    await store.observe(ObserveBatch(SECRET_ID, features=["tpl:a", "tpl:b"]), now)
    (b,) = await store.apply(ApplyBatch(SECRET_ID, buckets=[spec()]), now)
    return b.allowed


async def test_cluster_node_restart(dedicated_redis_cluster: Any) -> None:
    from redis.crc import key_slot

    handle = dedicated_redis_cluster
    raw = storage_from_uri(handle.url, prefix="cr", socket_timeout=0.3)
    clock = FakeClock()
    store = ResilientStore(raw, open_after=2, probe_interval=0.2, clock=clock)
    # bucket keys on every node: buckets spread over the slot ranges
    specs = [BucketSpec(f"b{i}", capacity=1000, refill_per_second=0.0) for i in range(30)]
    slots = {key_slot(f"cr:{{b:b{i}}}".encode()) for i in range(30)}
    assert len(slots) == 30
    try:
        assert all(r.allowed for r in await store.buckets(specs, 1.0))
        victim = handle.nodes[1]
        victim.kill()
        for i in range(10):  # fail-open keeps answering while a master is down
            results = await store.buckets(specs, 2.0 + i)
            assert len(results) == 30
        assert store.degraded
        victim.start()  # same port, same dir: same nodes.conf, same slots, no scripts
        handle.wait_ok(timeout=15)
        start = time.monotonic()
        while store.degraded:
            clock.t += 1.0
            await store.buckets(specs, 20.0)
            await asyncio.sleep(0.05)
            assert time.monotonic() - start < 10.0, "cluster client did not recover"
        # the raw client works again on every slot (NOSCRIPT on the restarted node included)
        deadline = time.monotonic() + 10.0
        while True:
            try:
                results = await raw.buckets(specs, 21.0)
                break
            except StorageError:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
        assert all(r.allowed for r in results)
    finally:
        await store.close()
