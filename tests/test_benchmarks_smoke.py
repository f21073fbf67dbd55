"""Smoke tests of ``benchmarks/overhead.py`` and ``overhead_study.py``: tiny in-process runs
as subprocesses.

Checks that the script exits 0, prints its tables and acceptance lines, writes JSON with
every variant, and that no benchmark request was refused: a non-2xx there would mean the
benchmark measures error pages (a FastAPI signature problem, or antidistill blocking the
benchmark's benign traffic) instead of served requests.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "overhead.py"
STUDY = ROOT / "benchmarks" / "overhead_study.py"
VARIANTS = ("bare", "noop", "antidistill", "antidistill-budgets", "antidistill-full",
            "antidistill-nobody", "slowapi", "floor")
LABELS = ("bare FastAPI app", "+ no-op ASGI middleware", "+ antidistill defaults",
          "+ antidistill budgets only", "+ antidistill all+events+metrics",
          "+ antidistill policy=budget", "+ slowapi (1 limit)", "+ budget arithmetic alone")
RATIO_LINES = [re.compile(
    rf"^(PASS|FAIL): antidistill \({re.escape(what)}\) added -?\d+ µs vs slowapi added "
    rf"-?\d+ µs -> ratio (-?[\d.]+|nan|-?inf) \(target <= {target}\)$", re.M)
    for what, target in (("budgets only, #15", "1"), ("defaults = all detectors, #15", "2"),
                         ("all detectors + events + metrics", "2"))]
SIZE_LINE = re.compile(r"^(PASS|FAIL): 100 KB body: -?[\d.]+ ms added \(target < 1 ms\)$", re.M)


def _run(*args: str, timeout: float = 600.0,
         script: Path = SCRIPT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True,
        timeout=timeout, cwd=str(ROOT), encoding="utf-8",
    )


def _assert_benign(name: str, decisions: dict[str, int], at_least: int) -> None:
    """The guard ran on every request and let the benign benchmark traffic through:
    timing flagged, delayed or blocked requests would measure another code path."""
    actions = {a: decisions.get(a, 0)
               for a in ("allow", "flag", "degrade", "delay", "throttle", "block")}
    assert sum(actions.values()) >= at_least, (name, decisions)
    assert actions["allow"] >= 0.9 * sum(actions.values()), (name, decisions)


def test_overhead_inprocess_quick(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    proc = _run("--quick", "--inprocess-only", "--sizes", "--requests", "45",
                         "--rounds", "3", "--json", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    text = proc.stdout
    assert text.startswith("Python 3."), text[:200]
    assert "CPUs: " in text and "antidistill 0." in text
    assert "Per-request cost, in-process" in text
    for label in LABELS:
        assert re.search(rf"^{re.escape(label)}\s+-?[\d.]+ (µs|ms)", text, re.M), label
    assert "Added cost by body size" in text
    for size in ("1 KB", "10 KB", "100 KB", "1 MB"):
        assert re.search(rf"^{size}\s+3x\d+\s", text, re.M), size
    for line in RATIO_LINES:
        assert line.search(text), (line.pattern, text[-1500:])
    assert SIZE_LINE.search(text), text[-1500:]

    data = json.loads(out.read_text(encoding="utf-8"))
    variants = data["inprocess"]["variants"]
    assert sorted(variants) == sorted(VARIANTS)
    for name, v in variants.items():
        assert v["n"] == 45, name
        assert v["non_2xx"] == 0, (name, v["statuses"], v["decisions"])
        assert v["median_us"] > 0, name
        if name.startswith("antidistill"):
            _assert_benign(name, v["decisions"], at_least=45)
        else:
            assert v["decisions"] == {}, name
    sizes = data["sizes"]["sizes"]
    assert [s["kb"] for s in sizes] == [1, 10, 100, 1024]
    for s in sizes:
        assert abs(s["body_bytes"] - s["kb"] * 1024) <= 0.05 * s["kb"] * 1024 + 300, s
        assert s["non_2xx"] == 0, s
    assert len(data["acceptance"]) == 4


BASELINE_LINE = re.compile(
    r"^(PASS|FAIL): antidistill \(defaults = all detectors, #12\) added -?\d+ µs vs the "
    r"baseline's -?\d+ µs in the same run \([+-][\d.]+%; target: no more\)$", re.M)


def test_overhead_times_a_baseline_checkout_in_the_same_run(tmp_path: Path) -> None:
    """``--baseline`` imports another checkout under another name and times it interleaved
    with this one (here: this checkout itself, so both packages must serve every request)."""
    out = tmp_path / "overhead.json"
    proc = _run("--quick", "--inprocess-only", "--requests", "30", "--rounds", "3",
                "--variants", "bare,antidistill", "--baseline", str(ROOT), "--json", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert re.search(r"^\+ antidistill defaults @ baseline\s+-?[\d.]+ (µs|ms)", proc.stdout,
                     re.M), proc.stdout[-2000:]
    assert BASELINE_LINE.search(proc.stdout), proc.stdout[-1500:]
    variants = json.loads(out.read_text(encoding="utf-8"))["inprocess"]["variants"]
    assert sorted(variants) == ["antidistill", "antidistill@base", "bare"]
    for name in ("antidistill", "antidistill@base"):
        assert variants[name]["non_2xx"] == 0, variants[name]
        _assert_benign(name, variants[name]["decisions"], at_least=30)


def test_overhead_study_quick() -> None:
    proc = _run("--quick", script=STUDY)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    text = proc.stdout
    assert "Budgets-only cost study, in-process" in text
    for label in ("bare FastAPI app", "+ slowapi (1 limit)", "+ budget arithmetic alone",
                  "+ antidistill budgets only", "budgets without Guard.evaluate",
                  "budgets without the settlement", "+ shipped parts, straight line",
                  "+ parts, JSON-only parse and meter"):
        # every variant served every request (non-2xx is the last column)
        assert re.search(rf"^\s*{re.escape(label)}.* 0$", text, re.M), (label, text[-2000:])
    assert re.search(r"^Guard.evaluate: -?[\d.]+ µs of the -?[\d.]+ µs; settlement: "
                     r"-?[\d.]+ µs$", text, re.M), text[-800:]
    assert re.search(r"^Multi-format parse \+ meter over JSON-only: -?[\d.]+ µs; shipped "
                     r"parts in a straight line: -?[\d.]+x slowapi$", text, re.M), text[-800:]


@pytest.mark.uvicorn
def test_overhead_uvicorn_quick(tmp_path: Path) -> None:
    out = tmp_path / "uvicorn.json"
    proc = _run("--quick", "--uvicorn-only", "--variants", "antidistill",
                   "--uvicorn-requests", "32", "--uvicorn-rounds", "1",
                   "--concurrency", "4", "--json", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    text = proc.stdout
    assert "uvicorn (req/s" in text
    for label in ("bare FastAPI app", "+ antidistill defaults"):
        row = re.search(rf"^{re.escape(label)}\s+([\d,]+)\s+\d+%.*\s(\d+)$", text, re.M)
        assert row is not None, (label, text[-1500:])
        assert int(row.group(1).replace(",", "")) > 0
        assert row.group(2) == "0", label  # no refused request
    assert "antidistill vs slowapi ratio: not measured" in text
    variants = json.loads(out.read_text(encoding="utf-8"))["uvicorn"]["variants"]
    assert sorted(variants) == ["antidistill", "bare"]
    _assert_benign("antidistill", variants["antidistill"]["decisions"], at_least=32)
