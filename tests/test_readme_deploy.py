"""The README's hooks example runs as printed, and its deployment section names real options."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest

from antidistill import RequestContext, Signal
from antidistill.proxy.cli import add_subcommands
from apps import asgi_client, clear_env

README = Path(__file__).resolve().parents[1] / "README.md"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "Summarise the tides"}]}


def _block(after: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(after)
    code = text.index("```python\n", start) + len("```python\n")
    return text[code:text.index("```", code)]


async def test_readme_hooks_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)
    namespace: dict[str, Any] = {}
    exec(compile(_block("## Hooks\n"), "README.md#hooks", "exec"), namespace)
    guard, app = namespace["guard"], namespace["app"]

    @app.post("/v1/chat/completions")
    async def chat() -> dict[str, Any]:
        return {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}

    @guard.scorer  # stands in for detection that wants this request stopped
    def stop_it(ctx: RequestContext) -> Signal | None:
        return Signal("test_block", 1.0, weight=1.0) if ctx.header("x-test-block") else None

    async with asgi_client(app) as client:
        async def call(key: str, **extra: str) -> Any:
            return await client.post("/v1/chat/completions", json=CHAT,
                                     headers={"authorization": f"Bearer {key}", **extra})

        assert (await call("sk-acme-prod-1")).status_code == 200
        staff = await call("sk-staff-1", **{"x-test-block": "1"})
        customer = await call("sk-acme-prod-1", **{"x-test-block": "1"})
    assert staff.status_code == 200  # never_block_staff
    assert customer.status_code == 403 and customer.headers["x-should-retry"] == "false"
    assert customer.json()["error"]["code"] == "access_denied"
    assert guard.hooks.error_count == 0


def test_readme_deployment_commands_exist() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Deployment"):text.index("## What it does per request")]
    parser = argparse.ArgumentParser()
    add_subcommands(parser.add_subparsers(dest="command"))
    for line in re.findall(r"antidistill proxy [^\n`]*", section):
        argv = line.split(" #")[0].split()[2:]
        args = parser.parse_args(["proxy", *[a.strip('"') for a in argv]])
        assert args.command == "proxy", line
    assert "python -m antidistill.proxy.launch" in section
    assert "antidistill pseudonym --kind key" in section
    # each walk-through is at most five commands
    for title in ("### vLLM, from zero", "### llama.cpp, Ollama, TGI"):
        block = section[section.index(title):]
        block = block[block.index("```bash\n") + 8:block.index("```\n", block.index("```bash"))]
        numbered = re.findall(r"# (\d)\.", block)
        assert numbered == ["1", "2", "3", "4", "5"], (title, numbered)
