"""Map a risk score to an action, with the corroboration rule that protects honest fleets.

Honest traffic has every single trait of a campaign somewhere (a fleet shares one template,
students ask for steps, classifiers read logprobs, a NAT hosts hundreds of accounts). So a
risk score alone never decides an enforced action: evidence is grouped into independent
*families* (:data:`FAMILIES`) and

* one family (or only history derived from earlier requests) may at most FLAG;
* DEGRADE and DELAY need at least two families with real evidence (score >= ``EVIDENCE``);
* THROTTLE and BLOCK need *strong* evidence: three families, or two that are each at
  least ``STRONG``, or an operator list match together with another family.

Content and client stack shared across accounts are both what an honest fleet shows on the
day a new agent version ships, so together, without evidence about the accounts themselves
or what they ask, they allow at most DEGRADE. The same holds with the account life pattern
beside them (``life``: young accounts born among many young ones), which a brand-new fleet's
first day shows as well: a spread-thin campaign is degraded, never throttled, on that alone.
Shared evidence alone only flags (``shared_flags``) an identity that continues its sessions
with this server's own answers (session continuity, see ``signals.continuity``: an honest
fleet's member even on its launch day) or that sends its first request (it has shown nothing
of its own yet; a campaign's next request is degraded on the same evidence).

An operator's own scorer hook (a signal name no built-in detector uses) is an explicit
decision, like a deny list, and is not capped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from antidistill.decision import Action, Reason, Signal
from antidistill.signals.families import (
    DERIVED,
    EVIDENCE,
    FAMILIES,
    LAUNCH_LIKE,
    OPERATOR,
    SHARED,
    family_of,
)
from antidistill.signals.intent import REASONING_EXTRACTION_DEGRADE, REASONING_EXTRACTION_SIGNAL

DEFAULT_THRESHOLDS: dict[str, float] = {
    "flag": 0.40,
    "degrade": 0.60,
    "delay": 0.75,
    "throttle": 0.86,
    "block": 0.97,
}

STRONG = 0.7  # two families at this score each are strong evidence


@dataclass(frozen=True, slots=True)
class Corroboration:
    """The evidence families of one decision and the strongest action they allow."""

    families: frozenset[str]
    cap: Action
    custom: bool  # an operator's scorer hook fired: no cap


def corroboration(reasons: Sequence[Reason], evidence: float = EVIDENCE,
                  strong: float = STRONG, shared_flags: bool = False) -> Corroboration:
    """Group ``reasons`` into families and apply the corroboration rule (``shared_flags``:
    shared evidence alone may only flag this identity)."""
    best: dict[str, float] = {}
    custom = False
    beyond_launch: set[str] = set()  # families with evidence a fleet's launch does not show
    for r in reasons:
        if r.name in DERIVED or r.score < evidence:
            continue
        fam = family_of(r.name)
        if fam == OPERATOR and r.name.split(":", 1)[0] not in FAMILIES:
            custom = True
        best[fam] = max(best.get(fam, 0.0), r.score)
        if r.name.split(":", 1)[0] not in LAUNCH_LIKE:
            beyond_launch.add(fam)
    families = frozenset(best)
    n = len(families)
    strong_n = sum(1 for v in best.values() if v >= strong)
    if custom:
        cap = Action.BLOCK
    elif n >= 3 or (n == 2 and (strong_n == 2 or OPERATOR in families)):
        cap = Action.BLOCK
    elif n == 2:
        cap = Action.DELAY
    else:
        cap = Action.FLAG
    if not custom and beyond_launch <= SHARED and cap.severity > Action.DEGRADE.severity:
        cap = Action.DEGRADE
    if not custom and shared_flags and families <= SHARED and \
            cap.severity > Action.FLAG.severity:
        cap = Action.FLAG
    return Corroboration(families, cap, custom)


def corroborated(signals: Sequence[Signal], evidence: float = EVIDENCE) -> bool:
    """Whether one request's own evidence may raise its cluster's risk: two families, not
    only the shared-content/shared-client pair a fleet shows on its launch day.

    A cluster inherits risk only from members whose evidence would allow DEGRADE: otherwise
    an honest fleet's launch (one template, one new client stack) makes every member risky."""
    families = {family_of(s.name) for s in signals
                if s.score >= evidence and s.name not in DERIVED}
    return len(families) >= 2 and not families <= SHARED


def accumulates(signals: Sequence[Signal], benign: bool = False, evidence: float = EVIDENCE,
                strong: float = STRONG) -> bool:
    """Whether one request's own evidence may raise its identity's decayed risk.

    Corroborated evidence (:func:`corroborated`) always may. One family alone may only when
    it is strong: a FLAG-level hint (a weak intent cue, a template shared this hour) must not
    ratchet into the next request's score. Shared content and a shared client stack alone are
    a fleet's launch day: they count only strong, and not for an identity with benign
    evidence of its own (session continuity, a long history, a stable network). An
    operator's own scorer hook always counts, as it is not capped either."""
    best: dict[str, float] = {}
    for s in signals:
        if s.score >= evidence and s.name not in DERIVED:
            fam = family_of(s.name)
            if fam == OPERATOR and s.name.split(":", 1)[0] not in FAMILIES:
                return True  # an operator's own scorer hook: an explicit decision
            best[fam] = max(best.get(fam, 0.0), s.score)
    if not best:
        return False
    families = frozenset(best)
    if len(families) >= 2 and not families <= SHARED:
        return True
    if families <= SHARED and benign:
        return False
    return max(best.values()) >= strong


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

    def decide(self, risk: float, reasons: Sequence[Reason],
               shared_flags: bool = False) -> Action:
        """The ladder's action for ``risk``, capped by :func:`corroboration`."""
        action = Action.ALLOW
        for candidate, threshold in self.ladder:
            if risk >= threshold:
                action = candidate
                break
        if action == Action.ALLOW:
            return action
        cap = corroboration(reasons, shared_flags=shared_flags).cap
        if cap.severity < action.severity:
            action = cap
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
