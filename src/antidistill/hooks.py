"""Host hooks: typed kinds, one registry, loading by name, and calls that never fail a request.

Every hook may be a plain function or a coroutine function. A hook that raises is logged
(rate-limited, exception type only) and counted, and the request goes on as if the hook had
returned ``None``. Coroutine hooks are bounded by ``hook_timeout``; plain functions run inline
and must be quick (they cannot be interrupted without a thread per call).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from antidistill.errors import ConfigurationError

if TYPE_CHECKING:
    from antidistill.context import RequestContext
    from antidistill.decision import Decision, Signal
    from antidistill.identity import Identity
    from antidistill.policy.budgets import Budgets

logger = logging.getLogger("antidistill")

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
Hook = Callable[..., Any]
ErrorBody = tuple[int, dict[str, Any], list[tuple[str, str]]]


# -- the hook kinds (each may also be ``async def``) -------------------------------------------
class Scorer(Protocol):
    def __call__(self, ctx: RequestContext, /) -> Signal | list[Signal] | None: ...


class DecisionHook(Protocol):
    def __call__(self, ctx: RequestContext, decision: Decision, /) -> Decision | None: ...


class EventSink(Protocol):
    def __call__(self, event: dict[str, Any], /) -> None: ...


class IdentityResolverHook(Protocol):
    def __call__(self, ctx: RequestContext, /) -> str | Identity | None: ...


class BudgetResolverHook(Protocol):
    def __call__(self, ctx: RequestContext, /) -> Budgets | None: ...


class ErrorResponseHook(Protocol):
    def __call__(self, ctx: RequestContext, decision: Decision, /) -> ErrorBody | None: ...


class HookRunner:
    """Calls hooks safely: errors and timeouts are counted per hook name, never raised."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.errors: Counter[str] = Counter()
        self.timeouts: Counter[str] = Counter()
        self._last_log: dict[str, float] = {}

    def _report(self, name: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_log.get(name, -1e9) >= 10.0:
            self._last_log[name] = now
            # Only the exception type: messages can carry raw keys (KeyError('sk-...')).
            logger.warning("antidistill hook %s failed: %s (counted; request continues)",
                           name, type(exc).__name__)

    async def call(self, fn: Hook, *args: Any) -> Any:
        """Run one hook; return its result or None on error/timeout."""
        name = getattr(fn, "__qualname__", repr(fn))
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(_as_coro(result), self.timeout)
            return result
        except asyncio.TimeoutError as exc:
            self.timeouts[name] += 1
            self.errors[name] += 1
            self._report(name, exc)
        except Exception as exc:
            self.errors[name] += 1
            self._report(name, exc)
        return None

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


@dataclass(slots=True)
class HookRegistry:
    """The host's hooks, by kind. Lists run in registration order; resolvers are single."""

    scorers: list[Hook] = field(default_factory=list)
    on_decision: list[Hook] = field(default_factory=list)
    sinks: list[Hook] = field(default_factory=list)
    identity_resolver: Hook | None = None
    budget_resolver: Hook | None = None
    error_response: Hook | None = None


async def _as_coro(aw: Awaitable[T]) -> T:
    return await aw


def load_hooks(target: Any, specs: list[str]) -> None:
    """Call each ``"package.module:function"`` with ``target`` (the guard) to register hooks."""
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        if not module_name or not attr:
            raise ConfigurationError(f"ANTIDISTILL_HOOKS entry {spec!r} must be 'module:function'")
        try:
            module = importlib.import_module(module_name)
            register = getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(f"cannot load hook {spec!r}: {exc}") from exc
        register(target)
