"""Every detection threshold and weight in one table, generated from the code's constants.

``python -m antidistill.policy.table`` prints the Markdown table that ``docs/detection.md``
carries between its ``<!-- detection-table -->`` markers (a test keeps the two equal).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from antidistill.policy import actions
from antidistill.scoring import combine
from antidistill.scoring.assess import CLUSTER_MEMBERS_SCALE, RISK_FLOOR
from antidistill.signals import (
    cadence,
    churn,
    continuity,
    families,
    fanout,
    material,
    pipeline,
    spread,
)

BEGIN = "<!-- detection-table -->"
END = "<!-- /detection-table -->"


def _dataclass_rows(where: str, obj: object) -> Iterator[tuple[str, str, str]]:
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        yield where, f.name, repr(getattr(obj, f.name))


def rows() -> Iterator[tuple[str, str, str]]:
    """(where, name, value) of every tunable constant of detection and policy."""
    for name, w in combine.DEFAULT_WEIGHTS.items():
        yield "scoring.combine.DEFAULT_WEIGHTS", name, repr(w)
    yield "scoring.combine", "CUSTOM_WEIGHT", repr(combine.CUSTOM_WEIGHT)
    yield "scoring.combine", "IDENTITY_RISK_SCALE", repr(combine.IDENTITY_RISK_SCALE)
    yield "scoring.combine", "CLUSTER_RISK_SCALE", repr(combine.CLUSTER_RISK_SCALE)
    yield "scoring.assess", "RISK_FLOOR", repr(RISK_FLOOR)
    yield "scoring.assess", "CLUSTER_MEMBERS_SCALE", repr(CLUSTER_MEMBERS_SCALE)
    for name, t in actions.DEFAULT_THRESHOLDS.items():
        yield "policy.actions.DEFAULT_THRESHOLDS", name, repr(t)
    for name, fam in families.FAMILIES.items():
        yield "signals.families.FAMILIES", name, fam
    yield "signals.families", "EVIDENCE", repr(families.EVIDENCE)
    yield "policy.actions", "STRONG", repr(actions.STRONG)
    yield "signals.pipeline", "CLUSTER_FORM", repr(pipeline.CLUSTER_FORM)
    yield "signals.pipeline", "ESTABLISHED_AGE", repr(pipeline.ESTABLISHED_AGE)
    yield "signals.pipeline", "ESTABLISHED_REQUESTS", repr(pipeline.ESTABLISHED_REQUESTS)
    yield from _dataclass_rows("signals.fanout.FanoutConfig", fanout.FanoutConfig())
    yield from _dataclass_rows("signals.churn.ChurnConfig", churn.ChurnConfig())
    yield from _dataclass_rows("signals.spread.SpreadConfig", spread.SpreadConfig())
    yield "signals.continuity", "NORMALISED_CHARS", repr(continuity.NORMALISED_CHARS)
    yield "signals.continuity", "MIN_CHARS", repr(continuity.MIN_CHARS)
    yield "signals.continuity", "TTL", repr(continuity.TTL)
    yield "signals.continuity", "SINGLE_SHOT_MAX", repr(continuity.SINGLE_SHOT_MAX)
    yield "signals.continuity", "YOUNG_AGE", repr(continuity.YOUNG_AGE)
    yield "signals.continuity", "CONTINUED_MIN", repr(continuity.CONTINUED_MIN)
    yield "signals.continuity", "CONTINUED_SHARE", repr(continuity.CONTINUED_SHARE)
    yield "signals.pipeline", "MATERIAL_WEIGHT", repr(pipeline.MATERIAL_WEIGHT)
    yield "signals.material", "MIN_INSTRUCTION_WORDS", repr(material.MIN_INSTRUCTION_WORDS)
    yield "signals.material", "UNCLOSED_WORDS", repr(material.UNCLOSED_WORDS)
    yield "signals.cadence", "FAST_TAU", repr(cadence.FAST_TAU)
    yield "signals.cadence", "SLOW_TAU", repr(cadence.SLOW_TAU)
    yield "signals.cadence", "YOUNG", repr(cadence.YOUNG)


def markdown() -> str:
    """The table, in Markdown."""
    out = ["| where | name | value |", "|---|---|---|"]
    out += [f"| `{where}` | `{name}` | `{value}` |" for where, name, value in rows()]
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())
