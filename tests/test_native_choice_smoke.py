"""``benchmarks/native_choice.py --quick`` runs and prints its three comparisons."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_native_choice_quick() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "native_choice.py"), "--quick"],
        capture_output=True, text=True, timeout=240, cwd=str(ROOT), encoding="utf-8")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    text = proc.stdout
    assert text.startswith("Python 3."), text[:200]
    for title in ("JSON decoding", "Intent pre-filter", "Hashing and sketching"):
        assert title in text, title
    for row in ("2 KB chat body", "100 KB agent history", "SSE chunk", "usage object",
                "2 KB benign prompt", "16 KB benign prompt", "segment sketch (current"):
        assert re.search(rf"^{re.escape(row)}.*\d", text, re.M), row
    # the stdlib is its own reference; the others differ or are reported missing
    assert re.search(r"^differs from json on edge docs .* 0 refused, 0 other value", text,
                     re.M), text[-1500:]
    assert "DIFFERS" not in text, text[-1500:]
