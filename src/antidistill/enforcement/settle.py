"""After the response: the token budgets reconciled with the metered usage (debt allowed),
and session continuity's record of the answer, written together (on Redis with the next
round trip the store makes: see :mod:`antidistill.storage.deferred`).

Only keyed hashes of the answer's opening are stored (see :mod:`antidistill.signals.continuity`);
the record is bookkeeping, so it is skipped while storage is degraded and never fails a request.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Set

from antidistill.context import RequestContext
from antidistill.decision import Decision
from antidistill.enforcement.metering import Usage
from antidistill.policy.budgets import BudgetPolicy
from antidistill.signals.continuity import LIST as ANSWERS
from antidistill.signals.continuity import TTL as ANSWER_TTL
from antidistill.signals.continuity import answer_members
from antidistill.storage.base import BucketSpec, Store
from antidistill.storage.together import record_and_charge

logger = logging.getLogger("antidistill")


def remembers_answers(detectors: Set[str], default_policy: str,
                      routes: Mapping[str, str]) -> bool:
    """Whether answers are worth recording: session continuity reads them back only from
    inspected requests, so with no route inspected nothing would ever read them."""
    return "continuity" in detectors and (
        default_policy == "inspect" or "inspect" in routes.values())


async def settle_response(
    store: Store, budgets: BudgetPolicy, ctx: RequestContext, decision: Decision,
    usage: Usage | None, answers: Callable[[str, str], str] | None, counters: Counter[str],
    now: float,
) -> None:
    """Settle one served request. ``answers`` is the keyed hash that records the answer for
    session continuity (None: answers are not recorded). On a store with write-behind both
    go with its next round trip. A failed record counts in ``answers_dropped``, a failed
    charge in ``settle_errors`` (with the middleware's warning line); neither is raised."""
    members: list[str] = []
    if usage is not None and usage.answer and answers is not None:
        if getattr(store, "degraded", False):
            counters["answers_dropped"] += 1
        else:
            members = answer_members(ctx.identity.id, usage.answer, answers)
    specs: list[BucketSpec] = []
    if usage is not None and ctx.estimated_tokens and not decision.is_denied():
        shared = decision.cluster if decision.cluster is not None and any(
            b.name == "cluster_tokens" for b in decision.budgets) else None
        specs = budgets.settlement(ctx, shared, usage, ctx.estimated_tokens)
    if not members and not specs:
        return

    def recorded(exc: BaseException | None) -> None:
        if exc is not None:
            counters["answers_dropped"] += 1

    def charged(exc: BaseException | None) -> None:
        if exc is None:
            counters["tokens_reconciled"] += 1
        else:  # as the middleware counts a settlement that raises
            counters["settle_errors"] += 1
            logger.warning("antidistill: usage settlement failed: %s", type(exc).__name__)

    await record_and_charge(store, ANSWERS, members, ANSWER_TTL, specs, now, recorded,
                            charged)
