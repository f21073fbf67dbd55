"""Smoke test of ``benchmarks/fingerprint_cost.py``: a tiny run against this checkout."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_fingerprint_cost_quick_against_itself() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fingerprint_cost.py"), "--quick",
         "--baseline", str(ROOT)],
        capture_output=True, text=True, timeout=600, cwd=str(ROOT), encoding="utf-8",
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = proc.stdout
    for label in ("2 KB chat", "1 KB export", "10 KB export", "100 KB export"):
        assert re.search(rf"^{label} \(8 bodies; same fingerprints: True\)$", out, re.M), out
    rows = re.findall(r"^  (\w[\w ]+?) +([\d.]+) +baseline +([\d.]+) +ratio +([\d.]+)$",
                      out, re.M)
    assert len(rows) == 4 * 5, out
    assert all(float(ours) > 0 and float(theirs) > 0 for _, ours, theirs, _ in rows)
