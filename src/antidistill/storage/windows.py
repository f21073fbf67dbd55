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

Strategy = Literal["fixed-window", "moving-window", "sliding-window-counter"]
_STRATEGIES: dict[str, type[RateLimiter]] = {
    "fixed-window": FixedWindowRateLimiter,
    "moving-window": MovingWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
}
_SCHEMES = {
    "memory": "async+memory",
    "redis": "async+redis",
    "rediss": "async+rediss",
    "redis+unix": "async+redis+unix",
    "redis+sentinel": "async+redis+sentinel",
    "redis+cluster": "async+redis+cluster",
    "valkey": "async+redis",
    "valkeys": "async+rediss",
    "valkey+unix": "async+redis+unix",
    "valkey+sentinel": "async+redis+sentinel",
    "valkey+cluster": "async+redis+cluster",
}


def limits_uri(storage_uri: str) -> str:
    """The ``limits.aio`` URI for an antidistill storage URI."""
    scheme, sep, rest = storage_uri.partition("://")
    target = _SCHEMES.get(scheme.lower())
    if not sep or target is None:
        raise ConfigurationError(f"window limits: unsupported storage scheme {scheme!r}")
    return f"{target}://{rest}"


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

    async def ping(self) -> bool:
        """Whether the storage answers."""
        return bool(await self.storage.check())
