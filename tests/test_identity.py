"""Who the middleware thinks is calling: API keys, client IPs behind proxies, privacy."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from antidistill import AntiDistillMiddleware, Guard
from apps import asgi_client, clear_env, make_guard, make_starlette_app

KEY = "sk-live-7f3a9c1e5b2d8f4a6c0e9b1d3f5a7c9e"
PEER = "203.0.113.77"
CHAT = {"model": "mock-1", "messages": [{"role": "user", "content": "Summarise the news."}]}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


async def identity_of(guard: Guard, headers: dict[str, str] | None = None,
                      peer: str = PEER) -> str:
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    async with asgi_client(app, client=(peer, 41000)) as client:
        r = await client.get("/decision", headers=headers or {})
    assert r.status_code == 200
    ident: str = r.json()["decision"]["identity"]
    return ident


@pytest.mark.parametrize("headers", [
    {"authorization": f"Bearer {KEY}"},
    {"authorization": f"bearer   {KEY}  "},
    {"x-api-key": KEY},
    {"x-goog-api-key": KEY},  # the Gemini SDKs
    {"api-key": KEY},  # Azure OpenAI
])
async def test_api_key_headers_give_the_same_pseudonymous_identity(
    headers: dict[str, str]
) -> None:
    guard = make_guard()
    ident = await identity_of(guard, headers)
    assert ident == guard.pseudonymize("key", KEY)
    assert ident.startswith("key:") and KEY not in ident


async def test_same_key_same_identity_across_guards_with_one_secret_only() -> None:
    a, b = make_guard(secret="one"), make_guard(secret="one")
    c = make_guard(secret="two")
    h = {"x-api-key": KEY}
    assert await identity_of(a, h) == await identity_of(b, h) != await identity_of(c, h)


async def test_non_bearer_authorization_falls_back_to_the_ip() -> None:
    guard = make_guard()
    ident = await identity_of(guard, {"authorization": "Basic dXNlcjpwYXNz"})
    assert ident == guard.pseudonymize("ip", PEER)


async def test_no_key_uses_the_peer_ip() -> None:
    guard = make_guard()
    assert await identity_of(guard) == guard.pseudonymize("ip", PEER)


async def test_custom_api_key_header_list() -> None:
    guard = make_guard(api_key_headers=["x-goog-api-key"])
    assert await identity_of(guard, {"x-goog-api-key": KEY}) == guard.pseudonymize("key", KEY)
    # x-api-key is no longer a key header: the caller is identified by IP.
    assert await identity_of(guard, {"x-api-key": KEY}) == guard.pseudonymize("ip", PEER)


async def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    guard = make_guard(trusted_proxies=["10.0.0.0/8"])
    spoof = {"x-forwarded-for": "198.51.100.9", "forwarded": "for=198.51.100.10"}
    assert await identity_of(guard, spoof) == guard.pseudonymize("ip", PEER)
    # No trusted proxies configured at all: also ignored.
    g2 = make_guard()
    assert await identity_of(g2, spoof) == g2.pseudonymize("ip", PEER)


async def test_forwarded_for_from_a_trusted_proxy_is_walked_right_to_left() -> None:
    guard = make_guard(trusted_proxies=["10.0.0.0/8", "172.16.0.0/12"])
    # client-supplied junk, the real client, then two of our own proxies
    xff = {"x-forwarded-for": "1.1.1.1, 198.51.100.7, 172.16.5.5, 10.0.0.2"}
    assert await identity_of(guard, xff, peer="10.1.2.3") == guard.pseudonymize(
        "ip", "198.51.100.7")


async def test_repeated_forwarded_for_headers_are_joined() -> None:
    guard = make_guard(trusted_proxies=["10.0.0.0/8"])
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    async with asgi_client(app, client=("10.9.9.9", 1)) as client:
        r = await client.get("/decision", headers=[("x-forwarded-for", "198.51.100.1"),
                                                   ("x-forwarded-for", "198.51.100.2, 10.0.0.7")])
    assert r.json()["decision"]["identity"] == guard.pseudonymize("ip", "198.51.100.2")


async def test_trusted_proxy_without_forwarding_headers_is_the_client() -> None:
    guard = make_guard(trusted_proxies=["10.0.0.0/8"])
    assert await identity_of(guard, peer="10.4.4.4") == guard.pseudonymize("ip", "10.4.4.4")


async def test_key_wins_over_ip_and_ip_is_per_client() -> None:
    guard = make_guard(request_capacity=1)
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    async with asgi_client(app, client=("198.51.100.1", 1)) as one, \
            asgi_client(app, client=("198.51.100.2", 1)) as two:
        assert (await one.get("/decision")).status_code == 200
        assert (await one.get("/decision")).status_code == 429
        assert (await two.get("/decision")).status_code == 200  # another IP, another bucket
        assert (await one.get("/decision", headers={"x-api-key": KEY})).status_code == 200


async def test_account_header_is_honoured_only_from_a_trusted_proxy() -> None:
    guard = make_guard(trusted_proxies=["10.0.0.0/8"], account_header="x-org-id")
    h = {"x-org-id": "org-acme", "x-api-key": KEY}
    assert await identity_of(guard, h, peer="10.0.0.5") == guard.pseudonymize(
        "acct", "org-acme")
    assert await identity_of(guard, h, peer=PEER) == guard.pseudonymize("key", KEY)


async def test_unknown_peer_is_anonymous() -> None:
    guard = make_guard()
    sent: list[Any] = []
    app, state = make_starlette_app()
    mw = AntiDistillMiddleware(app, guard=guard)
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/decision", "raw_path": b"/decision", "query_string": b"",
        "root_path": "", "headers": [], "client": None, "server": ("t", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await mw(scope, receive, send)
    assert sent[0]["status"] == 200
    assert state.decisions[0].identity == "anon:unknown"


async def test_raw_keys_and_ips_never_reach_decisions_or_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = make_guard(events=True, event_sample_allow=1.0, request_capacity=3,
                       trusted_proxies=["10.0.0.0/8"], account_header="x-org-id")
    sunk: list[dict[str, Any]] = []

    @guard.event_sink
    async def sink(event: dict[str, Any]) -> None:
        sunk.append(event)

    app, state = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    real_ip = "198.51.100.23"
    org = "org-secret-customer-name"
    caplog.set_level(logging.DEBUG, logger="antidistill")
    async with asgi_client(app, client=("10.0.0.3", 5555)) as client:
        for headers in (
            {"authorization": f"Bearer {KEY}", "x-forwarded-for": real_ip},
            {"x-api-key": KEY, "x-forwarded-for": real_ip, "x-org-id": org},
            {"x-forwarded-for": real_ip},
        ):
            for _ in range(4):  # the 4th of each is a 429
                await client.post("/decision", json=CHAT, headers=headers)
    events = [r for r in caplog.records if r.name == "antidistill.events"]
    assert len(events) == 12 and len(sunk) == 12
    assert {e["action"] for e in sunk} == {"allow", "throttle"}
    dumped = [json.dumps(d.as_dict()) for d in state.decisions if d is not None]
    dumped += [json.dumps(e, default=str) for e in sunk]
    for secret in (KEY, real_ip, "10.0.0.3", org):
        assert secret not in caplog.text
        assert not any(secret in text for text in dumped)
    # ...while the pseudonyms are there.
    assert any(guard.pseudonymize("key", KEY) in r.getMessage() for r in events)
    assert any(guard.pseudonymize("ip", real_ip) in r.getMessage() for r in events)
