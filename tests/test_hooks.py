"""Host hooks through the middleware: sync and async, failures contained, loading by name."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from antidistill import (
    Action,
    AntiDistillMiddleware,
    Budgets,
    ConfigurationError,
    Decision,
    Guard,
    Identity,
    Reason,
    RequestContext,
    Settings,
    Signal,
)
from apps import FakeClock, asgi_client, clear_env, make_guard, make_starlette_app

REPO = Path(__file__).resolve().parent.parent
KEY = "sk-test-hooks-5e6f7a8b9c"
AUTH = {"authorization": f"Bearer {KEY}"}
CHAT = {"model": "mock-1", "messages": [{"role": "user", "content": "Tell me a joke."}]}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


async def post(guard: Guard, n: int = 1, path: str = "/decision",
               headers: dict[str, str] | None = None, body: Any = None) -> list[Any]:
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    async with asgi_client(app) as client:
        return [await client.post(path, json=body or CHAT, headers=headers or AUTH)
                for _ in range(n)]


def reasons(response: Any) -> set[str]:
    return {r["name"] for r in response.json()["decision"]["reasons"]}


async def test_sync_and_async_scorers_add_signals() -> None:
    guard = make_guard()
    seen: list[RequestContext] = []

    @guard.scorer
    def sync_scorer(ctx: RequestContext) -> Signal:
        seen.append(ctx)
        return Signal("house_sync", 0.2, "sync")

    @guard.scorer
    async def async_scorer(ctx: RequestContext) -> list[Signal]:
        await asyncio.sleep(0)
        return [Signal("house_async", 0.3), Signal("house_async2", 0.1)]

    @guard.scorer
    def silent(ctx: RequestContext) -> None:
        return None

    [r] = await post(guard)
    assert r.status_code == 200
    assert reasons(r) >= {"house_sync", "house_async", "house_async2"}
    assert r.json()["decision"]["score"] > 0.3
    # Scorers see the parsed request.
    assert seen[0].parsed is not None and "joke" in seen[0].parsed.user
    assert guard.hooks.error_count == 0


@pytest.mark.parametrize("is_async", [False, True])
async def test_identity_resolver_maps_requests_to_an_account(is_async: bool) -> None:
    guard = make_guard(request_capacity=2)
    orgs = {KEY: "org-acme", "sk-second-key-of-acme": "org-acme"}

    def lookup(ctx: RequestContext) -> str | None:
        auth = ctx.header("authorization") or ""
        return orgs.get(auth.removeprefix("Bearer "))

    async def alookup(ctx: RequestContext) -> str | None:
        await asyncio.sleep(0)
        return lookup(ctx)

    guard.identity_resolver(alookup if is_async else lookup)
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    async with asgi_client(app) as client:
        a = await client.get("/decision", headers=AUTH)
        b = await client.get("/decision",
                             headers={"authorization": "Bearer sk-second-key-of-acme"})
        c = await client.get("/decision", headers=AUTH)  # the org's third request
        other = await client.get("/decision", headers={"authorization": "Bearer sk-unknown"})
    acct = guard.pseudonymize("acct", "org-acme")
    assert a.json()["decision"]["identity"] == b.json()["decision"]["identity"] == acct
    assert c.status_code == 429  # both keys share the organisation's budget
    assert other.json()["decision"]["identity"] == guard.pseudonymize("key", "sk-unknown")


async def test_identity_resolver_may_return_an_identity() -> None:
    guard = make_guard()

    @guard.identity_resolver
    def resolver(ctx: RequestContext) -> Identity:
        return Identity("acct:custom-1", "account", account_id="acct:custom-1", plan="pro")

    [r] = await post(guard)
    assert r.json()["decision"]["identity"] == "acct:custom-1"


@pytest.mark.parametrize("is_async", [False, True])
async def test_budget_resolver_sets_plan_budgets(is_async: bool) -> None:
    clock = FakeClock()
    guard = make_guard(clock)  # defaults would allow 120 requests
    tiny = Budgets(request_capacity=2, request_refill_per_second=0.25,
                   token_capacity=100_000, token_refill_per_second=100, plan="free")

    def plan(ctx: RequestContext) -> Budgets:
        return tiny

    async def aplan(ctx: RequestContext) -> Budgets:
        return tiny

    guard.budget_resolver(aplan if is_async else plan)
    rs = await post(guard, n=3)
    assert [r.status_code for r in rs] == [200, 200, 429]
    assert rs[2].headers["retry-after"] == "4"
    assert rs[0].json()["decision"]["budgets"][0]["limit"] == 2


async def test_budget_resolver_runs_once_per_request_settlement_included() -> None:
    """The settlement after the response charges the budgets resolved before it."""
    guard = make_guard()
    calls: list[str] = []
    plan = Budgets(request_capacity=50, request_refill_per_second=1,
                   token_capacity=1_000_000, token_refill_per_second=100, plan="pro")

    @guard.budget_resolver
    def once(ctx: RequestContext) -> Budgets:
        calls.append(ctx.identity.id)
        return plan

    rs = await post(guard, n=3, path="/v1/chat/completions")
    assert [r.status_code for r in rs] == [200, 200, 200]
    assert guard.counters["tokens_reconciled"] == 3
    assert len(calls) == 3


async def test_sync_and_async_event_sinks_get_every_event() -> None:
    guard = make_guard(events=False, event_sample_allow=1.0, request_capacity=1)
    got_sync: list[dict[str, Any]] = []
    got_async: list[dict[str, Any]] = []

    @guard.event_sink
    def sync_sink(event: dict[str, Any]) -> None:
        got_sync.append(event)

    @guard.event_sink
    async def async_sink(event: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        got_async.append(event)

    rs = await post(guard, n=2)
    assert [r.status_code for r in rs] == [200, 429]
    assert [e["action"] for e in got_sync] == ["allow", "throttle"]
    assert got_async == got_sync
    assert got_sync[0]["schema"] == "antidistill.decision/1"
    assert got_sync[0]["identity"] == guard.pseudonymize("key", KEY)


async def test_raising_hooks_never_fail_the_request_and_are_counted() -> None:
    guard = make_guard(events=False, event_sample_allow=1.0)

    @guard.scorer
    def bad_scorer(ctx: RequestContext) -> Signal:
        raise RuntimeError("scorer bug")

    @guard.scorer
    def good_scorer(ctx: RequestContext) -> Signal:
        return Signal("still_runs", 0.1)

    @guard.identity_resolver
    async def bad_identity(ctx: RequestContext) -> str:
        raise LookupError("accounts service down")

    @guard.budget_resolver
    def bad_budgets(ctx: RequestContext) -> Budgets:
        return 1 / 0  # type: ignore[return-value]

    @guard.on_decision
    async def bad_decision(ctx: RequestContext, decision: Decision) -> Decision:
        raise ValueError("on_decision bug")

    @guard.event_sink
    def bad_sink(event: dict[str, Any]) -> None:
        raise OSError("SIEM unreachable")

    rs = await post(guard, n=2)
    assert [r.status_code for r in rs] == [200, 200]
    d = rs[0].json()["decision"]
    assert d["identity"] == guard.pseudonymize("key", KEY)  # default identity kept
    assert "still_runs" in reasons(rs[0])
    errors = {name.rsplit(".", 1)[-1]: n for name, n in guard.hooks.errors.items()}
    assert errors == {"bad_scorer": 2, "bad_identity": 2, "bad_budgets": 2,
                      "bad_decision": 2, "bad_sink": 2}
    assert guard.hooks.error_count == 10


async def test_async_hook_hanging_past_the_timeout_is_cut_off() -> None:
    guard = make_guard(hook_timeout=0.05)
    cancelled: list[bool] = []

    @guard.on_decision
    async def hangs(ctx: RequestContext, decision: Decision) -> Decision:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return decision.with_action(Action.BLOCK)

    @guard.scorer
    async def slow_scorer(ctx: RequestContext) -> Signal:
        await asyncio.sleep(30)
        return Signal("never", 1.0)

    [r] = await post(guard)  # the hook timeout cancelled both (a 30 s sleep otherwise)
    assert r.status_code == 200
    assert "never" not in reasons(r)
    assert cancelled == [True]
    timeouts = {name.rsplit(".", 1)[-1]: n for name, n in guard.hooks.timeouts.items()}
    assert timeouts == {"hangs": 1, "slow_scorer": 1}
    assert guard.hooks.error_count == 2


async def test_on_decision_can_replace_the_decision() -> None:
    guard = make_guard(request_capacity=1)

    @guard.on_decision
    def policy(ctx: RequestContext, decision: Decision) -> Decision | None:
        if ctx.header("x-internal") == "yes":  # let internal traffic through any budget
            return decision.with_action(Action.ALLOW, Reason("internal", 0.0, 0.0))
        if ctx.path == "/echo":
            return decision.with_action(Action.BLOCK)
        return None

    app, state = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    async with asgi_client(app) as client:
        first = await client.get("/decision", headers=AUTH)
        throttled = await client.get("/decision", headers=AUTH)
        internal = await client.get("/decision", headers={**AUTH, "x-internal": "yes"})
        blocked = await client.post("/echo", json=CHAT, headers={"x-api-key": "sk-other"})
    assert first.status_code == 200 and throttled.status_code == 429
    assert internal.status_code == 200
    assert internal.json()["decision"]["action"] == "allow"
    assert "internal" in reasons(internal)
    assert blocked.status_code == 403 and state.requests == 0


async def test_error_response_hook_overrides_the_denial() -> None:
    guard = make_guard(request_capacity=1)

    @guard.error_response
    async def custom(ctx: RequestContext, decision: Decision) -> Any:
        if ctx.path == "/default":
            return None
        return 402, {"error": {"message": "Upgrade your plan.", "type": "billing",
                               "code": "plan_limit"}}, [("Retry-After", "60"), ("X-Plan", "free")]

    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    async with asgi_client(app) as client:
        await client.get("/decision", headers=AUTH)
        r = await client.get("/decision", headers=AUTH)
        default = await client.get("/default", headers=AUTH)
    assert r.status_code == 402
    assert r.json()["error"]["code"] == "plan_limit"
    assert r.headers["retry-after"] == "60" and r.headers["x-plan"] == "free"
    assert default.status_code == 429
    assert default.json()["error"]["code"] == "rate_limit_exceeded"


async def test_hooks_loaded_by_name_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.setenv("ANTIDISTILL_HOOKS", "tests.hooks_module:register")
    guard = Guard(Settings(secret="s"), clock=FakeClock())
    [r] = await post(guard)
    assert "env_hook" in reasons(r)
    mod = sys.modules["tests.hooks_module"]
    assert (guard, "/decision") in mod.CALLS
    # load_env_hooks=False skips them.
    quiet = Guard(Settings(secret="s"), clock=FakeClock(), load_env_hooks=False)
    [r2] = await post(quiet)
    assert "env_hook" not in reasons(r2)


@pytest.mark.parametrize("spec", ["tests.hooks_module", "tests.no_such_module:register",
                                  "tests.hooks_module:no_such_function"])
def test_bad_hook_specs_fail_at_start_up(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.setenv("ANTIDISTILL_HOOKS", spec)
    with pytest.raises(ConfigurationError):
        Guard(Settings(secret="s"))


async def test_a_failing_hook_does_not_leak_the_key_into_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = make_guard()
    orgs: dict[str, str] = {}

    @guard.identity_resolver
    def strict_lookup(ctx: RequestContext) -> str:
        return orgs[(ctx.header("authorization") or "").removeprefix("Bearer ")]

    caplog.set_level(logging.DEBUG, logger="antidistill")
    [r] = await post(guard)
    assert r.status_code == 200 and guard.hooks.error_count == 1
    assert KEY not in caplog.text


# -- examples/hooks_example.py ------------------------------------------------------------


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "antidistill_hooks_example", REPO / "examples" / "hooks_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_hooks_example_behaves_as_documented() -> None:
    ex = load_example()
    ex.ALERTS.clear()
    clock = FakeClock()
    guard = make_guard(clock, events=False)

    @guard.scorer  # a stand-in for detection that wants every request stopped
    def everything_is_suspicious(ctx: RequestContext) -> Signal | None:
        return Signal("test_block", 1.0, weight=1.0) if ctx.header("x-test-block") else None

    app = ex.build_app(guard)
    lp = {**CHAT, "logprobs": True, "top_logprobs": 5}
    async with asgi_client(app) as client:
        def call(key: str, body: Any = CHAT, **extra: str) -> Any:
            return client.post("/v1/chat/completions", json=body,
                               headers={"authorization": f"Bearer {key}", **extra})

        # Enterprise keys share one organisation identity and get logprobs.
        ent = await call("sk-acme-prod-1", lp)
        assert ent.status_code == 200 and ent.json()["choices"][0]["logprobs"] is not None
        # A trial org asking for logprobs is degraded (logprobs dropped) and alerted.
        trial = await call("sk-trial-7c1e", lp)
        assert trial.status_code == 200
        assert trial.json()["choices"][0]["logprobs"] is None
        assert [a["action"] for a in ex.ALERTS] == ["degrade"]
        assert "plan_mismatch" in {r["name"] for r in ex.ALERTS[0]["reasons"]}
        # Trial budget: 20 requests, then 429 (one was used above).
        answers = [await call("sk-trial-7c1e") for _ in range(20)]
        assert [a.status_code for a in answers] == [200] * 19 + [429]
        limited = answers[-1]  # the error_response hook's message, the default headers
        assert limited.json()["error"]["message"].endswith("Trial plans allow 20 requests a "
                                                          "minute.")
        assert limited.headers["retry-after"] and limited.headers["ratelimit"]
        # Staff are flagged, never blocked; customers are blocked.
        staff = await call("sk-staff-eval", **{"x-test-block": "1"})
        acme = await call("sk-acme-ci-2", **{"x-test-block": "1"})
        assert staff.status_code == 200
        assert acme.status_code == 403
    assert ex.ALERTS[-1]["action"] == "block"
    assert ex.ALERTS[-1]["identity"] == guard.pseudonymize("acct", "org_acme")
    assert guard.hooks.error_count == 0
