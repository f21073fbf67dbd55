"""Smoke test of ``benchmarks/calibrate.py``: a small honest-only day runs and prints its
per-detector and per-cohort tables (the import of the demo guard broke unnoticed once)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_calibrate_small_day_prints_its_tables() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "calibrate.py"), "--seeds", "7",
         "--scale", "0.05"],
        capture_output=True, text=True, timeout=600, cwd=str(ROOT), encoding="utf-8")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "per cohort, share of its requests at or above the bar:" in run.stdout
    assert "casual" in run.stdout and "requests" in run.stdout
