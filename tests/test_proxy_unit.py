"""Unit tests of the proxy's parts: header rules, uvicorn options, the client lifecycle, the
``pseudonym`` command, event logging and the report console."""

from __future__ import annotations

import argparse
import io
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import antidistill.proxy
from antidistill import ConfigurationError, Settings
from antidistill.decision import Action, Decision
from antidistill.enforcement.responses import error_body
from antidistill.proxy.cli import add_subcommands, uvicorn_options
from antidistill.proxy.headers import end_to_end, response_headers, upstream_request_headers
from antidistill.proxy.upstream import UpstreamProxy, create_proxy_app
from antidistill.pseudonym import pseudonym
from antidistill.reporting.console import PIPE_WIDTH, report_console
from antidistill.reporting.logging import EVENT_LOGGER, enable_event_logging
from apps import clear_env, make_guard
from servers import child_env


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


# -- headers ---------------------------------------------------------------------------------
def test_hop_by_hop_and_connection_named_headers_are_dropped() -> None:
    headers = [(b"Connection", b"close, X-Secret-Hop"), (b"x-secret-hop", b"1"),
               (b"keep-alive", b"5"), (b"transfer-encoding", b"chunked"), (b"upgrade", b"h2c"),
               (b"proxy-authorization", b"x"), (b"te", b"trailers"), (b"trailer", b"x"),
               (b"proxy-connection", b"keep-alive"), (b"content-type", b"application/json")]
    assert end_to_end(headers) == [(b"content-type", b"application/json")]
    assert response_headers(headers) == [(b"content-type", b"application/json")]


def test_forwarding_headers_are_appended_and_host_left_to_the_client() -> None:
    out = upstream_request_headers(
        [(b"host", b"api.example.com"), (b"x-forwarded-for", b"198.51.100.7"),
         (b"x-forwarded-proto", b"https"), (b"authorization", b"Bearer k"),
         (b"expect", b"100-continue")],
        client="10.0.0.5", scheme="http")
    assert (b"host", b"api.example.com") not in out
    assert dict(out) == {b"authorization": b"Bearer k",
                         b"x-forwarded-for": b"198.51.100.7, 10.0.0.5",
                         b"x-forwarded-proto": b"http", b"x-forwarded-host": b"api.example.com"}
    bare = dict(upstream_request_headers([], client=None, scheme="https"))
    assert bare == {b"x-forwarded-proto": b"https"}


# -- uvicorn options -------------------------------------------------------------------------
def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_subcommands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["proxy", *argv])


def test_uvicorn_proxy_headers_are_off_by_default() -> None:
    options = uvicorn_options(_args("--upstream", "http://127.0.0.1:9"), ["10.0.0.0/8"])
    assert options["proxy_headers"] is False and "forwarded_allow_ips" not in options
    assert options["access_log"] is False and options["lifespan"] == "on"
    assert (options["host"], options["port"], options["workers"]) == ("127.0.0.1", 8080, 1)


def test_uvicorn_proxy_headers_follow_the_trusted_proxies() -> None:
    options = uvicorn_options(_args("--proxy-headers"), ["10.0.0.0/8", "192.168.1.1"])
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == "10.0.0.0/8,192.168.1.1"
    with pytest.raises(SystemExit):
        uvicorn_options(_args("--proxy-headers"), [])


# -- the app and its client --------------------------------------------------------------------
def test_bad_or_missing_upstream_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        UpstreamProxy("127.0.0.1:8000")
    with pytest.raises(ConfigurationError):
        create_proxy_app(Settings(secret="s"))
    proc = subprocess.run([sys.executable, "-c", "import antidistill.proxy as p; p.app"],
                          env=child_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "ANTIDISTILL_UPSTREAM_URL" in proc.stderr


def test_module_app_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTIDISTILL_UPSTREAM_URL", "http://127.0.0.1:9/base/")
    monkeypatch.setenv("ANTIDISTILL_SECRET", "s")
    monkeypatch.setattr(antidistill.proxy, "_app", None)
    app = antidistill.proxy.app
    assert app is antidistill.proxy.app  # built once
    assert isinstance(app.app, UpstreamProxy)
    assert (app.app.base, app.app.prefix) == ("http://127.0.0.1:9", b"/base")


async def test_lifespan_opens_and_closes_the_pooled_client() -> None:
    proxy = UpstreamProxy("http://127.0.0.1:9", max_connections=3)
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []
    seen: list[Any] = []

    async def receive() -> dict[str, Any]:
        seen.append(proxy._http)
        return inbox.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    await proxy({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete",
                                         "lifespan.shutdown.complete"]
    assert seen[0] is None and seen[1] is not None and proxy._http is None
    client = proxy.client()  # lazily again without a lifespan
    assert client is proxy.client()
    assert "user-agent" not in client.headers and "accept-encoding" not in client.headers
    await proxy.aclose()


# -- pseudonym -----------------------------------------------------------------------------------
def test_pseudonym_matches_the_middleware(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = make_guard()
    raw = "sk-live-abc123"
    assert pseudonym("key", raw, "test-secret-not-for-production") == guard.pseudonymize(
        "key", raw)
    assert pseudonym("key", f"Bearer {raw}\n", "test-secret-not-for-production") == \
        guard.pseudonymize("key", raw)
    assert pseudonym("account", "org_1", "x").startswith("acct:")


def test_pseudonym_command_reads_stdin_only() -> None:
    env = child_env({"ANTIDISTILL_SECRET": "test-secret-not-for-production"})
    cmd = [sys.executable, "-m", "antidistill.cli", "pseudonym", "--kind", "key"]
    proc = subprocess.run(cmd, input="sk-live-abc123\n\nsk-other\n", env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    guard = make_guard()
    assert proc.stdout.split() == [guard.pseudonymize("key", "sk-live-abc123"),
                                   guard.pseudonymize("key", "sk-other")]
    nosecret = subprocess.run(cmd, input="sk-live\n", env=child_env(), capture_output=True,
                              text=True, timeout=60)
    assert nosecret.returncode == 2 and "ANTIDISTILL_SECRET" in nosecret.stderr
    assert "sk-live" not in nosecret.stderr + nosecret.stdout


# -- event logging ---------------------------------------------------------------------------------
@pytest.fixture
def event_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger(EVENT_LOGGER)
    before, level = list(logger.handlers), logger.level
    yield logger
    logger.handlers[:] = before
    logger.setLevel(level)


async def test_log_events_makes_decisions_visible(event_logger: logging.Logger) -> None:
    from antidistill import AntiDistillMiddleware
    from apps import asgi_client, make_fastapi_app

    assert not event_logger.handlers
    guard = make_guard(log_events=True, request_capacity=1, request_refill_rate=0)
    make_guard(log_events=True)  # a second guard adds no second handler
    [handler] = event_logger.handlers
    stream = io.StringIO()
    enable_event_logging(stream)
    assert event_logger.handlers == [handler]
    app, _ = make_fastapi_app()
    async with asgi_client(AntiDistillMiddleware(app, guard=guard)) as client:
        await client.get("/v1/models", headers={"x-api-key": "sk-raw-visible"})
        assert (await client.get("/v1/models", headers={"x-api-key": "sk-raw-visible"})
                ).status_code == 429
    text = stream.getvalue()
    assert "antidistill.events" in text and '"action":"throttle"' in text
    assert "sk-raw-visible" not in text


def test_log_events_is_off_by_default(event_logger: logging.Logger) -> None:
    make_guard()
    assert not event_logger.handlers


# -- smaller fixes ----------------------------------------------------------------------------
@pytest.mark.parametrize(("seconds", "text"), [(1.0, "Retry after 1 second."),
                                               (2.5, "Retry after 3 seconds.")])
def test_retry_message_is_pluralised(seconds: float, text: str) -> None:
    _, body, _ = error_body(Decision(action=Action.THROTTLE, score=0.9, retry_after=seconds))
    assert body["error"]["message"] == "Rate limit exceeded. " + text  # type: ignore[index]


def test_report_console_is_wide_when_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert report_console(io.StringIO()).width == PIPE_WIDTH
    monkeypatch.setenv("COLUMNS", "132")
    assert report_console(io.StringIO()).width == 132


def test_cli_help_has_no_rst_markup() -> None:
    proc = subprocess.run([sys.executable, "-m", "antidistill.cli", "--help"], env=child_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "proxy" in proc.stdout and "pseudonym" in proc.stdout
    assert "``" not in proc.stdout


async def test_upstream_url_keeps_the_prefix_raw_path_and_query() -> None:
    import asyncio

    proxy = UpstreamProxy("http://127.0.0.1:9/api/")
    scope = {"type": "http", "method": "GET", "path": "/v1/a/b", "raw_path": b"/v1/a%2Fb",
             "query_string": b"x=1&y=%20", "headers": [(b"host", b"edge")],
             "client": ("10.0.0.5", 5), "scheme": "https"}

    async def receive() -> dict[str, Any]:
        raise AssertionError("no body to read")

    request = proxy._build(scope, asyncio.Event(), receive)
    assert str(request.url) == "http://127.0.0.1:9/api/v1/a%2Fb?x=1&y=%20"
    assert request.headers["host"] == "127.0.0.1:9"
    assert request.headers["x-forwarded-host"] == "edge"
    assert request.headers["x-forwarded-proto"] == "https"
    await proxy.aclose()


@pytest.mark.parametrize("raw_path", [b"/v1/a\x00b", b"/v1/\xff"])
async def test_unforwardable_target_is_a_400_not_a_crash(raw_path: bytes) -> None:
    proxy = UpstreamProxy("http://127.0.0.1:9")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await proxy({"type": "http", "method": "GET", "path": "/v1/x", "raw_path": raw_path,
                 "query_string": b"", "headers": []}, receive, send)
    assert sent[0]["status"] == 400
    assert b'"code":"invalid_request"' in sent[1]["body"]
    await proxy.aclose()
