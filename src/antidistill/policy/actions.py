"""Map a risk score to an action, with the safety caps that protect honest heavy users.

No single kind of evidence may throttle or block on its own: students ask for steps, QA tools
grade answers, classifiers read logprobs, batch jobs are regular. Each detector family has a
*cap*, the strongest action it can justify alone; the cap is lifted when at least two
families carry real evidence (score >= ``evidence``), or by a deny list or custom scorer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from antidistill.decision import Action, Reason
from antidistill.signals.intent import REASONING_EXTRACTION_DEGRADE, REASONING_EXTRACTION_SIGNAL

DEFAULT_THRESHOLDS: dict[str, float] = {
    "flag": 0.40,
    "degrade": 0.60,
    "delay": 0.75,
    "throttle": 0.86,
    "block": 0.97,
}

FAMILY_CAPS: dict[str, Action] = {
    "intent": Action.FLAG,
    "cadence": Action.FLAG,
    "shift": Action.FLAG,
    "sybil": Action.FLAG,
    "identity": Action.FLAG,
    "harvesting": Action.DEGRADE,
    "fanout": Action.DEGRADE,
    "shared_indicator": Action.DELAY,
    "cluster": Action.DELAY,
}
EVIDENCE = 0.3
DERIVED = frozenset({"identity"})


class ActionPolicy:
    def __init__(self, thresholds: Mapping[str, float] | None = None,
                 enabled: Sequence[str] | None = None) -> None:
        t = dict(DEFAULT_THRESHOLDS)
        t.update(thresholds or {})
        self.thresholds = t
        order = [Action.BLOCK, Action.THROTTLE, Action.DELAY, Action.DEGRADE, Action.FLAG]
        self.ladder = [(a, t[a.value]) for a in order]
        self.enabled = {Action(a) for a in enabled} if enabled is not None else set(Action)
        self.enabled.add(Action.ALLOW)

    def decide(self, risk: float, reasons: Sequence[Reason]) -> Action:
        action = Action.ALLOW
        for candidate, threshold in self.ladder:
            if risk >= threshold:
                action = candidate
                break
        if action == Action.ALLOW:
            return action
        # Identity history is derived from earlier requests' evidence, not independent of it.
        families = {r.name.split(":", 1)[0] for r in reasons
                    if r.score >= EVIDENCE and r.name not in DERIVED}
        if len(families) == 1:
            (family,) = families
            cap = FAMILY_CAPS.get(family)
            if cap is not None and cap.severity < action.severity:
                action = cap
        elif not families:
            cap = FAMILY_CAPS["identity"] if any(r.name in DERIVED for r in reasons) \
                else Action.FLAG
            action = min(action, cap, key=lambda a: a.severity)
        return self.allowed(action)

    def allowed(self, action: Action) -> Action:
        """The strongest enabled action no stronger than ``action``."""
        while action not in self.enabled:
            action = list(Action)[action.severity - 1]
        return action


class ReasoningFloor(NamedTuple):
    """The outcome of :func:`reasoning_extraction_floor`.

    ``action`` is at least DEGRADE when a confident reasoning-extraction reason is present;
    ``exempt`` tells the guard to keep that reason's risk out of identity and cluster
    history (the request is answered with its reasoning withheld instead).
    """

    action: Action
    exempt: bool


def reasoning_extraction_floor(
    action: Action, reasons: Sequence[Reason], threshold: float = REASONING_EXTRACTION_DEGRADE
) -> ReasoningFloor:
    """Degrade a request that confidently asks for the model's own hidden reasoning.

    One family is enough here, unlike every other action above FLAG: withholding the
    reasoning costs an honest asker little (the answer is served whole), and the evidence
    is about this request only, so it does not accumulate into the identity's or the
    cluster's risk (issue #13). Stronger actions still need the usual corroboration.
    """
    confident = any(
        r.name == REASONING_EXTRACTION_SIGNAL and r.score >= threshold for r in reasons
    )
    if not confident:
        return ReasoningFloor(action, False)
    if action.severity < Action.DEGRADE.severity:
        action = Action.DEGRADE
    return ReasoningFloor(action, True)
