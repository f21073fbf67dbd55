"""The per-request framework's fast paths: the budgets-only line, the token estimate read
without a full parse, the lazily parsed context, the raw identity cache, and hooks registered
after the guard was built."""

from __future__ import annotations

import json
from typing import Any

import pytest

from antidistill import AntiDistillMiddleware, Decision, RequestContext, Signal
from antidistill.fingerprints.parse import parse_body
from antidistill.identity import Pseudonymizer, TrustedProxies
from antidistill.identity.resolver import IdentityResolver
from antidistill.policy.budgets import MAX_TOKEN_PARAMS, requested_output_tokens
from antidistill.policy.estimate import quick_inputs
from antidistill.usage import estimate_request_cost
from apps import FakeClock, asgi_client, clear_env, make_guard, make_starlette_app

KEY = "sk-test-lean-0001"
AUTH = {"authorization": f"Bearer {KEY}"}
CHAT: dict[str, Any] = {"model": "mock-1", "max_tokens": 64,
                        "messages": [{"role": "user", "content": "Name three prime numbers."}]}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


def _enc(doc: Any) -> bytes:
    return json.dumps(doc).encode()


SYS = "You are a careful assistant. " * 3
# (path, body): every supported format, well-formed and odd, complete.
BODIES: list[tuple[str, bytes]] = [
    ("/v1/chat/completions", _enc(CHAT)),
    ("/v1/chat/completions", _enc({"messages": [
        {"role": "system", "content": SYS}, {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "héllo ✓ wörld"}, {"role": "assistant", "content": None},
        {"role": "user", "content": ""}, {"role": "tool", "content": "42"},
        {"role": "user", "content": [{"type": "text", "text": "part one"},
                                     {"type": "image_url", "image_url": {"url": "x"}},
                                     {"type": "input_text", "text": "part two"}, "raw"]}],
        "max_completion_tokens": "300", "system": "top-level system too"})),
    ("/v1/chat/completions", _enc({"messages": [{"role": "user", "content": "x"}],
                                   "max_tokens": 0, "max_completion_tokens": 1e400})),
    ("/v1/chat/completions", b'{"messages":[{"role":"user","content":"x"}],"max_tokens":1e400}'),
    ("/v1/chat/completions", _enc({"messages": [{"role": ["user"], "content": "odd role"}]})),
    ("/v1/chat/completions", _enc({"messages": {"role": "user", "content": "dict, not list"}})),
    ("/v1/chat/completions", _enc({"messages": [{"role": "user", "content": [["nested"]]}]})),
    ("/v1/chat/completions", _enc({"messages": [{"role": "user", "content": 7}]})),
    ("/v1/chat/completions", _enc({"prompt": "the path lies: a completions body"})),
    ("/v1/chat/completions", _enc({"messages": [{"role": "user", "content": "a"}],
                                   "generationConfig": {"maxOutputTokens": 99}})),
    ("/v1/chat/completions", _enc({"messages": [{"role": "user", "content": f"turn {i}"}
                                                for i in range(80)]})),
    ("/v1/chat/completions", _enc({"messages": [{"role": "user", "content": "y" * 40000}]})),
    ("/v1/messages", _enc({"model": "claude-x", "max_tokens": 1024, "system": SYS,
                           "messages": [{"role": "user", "content": "Hi"},
                                        {"role": "assistant", "content": "Hello"},
                                        {"role": "user", "content": [
                                            {"type": "text", "text": "More?"}]}]})),
    ("/v1/messages", _enc({"system": [{"type": "text", "text": "block system"}],
                           "messages": [{"role": "user", "content": "q"}]})),
    ("/v1/completions", _enc({"prompt": "Once upon a time", "max_tokens": 16})),
    ("/v1/completions", _enc({"prompt": ["one", "", "two", [1, 2, 3]]})),
    ("/v1/completions", _enc({"prompt": ["one", "two"], "max_tokens": "12"})),
    ("/v1/responses", _enc({"instructions": "Be terse.", "input": "What is 2+2?",
                            "max_output_tokens": 50})),
    ("/v1/responses", _enc({"input": [{"role": "user", "content": "list input"}]})),
    ("/v1/models/gemini-pro:generateContent", _enc({
        "systemInstruction": {"parts": [{"text": "sys"}]},
        "contents": [{"role": "user", "parts": [{"text": "gemini question"}]}],
        "generationConfig": {"maxOutputTokens": 77}})),
    ("/other", _enc({"messages": [{"role": "user", "content": "shape decides"}],
                     "logprobs": True})),
    ("/other", _enc({"messages": [{"role": "user", "content": "claude shape"}],
                     "model": "claude-3", "max_tokens": 9})),
    ("/other", _enc({"input": "embed me", "model": "text-embedding-3-small"})),
    ("/other", _enc({"input": "responses by shape"})),
    ("/other", _enc(["a", "list", "document"])),
    ("/other", b"plain text body, not JSON at all"),
    ("/other", b"\xef\xbb\xbf" + _enc({"prompt": "after a BOM"})),
    ("/v1/chat/completions", b'{"messages":[{"role":"user","content":"cut'),
    ("/v1/chat/completions", b'{"messages":[{"role":"user","content":"\\ud800 lone"}]}'),
    ("/v1/chat/completions", b'{"a":"\xff invalid utf-8"}'),
    ("/v1/chat/completions", b"\x00\x01\x02 binary"),
    ("/v1/chat/completions", b'{"messages":[],"max_tokens":' + b"9" * 5000 + b"}"),
]


def _full_estimate(body: bytes, path: str, max_chars: int, truncated: bool = False) -> int:
    """Today's estimate: the full parse's texts and params."""
    p = parse_body(body, None, truncated=truncated, path=path,
                   max_chars=max_chars)
    chars = len(p.system) + len(p.user)
    if truncated:
        chars = max(chars, len(body))
    return estimate_request_cost(chars, requested_output_tokens(p.params, MAX_TOKEN_PARAMS))


@pytest.mark.parametrize(("path", "body"), BODIES)
@pytest.mark.parametrize("max_chars", [16384, 256, 20])
def test_quick_inputs_equal_the_full_parse(path: str, body: bytes, max_chars: int) -> None:
    quick = quick_inputs(body, path, max_chars)
    if quick is None:
        return  # the caller parses fully: equal by construction (see the guard test below)
    p = parse_body(body, "application/json", path=path, max_chars=max_chars)
    assert quick == (len(p.system) + len(p.user),
                     requested_output_tokens(p.params, MAX_TOKEN_PARAMS))


def test_quick_inputs_read_what_sdks_send() -> None:
    """The fast read is taken for the common shapes (else it would save nothing)."""
    for i in (0, 1, 12, 13, 14, 16, 17, 20, 21, 23):
        path, body = BODIES[i]
        assert quick_inputs(body, path, 16384) is not None, (path, body[:60])


@pytest.mark.parametrize(("path", "body"), BODIES)
async def test_budgets_only_estimate_equals_todays(path: str, body: bytes) -> None:
    guard = make_guard(detectors=[], max_analysis_chars=256)
    for truncated in (False, True):
        ctx = guard.context({"type": "http", "method": "POST", "path": path,
                             "headers": [(b"authorization", b"Bearer " + KEY.encode())],
                             "client": ("10.0.0.1", 1)})
        ctx.body, ctx.body_truncated = body, truncated
        decision = await guard.check(ctx)
        assert decision.action.value == "allow"
        assert ctx.estimated_tokens == _full_estimate(body, path, 256, truncated)


def _chat_ctx(guard: Any, body: bytes = _enc(CHAT)) -> RequestContext:
    ctx: RequestContext = guard.context({
        "type": "http", "method": "POST", "path": "/v1/chat/completions",
        "headers": [(b"authorization", b"Bearer " + KEY.encode())],
        "client": ("10.0.0.1", 1)})
    ctx.body = body
    return ctx


async def test_budgets_only_does_not_parse_unless_read() -> None:
    guard = make_guard(detectors=[])
    ctx = _chat_ctx(guard)
    await guard.check(ctx)
    assert ctx.parsed_if_done() is None
    # A hook (or anything else) reading ctx.parsed gets the full parse on first read.
    assert ctx.parsed == parse_body(ctx.body, None, path=ctx.path,
                                    max_chars=guard.settings.max_analysis_chars)
    assert ctx.parsed_if_done() is ctx.parsed


async def test_budgets_only_enforces_and_settles() -> None:
    clock = FakeClock()
    guard = make_guard(clock, detectors=[], request_capacity=2, request_refill_rate=1,
                       request_interval=60, token_capacity=10_000, token_refill_rate=1,
                       token_interval=3600)
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    async with asgi_client(app) as client:
        r1 = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        r2 = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        r3 = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
    assert [r1.status_code, r2.status_code, r3.status_code] == [200, 200, 429]
    assert guard.counters["tokens_reconciled"] == 2
    assert guard.counters["throttle"] == 1


async def test_budgets_only_monitor_reports_without_enforcing() -> None:
    guard = make_guard(detectors=[], mode="monitor", request_capacity=1,
                       request_refill_rate=1, request_interval=3600)
    decisions = [await guard.check(_chat_ctx(guard)) for _ in range(3)]
    assert [d.is_denied() for d in decisions] == [False, False, False]
    assert [b.allowed for d in decisions for b in d.budgets if b.name == "requests"] == \
        [True, False, False]
    why = [r.detail for r in decisions[2].reasons if r.name == "budget"]
    assert why and why[0].endswith("tracked, not enforced")
    enforcing = make_guard(detectors=[], request_capacity=1, request_refill_rate=1,
                           request_interval=3600)
    assert [(await enforcing.check(_chat_ctx(enforcing))).is_denied()
            for _ in range(2)] == [False, True]


async def test_hooks_registered_after_the_guard_take_effect() -> None:
    guard = make_guard(detectors=[])
    first = await guard.check(_chat_ctx(guard))
    assert first.action.value == "allow"

    @guard.scorer
    def distiller(ctx: RequestContext) -> Signal:
        return Signal("custom", 1.0, "marked by the host")

    scored = await guard.check(_chat_ctx(guard))
    assert scored.score > 0 and any(r.name == "custom" for r in scored.reasons)

    seen: list[Decision] = []

    @guard.on_decision
    def block_all(ctx: RequestContext, decision: Decision) -> Decision:
        seen.append(decision)
        return decision.with_action(decision.action.BLOCK)

    final = await guard.check(_chat_ctx(guard))
    assert seen and final.action.value == "block"


async def test_default_policy_budget_is_charged_without_reading_the_body() -> None:
    guard = make_guard(default_policy="budget", request_capacity=1, request_refill_rate=1,
                       request_interval=3600)
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    async with asgi_client(app) as client:
        codes = [(await client.post("/v1/chat/completions", json=CHAT, headers=AUTH))
                 .status_code for _ in range(2)]
    assert codes == [200, 429]


def _resolver(proxies: tuple[str, ...] = ()) -> IdentityResolver:
    return IdentityResolver(Pseudonymizer(b"k"), TrustedProxies(proxies),
                            ["authorization", "x-api-key"], "x-account")


def _scope(headers: list[tuple[bytes, bytes]], peer: str = "10.0.0.1") -> dict[str, Any]:
    return {"type": "http", "headers": headers, "client": (peer, 1)}


def test_raw_identity_cache_keeps_callers_apart() -> None:
    res = _resolver()
    a = [(b"authorization", b"Bearer sk-a")]
    b = [(b"authorization", b"Bearer sk-b")]
    both = [(b"authorization", b"Bearer sk-a"), (b"x-api-key", b"sk-b")]
    for _ in range(2):  # second round answered from the cache
        ia, _t = res.resolve(_scope(a))
        ib, _t = res.resolve(_scope(b))
        iab, _t = res.resolve(_scope(both))
        anon1, _t = res.resolve(_scope([], "10.0.0.1"))
        anon2, _t = res.resolve(_scope([], "10.0.0.2"))
        assert ia.id != ib.id and iab.id == ia.id
        assert iab.key_mismatch and not ia.key_mismatch
        assert anon1.id != anon2.id and anon1.kind == anon2.kind == "ip"
    assert res.resolve(_scope(a, "10.9.9.9"))[0].ip == "10.9.9.9"


def test_raw_identity_cache_is_bypassed_behind_trusted_proxies() -> None:
    res = _resolver(("10.0.0.0/8",))
    xff = [(b"authorization", b"Bearer sk-a"), (b"x-forwarded-for", b"203.0.113.5")]
    first = res.resolve(_scope(xff))[0]
    other = res.resolve(_scope([(b"authorization", b"Bearer sk-a"),
                                (b"x-forwarded-for", b"203.0.113.6")]))[0]
    assert first.ip == "203.0.113.5" and other.ip == "203.0.113.6"


@pytest.mark.parametrize(("routes", "kept"), [({}, False),
                                              ({"POST /v1/chat/completions": "inspect"}, True)])
async def test_answers_are_remembered_only_where_a_route_is_inspected(
        routes: dict[str, str], kept: bool) -> None:
    from antidistill.signals.continuity import LIST as ANSWERS

    guard = make_guard(default_policy="budget", routes=routes)
    assert guard.remember_answers is kept
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    async with asgi_client(app) as client:
        r = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
    assert r.status_code == 200
    assert bool(await guard.store.list_members(ANSWERS)) is kept


@pytest.mark.parametrize("mode", ["enforce", "monitor"])
async def test_budgets_only_allow_is_what_finalize_builds(mode: str) -> None:
    from antidistill.policy.budgets import BudgetOutcome
    from antidistill.policy.finalize import finalize
    from antidistill.scoring.assess import NOTHING_FOUND

    guard = make_guard(detectors=[], mode=mode)
    decision = await guard.check(_chat_ctx(guard))
    assert decision == finalize(NOTHING_FOUND, BudgetOutcome(list(decision.budgets)),
                                identity=decision.identity, mode=mode, policy=guard.policy,
                                max_delay=guard.settings.max_delay, route="default")
    assert [b.name for b in decision.budgets] == ["requests", "tokens"]


@pytest.mark.parametrize("detectors", [None, []])
@pytest.mark.parametrize("listed", ["deny:identity", "allow:identity", None])
async def test_identity_lists_hold_on_budget_routes(detectors: list[str] | None,
                                                    listed: str | None) -> None:
    settings: dict[str, Any] = {"routes": {"POST /v1/chat/completions": "budget"},
                                "request_capacity": 1, "request_refill_rate": 1,
                                "request_interval": 3600}
    if detectors is not None:
        settings["detectors"] = detectors
    guard = make_guard(**settings)
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    ident = guard.pseudonymize("key", KEY)
    if listed is not None:
        await guard.store.list_add(listed, ident)
    async with asgi_client(app) as client:
        codes = [(await client.post("/v1/chat/completions", json=CHAT, headers=AUTH))
                 .status_code for _ in range(2)]
    # Denied: blocked; allow-listed: the budget still counts (lists change risk, not budgets).
    assert codes == ([403, 403] if listed == "deny:identity" else [200, 429])
