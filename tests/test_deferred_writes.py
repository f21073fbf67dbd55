"""Write-behind on Redis and Cluster: the settlement's charges and continuity's answer
records ride in front of the store's next round trip (``storage/deferred.py``).

Real redis-server / Cluster throughout. No test waits on the clock: a flush is awaited
through the write's own callback (an event), with a generous hang guard only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from antidistill import AntiDistillMiddleware
from antidistill.errors import StorageError
from antidistill.storage import (
    ApplyBatch,
    BucketSpec,
    ObserveBatch,
    RedisStore,
    ResilientStore,
    Store,
    StoreUnavailable,
    storage_from_uri,
)
from antidistill.storage import redis as redis_store
from antidistill.storage.deferred import WriteBehind
from apps import FakeClock, asgi_client, clear_env, make_guard, make_starlette_app

StoreFactory = Callable[..., Awaitable[Store]]
REDIS_BACKENDS = ["redis", "redis_cluster"]
HANG = 20.0  # seconds: only a guard against a hung test, never a timing assertion
NEVER = 3600.0  # a flush delay no test reaches


class Outcome:
    """A ``done`` callback that remembers what it heard and wakes a waiter."""

    def __init__(self) -> None:
        self.heard: list[BaseException | None] = []
        self.event = asyncio.Event()

    def __call__(self, exc: BaseException | None) -> None:
        self.heard.append(exc)
        self.event.set()

    async def wait(self) -> BaseException | None:
        await asyncio.wait_for(self.event.wait(), HANG)
        assert len(self.heard) == 1
        return self.heard[0]


async def redis_of(store_factory: StoreFactory, delay: float = NEVER) -> RedisStore:
    store = await store_factory()
    assert isinstance(store, RedisStore)
    store._behind.delay = delay
    return store


async def level(store: RedisStore, key: str) -> float:
    """The bucket's stored level, read past the store (no round trip of its own)."""
    raw = await store.client.hget(store._key("b", key), "t")
    return float(raw)


def spec(key: str, cost: float, *, force: bool = False) -> BucketSpec:
    return BucketSpec(key, 10.0, 0.0, cost, force=force)


@pytest.mark.parametrize("store_backend", REDIS_BACKENDS, indirect=True)
async def test_the_next_round_trip_carries_the_settlement_ahead_of_its_own_scripts(
    store_factory: StoreFactory,
) -> None:
    store = await redis_of(store_factory)
    [first] = await store.apply(ApplyBatch("id-n", buckets=[spec("bn", 1.0)]), 1.0)
    assert first.remaining == 9.0
    done = Outcome()
    assert await store.defer_buckets([spec("bn", 5.0, force=True)], 1.0, done)
    rt = store.round_trips
    assert await level(store, "bn") == 9.0 and not done.heard  # queued, not sent
    [second] = await store.apply(ApplyBatch("id-n", buckets=[spec("bn", 1.0)]), 2.0)
    # the bucket it read was already settled: 9 - 5 - 1, in the same single round trip
    assert second.remaining == pytest.approx(3.0)
    assert store.round_trips == rt + 1
    assert await done.wait() is None


@pytest.mark.parametrize("store_backend", REDIS_BACKENDS, indirect=True)
async def test_answer_records_are_seen_by_the_next_list_check(
    store_factory: StoreFactory,
) -> None:
    store = await redis_of(store_factory)
    checks = [("answers", "h2"), ("answers", "h3")]
    await store.list_add("answers", "h0", 60.0)
    await store.observe(ObserveBatch("id-l", list_checks=checks), 1.0)  # scripts loaded
    done = Outcome()
    assert await store.defer_list_add("answers", ["h1", "h2"], 60.0, done)
    rt = store.round_trips
    res = await store.observe(ObserveBatch("id-l", list_checks=checks), 1.0)
    assert res.listed == frozenset({("answers", "h2")})
    assert store.round_trips == rt + 1
    assert await done.wait() is None
    assert sorted(await store.list_members("answers")) == ["h0", "h1", "h2"]


@pytest.mark.parametrize("store_backend", REDIS_BACKENDS, indirect=True)
async def test_an_idle_queue_is_flushed_by_the_timer(store_factory: StoreFactory) -> None:
    store = await redis_of(store_factory, delay=0.005)
    await store.apply(ApplyBatch("id-t", buckets=[spec("bt", 1.0)]), 1.0)
    done = Outcome()
    rt = store.round_trips
    await store.defer_buckets([spec("bt", 4.0, force=True)], 1.0, done)
    assert await done.wait() is None  # nothing else ran: the timer sent it
    assert store.round_trips == rt + 1
    assert await level(store, "bt") == pytest.approx(5.0)


@pytest.mark.parametrize("store_backend", REDIS_BACKENDS, indirect=True)
async def test_close_sends_what_is_queued(
    store_factory: StoreFactory, store_backend: str, request: pytest.FixtureRequest
) -> None:
    store = await redis_of(store_factory)
    charge, records = Outcome(), Outcome()
    await store.defer_buckets([spec("bc", 3.0, force=True)], 1.0, charge)
    await store.defer_list_add("answers", ["hc"], 60.0, records)
    prefix, url = store.prefix, request.getfixturevalue(f"{store_backend}_url")
    await store.close()
    assert charge.heard == [None] and records.heard == [None]
    again = storage_from_uri(url, prefix=prefix, socket_timeout=2.0)
    try:
        [res] = await again.buckets([BucketSpec("bc", 10.0, 0.0, 0.0, peek=True)], 1.0)
        assert res.remaining == pytest.approx(7.0)
        assert await again.list_members("answers") == ["hc"]
    finally:
        await again.clear()
        await again.close()


@pytest.mark.parametrize("store_backend", REDIS_BACKENDS, indirect=True)
async def test_a_failing_queued_write_is_reported_and_its_carrier_is_not_failed(
    store_factory: StoreFactory,
) -> None:
    # on Cluster writes for other nodes than the carrier's go with the timer
    store = await redis_of(store_factory, delay=0.005)
    await store.client.set(store._key("b", "bad"), "not a hash")  # the script fails on it
    bad, good = Outcome(), Outcome()
    await store.defer_buckets([spec("bad", 1.0, force=True)], 1.0, bad)
    await store.defer_buckets([spec("ok", 1.0, force=True)], 1.0, good)
    res = await store.observe(ObserveBatch("id-f", features=["tpl:f"]), 1.0)
    assert res.identity.requests == 0  # the carrier got its own answer
    assert isinstance(await bad.wait(), StorageError)
    assert await good.wait() is None


async def test_a_lost_connection_fails_the_queued_writes_not_silently(
    dedicated_redis: Any,
) -> None:
    store = storage_from_uri(dedicated_redis.url, prefix="lost", socket_timeout=1.0)
    assert isinstance(store, RedisStore)
    store._behind.delay = NEVER
    await store.apply(ApplyBatch("id-x", buckets=[spec("bx", 1.0)]), 1.0)
    done = Outcome()
    await store.defer_buckets([spec("bx", 1.0, force=True)], 1.0, done)
    dedicated_redis.stop()
    with pytest.raises(StorageError):
        await store.observe(ObserveBatch("id-x"), 2.0)  # the carrier's own failure
    assert isinstance(await done.wait(), StorageError)
    assert not store._behind.queue and not store._behind.inflight
    await store.close()


@pytest.mark.parametrize("store_backend", REDIS_BACKENDS, indirect=True)
async def test_a_full_queue_is_flushed_at_once(store_factory: StoreFactory) -> None:
    store = await redis_of(store_factory)
    store._behind.limit = 4
    first, second = Outcome(), Outcome()
    await store.defer_list_add("answers", ["q1"], 60.0, first)  # 2 commands
    assert not store._behind._tasks
    await store.defer_list_add("answers", ["q2"], 60.0, second)  # 4: at the limit
    assert store._behind._tasks  # a flush started, without the timer or another call
    assert await first.wait() is None and await second.wait() is None
    assert not store._behind.queue


@pytest.mark.parametrize("store_backend", ["redis_cluster"], indirect=True)
async def test_cluster_writes_ride_only_to_their_own_node(store_factory: StoreFactory) -> None:
    store = await redis_of(store_factory)
    await store.ping()
    await store.client.initialize()
    node_of = store.client.nodes_manager.get_node_from_slot

    def node(key: str) -> str:
        return str(node_of(store._slot(store._key("b", key))).name)

    keys = [f"k{i}" for i in range(60)]
    here = keys[0]
    there = next(k for k in keys if node(k) != node(here))
    near, far = Outcome(), Outcome()
    await store.defer_buckets([spec(here, 2.0, force=True)], 1.0, near)
    await store.defer_buckets([spec(there, 2.0, force=True)], 1.0, far)
    [res] = await store.buckets([spec(here, 1.0)], 1.0)  # a round trip to `here`'s node
    assert res.remaining == pytest.approx(7.0)  # settled first: 10 - 2 - 1
    assert await near.wait() is None
    assert not far.heard and len(store._behind.queue) == 1  # waits for its own node
    await store.close()
    assert far.heard == [None]


@pytest.mark.parametrize("store_backend", ["redis"], indirect=True)
async def test_a_round_trip_touching_a_write_in_flight_waits_for_it(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await redis_of(store_factory)
    await store.apply(ApplyBatch("id-w", buckets=[spec("bw", 1.0)]), 1.0)
    waited: list[int] = []
    original = WriteBehind.settled

    async def settled(self: WriteBehind, marks: Any) -> None:
        waited.append(len(self.inflight))
        await original(self, marks)

    monkeypatch.setattr(WriteBehind, "settled", settled)
    done = Outcome()
    await store.defer_buckets([spec("bw", 5.0, force=True)], 1.0, done)
    carrier = asyncio.ensure_future(store.observe(ObserveBatch("id-other"), 1.0))
    await asyncio.sleep(0)  # the carrier takes the queued write and is in flight
    assert store._behind.inflight and not store._behind.queue
    [res] = await store.apply(ApplyBatch("id-w", buckets=[spec("bw", 1.0)]), 2.0)
    assert waited == [1]  # it waited for the other connection's round trip
    assert res.remaining == pytest.approx(3.0)
    await carrier
    assert await done.wait() is None


@pytest.mark.parametrize("store_backend", ["redis"], indirect=True)
@pytest.mark.parametrize("fail_mode", ["open", "closed"])
async def test_resilient_store_keeps_its_failure_handling_for_queued_charges(
    store_factory: StoreFactory, fail_mode: Any
) -> None:
    primary = await redis_of(store_factory)
    store = ResilientStore(primary, fail_mode=fail_mode)
    await primary.client.set(primary._key("b", "rb"), "not a hash")
    done = Outcome()
    assert await store.defer_buckets([spec("rb", 4.0, force=True)], 1.0, done)
    await store.observe(ObserveBatch("id-r"), 1.0)
    heard = await done.wait()
    assert store.errors == 1
    if fail_mode == "closed":
        assert isinstance(heard, StoreUnavailable)
    else:  # answered by the fallback, as a failed buckets() call is
        assert heard is None and store.fallbacks == 1
        await store.close()
        [res] = await store.fallback.buckets([BucketSpec("rb", 10.0, 0.0, 0.0, peek=True)],
                                             1.0)
        assert res.remaining == pytest.approx(6.0)


@pytest.mark.parametrize("store_backend", ["redis"], indirect=True)
async def test_degraded_resilient_store_does_not_queue(store_factory: StoreFactory) -> None:
    primary = await redis_of(store_factory)
    store = ResilientStore(primary, fail_mode="open")
    store.breaker.tripped = True
    assert not await store.defer_buckets([spec("d", 1.0, force=True)], 1.0, Outcome())
    assert not await store.defer_list_add("answers", ["d"], 60.0, Outcome())
    assert not primary._behind.queue


async def test_through_the_middleware_the_next_request_sees_the_settlement(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_env(monkeypatch)
    monkeypatch.setattr(redis_store, "WriteBehind", _never_flushing)
    clock = FakeClock()
    cap = 100_000.0
    guard = make_guard(clock, storage_uri=redis_url, storage_prefix="mwdefer",
                       token_capacity=cap, token_refill_rate=0.0)
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    auth = {"authorization": "Bearer sk-test-deferred-0001"}
    chat = {"model": "mock-1", "max_tokens": 4000,
            "messages": [{"role": "user", "content": "Name three prime numbers."}]}
    try:
        async with asgi_client(app) as client:
            r = await client.post("/v1/chat/completions", json=chat, headers=auth)
            assert r.status_code == 200
            used = r.json()["usage"]["total_tokens"]
            assert guard.counters["tokens_reconciled"] == 0  # queued, not sent yet
            d = await client.get("/decision", headers=auth)
        tokens = next(b for b in d.json()["decision"]["budgets"] if b["name"] == "tokens")
        # the 4000-token estimate was replaced by the usage before this request's own
        # charge (its estimate for a bodiless GET) was read: unsettled it would be > 4000
        assert used < cap - tokens["remaining"] < 1000
        assert guard.counters["tokens_reconciled"] == 1
        assert guard.counters["settle_errors"] == 0
    finally:
        await guard.store.clear()
        await guard.aclose()


def _never_flushing(flush: Any) -> WriteBehind:
    return WriteBehind(flush, delay=NEVER)


@pytest.mark.parametrize("fail_mode", ["open", "closed"])
async def test_a_failed_queued_settlement_is_counted_and_its_carrier_is_served(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    fail_mode: str,
) -> None:
    clear_env(monkeypatch)
    monkeypatch.setattr(redis_store, "WriteBehind", _never_flushing)
    guard = make_guard(FakeClock(), storage_uri=redis_url, storage_prefix=f"mwfail{fail_mode}",
                       fail_mode=fail_mode, token_capacity=100_000.0, token_refill_rate=0.0)
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    key = "sk-test-deferred-fail-1"
    chat = {"model": "mock-1", "max_tokens": 4000,
            "messages": [{"role": "user", "content": "Name three prime numbers."}]}
    store = guard.store
    assert isinstance(store, ResilientStore) and isinstance(store.primary, RedisStore)
    try:
        async with asgi_client(app) as client:
            r = await client.post("/v1/chat/completions", json=chat,
                                  headers={"authorization": f"Bearer {key}"})
            assert r.status_code == 200 and store.primary._behind.queue
            bucket = store.primary._key("b", "tk:" + guard.pseudonymize("key", key))
            await store.primary.client.set(bucket, "not a hash")  # the settlement fails
            other = await client.get("/decision", headers={"x-api-key": "sk-someone-else"})
        assert other.status_code == 200  # the carrier is served
        assert store.errors == 1
        if fail_mode == "closed":  # what a settlement that raises has always counted
            assert guard.counters["settle_errors"] == 1
            assert guard.counters["tokens_reconciled"] == 0
            assert "usage settlement failed: StoreUnavailable" in caplog.text
        else:  # charged to the in-memory fallback, as a failed buckets() call is
            assert guard.counters["settle_errors"] == 0
            assert store.fallbacks == 1
    finally:
        await store.clear()
        await guard.aclose()


async def test_lifespan_shutdown_sends_the_queued_writes(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_env(monkeypatch)
    monkeypatch.setattr(redis_store, "WriteBehind", _never_flushing)
    guard = make_guard(FakeClock(), storage_uri=redis_url, storage_prefix="lifespan")
    store = guard.store
    assert isinstance(store, ResilientStore) and isinstance(store.primary, RedisStore)
    sent: list[str] = []
    done = Outcome()

    async def app(scope: Any, receive: Any, send: Any) -> None:  # a lifespan-aware app
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def send(message: Any) -> None:
        sent.append(message["type"])
        if message["type"] == "lifespan.shutdown.complete":
            assert done.heard == [None]  # flushed before the server hears "complete"

    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> Any:
        message = next(incoming)
        if message["type"] == "lifespan.shutdown":
            assert await store.defer_buckets([spec("ls", 2.0, force=True)], 1.0, done)
        return message

    try:
        await AntiDistillMiddleware(app, guard=guard)({"type": "lifespan"}, receive, send)
        assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        assert await level(store.primary, "ls") == pytest.approx(8.0)
    finally:
        await store.clear()
        await guard.aclose()
