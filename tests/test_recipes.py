"""Deployment recipes, tested on stand-ins that build and start their app the way vLLM, SGLang
and LiteLLM do (``tests/standins``), driven by the real ``openai`` and ``anthropic`` clients."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from antidistill.pseudonym import pseudonym
from apps import clear_env, serve
from servers import free_port, server_process
from upstream_app import reply_for

pytestmark = pytest.mark.uvicorn

SECRET = "recipe-secret"
MESSAGES: list[Any] = [{"role": "user", "content": "Name three moons of Saturn"}]
ENV = {"ANTIDISTILL_SECRET": SECRET, "ANTIDISTILL_REQUEST_CAPACITY": "3",
       "ANTIDISTILL_REQUEST_REFILL_RATE": "1", "ANTIDISTILL_REQUEST_INTERVAL": "3600"}


def _drive_openai(base_url: str, api_key: str) -> None:
    """JSON and streaming chat through the server; the middleware saw the caller's own key;
    the third request uses up the budget of 3 and the fourth is a 429."""
    with openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0,
                       timeout=20) as client:
        raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
        assert raw.parse().choices[0].message.content == reply_for({"messages": MESSAGES})
        assert raw.headers["x-antidistill"] == "allow"
        assert raw.headers["x-antidistill-identity"] == pseudonym("key", api_key, SECRET)
        chunks = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == reply_for({"messages": MESSAGES})
        client.models.list()
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="m", messages=MESSAGES)
        assert info.value.response.headers["retry-after"] == "3600"


def test_vllm_middleware_option(monkeypatch: pytest.MonkeyPatch) -> None:
    """``vllm serve ... --middleware antidistill.AntiDistillMiddleware``: configuration from
    the environment only, chat and messages routes, one budget per ``--api-key`` value."""
    from standins.vllm_api_server import build_app

    clear_env(monkeypatch)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    args = Namespace(api_key=["sk-team-a", "sk-team-b"], enable_request_id_headers=True,
                     middleware=["antidistill.AntiDistillMiddleware"])
    with serve(build_app(args)) as served:
        _drive_openai(served.base_url, "sk-team-a")
        with anthropic.Anthropic(base_url=served.base_url, auth_token="sk-team-b",
                                 max_retries=0, timeout=20) as client:
            raw = client.messages.with_raw_response.create(model="m", max_tokens=64,
                                                           messages=MESSAGES)
            message = raw.parse()
            assert message.content[0].type == "text"
            assert message.content[0].text == reply_for({"messages": MESSAGES})
            assert raw.headers["x-antidistill-identity"] == pseudonym("key", "sk-team-b",
                                                                      SECRET)
            assert raw.headers["x-request-id"]  # vLLM's own middlewares still run
            with client.messages.stream(model="m", max_tokens=64, messages=MESSAGES) as stream:
                assert stream.get_final_text() == reply_for({"messages": MESSAGES})
        # antidistill is outermost: a wrong key is counted under its own pseudonym, then
        # refused by vLLM's authentication.
        with openai.OpenAI(base_url=served.base_url + "/v1", api_key="sk-wrong",
                           max_retries=0) as client, pytest.raises(openai.AuthenticationError):
            client.models.list()


@pytest.mark.parametrize(("app", "run", "extra"), [
    ("standins.sglang_http_server:app", "standins.sglang_launch_server", ["--api-key", "sk-sg"]),
    ("standins.litellm_proxy_server:app", "standins.litellm_proxy_cli", []),
], ids=["sglang", "litellm"])
def test_launcher_wraps_the_app_before_start(
    app: str, run: str, extra: list[str], tmp_path: Path
) -> None:
    """``python -m antidistill.proxy.launch MODULE:APP RUN_MODULE ARGS...``"""
    port = free_port()
    args = ["-m", "antidistill.proxy.launch", app, run, "--port", str(port), *extra]
    with server_process(args, port=port, log=tmp_path / "server.log", env=ENV) as proc:
        _drive_openai(proc.url, "sk-sg" if extra else "sk-litellm-virtual-1")
        output = proc.output()
    assert "sk-sg" not in output and "sk-litellm" not in output


def test_launcher_usage() -> None:
    from antidistill.proxy.launch import main

    assert main([]) == 2
    with pytest.raises(SystemExit):
        main(["no-colon", "x"])
