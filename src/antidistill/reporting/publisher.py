"""Reporting subscribes to final decisions: counters, the recent view, metrics, events.

The guard hands every decision here only after ``on_decision`` hooks ran and the action was
applied (the degrade rewrite listed on it), so what the dashboard, metrics and events show is
what was enforced.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from typing import TYPE_CHECKING, Any

from antidistill.decision import Action, Decision
from antidistill.reporting.recent import ActionTimeline, RecentDecisions

if TYPE_CHECKING:
    from antidistill.context import RequestContext
    from antidistill.hooks import HookRegistry, HookRunner
    from antidistill.settings import Settings

event_logger = logging.getLogger("antidistill.events")
_ACTION_NAMES = {a: a.value for a in Action}


class Reporter:
    """This instance's view of decisions, and the outlets that publish them."""

    def __init__(self, settings: Settings, hooks: HookRegistry, runner: HookRunner) -> None:
        self.settings = settings
        self.hooks = hooks
        self.runner = runner
        self.counters: Counter[str] = Counter()
        self.timeline = ActionTimeline()
        self.recent = RecentDecisions()
        self.metrics: Any = None
        if settings.metrics:
            from antidistill.reporting.metrics import Metrics

            self.metrics = Metrics()
        self._random = random.Random(0x5EED)

    async def publish(self, ctx: RequestContext, decision: Decision, mode: str) -> None:
        """Record ``decision`` and emit its event when sampled."""
        if self.record(ctx, decision):
            await self.emit(ctx, decision, mode)

    def record(self, ctx: RequestContext, decision: Decision) -> bool:
        """Count ``decision`` (counters, timeline, recent view, metrics); True when it is
        also to become an event (then call :meth:`emit`)."""
        action = decision.action
        name = _ACTION_NAMES[action]
        self.counters[name] += 1
        self.timeline.add(ctx.now, name)
        if action is not Action.ALLOW:
            self.recent.add(ctx.now, decision)
        if self.metrics is not None:
            self.metrics.record_decision(decision, reasons=decision.reasons)
        # Never an event without a log or sink: nothing would read it.
        if not (self.settings.events or self.hooks.sinks):
            return False
        return action is not Action.ALLOW or \
            self._random.random() < self.settings.event_sample_allow

    async def emit(self, ctx: RequestContext, decision: Decision, mode: str) -> None:
        """Build the decision's event and hand it to the event log and the sinks."""
        await self._emit(ctx, decision, mode)

    async def _emit(self, ctx: RequestContext, decision: Decision, mode: str) -> None:
        from antidistill.reporting.events import build_event, dumps

        event = build_event(ctx, decision, mode=mode)
        if self.settings.events and event_logger.isEnabledFor(logging.INFO):
            event_logger.info(dumps(event))
        for sink in self.hooks.sinks:
            await self.runner.call(sink, event)
