"""``antidistill proxy`` end to end: a real upstream process, the proxy as a real process (the
CLI) or uvicorn server, and the real ``openai`` and ``anthropic`` clients."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from antidistill import Settings
from antidistill.proxy import create_proxy_app
from apps import serve, wait_until
from servers import Process, free_port, server_process, uvicorn_args
from upstream_app import GZIP_BODY, reply_for

pytestmark = pytest.mark.uvicorn

SECRET = "proxy-test-secret"
TIMEOUT = 2.0  # the proxy's upstream read timeout
MESSAGES: list[Any] = [{"role": "user", "content": "Name three moons of Jupiter"}]


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    port = free_port()
    log = tmp_path_factory.mktemp("upstream") / "upstream.log"
    with server_process(uvicorn_args("upstream_app:app", port), port=port, log=log) as proc:
        yield proc


@pytest.fixture(scope="module")
def proxy(upstream: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """``antidistill proxy`` started the documented way, with a tiny request budget."""
    port = free_port()
    log = tmp_path_factory.mktemp("proxy") / "proxy.log"
    env = {"ANTIDISTILL_SECRET": SECRET, "ANTIDISTILL_REQUEST_CAPACITY": "4",
           "ANTIDISTILL_REQUEST_REFILL_RATE": "1", "ANTIDISTILL_REQUEST_INTERVAL": "3600",
           "ANTIDISTILL_TOKEN_CAPACITY": "100000000",
           "ANTIDISTILL_UPSTREAM_TIMEOUT": str(TIMEOUT),
           "ANTIDISTILL_HOOKS": "proxy_hooks:register"}
    args = ["-m", "antidistill.cli", "proxy", "--upstream", upstream.url, "--port", str(port)]
    with server_process(args, port=port, log=log, env=env) as proc:
        yield proc


def key() -> str:
    """A fresh API key per call: each test has its own budget and risk."""
    return "sk-proxytest-" + uuid.uuid4().hex


def oai(proxy: Process, api_key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url + "/v1", api_key=api_key or key(), max_retries=0,
                         timeout=20)


def claude(proxy: Process) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key=key(), max_retries=0, timeout=20)


def upstream_state(upstream: Process) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(upstream.url + "/_control/state", timeout=5).json()
    return state


def release(upstream: Process, gate: str) -> None:
    httpx.post(f"{upstream.url}/_control/release/{gate}", timeout=5).raise_for_status()


def test_openai_json(proxy: Process) -> None:
    with oai(proxy) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="stand-in", messages=MESSAGES, max_tokens=50)
    completion = raw.parse()
    assert completion.choices[0].message.content == reply_for({"messages": MESSAGES})
    assert completion.usage is not None and completion.usage.prompt_tokens == 7
    assert raw.headers["x-upstream"] == "stand-in"  # upstream headers passed through
    assert raw.headers["content-type"] == "application/json"


def test_openai_stream_arrives_before_the_upstream_finishes(
    proxy: Process, upstream: Process
) -> None:
    gate = uuid.uuid4().hex
    with oai(proxy) as client:
        stream = client.chat.completions.create(
            model="stand-in", messages=MESSAGES, stream=True, extra_headers={"x-test-gate": gate})
        chunks = iter(stream)
        first = next(chunks)
        assert first.choices[0].delta.role == "assistant"
        assert gate not in upstream_state(upstream)["finished"]  # the upstream is still waiting
        release(upstream, gate)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == reply_for({"messages": MESSAGES})
    assert gate in upstream_state(upstream)["finished"]


def test_anthropic_json_and_stream(proxy: Process, upstream: Process) -> None:
    expected = reply_for({"messages": MESSAGES})
    with claude(proxy) as client:
        message = client.messages.create(model="stand-in", max_tokens=50, messages=MESSAGES)
        assert message.content[0].type == "text" and message.content[0].text == expected
        gate = uuid.uuid4().hex
        with client.messages.stream(model="stand-in", max_tokens=50, messages=MESSAGES,
                                    extra_headers={"x-test-gate": gate}) as stream:
            events = iter(stream)
            assert next(events).type == "message_start"
            assert gate not in upstream_state(upstream)["finished"]
            release(upstream, gate)
            for _ in events:
                pass
            final = stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == expected
    assert final.usage.output_tokens == len(expected.split(" "))


def test_budget_429_with_retry_after(proxy: Process) -> None:
    with oai(proxy) as client:
        for _ in range(4):
            client.chat.completions.create(model="stand-in", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="stand-in", messages=MESSAGES)
    err = info.value
    assert err.response.headers["retry-after"] == "3600"
    assert err.code == "rate_limit_exceeded"
    assert "Retry after 3600 seconds." in err.message


def test_degraded_request_reaches_the_upstream_rewritten(
    proxy: Process, upstream: Process
) -> None:
    tag = uuid.uuid4().hex
    with oai(proxy) as client:
        done = client.chat.completions.create(
            model="stand-in", messages=MESSAGES, max_tokens=3000, logprobs=True, top_logprobs=5,
            extra_headers={"x-test-degrade": "1", "x-test-id": tag})
    assert done.choices[0].message.content
    seen = upstream_state(upstream)["seen"][tag]
    assert seen["max_tokens"] == 256  # ANTIDISTILL_DEGRADE_MAX_TOKENS
    assert seen["logprobs"] is None and seen["top_logprobs"] is None
    # Decisions are visible on the proxy's stderr out of the box, pseudonymised.
    assert wait_until(lambda: '"action":"degrade"' in proxy.output(), timeout=5)
    line = next(ln for ln in proxy.output().splitlines() if '"action":"degrade"' in ln)
    assert "antidistill.events" in line and "test_degrade" in line
    assert "sk-proxytest" not in proxy.output()


def test_upstream_slow_is_a_504_within_the_timeout(proxy: Process) -> None:
    started = time.monotonic()
    with oai(proxy) as client, pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="stand-in", messages=MESSAGES,
                                       extra_headers={"x-test-slow": "25"})
    elapsed = time.monotonic() - started
    assert info.value.status_code == 504
    assert info.value.response.json()["error"]["code"] == "upstream_timeout"
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 6


def test_upstream_down_is_a_502_in_the_openai_error_shape() -> None:
    dead = free_port()  # nothing listens there
    app = create_proxy_app(Settings(secret=SECRET, upstream_url=f"http://127.0.0.1:{dead}"))
    with serve(app) as served:
        with openai.OpenAI(base_url=served.base_url + "/v1", api_key=key(), max_retries=0,
                           timeout=20) as client, \
                pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="stand-in", messages=MESSAGES)
    assert info.value.status_code == 502
    body = info.value.response.json()
    assert body == {"error": {"message": "The model server could not be reached.",
                              "type": "upstream_unavailable", "param": None,
                              "code": "upstream_unavailable"}}


def test_client_disconnect_cancels_the_upstream_request(upstream: Process) -> None:
    # A long upstream timeout here: the cancellation must come from the disconnect, not from
    # the read timeout ending the stalled stream.
    app = create_proxy_app(Settings(secret=SECRET, upstream_url=upstream.url,
                                    upstream_timeout=120))
    tag = uuid.uuid4().hex
    with serve(app) as served, openai.OpenAI(base_url=served.base_url + "/v1", api_key=key(),
                                             max_retries=0, timeout=20) as client:
        stream = client.chat.completions.create(
            model="stand-in", messages=MESSAGES, stream=True, extra_headers={"x-test-hang": tag})
        next(iter(stream))
        assert tag not in upstream_state(upstream)["disconnects"]
        stream.close()
        assert wait_until(lambda: tag in upstream_state(upstream)["disconnects"], timeout=15)


def test_ten_megabyte_request_body(proxy: Process, upstream: Process) -> None:
    words = [hashlib.sha256(str(i).encode()).hexdigest()[:12] for i in range(810_000)]
    content = " ".join(words)
    assert len(content) > 10 * 1024 * 1024
    messages: list[Any] = [{"role": "user", "content": content}]
    tag = uuid.uuid4().hex
    with oai(proxy) as client:
        done = client.chat.completions.create(model="stand-in", messages=messages,
                                              extra_headers={"x-test-id": tag})
    assert done.choices[0].message.content == reply_for({"messages": messages})
    assert upstream_state(upstream)["seen"][tag]["bytes"] > 10 * 1024 * 1024


def test_hop_by_hop_dropped_host_and_forwarding_headers_set(
    proxy: Process, upstream: Process
) -> None:
    with httpx.Client(timeout=10) as client:
        for name in ("accept", "accept-encoding", "user-agent"):
            del client.headers[name]
        r = client.get(proxy.url + "/headers", headers={
            "authorization": "Bearer " + key(), "connection": "keep-alive, x-drop-me",
            "x-drop-me": "1", "keep-alive": "timeout=5", "proxy-authorization": "Basic eA==",
            "te": "trailers", "x-forwarded-for": "203.0.113.9", "x-custom": "kept"})
    assert r.status_code == 200
    seen: dict[str, list[str]] = {}
    for name, value in r.json():
        seen.setdefault(name, []).append(value)
    for gone in ("x-drop-me", "keep-alive", "proxy-authorization", "te", "connection",
                 "accept-encoding", "user-agent", "accept"):
        assert gone not in seen, gone
    assert seen["host"] == [f"127.0.0.1:{upstream.port}"]
    assert seen["x-forwarded-for"] == ["203.0.113.9, 127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-forwarded-host"] == [f"127.0.0.1:{proxy.port}"]
    assert seen["x-custom"] == ["kept"] and seen["authorization"][0].startswith("Bearer sk-")


def test_gzip_passes_through_untouched(proxy: Process) -> None:
    with httpx.Client(timeout=10) as client, client.stream(
            "GET", proxy.url + "/gzip", headers={"accept-encoding": "gzip",
                                                "x-api-key": key()}) as r:
        raw = b"".join(r.iter_raw())
        assert r.headers["content-encoding"] == "gzip"
        assert int(r.headers["content-length"]) == len(GZIP_BODY)
    assert raw == GZIP_BODY
    assert json.loads(httpx.Response(200, content=raw, headers={
        "content-encoding": "gzip"}).read())["compressed"] is True


def test_proxy_log_has_no_raw_key_or_client_address(proxy: Process) -> None:
    with oai(proxy) as client:
        client.chat.completions.create(model="stand-in", messages=MESSAGES)
    text = proxy.output()
    assert "sk-proxytest" not in text
    assert "127.0.0.1:" not in text.replace(f"127.0.0.1:{proxy.port}", "")
