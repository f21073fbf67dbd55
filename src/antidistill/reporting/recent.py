"""Bounded in-process memory of recent decisions, for the admin API and dashboard.

Per instance (with several instances each shows its own recent view; shared state such as
risks, clusters and lists comes from the store).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from antidistill.decision import Action, Decision


@dataclass(slots=True)
class ActionTimeline:
    """Per-minute counts of actions over the last ``minutes`` minutes."""

    minutes: int = 180
    _buckets: deque[tuple[int, Counter[str]]] = field(default_factory=deque)

    def add(self, now: float, action: str) -> None:
        minute = math.floor(now / 60.0)
        if not self._buckets or self._buckets[-1][0] != minute:
            if self._buckets and minute < self._buckets[-1][0]:
                # A clock that went backwards (replay restarts): count into the last bucket.
                self._buckets[-1][1][action] += 1
                return
            self._buckets.append((minute, Counter()))
            while len(self._buckets) > self.minutes:
                self._buckets.popleft()
        self._buckets[-1][1][action] += 1

    def series(self) -> list[dict[str, Any]]:
        return [{"t": m * 60, **{a.value: c.get(a.value, 0) for a in Action}}
                for m, c in self._buckets]


@dataclass(slots=True)
class RecentDecisions:
    """The last flagged-or-worse decisions, and top reasons, per identity and cluster."""

    maxlen: int = 2000
    per_id: int = 20
    events: deque[dict[str, Any]] = field(default_factory=deque)
    by_identity: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)
    reasons: Counter[str] = field(default_factory=Counter)
    cluster_reasons: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, now: float, decision: Decision) -> None:
        if decision.action == Action.ALLOW:
            return
        item = {"ts": now, **decision.as_dict()}
        self.events.append(item)
        if len(self.events) > self.maxlen:
            old = self.events.popleft()
            q = self.by_identity.get(old["identity"])
            if q is not None and q and q[0] is old:
                q.popleft()
                if not q:
                    del self.by_identity[old["identity"]]
        q = self.by_identity.setdefault(decision.identity, deque(maxlen=self.per_id))
        q.append(item)
        for r in decision.top_reasons[:3]:
            self.reasons[r.name] += 1
            if decision.cluster:
                c = self.cluster_reasons.setdefault(decision.cluster, Counter())
                c[r.name] += 1
        if len(self.cluster_reasons) > self.maxlen:
            self.cluster_reasons.pop(next(iter(self.cluster_reasons)))

    def for_identity(self, identity: str) -> list[dict[str, Any]]:
        return list(self.by_identity.get(identity, ()))
