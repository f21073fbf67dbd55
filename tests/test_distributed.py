"""Distributed behaviour end to end: shared budgets, cross-instance detection, storage faults.

* Two uvicorn *processes* on one Redis (and one Redis Cluster) spend one API key's request
  budget from eight concurrent clients: the accepted count must equal the budget (no
  overshoot, no under-counting) with no 5xx.
* The demo's simulated day split at random over two Guards sharing Redis detects the hydra
  like one Guard does.
* redis-server stopped and restarted under load, through the middleware: fail-open keeps
  answering (and goes back to Redis within 2 s), fail-closed answers 503 JSON with
  ``Retry-After``; a Cluster master killed and restarted on its port does not fail requests.

Every wait is bounded. The servers come from ``conftest.py`` (real redis-server processes).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from antidistill import AntiDistillMiddleware, Guard, Settings
from antidistill.demo.app import create_app
from antidistill.storage import ResilientStore, storage_from_uri
from apps import clear_env
from conftest import RedisClusterHandle, RedisServer
from distributed_app import SECRET, demo_run, hammer, instance_env, uvicorn_instances

BUDGET = 200
REFILL = 0.0001  # tokens per second: a few milliseconds' worth over the whole test
API_KEY = "sk-distributed-exactness-0001"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)  # the developer's ANTIDISTILL_* must not change these tests


# -- 1. exactness of a shared budget across processes -------------------------------------
@pytest.mark.uvicorn
@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis_cluster", marks=pytest.mark.redis_cluster),
    ],
)
async def test_two_uvicorn_processes_share_one_budget_exactly(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue("redis_url" if backend == "redis" else "redis_cluster_url")
    prefix = "ex" + uuid.uuid4().hex[:10]
    env = instance_env(url, prefix=prefix, capacity=BUDGET, refill=REFILL)
    try:
        with uvicorn_instances(2, env, tmp_path / "logs") as instances:
            res = await hammer([i.url for i in instances], API_KEY, 3 * BUDGET, clients=8)
            logs = "".join(i.log.read_text(errors="replace")[-1500:] for i in instances)
    finally:
        store = storage_from_uri(url, prefix=prefix, socket_timeout=2.0)
        await store.clear()
        await store.close()
    detail = (res.statuses, res.per_instance, res.errors, logs)
    assert not res.errors, detail
    assert sum(res.statuses.values()) == 3 * BUDGET, detail
    assert res.server_errors == 0, detail
    assert set(res.statuses) <= {200, 429}, detail
    # both processes served part of the budget (the load really was spread)
    assert len(res.per_instance) == 2 and min(res.per_instance.values()) >= BUDGET // 10, detail
    refill = REFILL * (res.elapsed + 1.0)
    assert res.accepted <= BUDGET * 1.01 + refill, detail  # no overshoot
    assert res.accepted >= BUDGET * 0.99, detail  # no under-counting either


# -- 2. detection across instances -------------------------------------------------------
@pytest.mark.redis
async def test_hydra_split_over_two_instances_is_caught_like_one(redis_url: str) -> None:
    single = await demo_run("one instance", [redis_url], scale=0.1, hydra=150)
    split = await demo_run("two instances", [redis_url, redis_url], scale=0.1, hydra=150)
    detail = (single, split)
    for run in (single, split):
        assert run.store_errors == 0 and run.fallbacks == 0, detail  # Redis served it all
    assert len(split.split) == 2 and min(split.split.values()) > 0.4 * split.requests, detail
    assert single.hydra_total >= 140 and single.by_third_total >= 100, detail
    # the comparison means something (0.88 at this size since max_tokens at an unstated
    # cap is no harvesting evidence; it was above 0.9 with the old default cap of 4096)
    assert single.hydra_rate >= 0.85, detail
    assert abs(split.hydra_rate - single.hydra_rate) <= 0.03, detail
    assert abs(split.third_rate - single.third_rate) <= 0.05, detail
    assert split.benign_total >= 150, detail
    assert split.benign_flagged <= max(1, 0.01 * split.benign_total), detail
    assert split.benign_flagged <= single.benign_flagged + 1, detail


@pytest.mark.redis
async def test_cross_identity_signals_need_the_shared_store(redis_url: str) -> None:
    # Two instances on one Redis count a template's identities together: 24 identities send
    # one template, alternating between the instances, and the last request sees all 24 (and
    # is flagged by fan-out). Two instances with a memory:// store each see 12 apiece.
    from antidistill.demo.simulate import HYDRA_TEMPLATES, Clock, call_asgi
    from distributed_app import demo_guard_on

    async def run(uris: list[str]) -> tuple[int, Any]:
        clock = Clock(1_780_000_000.0)
        last: dict[str, Any] = {}
        prefix = "xi" + uuid.uuid4().hex[:8]
        guards = [demo_guard_on(u, clock, last, prefix=prefix, detectors=["fanout"])
                  for u in uris]
        apps = [AntiDistillMiddleware(create_app(), guard=g) for g in guards]
        headers = [("content-type", "application/json"), ("user-agent", "python-httpx/0.27")]
        try:
            # history first: each instance's epoch, then two hours of nothing
            for app in apps:
                await call_asgi(app, "POST", "/v1/chat/completions",
                                [*headers, ("authorization", "Bearer sk-history")],
                                b'{"messages":[{"role":"user","content":"hello"}]}',
                                ("198.51.100.1", 1))
            clock.now += 2 * 3600 + 60
            for i in range(24):
                clock.now += 30
                prompt = HYDRA_TEMPLATES[2].format(q=f"task {i}: x+{i}")
                body = json.dumps({"max_tokens": 512,
                                   "messages": [{"role": "user", "content": prompt}]}).encode()
                status, _ = await call_asgi(
                    apps[i % len(apps)], "POST", "/v1/chat/completions",
                    [*headers, ("authorization", f"Bearer sk-sybil-{i}")], body,
                    (f"203.0.113.{i + 2}", 1))
                assert status in (200, 429)  # served, or throttled once the cluster is known
            fan = next((r for r in last["d"].reasons if r.name == "fanout"), None)
            return (int(fan.detail.split(" sent by ")[1].split()[0]) if fan else 0), last["d"]
        finally:
            for g in guards:
                if not str(g.settings.storage_uri).startswith("memory"):
                    await g.store.clear()
                await g.aclose()

    shared, shared_decision = await run([redis_url, redis_url])
    separate, separate_decision = await run(["memory://", "memory://"])
    assert shared == 24, shared_decision
    assert separate == 12, separate_decision
    assert shared_decision.action.severity >= separate_decision.action.severity


# -- 3. faults through the middleware ------------------------------------------------------
PROMPTS = (
    "How long should I boil an egg for a soft yolk?",
    "Suggest a name for a bakery in a small coastal town.",
    "What is the difference between a lake and a pond?",
    "Write a two-line poem about autumn leaves.",
    "Explain what a mortgage offset account is.",
    "Which houseplants tolerate low light?",
)


@dataclass
class Load:
    """Steady concurrent traffic through an in-process app; records every outcome."""

    app: Any
    workers: int = 4
    pause: float = 0.003
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    bad: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def worker(self, w: int, check: Callable[[httpx.Response], bool]) -> None:
        transport = httpx.ASGITransport(app=self.app, client=(f"198.51.100.{10 + w}", 5000))
        key = f"sk-fault-worker-{w}-{uuid.uuid4().hex[:6]}"
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            i = 0
            while not self.done.is_set():
                body = {"model": "demo-model", "max_tokens": 16, "messages": [
                    {"role": "user", "content": f"{PROMPTS[(w + i) % len(PROMPTS)]} ({i})"}]}
                r = await http.post("/v1/chat/completions", json=body,
                                    headers={"authorization": f"Bearer {key}"})
                self.sent += 1
                i += 1
                self.statuses[r.status_code] += 1
                if not check(r):
                    self.bad.append((r.status_code, r.text[:200], dict(r.headers)))
                await asyncio.sleep(self.pause)

    async def run(self, scenario: Callable[[], Awaitable[None]],
                  check: Callable[[httpx.Response], bool], timeout: float, guard: Guard) -> None:
        """Run ``scenario`` (bounded) while ``workers`` workers send traffic; then stop them
        and close the guard (a private server, discarded after the test)."""
        tasks = [asyncio.create_task(self.worker(w, check)) for w in range(self.workers)]
        try:
            await asyncio.wait_for(scenario(), timeout)
        finally:
            self.done.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 30)
            await guard.aclose()

    async def until(self, cond: Callable[[], bool], timeout: float, what: str) -> float:
        """Wait (bounded) for ``cond``; return the seconds it took."""
        start = time.monotonic()
        while not cond():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{what}: not within {timeout}s (sent={self.sent}, "
                                     f"statuses={dict(self.statuses)})")
            await asyncio.sleep(0.005)
        return time.monotonic() - start


def fault_guard(url: str, fail_mode: str, decided: Counter[str]) -> Guard:
    settings = Settings(secret=SECRET, storage_uri=url, storage_prefix="f" + uuid.uuid4().hex[:8],
                        storage_timeout=0.25, fail_mode=fail_mode, events=False, max_delay=0.0)
    guard = Guard(settings, load_env_hooks=False)

    @guard.on_decision
    def count(ctx: Any, decision: Any) -> None:
        decided[decision.action.value] += 1

    return guard


def served_or_budget(r: httpx.Response) -> bool:
    return r.status_code == 200 or (r.status_code == 429 and "retry-after" in r.headers)


@pytest.mark.redis
async def test_fail_open_under_load_survives_redis_restart(dedicated_redis: RedisServer) -> None:
    decided: Counter[str] = Counter()
    guard = fault_guard(dedicated_redis.url, "open", decided)
    store = guard.store
    assert isinstance(store, ResilientStore)
    primary: Any = store.primary
    load = Load(AntiDistillMiddleware(create_app(), guard=guard))

    async def scenario() -> None:
        await load.until(lambda: load.sent >= 100, 30, "warm-up")
        assert not store.degraded and store.errors == 0
        assert primary.round_trips >= 200  # the hot path really is on Redis
        await asyncio.to_thread(dedicated_redis.stop)
        await load.until(lambda: store.degraded, 10, "breaker trips")
        down_at = load.sent
        await load.until(lambda: load.sent >= max(250, down_at + 100), 30, "load while down")
        assert store.degraded and store.fallbacks >= 100  # decided from the fallback
        await asyncio.to_thread(dedicated_redis.start)
        recovered = await load.until(lambda: not store.degraded, 2.0, "back on Redis")
        assert recovered <= 2.0
        rt, n = primary.round_trips, load.sent
        await load.until(lambda: load.sent >= max(400, n + 60), 30, "load after restart")
        assert primary.round_trips >= rt + 2 * (load.sent - n) - 8  # the store is used again
        assert not store.degraded and store.trips == 1

    await load.run(scenario, served_or_budget, 90, guard)
    assert not load.bad, load.bad[:5]  # zero failed requests
    assert load.sent >= 400
    assert sum(decided.values()) == load.sent  # every request was decided
    assert guard.counters["errors"] == 0


@pytest.mark.redis
async def test_fail_closed_answers_503_json_while_redis_is_down(
    dedicated_redis: RedisServer,
) -> None:
    decided: Counter[str] = Counter()
    guard = fault_guard(dedicated_redis.url, "closed", decided)
    store = guard.store
    assert isinstance(store, ResilientStore)
    load = Load(AntiDistillMiddleware(create_app(), guard=guard), workers=3)
    down = asyncio.Event()
    refused: list[httpx.Response] = []

    def check(r: httpx.Response) -> bool:
        if r.status_code == 503:
            refused.append(r)
            if not down.is_set():
                return False  # a 503 while Redis is up is a failure
            err = r.json().get("error", {})
            return bool(r.headers.get("content-type") == "application/json"
                        and r.headers.get("retry-after", "").isdigit()
                        and err.get("code") == "service_unavailable")
        return served_or_budget(r)

    async def scenario() -> None:
        await load.until(lambda: load.sent >= 60, 30, "warm-up")
        assert load.statuses[200] == load.sent
        down.set()
        await asyncio.to_thread(dedicated_redis.stop)
        await load.until(lambda: len(refused) >= 30, 10, "503s while down")
        assert store.degraded and store.fallbacks == 0  # closed: nothing faked
        await asyncio.to_thread(dedicated_redis.start)
        await load.until(lambda: not store.degraded, 2.0, "back on Redis")
        ok = load.statuses[200]
        await load.until(lambda: load.statuses[200] >= ok + 30, 10, "served again")

    await load.run(scenario, check, 60, guard)
    assert not load.bad, load.bad[:5]
    assert len(refused) >= 30
    assert set(load.statuses) <= {200, 429, 503}


@pytest.mark.redis_cluster
async def test_cluster_master_restart_under_load_fail_open(
    dedicated_redis_cluster: RedisClusterHandle,
) -> None:
    handle = dedicated_redis_cluster
    decided: Counter[str] = Counter()
    guard = fault_guard(handle.url, "open", decided)
    store = guard.store
    assert isinstance(store, ResilientStore)
    primary: Any = store.primary
    load = Load(AntiDistillMiddleware(create_app(), guard=guard))
    victim = handle.nodes[1]

    async def scenario() -> None:
        await load.until(lambda: load.sent >= 80, 30, "warm-up")
        assert not store.degraded and store.errors == 0
        await asyncio.to_thread(victim.kill)  # a crash, not a clean shutdown
        await load.until(lambda: store.errors > 0, 10, "failure noticed")
        n = load.sent
        await load.until(lambda: load.sent >= n + 80, 30, "load while a master is down")
        await asyncio.to_thread(victim.start)  # same port and dir: same nodes.conf
        await asyncio.to_thread(handle.wait_ok, 15.0)
        # recovered: not degraded, and a stretch of requests on the primary with no error
        deadline = time.monotonic() + 15.0
        while True:
            errors, rt, target = store.errors, primary.round_trips, load.sent + 40
            await load.until(lambda: load.sent >= target, 15, "load after restart")  # noqa: B023
            if not store.degraded and store.errors == errors and primary.round_trips > rt:
                break
            assert time.monotonic() < deadline, ("cluster did not recover", store.errors,
                                                 store.degraded)

    await load.run(scenario, served_or_budget, 90, guard)
    assert not load.bad, load.bad[:5]
    assert sum(decided.values()) == load.sent
    assert guard.counters["errors"] == 0
