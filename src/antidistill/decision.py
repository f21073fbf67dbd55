"""The values antidistill hands to the host app: signals, reasons and the final decision."""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass
from typing import Any, TypeVar

_T = TypeVar("_T")


def _fast_init(cls: type[_T]) -> type[_T]:
    """Give a frozen slotted dataclass an ``__init__`` that fills each slot through its member
    descriptor: the same signature, defaults and instance, built in about half the time
    (CPython's frozen ``__init__`` goes through ``object.__setattr__`` per field). For the
    result types built on every request."""
    params, lines = [], []
    env: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        env[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            env[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        lines.append(f"    _set_{f.name}(self, {f.name})")
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(lines), env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


class Action(str, enum.Enum):
    """What the middleware does with a request, from mildest to strongest."""

    ALLOW = "allow"
    FLAG = "flag"
    DEGRADE = "degrade"
    DELAY = "delay"
    THROTTLE = "throttle"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    def is_denied(self) -> bool:
        return self in (Action.THROTTLE, Action.BLOCK)


_SEVERITY = {a: i for i, a in enumerate(Action)}


@dataclass(frozen=True, slots=True)
class Signal:
    """One detector's opinion about one request.

    ``score`` is in [0, 1]; ``detail`` is a short human-readable explanation that must
    never contain raw prompt text, API keys or IP addresses.
    """

    name: str
    score: float
    detail: str = ""
    weight: float | None = None  # overrides the configured weight for this detector

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            object.__setattr__(self, "score", min(1.0, max(0.0, float(self.score))))


@dataclass(frozen=True, slots=True)
class Reason:
    """A signal as it entered the decision, with its contribution to the final score."""

    name: str
    score: float
    contribution: float
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "score": round(self.score, 4),
            "contribution": round(self.contribution, 4),
            "detail": self.detail,
        }


@_fast_init
@dataclass(frozen=True, slots=True)
class BudgetState:
    """The state of one token bucket after this request."""

    name: str  # "requests", "tokens", "cluster_tokens", "window:60/minute", ...
    limit: float
    remaining: float
    reset_after: float  # seconds until the bucket is full again
    retry_after: float  # seconds until this request would conform (0 when it did)
    allowed: bool
    window: float = 0.0  # seconds, for RateLimit-Policy

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: a bucket that never refills reports ``None`` instead of infinity."""
        return {
            "name": self.name,
            "limit": _finite(self.limit),
            "remaining": _finite(self.remaining),
            "reset_after": _finite(self.reset_after),
            "retry_after": _finite(self.retry_after),
            "allowed": self.allowed,
        }


def _finite(x: float) -> float | None:
    return round(x, 3) if math.isfinite(x) else None


@_fast_init
@dataclass(frozen=True, slots=True)
class Decision:
    """The frozen outcome for one request.

    ``identity`` and ``cluster`` are pseudonymised ids (keyed hashes), never raw keys.
    ``enforced`` is False in monitor mode, when the action was computed but not applied.
    """

    action: Action
    score: float
    reasons: tuple[Reason, ...] = ()
    identity: str = ""
    cluster: str | None = None
    budgets: tuple[BudgetState, ...] = ()
    enforced: bool = True
    identity_risk: float = 0.0
    cluster_risk: float = 0.0
    retry_after: float = 0.0
    delay_seconds: float = 0.0
    degrade: tuple[str, ...] = ()  # rewrites applied, e.g. ("max_tokens:4096->256", "drop:n")
    hide_reasoning: bool = False
    route: str = ""  # the route pattern that matched, or "default": never the raw path

    def is_denied(self) -> bool:
        return self.enforced and self.action.is_denied()

    def is_allowed(self) -> bool:
        return not self.is_denied()

    @property
    def top_reasons(self) -> tuple[Reason, ...]:
        return tuple(sorted(self.reasons, key=lambda r: -r.contribution))

    def with_action(self, action: Action, reason: Reason | None = None) -> Decision:
        """A copy with another action (and optionally one more reason)."""
        from dataclasses import replace

        reasons = self.reasons + ((reason,) if reason else ())
        return replace(self, action=action, reasons=reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "enforced": self.enforced,
            "score": round(self.score, 4),
            "identity": self.identity,
            "cluster": self.cluster,
            "identity_risk": round(self.identity_risk, 4),
            "cluster_risk": round(self.cluster_risk, 4),
            "reasons": [r.as_dict() for r in self.top_reasons],
            "budgets": [b.as_dict() for b in self.budgets],
            "retry_after": _finite(self.retry_after),
            "delay_seconds": round(self.delay_seconds, 3),
            "degrade": list(self.degrade),
            "hide_reasoning": self.hide_reasoning,
        }
