"""What a decision withholds from its response, and the request-side check of reasoning
blobs (see :mod:`antidistill.enforcement.withhold` and :mod:`antidistill.enforcement.blobs`).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from antidistill.decision import Action, Decision
from antidistill.enforcement.blobs import BlobBinder, BlobCheck
from antidistill.enforcement.withhold import WithholdPlan

if TYPE_CHECKING:
    from antidistill.enforcement.apply import RequestBody
    from antidistill.identity import Pseudonymizer
    from antidistill.settings import Settings


class Withholding:
    def __init__(self, settings: Settings, pseudonymize: Pseudonymizer,
                 counters: Counter[str]) -> None:
        s = settings
        self.plan = WithholdPlan(reasoning="reasoning" in s.withhold,
                                 logprobs="logprobs" in s.withhold)
        self.actions = frozenset(Action(a) for a in s.withhold_actions) | {Action.DEGRADE}
        self.binder = (BlobBinder(pseudonymize.derive(b"antidistill-blob"))
                       if s.bind_reasoning_blobs else None)
        self.counters = counters

    def response_plan(self, decision: Decision, inspected: bool) -> WithholdPlan | None:
        """What the response loses (None: forwarded untouched, no filter at all).

        Blobs are sealed only on routes whose requests are read, where they come back."""
        seal = (self.binder.sealer(decision.identity)
                if self.binder is not None and inspected else None)
        if decision.enforced and decision.action in self.actions and self.plan.active:
            self.counters["withheld"] += 1
            return self.plan if seal is None else WithholdPlan(
                self.plan.reasoning, self.plan.logprobs, seal)
        return WithholdPlan(reasoning=False, seal=seal) if seal is not None else None

    def unbind_blobs(self, body: RequestBody, decision: Decision, mode: str) -> BlobCheck | None:
        """Unwrap the caller's own reasoning blobs in ``body``; strip and count everyone
        else's (monitor mode only counts). Returns the check when a blob was not the
        caller's."""
        if self.binder is None or not body.complete or not body.body:
            return None
        check = self.binder.check_request(body.body, decision.identity,
                                          strip=mode != "monitor")
        if check.changed:
            body.replace(check.body)
        if not check.stripped:
            return None
        self.counters["blob_replays"] += len(check.replays)
        if mode != "monitor":
            self.counters["blob_stripped"] += check.stripped
        return check
