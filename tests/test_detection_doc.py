"""docs/detection.md carries the generated table of every detection constant."""

from __future__ import annotations

from pathlib import Path

from antidistill.policy.table import BEGIN, END, markdown, rows

DOC = Path(__file__).resolve().parent.parent / "docs" / "detection.md"


def test_detection_doc_table_is_the_generated_one() -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    assert text[start:end].strip() == markdown(), \
        "regenerate with: python -m antidistill.policy.table"


def test_table_covers_every_weight_threshold_and_family() -> None:
    from antidistill.policy.actions import DEFAULT_THRESHOLDS
    from antidistill.scoring.combine import DEFAULT_WEIGHTS
    from antidistill.signals.families import FAMILIES

    names = {(where.rsplit(".", 1)[-1], name) for where, name, _ in rows()}
    for table, keys in (("DEFAULT_WEIGHTS", DEFAULT_WEIGHTS), ("DEFAULT_THRESHOLDS",
                        DEFAULT_THRESHOLDS), ("FAMILIES", FAMILIES)):
        assert {(table, k) for k in keys} <= names
