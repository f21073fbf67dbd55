"""The README's main job: the simulated day, its recording, and its replay."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from antidistill.cli import main

FIGURES = (
    re.compile(r"Hydra accounts flagged by their 3rd request.*?= *([\d.]+)%", re.S),
    re.compile(r"Benign accounts ever flagged: (\d+)/(\d+)"),
)


def _figures(text: str) -> list[tuple[str, ...]]:
    flat = " ".join(text.split())
    out = []
    for pattern in FIGURES:
        m = pattern.search(flat)
        assert m is not None, (pattern.pattern, text[-3000:])
        out.append(m.groups())
    return out


def test_demo_catches_the_hydra_spares_the_honest_and_replays_identically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    log = tmp_path / "day.jsonl"
    assert main(["demo", "--scale", "0.06", "--hydra", "150", "--quiet",
                 "--record", str(log)]) == 0
    demo_out = capsys.readouterr().out
    (hydra_rate,), (flagged, benign) = _figures(demo_out)
    # 93.8% at this small scale since max_tokens at an unstated cap is no evidence (it was
    # 96.9% with the old default cap of 4096, the demo hydra's max_tokens); full scale: 99.7%
    assert float(hydra_rate) >= 90.0
    assert int(flagged) == 0 and int(benign) > 100
    # every campaign appears and the runaway loop is throttled by its budget, not detection
    for name in ("hydra", "harvester", "sysprompt_extraction", "grading", "runaway_loop"):
        assert name in demo_out
    assert log.stat().st_size > 0

    assert main(["replay", str(log), "--settings-from-demo", "--quiet"]) == 0
    replay_out = capsys.readouterr().out
    assert _figures(replay_out) == _figures(demo_out)
