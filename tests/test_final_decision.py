"""The decision is final before anyone sees it: on_decision hooks, then enforcement (the
degrade rewrite), then reporting; and the request-body framing findings of the hardening
issue (#11: 11, 12, 13, 14)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from antidistill import Action, AntiDistillMiddleware, Budgets, Decision, RequestContext
from antidistill.reporting.metrics import Metrics
from apps import FakeClock, asgi_client, clear_env, make_guard, make_starlette_app

KEY = "sk-test-final-decision-01"
AUTH = {"authorization": f"Bearer {KEY}"}
TOKEN = "admin-token-for-final-decision"
CHAT = {"model": "mock-1", "max_tokens": 4000, "logprobs": True, "top_logprobs": 20, "n": 4,
        "messages": [{"role": "user", "content": "Name three rivers."}]}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


def _degrading_guard(**settings: Any) -> Any:
    guard = make_guard(FakeClock(), metrics=True, admin_token=TOKEN,
                       routes={"* /antidistill/**": "exempt"}, **settings)
    guard.metrics = Metrics(CollectorRegistry())

    @guard.on_decision
    def degrade_everything(ctx: RequestContext, decision: Decision) -> Decision:
        return decision.with_action(Action.DEGRADE)

    return guard


async def test_a_decision_replaced_by_on_decision_is_enforced_and_reported_as_enforced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = _degrading_guard(event_sample_allow=1.0)
    events: list[dict[str, Any]] = []
    guard.event_sink(events.append)
    app, _ = make_starlette_app()
    app.mount("/antidistill", guard.admin_app())
    with caplog.at_level(logging.INFO, logger="antidistill.events"):
        async with asgi_client(AntiDistillMiddleware(app, guard=guard)) as client:
            echoed = await client.post("/echo", json=CHAT, headers=AUTH)
            summary = await client.get("/antidistill/api/summary",
                                       headers={"authorization": f"Bearer {TOKEN}"})
    # Enforced: the app received the rewritten body.
    sent = json.loads(echoed.content)
    assert sent["max_tokens"] == 256 and sent["n"] == 1
    assert "logprobs" not in sent and "top_logprobs" not in sent
    # Reported as enforced: the event, the metrics and the admin view carry the rewrites.
    (event,) = events
    assert event["action"] == "degrade" and "max_tokens:4000->256" in event["degrade"]
    assert any("max_tokens:4000->256" in r.getMessage() for r in caplog.records)
    recent = summary.json()["recent"]
    assert recent[-1]["action"] == "degrade"
    assert "max_tokens:4000->256" in recent[-1]["degrade"]
    assert guard.counters["degrade"] == 1 and guard.counters["allow"] == 0
    text = guard.metrics.registry
    assert text.get_sample_value("antidistill_requests_total",
                                 {"action": "degrade", "enforced": "true"}) == 1


async def test_admin_shows_the_budgets_of_an_identitys_plan() -> None:
    guard = make_guard(FakeClock(), admin_token=TOKEN, routes={"* /antidistill/**": "exempt"})

    @guard.budget_resolver
    def plans(ctx: RequestContext) -> Budgets:
        return Budgets(request_capacity=7, request_refill_per_second=1,
                       token_capacity=77_000, token_refill_per_second=10, plan="pro")

    app, _ = make_starlette_app()
    app.mount("/antidistill", guard.admin_app())
    async with asgi_client(AntiDistillMiddleware(app, guard=guard)) as client:
        await client.post("/echo", json={"model": "m", "messages": [
            {"role": "user", "content": "hello"}]}, headers=AUTH)
        ident = guard.pseudonymize("key", KEY)
        view = (await client.get(f"/antidistill/api/identities/{ident}",
                                 headers={"authorization": f"Bearer {TOKEN}"})).json()
    assert view["plan"] == "pro"
    limits = {b["name"]: b["limit"] for b in view["budgets"]}
    assert limits == {"requests": 7, "tokens": 77_000}


async def _raw(app: Any, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[
        int, bytes]:
    """Drive the ASGI app with a body in the given chunks; return status and response body."""
    sent: list[dict[str, Any]] = []
    queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
             for i, c in enumerate(chunks)]

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/echo", "headers": headers,
             "client": ("127.0.0.1", 5000), "query_string": b"", "http_version": "1.1",
             "scheme": "http", "server": ("t", 80), "root_path": ""}
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


def _padded(pad: int) -> bytes:
    body = dict(CHAT, padding="x" * pad)
    return json.dumps(body).encode()


async def test_finding_11_a_degraded_body_over_the_cap_is_still_rewritten() -> None:
    guard = _degrading_guard(max_body_bytes=1024)
    app, _ = make_starlette_app()
    body = _padded(50_000)
    status, got = await _raw(AntiDistillMiddleware(app, guard=guard),
                             [body[:700], body[700:1500], body[1500:]],
                             [(b"authorization", AUTH["authorization"].encode()),
                              (b"content-type", b"application/json")])
    assert status == 200
    sent = json.loads(got)
    assert sent["max_tokens"] == 256 and sent["n"] == 1 and "logprobs" not in sent
    assert len(sent["padding"]) == 50_000


async def test_finding_11_a_degraded_body_too_long_to_rewrite_is_refused_not_served() -> None:
    guard = _degrading_guard(max_body_bytes=1024, degrade_max_body_bytes=4096)
    app, state = make_starlette_app()
    body = _padded(50_000)
    status, _ = await _raw(AntiDistillMiddleware(app, guard=guard),
                           [body[:700], body[700:1500], body[1500:]],
                           [(b"authorization", AUTH["authorization"].encode())])
    assert status == 413 and state.requests == 0


async def test_finding_12_reject_catches_a_last_chunk_that_crosses_the_cap() -> None:
    guard = make_guard(FakeClock(), max_body_bytes=1024, oversize_action="reject")
    app, state = make_starlette_app()
    body = _padded(5000)
    status, _ = await _raw(AntiDistillMiddleware(app, guard=guard), [body[:500], body[500:]],
                           [(b"authorization", AUTH["authorization"].encode())])
    assert status == 413 and state.requests == 0


async def test_finding_13_a_rewritten_body_has_one_content_length_and_no_chunking() -> None:
    seen: list[list[tuple[bytes, bytes]]] = []
    guard = _degrading_guard()
    inner, _ = make_starlette_app()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(list(scope["headers"]))
        await inner(scope, receive, send)

    body = json.dumps(CHAT).encode()
    status, got = await _raw(AntiDistillMiddleware(app, guard=guard), [body], [
        (b"authorization", AUTH["authorization"].encode()),
        (b"transfer-encoding", b"chunked"), (b"content-length", str(len(body)).encode())])
    assert status == 200
    framing = [(k, v) for k, v in seen[0] if k in (b"content-length", b"transfer-encoding")]
    assert framing == [(b"content-length", str(len(got)).encode())]


async def test_finding_14_events_carry_the_route_pattern_never_the_raw_path() -> None:
    guard = make_guard(FakeClock(), event_sample_allow=1.0,
                       routes={"POST /v1/**": "inspect"})
    events: list[dict[str, Any]] = []
    guard.event_sink(events.append)
    app, _ = make_starlette_app()
    async with asgi_client(AntiDistillMiddleware(app, guard=guard)) as client:
        await client.post("/v1/chat/completions/sk-leaked-in-path", json=CHAT, headers=AUTH)
        await client.post("/decision/attacker-chosen-string", json=CHAT, headers=AUTH)
    assert [e["route"] for e in events] == ["POST /v1/**", "default"]
    assert all("leaked" not in json.dumps(e) and "attacker" not in json.dumps(e)
               for e in events)
