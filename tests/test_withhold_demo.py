"""The demo's withholding panel and the withholding benchmark's smoke run."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from antidistill.decision import Action, Decision
from antidistill.demo.withhold_view import SAMPLE_REASONING, render, split_view

ROOT = Path(__file__).resolve().parent.parent


def test_split_view_withholds_reasoning_keeps_answer() -> None:
    (r0, a0), (r1, a1) = split_view()
    assert r0 == SAMPLE_REASONING and "<think>" in a0
    assert r1 == "" and "<think>" not in a1 and "pairing" not in a1
    assert a0.endswith(a1) and a1.startswith("The sum of the first ten odd numbers is 100")


@dataclass
class _Acct:
    key: str
    cohort: str


@dataclass
class _Out:
    first_flag: Decision | None
    flagged_at: int = 3


@dataclass
class _Report:
    accounts: list[_Acct]
    outcomes: dict[str, Any] = field(default_factory=dict)


def test_render_names_the_degraded_request() -> None:
    console = Console(record=True, width=130)
    report = _Report([_Acct("a", "hydra"), _Acct("b", "honest")], {
        "a": _Out(Decision(action=Action.DEGRADE, score=0.7, identity="key:abc")),
        "b": _Out(None)})
    render(console, report, "hydra")
    render(console, report, "honest")
    text = console.export_text()
    assert "key:abc request #3: degrade" in text and "no request of this cohort" in text
    assert text.count("with withholding (what is sent)") == 2 and "(withheld)" in text


def test_benchmark_quick() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "withhold.py"), "--quick",
                           "--rounds", "1"], capture_output=True, text=True, timeout=120,
                          cwd=str(ROOT), encoding="utf-8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = re.findall(r"^linearity (\S+): (\d+) / (\d+) / (\d+) ns/byte", proc.stdout, re.M)
    assert {m[0] for m in lines} == {"openai.chat", "openai.chat+think", "openai.responses",
                                     "anthropic.messages", "gemini"}
    assert "withholding switched off" in proc.stdout


def test_demo_explain_shows_the_panels(capsys: Any, monkeypatch: Any) -> None:
    from antidistill.cli import main

    monkeypatch.setenv("COLUMNS", "160")
    assert main(["demo", "--scale", "0.01", "--hydra", "20", "--quiet",
                 "--explain", "harvester"]) == 0
    out = capsys.readouterr().out
    assert "harvester withholding (" in out and "with withholding (what is sent)" in out
    assert "(withheld)" in out
