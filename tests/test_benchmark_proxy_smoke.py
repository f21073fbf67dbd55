"""Smoke test of ``benchmarks/proxy.py``: a tiny run as a subprocess prints its table with every
variant and no refused request, and writes its JSON."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from servers import child_env

ROOT = Path(__file__).resolve().parent.parent
LABELS = ("direct to the upstream", "proxy, forwarding only", "proxy + budgets",
          "proxy + all detectors")


@pytest.mark.uvicorn
def test_proxy_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "proxy.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "proxy.py"), "--quick", "--json", str(out)],
        capture_output=True, text=True, timeout=240, cwd=str(ROOT), env=child_env())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    text = proc.stdout
    assert text.startswith("Python 3.") and "antidistill 0." in text
    for label in LABELS:
        row = re.search(rf"^{re.escape(label)}\s+[\d.]+ (µs|ms)\s.*\s(\d+)$", text, re.M)
        assert row is not None, (label, text[-1500:])
        assert row.group(2) == "0", label  # every request served
    assert re.search(r"^antidistill's share \(all detectors over forwarding alone\): ", text,
                     re.M), text[-500:]
    data = json.loads(out.read_text(encoding="utf-8"))["variants"]
    assert sorted(data) == sorted(["direct", "proxy-exempt", "proxy-budgets", "proxy-detect"])
    for name, v in data.items():
        assert v["n"] == 90 and v["non_2xx"] == 0, (name, v)
        assert v["median_us"] > 0
        if name != "direct":
            assert v["proxy_cpu_us"] is not None and v["proxy_cpu_us"] >= 0
