"""The Redis backends' hot path: how little is sent per request, and that it stays correct.

Scripts get an entity's hash-tagged base key and derive its other keys (so a feature costs one
key, not its 13 sub-window keys); standalone Redis batches a request's features, buckets and
links into one script call each (Cluster: one per slot); concurrent list additions share one
round trip; commands are written and read on one connection without redis-py's pipeline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from antidistill.errors import StorageError
from antidistill.storage import (
    ApplyBatch,
    BucketSpec,
    MemoryStore,
    ObserveBatch,
    Store,
    storage_from_uri,
)
from antidistill.storage import redis as redis_store

StoreFactory = Callable[..., Awaitable[Store]]
REDIS_BACKENDS = ["redis", "redis_cluster"]


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int]]:
    """(command, keys, arguments after the keys) of every command queued."""
    sent: list[tuple[str, int, int]] = []
    original = redis_store._Cmd.queue

    def spy(cmd: Any, pipe: Any) -> None:
        if cmd.script is None:
            sent.append((str(cmd.args[0]), 0, len(cmd.args) - 1))
        else:
            sent.append(("EVALSHA", len(cmd.keys), len(cmd.args)))
        original(cmd, pipe)

    monkeypatch.setattr(redis_store._Cmd, "queue", spy)
    return sent


@pytest.mark.parametrize("store_backend", REDIS_BACKENDS, indirect=True)
async def test_a_request_sends_base_keys_not_sub_window_keys(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await store_factory()
    features = [f"tpl:{i}" for i in range(8)]
    # scripts loaded (NOSCRIPT re-sends would count twice), which lists exist read once
    await store.observe(ObserveBatch("id-w", features=["tpl:w"]), 1.0)
    await store.apply(ApplyBatch("id-w", buckets=[BucketSpec("bw", 10.0, 1.0)],
                                 cluster="cl-w", link_features=["tpl:w"]), 1.0)
    sent = _spy(monkeypatch)
    await store.observe(ObserveBatch("id-a", features=features, identity_values={"t": "1"}),
                        2.0)
    buckets = [BucketSpec(f"b{i}", 10.0, 1.0) for i in range(3)]
    await store.apply(ApplyBatch("id-a", buckets=buckets, risk_add=0.5, cluster="cl-a",
                                 cluster_risk_add=0.5, link_features=features), 2.0)
    scripts = [s for s in sent if s[0] == "EVALSHA"]
    sent.clear()
    if getattr(store, "cluster_mode", False):
        # one call per slot: 1 identity + 8 features, 3 buckets + 2 risk + 8 links
        assert len(scripts) == 22
        assert all(keys == 1 for _, keys, _ in scripts)
    else:
        assert len(scripts) == 6  # identity, features; buckets, 2 risk updates, links
        assert [k for _, k, _ in scripts] == [1, 8, 3, 2, 2, 8]
    # the old layout sent 14 keys and 6 arguments per feature (160 for these 8 alone) and
    # about 250 for the whole request on either backend
    assert sum(k + a for _, k, a in scripts) <= (180 if len(scripts) == 22 else 80)
    res = await store.observe(ObserveBatch("id-b", features=features[:2]), 3.0)
    assert {f: (s.short, s.long, s.cluster) for f, s in res.features.items()} == {
        f: (2, 2, "cl-a") for f in features[:2]}


@pytest.mark.parametrize("store_backend", REDIS_BACKENDS, indirect=True)
async def test_concurrent_list_additions_share_one_round_trip(
    store_factory: StoreFactory,
) -> None:
    store = await store_factory()
    before = store.round_trips  # type: ignore[attr-defined]
    await asyncio.gather(store.list_add("watch:a", "m1", 60.0),
                         store.list_add("watch:a", "m2", 60.0),
                         store.list_add("watch:b", "m3"))
    assert store.round_trips - before == 1  # type: ignore[attr-defined]
    assert sorted(await store.list_members("watch:a")) == ["m1", "m2"]
    assert await store.list_members("watch:b") == ["m3"]
    await store.list_add("watch:a", "m1", 0.001)  # re-added: the new expiry wins
    await asyncio.sleep(0.01)
    assert await store.list_members("watch:a") == ["m2"]


async def test_a_failed_list_addition_reaches_every_caller(dedicated_redis: Any) -> None:
    store = storage_from_uri(dedicated_redis.url, prefix="la", socket_timeout=0.3)
    try:
        await store.list_add("watch:x", "m0")
        dedicated_redis.stop()
        got = await asyncio.gather(store.list_add("watch:x", "m1"),
                                   store.list_add("watch:x", "m2"), return_exceptions=True)
        assert [type(g) for g in got] == [StorageError, StorageError]
    finally:
        await store.close()


@pytest.mark.redis
async def test_an_error_reply_stays_in_place_and_the_connection_stays_in_step(
    redis_url: str,
) -> None:
    store: Any = storage_from_uri(redis_url, prefix="er", socket_timeout=2.0)
    cmd = redis_store._Cmd
    try:
        key = store._key("l", "x")
        with pytest.raises(StorageError, match="ResponseError"):
            await store._execute([cmd(None, (), ("ZADD", key, "1", "a")),
                                  cmd(None, (), ("ZADD", key, "not-a-number", "b")),
                                  cmd(None, (), ("ZADD", key, "2", "c"))])
        got = await store._execute([cmd(None, (), ("ZSCORE", key, "a")),
                                    cmd(None, (), ("ZSCORE", key, "c"))])
        assert [float(g) for g in got] == [1.0, 2.0]
    finally:
        await store.clear()
        await store.close()


@pytest.mark.redis
async def test_a_cancelled_call_leaves_no_reply_for_the_next(redis_url: str) -> None:
    store: Any = storage_from_uri(redis_url, prefix="cx", socket_timeout=5.0,
                                  max_connections=4)
    cmd = redis_store._Cmd
    try:
        key = store._key("l", "y")
        await store._execute([cmd(None, (), ("ZADD", key, "3", "a"))])  # a connection kept
        # the server holds the reply for a second: the caller gives up first
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(store._execute(
                [cmd(None, (), ("BLPOP", store._key("q", "empty"), "1"))]), 0.2)
        got = await store._execute([cmd(None, (), ("ZSCORE", key, "a"))])
        assert float(got[0]) == 3.0
    finally:
        await store.clear()
        await store.close()


@pytest.mark.redis_cluster
async def test_a_redirected_command_runs_once_on_the_right_node(redis_cluster_url: str) -> None:
    """A stale slot table (after a resharding or a failover): the node that is asked answers
    MOVED without running the command, which then goes to the owner, once."""
    from redis.crc import key_slot

    store: Any = storage_from_uri(redis_cluster_url, prefix="mv", socket_timeout=2.0)
    try:
        spec = BucketSpec("moved", 10.0, 0.0)
        assert (await store.buckets([spec], 1.0))[0].remaining == 9.0
        manager = store.client.nodes_manager
        slot = key_slot(store._key("b", "moved").encode())
        owner = manager.slots_cache[slot][0]
        wrong = next(n for n in manager.nodes_cache.values()
                     if n.name != owner.name and n.server_type == "primary")
        manager.slots_cache[slot] = [wrong]
        (res,) = await store.buckets([spec], 2.0)
        assert res.remaining == 8.0  # charged once
        assert manager.slots_cache[slot][0].name == owner.name  # the table was corrected
        assert (await store.buckets([spec], 3.0))[0].remaining == 7.0
    finally:
        await store.clear()
        await store.close()


async def test_list_checks_many_members_one_call_per_list(store: Store) -> None:
    """Continuity asks the answers list about every assistant turn of a history: one script
    call per list on Redis, the same answers as memory:// (absent, listed, expired)."""
    for i in range(0, 12, 2):
        await store.list_add("watch:answers", f"a{i}", 3600.0)
    await store.list_add("watch:answers", "gone", 0.001)
    await store.list_add("deny:identity", "id-l")
    await asyncio.sleep(0.01)
    checks = [("watch:answers", f"a{i}") for i in range(12)] + [
        ("watch:answers", "gone"), ("deny:identity", "id-l"), ("deny:identity", "id-m")]
    res = await store.observe(ObserveBatch("id-l", list_checks=checks), 1.0)
    assert res.listed == {("watch:answers", f"a{i}") for i in range(0, 12, 2)} | {
        ("deny:identity", "id-l")}
    if not isinstance(store, MemoryStore):
        before = store.round_trips  # type: ignore[attr-defined]
        await store.observe(ObserveBatch("id-l", list_checks=checks), 2.0)
        assert store.round_trips - before == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("store_backend", REDIS_BACKENDS, indirect=True)
async def test_a_cluster_found_through_a_feature_or_the_identity(
    store_factory: StoreFactory,
) -> None:
    """A feature or the identity pointing to a cluster the caller did not ask about: its
    state comes back all the same (standalone: read in the same script call, one round
    trip; Cluster: a second round trip)."""
    store = await store_factory()
    await store.apply(ApplyBatch("id-c", risk_add=1.0, cluster="cl-c", cluster_risk_add=2.0,
                                 link_features=["tpl:c"]), 10.0)
    for batch in (ObserveBatch("id-new", features=["tpl:c"]), ObserveBatch("id-c")):
        before = store.round_trips  # type: ignore[attr-defined]
        res = await store.observe(batch, 11.0)
        rts = store.round_trips - before  # type: ignore[attr-defined]
        assert set(res.clusters) == {"cl-c"}
        cs = res.clusters["cl-c"]
        assert cs.members == 1 and cs.first_seen == 10.0 and 1.9 < cs.risk <= 2.0
        assert rts == (2 if getattr(store, "cluster_mode", False) else 1)


@pytest.mark.parametrize("store_backend", REDIS_BACKENDS, indirect=True)
async def test_round_trips_pack_with_hiredis_and_read_from_its_reader(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py's async packer is pure Python even with hiredis installed, and its
    read_response costs a timeout per reply: a round trip uses neither, and reads the
    replies from hiredis's reader itself (a fallback stays for a redis-py without hiredis)."""
    from redis._parsers.hiredis import _AsyncHiredisParser
    from redis.asyncio.connection import AbstractConnection

    store = await store_factory()
    await store.observe(ObserveBatch("id-h", features=["tpl:h"]), 1.0)  # scripts loaded

    def refuse(*a: Any, **k: Any) -> Any:
        raise AssertionError("redis-py's packer or reader was used")

    for name in ("pack_command", "pack_commands", "read_response", "send_packed_command"):
        monkeypatch.setattr(AbstractConnection, name, refuse)
    monkeypatch.setattr(_AsyncHiredisParser, "read_response", refuse)
    res = await store.observe(ObserveBatch("id-h2", features=["tpl:h", "tpl:i"]), 2.0)
    assert res.features["tpl:h"].short == 2
    (b,) = await store.apply(ApplyBatch("id-h2", buckets=[BucketSpec("bh", 5.0, 1.0)]), 2.0)
    assert b.allowed and b.remaining == 4.0


@pytest.mark.parametrize("store_backend", REDIS_BACKENDS, indirect=True)
async def test_settlement_and_answer_records_share_one_round_trip(
    store_factory: StoreFactory,
) -> None:
    """What Guard.settle starts after a response (continuity's records and the forced
    token charge) goes in one round trip, and each caller gets its own result."""
    store = await store_factory()
    spec = BucketSpec("tk-s", 100.0, 0.0, cost=30.0, force=True)
    await store.buckets([BucketSpec("tk-s", 100.0, 0.0, cost=0.0)], 1.0)  # script loaded
    before = store.round_trips  # type: ignore[attr-defined]
    _, _, (settled,) = await asyncio.gather(store.list_add("watch:ans", "k1", 60.0),
                                            store.list_add("watch:ans", "k2", 60.0),
                                            store.buckets([spec], 2.0))
    assert store.round_trips - before == 1  # type: ignore[attr-defined]
    assert settled.remaining == 70.0
    assert sorted(await store.list_members("watch:ans")) == ["k1", "k2"]
    before = store.round_trips  # type: ignore[attr-defined]
    (alone,) = await store.buckets([spec], 3.0)  # no write pending: straight away
    assert alone.remaining == 40.0
    assert store.round_trips - before == 1  # type: ignore[attr-defined]


async def test_a_failed_shared_round_trip_fails_every_caller(dedicated_redis: Any) -> None:
    store = storage_from_uri(dedicated_redis.url, prefix="sf", socket_timeout=0.3)
    try:
        await store.buckets([BucketSpec("b", 10.0, 1.0)], 1.0)
        dedicated_redis.stop()
        got = await asyncio.gather(store.list_add("watch:x", "m1"),
                                   store.buckets([BucketSpec("b", 10.0, 1.0)], 2.0),
                                   return_exceptions=True)
        assert [type(g) for g in got] == [StorageError, StorageError]
    finally:
        await store.close()
