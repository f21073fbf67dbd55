"""One request's risk: its own signals combined, then mixed with identity and cluster history.

Only a request's own evidence accumulates into identity and cluster risk (``risk_add``);
adding the history-derived signals back would let a moderate score feed on itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from antidistill.decision import Action, Reason, Signal
from antidistill.scoring.combine import CLUSTER_RISK_SCALE, IDENTITY_RISK_SCALE, combine, saturate
from antidistill.storage.base import ObserveResult

# Identity risk is added per request only above this request risk, so that honest traffic's
# small scores never accumulate into a history.
RISK_FLOOR = 0.4
# History below this saturation is noise, not a reason.
HISTORY_MIN = 0.05


@dataclass(slots=True)
class Assessment:
    """What detection found for one request, before budgets."""

    action: Action = Action.ALLOW
    risk: float = 0.0
    reasons: tuple[Reason, ...] = ()
    cluster: str | None = None
    identity_risk: float = 0.0
    cluster_risk: float = 0.0
    risk_add: float = 0.0  # this request's own evidence, added to identity risk
    cluster_add: float = 0.0  # ... and to the cluster's, only when corroborated
    link: list[str] = field(default_factory=list)
    fields: dict[str, float] = field(default_factory=dict)
    allowlisted: bool = False
    denied: bool = False
    mature: list[str] = field(default_factory=list)  # ApplyBatch.mature_features


# A cluster's risk saturates in proportion to its breadth beyond this many members: a broad
# template's cluster (a browser extension's thousand users) is as risky as the *share* of its
# members that brought corroborated evidence, not as their count.
CLUSTER_MEMBERS_SCALE = 40


def cluster_scale(members: int) -> float:
    """The risk sum at which a cluster of ``members`` identities reaches 63%."""
    return CLUSTER_RISK_SCALE * max(1.0, members / CLUSTER_MEMBERS_SCALE)


# Shared and never mutated: the assessment of a request nothing can score.
NOTHING_FOUND = Assessment()


def score_request(
    found: Assessment, signals: list[Signal], obs: ObserveResult, weights: Mapping[str, float],
    *, benign: bool = False,
) -> None:
    """Fill ``found``'s risk, reasons and history from this request's ``signals``. A member
    with ``benign`` evidence of its own (continuity, long history, a stable network) does not
    inherit its cluster's risk."""
    fresh_risk = combine(signals, weights)[0] if signals else 0.0
    mixed = list(signals)
    ident_risk = saturate(obs.identity.risk, IDENTITY_RISK_SCALE)
    if ident_risk >= HISTORY_MIN:
        mixed.append(Signal("identity", ident_risk,
                            f"accumulated risk {obs.identity.risk:.2f} (decaying)"))
    cluster_risk = 0.0
    cluster = found.cluster
    if cluster is not None and cluster in obs.clusters and not benign:
        cst = obs.clusters[cluster]
        cluster_risk = saturate(cst.risk, cluster_scale(cst.members))
        if cluster_risk >= HISTORY_MIN:
            mixed.append(Signal("cluster", cluster_risk,
                                f"member of cluster {cluster[:14]} ({cst.members} "
                                f"identities, accumulated risk {cst.risk:.1f})"))
    found.identity_risk, found.cluster_risk = ident_risk, cluster_risk
    if mixed:
        found.risk, found.reasons = combine(mixed, weights)
    if fresh_risk >= RISK_FLOOR:
        found.risk_add = fresh_risk
