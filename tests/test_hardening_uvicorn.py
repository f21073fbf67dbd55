"""Issue #11, finding 5 under a real uvicorn: its proxy-header handling (on by default for
loopback peers) must not let a client pass for a trusted proxy and name an account."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from antidistill import AntiDistillMiddleware
from apps import clear_env, make_guard, make_starlette_app, serve

pytestmark = pytest.mark.uvicorn

KEY = "sk-uvicorn-proxy-0123456789"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


def _identity(trusted: list[str], headers: dict[str, str], *, proxy_headers: bool) -> Any:
    guard = make_guard(trusted_proxies=trusted, account_header="x-account")
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware, guard=guard)
    with serve(app, proxy_headers=proxy_headers) as served:
        r = httpx.get(served.base_url + "/decision", headers={"x-api-key": KEY, **headers},
                      timeout=10)
    assert r.status_code == 200
    return r.json()["decision"]["identity"], guard


def test_finding_5_default_uvicorn_a_loopback_client_cannot_pose_as_a_trusted_proxy() -> None:
    # uvicorn's defaults: --proxy-headers, --forwarded-allow-ips=127.0.0.1. It replaces the
    # loopback peer with the address the client wrote; that address is a trusted proxy.
    ident, guard = _identity(["10.0.0.0/8"],
                             {"x-forwarded-for": "10.0.0.2", "x-account": "victim"},
                             proxy_headers=True)
    assert ident == guard.pseudonymize("key", KEY)


def test_finding_5_default_uvicorn_hides_the_real_proxy_so_accounts_are_not_read() -> None:
    # A real proxy on loopback: uvicorn rewrites the peer to the forwarded client, so the
    # guard cannot see the proxy and (documented) does not read the account header.
    ident, guard = _identity(["127.0.0.1/32"],
                             {"x-forwarded-for": "198.51.100.7", "x-account": "acme"},
                             proxy_headers=True)
    assert ident == guard.pseudonymize("key", KEY)


def test_finding_5_no_proxy_headers_the_trusted_proxy_names_the_account() -> None:
    ident, guard = _identity(["127.0.0.1/32"],
                             {"x-forwarded-for": "198.51.100.7", "x-account": "acme"},
                             proxy_headers=False)
    assert ident == guard.pseudonymize("acct", "acme")


def test_finding_5_no_proxy_headers_an_untrusted_peer_cannot_name_an_account() -> None:
    ident, guard = _identity(["10.0.0.0/8"],
                             {"x-forwarded-for": "10.0.0.2", "x-account": "victim"},
                             proxy_headers=False)
    assert ident == guard.pseudonymize("key", KEY)
