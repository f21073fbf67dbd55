"""From an assessment and the budgets' answer to the enforced :class:`Decision`.

Budgets refused and enforced make at least a throttle; ``delay`` grows with the risk between
the delay and throttle thresholds; monitor mode reports every action but enforces none (a
budget refusal only where :mod:`antidistill.policy.budgets` says it is enforced).
"""

from __future__ import annotations

from antidistill.decision import Action, Decision
from antidistill.policy.actions import ActionPolicy
from antidistill.policy.budgets import BudgetOutcome
from antidistill.scoring.assess import Assessment

_DEGRADE = Action.DEGRADE.severity
_THROTTLE = Action.THROTTLE.severity


def delay_for(risk: float, policy: ActionPolicy, max_delay: float) -> float:
    """Tarpit seconds: a quarter of ``max_delay`` at the delay threshold, all of it at the
    throttle threshold."""
    t = policy.thresholds
    span = max(t["throttle"] - t["delay"], 1e-6)
    return max_delay * min(1.0, 0.25 + 0.75 * (risk - t["delay"]) / span)


def finalize(
    found: Assessment, budget: BudgetOutcome, *, identity: str, mode: str,
    policy: ActionPolicy, max_delay: float, route: str,
) -> Decision:
    action, reasons = found.action, found.reasons
    why = budget.reason()
    if why is not None:
        reasons += (why,)
        if budget.enforced:
            action = Action.THROTTLE if action.severity < _THROTTLE else action
            if mode == "monitor":
                action = Action.THROTTLE  # the budget's own answer, nothing stronger
    delay = delay_for(found.risk, policy, max_delay) if action is Action.DELAY else 0.0
    enforced = mode == "enforce" or budget.enforced
    if not enforced:
        delay = 0.0
    return Decision(
        action=action, score=found.risk, reasons=reasons, identity=identity,
        cluster=found.cluster, budgets=tuple(budget.states), enforced=enforced,
        identity_risk=found.identity_risk, cluster_risk=found.cluster_risk,
        retry_after=budget.retry_after if budget.enforced else 0.0, delay_seconds=delay,
        hide_reasoning=enforced and action.severity >= _DEGRADE, route=route,
    )
