"""Window limits in the familiar ``limits`` notation (``"60/minute;10000/day"``).

``WindowLimits`` runs them with ``limits.aio`` over the same storage URI as the rest of
antidistill: ``memory://`` becomes ``async+memory://``; ``redis://``, ``rediss://``,
``redis+unix://``, ``redis+sentinel://`` and ``redis+cluster://`` (and ``valkey*``) use
limits' redis-py implementation (limits defaults to coredis, which antidistill does not
depend on). Keys hold the pseudonymised identity only, under ``<prefix>:w``.

A request passes when *every* window has room: all windows are tested first and hit only
when all pass, so a refused request consumes nothing (each window reports its own
``allowed``; the request passed when all did). Test and hit are separate calls, so
two instances racing on the last unit may both pass the test; the hit result is what is
reported. Each window costs a few storage calls (test, hit, stats), issued concurrently;
this is the convenience layer; the token buckets in :class:`Store` are the fast path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Literal

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.storage import storage_from_string

from antidistill.decision import BudgetState
from antidistill.errors import ConfigurationError, StorageError
from antidistill.storage.breaker import CircuitBreaker
from antidistill.storage.schemes import parse_scheme

Strategy = Literal["fixed-window", "moving-window", "sliding-window-counter"]
_STRATEGIES: dict[str, type[RateLimiter]] = {
    "fixed-window": FixedWindowRateLimiter,
    "moving-window": MovingWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
}
def limits_uri(storage_uri: str) -> str:
    """The ``limits.aio`` URI for an antidistill storage URI."""
    scheme, rest = parse_scheme(storage_uri, "window limits storage URI")
    return f"{scheme.limits}://{rest}"


def limit_name(item: RateLimitItem) -> str:
    """``"60/minute"``, ``"10/5second"``: the window's name in ``BudgetState``."""
    unit = item.GRANULARITY.name
    per = unit if item.multiples == 1 else f"{item.multiples}{unit}"
    return f"{item.amount}/{per}"


class WindowLimits:
    """Fixed/sliding window limits per identity, over a storage URI.

    ``spec``: ``"60/minute;10000/day"`` (anything ``limits.parse_many`` accepts).
    ``strategy``: ``"fixed-window"`` (default, one counter per window),
    ``"sliding-window-counter"`` or ``"moving-window"`` (exact, one entry per hit).
    """

    def __init__(
        self,
        spec: str,
        storage_uri: str = "memory://",
        *,
        strategy: Strategy = "fixed-window",
        prefix: str = "antidistill",
        socket_timeout: float = 0.1,
        wall_clock: Callable[[], float] = time.time,
        **options: Any,
    ) -> None:
        try:
            self.items: list[RateLimitItem] = list(parse_many(spec))
        except ValueError as exc:
            raise ConfigurationError(f"invalid window limit spec {spec!r}: {exc}") from None
        if not self.items:
            raise ConfigurationError("window limit spec is empty")
        if strategy not in _STRATEGIES:
            raise ConfigurationError(f"unknown window strategy {strategy!r}")
        uri = limits_uri(storage_uri)
        opts: dict[str, Any] = dict(options)
        if not uri.startswith("async+memory"):
            opts.setdefault("implementation", "redispy")
            opts.setdefault("key_prefix", f"{prefix}:w")
            opts.setdefault("socket_timeout", socket_timeout)
            opts.setdefault("socket_connect_timeout", socket_timeout)
        try:
            storage = storage_from_string(uri, **opts)
        except LimitsConfigurationError as exc:
            raise ConfigurationError(f"window limits storage: {exc}") from None
        if not isinstance(storage, Storage):  # the sync registry also holds async storages
            raise ConfigurationError("window limits need an async storage")
        self.storage: Storage = storage
        self.limiter = _STRATEGIES[strategy](self.storage)
        self._wall = wall_clock

    async def hit(self, identity: str, cost: int = 1) -> list[BudgetState]:
        """Consume ``cost`` from every window if all have room; report each window."""
        try:
            tests = await asyncio.gather(
                *(self.limiter.test(item, identity, cost=cost) for item in self.items)
            )
            passed = all(tests)
            hits = list(tests)
            if passed:
                hits = await asyncio.gather(
                    *(self.limiter.hit(item, identity, cost=cost) for item in self.items)
                )
            stats = await asyncio.gather(
                *(self.limiter.get_window_stats(item, identity) for item in self.items)
            )
        except StorageError:
            raise
        except Exception as exc:  # driver errors differ per limits backend
            raise StorageError(f"window limits: {type(exc).__name__}") from exc
        now = self._wall()
        out = []
        for item, ok, st in zip(self.items, hits, stats, strict=True):
            reset_after = max(0.0, st.reset_time - now)
            allowed = bool(ok)  # a window that had room says so even when another refused
            out.append(
                BudgetState(
                    name=f"window:{limit_name(item)}",
                    limit=float(item.amount),
                    remaining=float(st.remaining),
                    reset_after=reset_after,
                    retry_after=0.0 if allowed else reset_after,
                    allowed=allowed,
                    window=float(item.get_expiry()),
                )
            )
        return out

    async def reset(self) -> None:
        """Drop every window counter this storage holds (tests, admin)."""
        await self.storage.reset()

    async def close(self) -> None:
        """Close the Redis connections limits opened (limits has no close of its own)."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        aclose = getattr(client, "aclose", None)
        if aclose is not None:
            await aclose()

    async def reset_connections(self) -> None:
        """Drop the idle pooled Redis connections limits holds (after an outage)."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None:
            from antidistill.storage.redis import reset_pool

            await reset_pool(client)


class ResilientWindows:
    """Window limits behind the store's :class:`CircuitBreaker`.

    While the breaker is closed, ``primary`` (on the shared storage) answers; when it fails
    or the breaker is open, ``fallback`` (in process) does in fail-open mode, and
    :class:`StoreUnavailable` is raised in fail-closed mode, exactly as for the store. A
    failure here counts towards the same breaker (one warning per outage), and recovery
    resets this pool too.
    """

    def __init__(
        self, primary: WindowLimits, fallback: WindowLimits, breaker: CircuitBreaker
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.breaker = breaker
        self.items = primary.items
        breaker.resets.append(primary.reset_connections)

    @property
    def degraded(self) -> bool:
        """True while the shared breaker is open."""
        return self.breaker.tripped

    async def hit(self, identity: str, cost: int = 1) -> list[BudgetState]:
        """See :meth:`WindowLimits.hit`."""
        return await self.breaker.call(
            lambda: self.primary.hit(identity, cost), lambda: self.fallback.hit(identity, cost)
        )

    async def reset(self) -> None:
        """Reset the fallback and the primary (raises if the primary fails)."""
        await self.fallback.reset()
        await self.breaker.write(self.primary.reset)

    async def close(self) -> None:
        """Close both."""
        await self.primary.close()
        await self.fallback.close()
