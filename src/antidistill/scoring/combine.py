"""Combine independent signals into one risk in [0, 1], with each signal's contribution.

Noisy-OR over weighted scores: ``risk = 1 - prod(1 - w_i * s_i)``. Each reason's
contribution is its share of the total log-evidence, so contributions add up to the risk and
the top reasons read naturally ("fanout 0.52, intent 0.21, ...").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from antidistill.decision import Reason, Signal

DEFAULT_WEIGHTS: dict[str, float] = {
    "fanout": 0.85,
    "spread": 0.85,  # fan-out over a day among young accounts (signals.spread)
    "sybil": 0.55,
    "cluster": 0.9,
    "identity": 0.6,
    # Intent alone must not flag what honest users send every day: students ask for steps,
    # QA and agent frameworks grade outputs. Only the rarer categories can flag alone.
    "intent": 0.5,
    "intent:cot_elicitation": 0.38,
    "intent:reward_grading": 0.36,
    "intent:system_prompt_extraction": 0.6,
    "intent:jailbreak": 0.55,
    # A confident request for the model's own hidden reasoning flags alone (0.55 x 0.73).
    "intent:reasoning_extraction": 0.55,
    "harvesting": 0.75,
    "cadence": 0.25,
    "shift": 0.45,
    "churn": 0.5,
    "life": 0.5,  # a young account in a crowd of young ones; only beside ``spread``
    "continuity": 0.45,
    "shared_indicator": 0.7,
    # Two different API keys in one request: no SDK does that; a client rotating a junk key
    # beside its real one (to escape its budget) does.
    "identity_mismatch": 0.6,
    "budget": 0.0,
}
CUSTOM_WEIGHT = 0.8

# Identity and cluster risks are decayed sums of request risks; this is how fast they
# saturate (a risk sum of ``scale`` maps to 63%).
IDENTITY_RISK_SCALE = 3.0
CLUSTER_RISK_SCALE = 4.0


def saturate(total: float, scale: float) -> float:
    return 1.0 - math.exp(-max(total, 0.0) / scale)


def combine(
    signals: Sequence[Signal], weights: Mapping[str, float]
) -> tuple[float, tuple[Reason, ...]]:
    logs: list[tuple[Signal, float]] = []
    for sig in signals:
        family = sig.name.split(":", 1)[0]
        if sig.weight is not None:
            w = sig.weight
        else:
            w = weights.get(sig.name, weights.get(family, CUSTOM_WEIGHT))
        p = min(0.999999, max(0.0, w * sig.score))
        if p > 0.0:
            logs.append((sig, -math.log1p(-p)))
        elif sig.score > 0.0:
            logs.append((sig, 0.0))
    total = sum(v for _, v in logs)
    risk = 1.0 - math.exp(-total)
    reasons = tuple(
        Reason(sig.name, sig.score, risk * v / total if total > 0 else 0.0, sig.detail)
        for sig, v in logs
    )
    return risk, reasons
