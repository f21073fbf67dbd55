"""Redis outages with ``ANTIDISTILL_RATE_LIMITS`` set, through the middleware, under load.

Issue #11 findings 9 and 10: the window limits ran outside the circuit breaker (nothing
enforced, a timeout and an ERROR line per request while Redis was stopped), and after a
restart the breaker closed and then re-tripped on stale pooled connections. Here a real
redis-server is frozen (SIGSTOP) and killed and restarted (SIGKILL) while workers send
traffic: no request may fail in fail-open mode, the window limits must hold from the
in-memory fallback, recovery must take under a second with no second trip, and each outage
logs one warning and one recovery line. ``benchmarks/faults.py`` runs the same with a 10 s
stop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import uuid
from typing import Any

import httpx
import pytest

from antidistill import AntiDistillMiddleware, Guard, Settings
from antidistill.demo.app import create_app
from antidistill.storage import BucketSpec, ResilientStore, storage_from_uri
from antidistill.storage.windows import ResilientWindows
from apps import clear_env
from conftest import RedisServer
from test_distributed import Load, served_or_budget

SECRET = "outage-test-secret-not-for-production"
WINDOW = 8  # requests per minute per identity (ANTIDISTILL_RATE_LIMITS)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


def outage_guard(url: str, fail_mode: str) -> Guard:
    settings = Settings(secret=SECRET, storage_uri=url, storage_prefix="o" + uuid.uuid4().hex[:8],
                        storage_timeout=0.25, fail_mode=fail_mode, events=False, max_delay=0.0,
                        rate_limits=f"{WINDOW}/minute", request_capacity=10_000)
    return Guard(settings, load_env_hooks=False)


async def window_served(app: Any, key: str, n: int) -> int:
    """How many of ``n`` requests from one fresh key are served (200)."""
    transport = httpx.ASGITransport(app=app, client=("192.0.2.77", 4000))
    served = 0
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        for i in range(n):
            r = await http.post("/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                                json={"model": "m", "max_tokens": 8, "messages": [
                                    {"role": "user", "content": f"window check {i}"}]})
            assert r.status_code in (200, 429), r.text[:200]
            served += r.status_code == 200
    return served


def storage_lines(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    """(warning-or-worse lines, recovery lines) the antidistill logger wrote."""
    records = [r for r in caplog.records if r.name == "antidistill"]
    bad = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    return bad, [r.getMessage() for r in records if "recovered" in r.getMessage()]


async def outage(load: Load, store: ResilientStore, down: Any, up: Any, app: Any) -> float:
    """Take Redis down, check the window limits from the fallback, bring it back; the
    seconds from "Redis answers again" to "back on Redis"."""
    trips = store.trips
    await asyncio.to_thread(down)
    await load.until(lambda: store.degraded, 10, "breaker trips")
    assert store.trips == trips + 1
    served = await window_served(app, f"sk-outage-{uuid.uuid4().hex[:8]}", WINDOW + 6)
    assert served == WINDOW  # enforced from the in-memory fallback
    n = load.sent
    await load.until(lambda: load.sent >= n + 40, 30, "load while down")
    await asyncio.to_thread(up)
    return await load.until(lambda: not store.degraded, 5.0, "back on Redis")


@pytest.mark.redis
async def test_window_limits_survive_stop_and_kill_in_fail_open(
    dedicated_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="antidistill")
    guard = outage_guard(dedicated_redis.url, "open")
    store, windows = guard.store, guard.windows
    assert isinstance(store, ResilientStore) and isinstance(windows, ResilientWindows)
    assert windows.breaker is store.breaker  # one breaker, one policy, one log line
    app = AntiDistillMiddleware(create_app(), guard=guard)
    load = Load(app)
    recoveries: list[float] = []

    def freeze() -> None:
        assert dedicated_redis.proc is not None
        dedicated_redis.proc.send_signal(signal.SIGSTOP)
        time.sleep(2.5)

    def thaw() -> None:
        assert dedicated_redis.proc is not None
        dedicated_redis.proc.send_signal(signal.SIGCONT)

    async def scenario() -> None:
        await load.until(lambda: load.sent >= 80, 30, "warm-up")
        assert not store.degraded and store.errors == 0
        assert await window_served(app, "sk-before-outage", WINDOW + 4) == WINDOW
        recoveries.append(await outage(load, store, freeze, thaw, app))
        recoveries.append(await outage(load, store, dedicated_redis.kill,
                                       dedicated_redis.start, app))
        errors, trips, n = store.errors, store.trips, load.sent
        await load.until(lambda: load.sent >= n + 150, 30, "load after recovery")
        assert store.trips == trips and not store.degraded  # no second trip
        assert store.errors - errors <= 2, store.errors - errors  # no stale-socket storm
        assert await window_served(app, f"sk-after-{uuid.uuid4().hex[:6]}", WINDOW + 4) == WINDOW

    await load.run(scenario, served_or_budget, 120, guard)
    assert not load.bad, load.bad[:5]  # zero failed requests
    assert all(r < 1.0 for r in recoveries), recoveries
    assert store.trips == 2
    bad, recovered = storage_lines(caplog)
    assert len(bad) == 2, bad  # one warning per outage, nothing per request
    assert len(recovered) == 2, recovered
    assert guard.counters["errors"] == 0


@pytest.mark.redis
async def test_fail_closed_gives_no_503_after_recovery(dedicated_redis: RedisServer) -> None:
    guard = outage_guard(dedicated_redis.url, "closed")
    store = guard.store
    assert isinstance(store, ResilientStore)
    app = AntiDistillMiddleware(create_app(), guard=guard)
    load = Load(app, workers=4)
    phase = {"down": False, "after": 0}

    def check(r: httpx.Response) -> bool:
        if r.status_code == 503:
            if not phase["down"]:
                phase["after"] += 1  # a 503 while Redis is up
            return bool(phase["down"])
        return served_or_budget(r)

    async def scenario() -> None:
        await load.until(lambda: load.sent >= 60, 30, "warm-up")
        phase["down"] = True
        await asyncio.to_thread(dedicated_redis.kill)
        await load.until(lambda: store.degraded, 10, "breaker trips")
        await asyncio.to_thread(dedicated_redis.start)
        took = await load.until(lambda: not store.degraded, 5.0, "back on Redis")
        assert took < 1.0
        phase["down"] = False
        n = load.sent
        await load.until(lambda: load.sent >= n + 150, 30, "load after recovery")

    await load.run(scenario, check, 90, guard)
    assert phase["after"] == 0, phase  # no extra 503s once recovered
    assert not load.bad, load.bad[:5]
    assert store.trips == 1


@pytest.mark.parametrize("backend", [pytest.param("redis", marks=pytest.mark.redis),
                                     pytest.param("cluster", marks=pytest.mark.redis_cluster)])
async def test_recovery_after_restart_does_not_retrip_on_stale_pooled_connections(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """Finding 10 at the store level: warm pooled connections, the server killed and
    restarted; the first probe must recover and a burst of concurrent calls afterwards must
    meet no dead socket (a Cluster node hands out pooled sockets without checking them)."""
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("dedicated_redis")
        url = server.url
    else:
        handle = request.getfixturevalue("dedicated_redis_cluster")
        server, url = handle.nodes[0], handle.url
    primary: Any = storage_from_uri(url, prefix="st", socket_timeout=0.5)
    store = ResilientStore(primary, fail_mode="open", open_after=3, probe_interval=1e9)
    specs = [[BucketSpec(f"rq:k{i}", 10.0, 1.0, peek=True)] for i in range(24)]

    async def burst() -> None:  # concurrent calls over every node's slots
        await asyncio.gather(*(store.buckets(s, 1.0) for s in specs))

    try:
        for _ in range(3):
            await burst()
        await asyncio.to_thread(server.kill)
        while not store.degraded:
            await burst()
        await asyncio.to_thread(server.start)
        if backend == "cluster":
            await asyncio.to_thread(handle.wait_ok, 15.0)
        assert await store.breaker.probe() and not store.degraded  # the first probe recovers
        errors = store.errors
        for _ in range(3):
            await burst()
        assert store.errors == errors and store.trips == 1
    finally:
        await store.close()
