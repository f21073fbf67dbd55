"""Smoke test of ``benchmarks/worstcase.py``: a quick run as a subprocess.

Checks that the script runs every analyser on every adversarial input, prints its table and
acceptance lines, and that the body of issue #11's finding 8 (a capitalised word, then
thousands of spaces) no longer costs a multiple of a normal body: it cost 47x before the
skeleton patterns were rewritten, so the 5x bound holds with a wide margin even on a loaded
machine (the figures are CPU time, not wall time).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "worstcase.py"
ANALYSERS = ("parser", "prompt", "prompt_turns", "request", "intent", "harvesting", "metering",
             "degrade")


def test_worstcase_quick(tmp_path: Path) -> None:
    out = tmp_path / "ratios.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=str(ROOT),
                          encoding="utf-8")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    for name in ANALYSERS:
        assert re.search(rf"^(PASS|FAIL): {name}: worst case [\d.]+x a normal body of the same "
                         r"size \(target <= 5x\)$", proc.stdout, re.M), name
    ratios = json.loads(out.read_text(encoding="utf-8"))
    assert set(ratios) == set(ANALYSERS)
    assert all(len(by_input) >= 20 for by_input in ratios.values())
    finding_8 = ratios["prompt"]["spaces_after_name"]
    assert max(finding_8.values()) < 5, finding_8
