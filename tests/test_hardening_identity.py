"""Issue #11, findings 3-6: an identity the client cannot choose.

Each test is named after the finding it pins; each failed before its fix.
"""

from __future__ import annotations

from typing import Any

import pytest

from antidistill import AntiDistillMiddleware, Guard
from antidistill.identity import (
    KeyResult,
    Pseudonymizer,
    TrustedProxies,
    client_ip,
    peer_trusted,
    resolve_api_key,
)
from apps import asgi_client, clear_env, make_guard, make_starlette_app

REAL = "sk-real-0123456789abcdef"
PROXY = "10.0.0.2"
CLIENT = "198.51.100.7"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


async def _decisions(guard: Guard, requests: list[dict[str, str]],
                     peer: str = CLIENT) -> list[tuple[int, dict[str, Any] | None]]:
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    out: list[tuple[int, dict[str, Any] | None]] = []
    async with asgi_client(app, client=(peer, 40000)) as client:
        for headers in requests:
            r = await client.get("/decision", headers=headers)
            out.append((r.status_code, r.json()["decision"] if r.status_code == 200 else None))
    return out


def _h(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in pairs]


# -- finding 3: the first of Authorization / x-api-key won ------------------------------------


def test_finding_3_configured_precedence_decides_and_a_mismatch_is_reported() -> None:
    names = (b"x-api-key", b"authorization")
    headers = _h(("authorization", "Bearer junk-1"), ("x-api-key", REAL))
    assert resolve_api_key(headers, names) == KeyResult(REAL, True)
    # The other order of precedence picks the other header, still reporting the mismatch.
    assert resolve_api_key(headers, names[::-1]) == KeyResult("junk-1", True)
    # One key, or the same key twice, is no mismatch.
    assert resolve_api_key(_h(("x-api-key", REAL)), names) == KeyResult(REAL, False)
    same = _h(("authorization", f"Bearer {REAL}"), ("x-api-key", REAL))
    assert resolve_api_key(same, names) == KeyResult(REAL, False)
    # A repeated header: the first occurrence (what frameworks read), flagged.
    twice = _h(("x-api-key", REAL), ("x-api-key", "other"))
    assert resolve_api_key(twice, names) == KeyResult(REAL, True)


async def test_finding_3_junk_authorization_before_the_real_key_cannot_escape_the_budget() -> None:
    guard = make_guard(request_capacity=3, request_refill_rate=1e-9,
                       api_key_headers=["x-api-key", "authorization"])
    got = await _decisions(guard, [
        {"authorization": f"Bearer junk-{i}", "x-api-key": REAL} for i in range(30)])
    accepted = [d for status, d in got if status == 200]
    assert len(accepted) == 3, [status for status, _ in got]
    assert {d["identity"] for d in accepted if d} == {guard.pseudonymize("key", REAL)}


async def test_finding_3_mismatch_is_evidence_under_the_default_precedence() -> None:
    guard = make_guard()
    (status, d), = await _decisions(guard, [{"authorization": "Bearer junk-1",
                                            "x-api-key": REAL}])
    assert status == 200 and d is not None
    assert "identity_mismatch" in {r["name"] for r in d["reasons"]}, d["reasons"]
    (status, d), = await _decisions(guard, [{"x-api-key": REAL}])
    assert d is not None and "identity_mismatch" not in {r["name"] for r in d["reasons"]}


# -- finding 4: a client-sent Forwarded was believed before the proxy's X-Forwarded-For ----


def test_finding_4_client_forwarded_does_not_outrank_the_proxys_x_forwarded_for() -> None:
    proxies = TrustedProxies([f"{PROXY}/32"])
    headers = _h(("forwarded", "for=203.0.113.99"), ("x-forwarded-for", CLIENT))
    assert client_ip(PROXY, headers, proxies) == CLIENT
    assert client_ip(PROXY, headers, proxies, "x-forwarded-for") == CLIENT
    # Behind a proxy that writes Forwarded, that header is named and XFF is ignored.
    fwd = _h(("x-forwarded-for", "203.0.113.99"), ("forwarded", f'for="{CLIENT}:555"'))
    assert client_ip(PROXY, fwd, proxies, "forwarded") == CLIENT
    # auto reads Forwarded only when no X-Forwarded-For was sent.
    assert client_ip(PROXY, _h(("forwarded", f"for={CLIENT}")), proxies) == CLIENT


async def test_finding_4_spoofed_forwarded_cannot_escape_the_ip_budget() -> None:
    guard = make_guard(request_capacity=3, request_refill_rate=1e-9,
                       trusted_proxies=[f"{PROXY}/32"])
    got = await _decisions(guard, [
        {"forwarded": f"for=203.0.113.{i}", "x-forwarded-for": CLIENT} for i in range(30)],
        peer=PROXY)
    assert sum(status == 200 for status, _ in got) == 3


# -- finding 5: the ASGI server's proxy handling let a client pass for a trusted proxy ---------


def test_finding_5_a_client_rewritten_from_x_forwarded_for_is_not_a_trusted_peer() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    xff = _h(("x-forwarded-for", PROXY))
    # What uvicorn's ProxyHeadersMiddleware leaves: the client taken from the header.
    assert not peer_trusted({"client": (PROXY, 0), "headers": xff}, proxies)
    assert not peer_trusted({"client": (PROXY, 0),
                             "headers": _h(("forwarded", f"for={PROXY}"))}, proxies)
    # The real proxy as TCP peer, forwarding its client.
    assert peer_trusted({"client": (PROXY, 5123),
                         "headers": _h(("x-forwarded-for", CLIENT))}, proxies)
    assert not peer_trusted({"client": (CLIENT, 5123), "headers": []}, proxies)
    assert not peer_trusted({"client": None, "headers": []}, proxies)


async def test_finding_5_account_header_ignored_from_a_rewritten_peer() -> None:
    guard = make_guard(trusted_proxies=["10.0.0.0/8"], account_header="x-account")
    headers = {"x-account": "victim", "x-forwarded-for": PROXY, "x-api-key": REAL}
    (status, d), = await _decisions(guard, [headers], peer=PROXY)
    assert status == 200 and d is not None
    assert d["identity"] == guard.pseudonymize("key", REAL)
    (status, d), = await _decisions(guard, [{"x-account": "victim", "x-api-key": REAL}],
                                    peer=PROXY)
    assert d is not None and d["identity"] == guard.pseudonymize("acct", "victim")


# -- finding 6: keys were cut to 512 characters -------------------------------------------------


def test_finding_6_keys_sharing_a_long_prefix_get_different_identities() -> None:
    prefix = "sk-" + "a" * 600
    names = (b"authorization", b"x-api-key")
    one = resolve_api_key(_h(("x-api-key", prefix + "1")), names).key
    two = resolve_api_key(_h(("x-api-key", prefix + "2")), names).key
    assert one == prefix + "1" and two == prefix + "2"
    p = Pseudonymizer(b"s")
    assert p("key", one) != p("key", two)
    # Short values keep their pseudonyms (hashing is unchanged, only no longer cut).
    assert p("key", "sk-x") == Pseudonymizer(b"s")("key", "sk-x")
    huge = "k" * 2_000_000
    assert p("key", huge) == p("key", huge) != p("key", huge + "k")
    assert not any(len(t) > 600 for t in p._cache)


async def test_finding_6_long_keys_do_not_share_a_budget() -> None:
    guard = make_guard(request_capacity=1, request_refill_rate=1e-9)
    prefix = "sk-" + "b" * 700
    got = await _decisions(guard, [{"x-api-key": prefix + str(i)} for i in range(5)])
    assert [status for status, _ in got] == [200] * 5
    assert len({d["identity"] for _, d in got if d}) == 5
    assert all(len(k[0] or "") <= 512 + 1 for k in guard.identities._cache)
