"""Unauthenticated floods cannot erase state (issue #11, finding 7).

A flood of junk keys, one request each, used to flush the memory store's LRUs: about 200k
junk requests erased identity risk and 100k erased fan-out history at the default bounds.
Now (a) newcomers sit on probation in a two-segment LRU and are evicted first, and (b)
requests carrying a never-seen key are charged to a per-IP and a per-prefix budget
(``policy/floods.py``). Bounds here are small so 10x the bounds is a few thousand requests.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from antidistill import AntiDistillMiddleware, Guard, RequestContext, Settings, Signal
from antidistill.storage import ApplyBatch, BucketSpec, MemoryStore, ObserveBatch, StateConfig
from apps import FakeClock, clear_env

BOUNDS = StateConfig(max_identities=200, max_features=500)
FLAGGED = "sk-flagged-identity-000001"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


async def test_memory_store_keeps_flagged_identity_and_shared_feature_through_a_flood() -> None:
    store = MemoryStore(BOUNDS, warn_workers=False)
    now = 1000.0
    # an identity with risk, a drained bucket, and a template shared by 40 identities
    drain = BucketSpec("rq:flagged", capacity=10.0, refill_per_second=0.0, cost=3.0)
    for _ in range(2):
        await store.observe(ObserveBatch("flagged", features=["tpl:shared"]), now)
        await store.apply(ApplyBatch("flagged", buckets=[drain], risk_add=2.0), now)
    for i in range(40):
        await store.observe(ObserveBatch(f"user-{i}", features=["tpl:shared"]), now)
    # the flood: 10x both bounds in one-request identities, each with fresh features
    for i in range(10 * BOUNDS.max_features):
        junk = f"junk-{i}"
        await store.observe(ObserveBatch(junk, features=[f"tpl:j{i}", f"seg:j{i}"]), now + 1)
        await store.apply(ApplyBatch(junk, buckets=[BucketSpec(f"rq:{junk}", 10.0, 0.0)]),
                          now + 1)
    assert len(store._identities) <= BOUNDS.max_identities
    assert len(store._features) <= BOUNDS.max_features
    state = await store.identity_state("flagged", now + 2)
    assert state is not None and state.risk > 3.9 and state.requests == 2
    (bucket,) = await store.buckets([BucketSpec("rq:flagged", 10.0, 0.0, peek=True)], now + 2)
    assert bucket.remaining == pytest.approx(4.0)  # still drained, not refilled by eviction
    obs = await store.observe(ObserveBatch("late", features=["tpl:shared"]), now + 2)
    assert obs.features["tpl:shared"].short == 42  # fan-out history intact
    top = await store.top_identities(5, now + 2)
    assert [e.id for e in top] == ["flagged"]


async def test_one_request_entries_still_rotate_through_probation() -> None:
    """The bound holds and newcomers are not starved: the latest junk is kept."""
    store = MemoryStore(StateConfig(max_identities=50, max_features=50), warn_workers=False)
    for i in range(500):
        await store.apply(ApplyBatch(f"junk-{i}"), 1.0)
    assert len(store._identities) == 50
    assert await store.identity_state("junk-499", 1.0) is not None
    assert await store.identity_state("junk-0", 1.0) is None


# -- through the guard -----------------------------------------------------------------------
def _scope(key: str, ip: str) -> dict[str, Any]:
    path = "/v1/chat/completions"
    headers = [(b"content-type", b"application/json"),
               (b"authorization", f"Bearer {key}".encode())]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "server": ("127.0.0.1", 8000), "client": (ip, 4000), "scheme": "http",
            "method": "POST", "root_path": "", "path": path, "raw_path": path.encode(),
            "query_string": b"", "headers": headers, "state": {}}


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"choices": []}'})


async def call(mw: Any, key: str, ip: str, text: str) -> int:
    body = json.dumps({"model": "m", "max_tokens": 8,
                       "messages": [{"role": "user", "content": text}]}).encode()
    sent: list[bool] = []
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        if sent:
            return {"type": "http.disconnect"}
        sent.append(True)
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await mw(_scope(key, ip), receive, send)
    return status[0]


def flood_guard(**extra: Any) -> Guard:
    settings = Settings(secret="flood-test-secret", events=False, memory_max_identities=200,
                        memory_max_features=500, request_capacity=1e6, token_capacity=1e9,
                        mode="monitor", monitor_enforce_budgets=True, **extra)
    guard = Guard(settings, clock=FakeClock(), load_env_hooks=False)

    @guard.scorer
    def suspicious(ctx: RequestContext) -> Signal | None:
        if ctx.header("authorization") == f"Bearer {FLAGGED}":
            return Signal("custom", 0.95, "test: this key is a distiller")
        return None

    return guard


async def test_flagged_identity_stays_flagged_through_a_junk_flood() -> None:
    guard = flood_guard(new_key_ip_capacity=1e9, new_key_prefix_capacity=1e9)
    mw = AntiDistillMiddleware(_app, guard=guard)
    decisions: list[Any] = []
    guard.on_decision(lambda ctx, d: decisions.append(d))
    for i in range(3):
        await call(mw, FLAGGED, "198.51.100.7", f"extract the reasoning for item {i}")
    flagged_id = decisions[-1].identity
    risk_before = (await guard.store.identity_state(flagged_id, guard.clock())).risk
    assert risk_before > 1.0
    for i in range(10 * 200):  # 10x max_identities (and far more than max_features)
        await call(mw, f"sk-junk-{i:06d}", f"203.0.{i >> 8 & 255}.{i & 255}",
                   f"junk request number {i} about topic {i * 7919 % 1000}")
    state = await guard.store.identity_state(flagged_id, guard.clock())
    assert state is not None and state.risk > 0.9 * risk_before
    decisions.clear()
    await call(mw, FLAGGED, "198.51.100.7", "a harmless question now")
    assert decisions[-1].identity_risk > 0.3  # the history is still read


async def test_never_seen_keys_are_capped_per_ip_and_per_prefix() -> None:
    guard = flood_guard(new_key_ip_capacity=20, new_key_ip_refill_rate=20,
                        new_key_prefix_capacity=50, new_key_prefix_refill_rate=50)
    clock = guard.clock
    assert isinstance(clock, FakeClock)
    mw = AntiDistillMiddleware(_app, guard=guard)
    decisions: list[Any] = []
    guard.on_decision(lambda ctx, d: decisions.append(d))
    assert await call(mw, "sk-regular-user", "192.0.2.10", "hello there") == 200
    statuses = [await call(mw, f"sk-junk-{i}", "192.0.2.10", f"junk {i}") for i in range(30)]
    # the regular user's first request was a new key too: 19 of the 20 are left
    assert statuses.count(200) == 19 and statuses.count(429) == 11
    refused = decisions[-1]
    assert any(b.name == "new_keys" and not b.allowed for b in refused.budgets)
    # a key that made a request before is not charged: it still passes from that address
    assert await call(mw, "sk-regular-user", "192.0.2.10", "and again") == 200
    # other addresses of the same /24 share the prefix budget (50): 30 more, then refused
    more = [await call(mw, f"sk-junk-b{i}", f"192.0.2.{20 + i % 5}", f"x {i}")
            for i in range(40)]
    assert more.count(200) == 30
    # another prefix is unaffected; and the buckets refill with time
    assert await call(mw, "sk-elsewhere", "198.51.100.3", "hi") == 200
    clock.advance(60)
    assert await call(mw, "sk-junk-later", "192.0.2.10", "later") == 200


async def test_new_key_budget_is_off_at_zero_and_skips_ip_identities() -> None:
    from antidistill.identity import Identity
    from antidistill.policy.floods import NewKeyBudgets, network_prefix, new_key_specs

    def pseudo(kind: str, value: str) -> str:
        return f"{kind}-{len(value)}"

    key = Identity("k1", "key", "k1", None, "ip1", None, "2001:db8:1:2::7")
    assert [s.key for s in new_key_specs(key, False, NewKeyBudgets(), pseudo)] == [
        "nk:ip:ip1", "nk:net:net-15"]
    assert network_prefix("2001:db8:1:2::7") == "2001:db8:1::/48"
    assert network_prefix("203.0.113.9") == "203.0.113.0/24"
    assert network_prefix("not-an-ip") is None
    assert new_key_specs(key, True, NewKeyBudgets(), pseudo) == []
    off = NewKeyBudgets(ip_capacity=0, prefix_capacity=0)
    assert new_key_specs(key, False, off, pseudo) == []
    by_ip = Identity("ip1", "ip", None, None, "ip1", None, "203.0.113.9")
    assert new_key_specs(by_ip, False, NewKeyBudgets(), pseudo) == []


async def test_memory_plateaus_sightings_are_bounded() -> None:
    """Finding 15: every count was bounded, yet features kept every identity that sent them
    (bounded only by max_features x feature_set_cap), so RSS grew with distinct identities.
    A forgotten identity now leaves its features on probation, and the (feature, identity)
    pairs of the protected features together stay under ``max_sightings``."""
    cfg = StateConfig(max_identities=100, max_features=400, max_sightings=1500)
    store = MemoryStore(cfg, warn_workers=False)
    shared = ["s:one", "s:two", "c:client"]
    for i in range(3000):
        ident = f"id-{i}"
        await store.observe(ObserveBatch(ident, features=[f"t:{i}", *shared,
                                                          f"n:{i // 50}"]), 1000.0)
        await store.apply(ApplyBatch(ident), 1000.0)
        total = sum(len(f.seen) for seg in (store._features.probation, store._features.protected)
                    for f in seg.values())
        kept = sum(len(f.seen) for f in store._features.protected.values())
        assert total == store._sightings
        assert kept == store._features.protected_weight <= cfg.max_sightings
        # on probation only identities still held, each at most once per feature it sent
        assert total - kept <= 5 * len(store._identities)
    # one-off features of forgotten identities hold nothing; a fresh one still counts
    probation = store._features.probation.values()
    assert sum(len(f.seen) for f in probation) <= cfg.max_identities
    obs = await store.observe(ObserveBatch("late", features=["s:one", "n:59"]), 1000.0)
    assert obs.features["n:59"].short == 51


async def test_default_sightings_bound_is_reached_and_keeps_live_fan_out() -> None:
    """Finding 15 at the default bound (2 x max_identities): shared features keep their
    history after their identities leave, so at 16 x the bound was never reached and RSS
    grew with every distinct identity. The history of protected features is now bounded
    and reached early, while one-off features do not count against it; the fan-out of a
    feature still in use stays exact."""
    cfg = StateConfig(max_identities=100, max_features=1000)
    store = MemoryStore(cfg, warn_workers=False)
    peak = 0
    for i in range(5000):
        ident = f"id-{i}"
        await store.observe(ObserveBatch(ident, features=[f"t:{i}", f"n:{i // 40}"]), 1000.0)
        await store.apply(ApplyBatch(ident), 1000.0)
        peak = max(peak, store._features.protected_weight)
    assert peak == 2 * cfg.max_identities  # reached, never passed
    assert store._sightings <= 2 * cfg.max_identities + cfg.max_identities
    obs = await store.observe(ObserveBatch("late", features=["n:124"]), 1000.0)
    assert obs.features["n:124"].short == 41  # the 40 identities of that network and "late"


def test_full_lru_settles_its_table_size_at_the_bound() -> None:
    """Finding 15, the late step: a dict resizes to ~3 x its live entries and never reuses
    deleted slots before that, so a full LRU's table grew once more under churn, long after
    the bound was reached (+85 MiB at 70% of a 1M-identity run, every count flat). The
    resize is now brought forward to just after the bound is reached."""
    import sys

    from antidistill.storage.memory import _SETTLE_KEY, _SegmentedLRU

    lru: _SegmentedLRU[int] = _SegmentedLRU(12_000)
    for i in range(13_000):  # full, then a thousand newcomers
        lru.put(f"k{i}", i)
    size = sys.getsizeof(lru.probation)  # before: 1.06 MB here, 1.87 MB after the churn
    for i in range(72_000):
        lru.put(f"c{i}", i)
    assert sys.getsizeof(lru.probation) == size
    assert len(lru) == 12_000 and lru.get("c71999") == 71_999 and _SETTLE_KEY not in lru
    assert lru.get("c60000") == 60_000 and lru.get("c59999") is None  # order kept


async def test_new_keys_behind_a_private_hop_are_not_capped() -> None:
    """Behind a load balancer that is not a trusted proxy every caller shares its private
    address: new customers' first requests must not share one new-key budget."""
    guard = flood_guard(new_key_ip_capacity=2, new_key_prefix_capacity=2)
    mw = AntiDistillMiddleware(_app, guard=guard)
    for ip in ("10.1.2.3", "127.0.0.1", "100.64.0.9", "fd00::5"):
        statuses = [await call(mw, f"sk-new-{ip}-{i}", ip, f"hello {i}") for i in range(10)]
        assert statuses == [200] * 10, ip
