"""Apply a decision's action to the request before the app sees it: the degrade rewrite.

Runs after ``on_decision`` hooks (so a hook's DEGRADE is enforced too) and before reporting
(so events and the dashboard list the rewrites actually applied). A body over the analysis
cap is read to its end for the rewrite, up to ``degrade_max_body_bytes``; beyond that the
request cannot be rewritten and is refused with 413 rather than served whole. A JSON body the
rewrite cannot read (invalid, or nested deeper than the parser goes; the app's parser may read
it all the same) is refused with 400 for the same reason.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from antidistill.decision import Action, Decision
from antidistill.enforcement.degrade import DegradePlan, degrade_body

OVERSIZE = "oversize:refused"
UNREADABLE = "unreadable:refused"


class RequestBody(Protocol):
    """The buffered request body the middleware replays to the app."""

    body: bytes
    complete: bool

    async def read_rest(self, limit: int) -> bool:
        """Read the rest of the body; False when it is longer than ``limit``."""
        ...

    def replace(self, body: bytes) -> None: ...


async def apply_action(
    decision: Decision, body: RequestBody | None, api_format: str | None, plan: DegradePlan,
    max_body: int,
) -> Decision:
    """The decision with its degrade rewrite applied to ``body`` (and listed on it)."""
    if not (decision.enforced and decision.action is Action.DEGRADE) or body is None \
            or not body.body:
        return decision
    if not body.complete and not await body.read_rest(max_body):
        return replace(decision, degrade=(OVERSIZE,))
    result = degrade_body(body.body, plan, api_format=api_format)
    if result.unreadable:
        return replace(decision, degrade=(UNREADABLE,))
    if not result.changes:
        return decision
    body.replace(result.body)
    return replace(decision, degrade=result.changes)


def refusal(decision: Decision) -> str | None:
    """``OVERSIZE`` or ``UNREADABLE`` when the degrade rewrite refused the request."""
    if decision.degrade in ((OVERSIZE,), (UNREADABLE,)):
        return decision.degrade[0]
    return None
