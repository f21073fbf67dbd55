"""A circuit breaker around a networked :class:`Store`.

``ResilientStore(primary, fail_mode="open")`` forwards every call to ``primary``. A failing
call (``StorageError``, timeout, ``OSError``) is answered from the in-process ``fallback``
(fail-open) or raises :class:`StoreUnavailable` (fail-closed); after ``open_after``
consecutive failures the breaker *trips*: calls stop touching the primary at all (no retry
storm, no per-request timeout) until a probe succeeds. Probes are one ``ping`` started in
the background of a request, at most every ``probe_interval`` seconds of ``clock``; the
first successful probe switches back. One warning is logged per trip, one info line per
recovery; log lines name exception classes only, never keys.

While degraded the fallback's state is all there is: budgets and counts restart from what
this process saw. Admin writes (``list_add``, ``list_remove``, ``set_setting``) never go
to the fallback alone, they raise :class:`StoreUnavailable` instead, so an operator is not
told a deny-list entry was stored when it was not; successful list writes are mirrored
into the fallback so lists keep working during an outage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from antidistill.storage.base import (
    ApplyBatch,
    BucketResult,
    BucketSpec,
    ClusterStats,
    Done,
    IdentityStats,
    ObserveBatch,
    ObserveResult,
    RankedEntry,
    Store,
)
from antidistill.storage.breaker import FAILURES, CircuitBreaker, FailMode, StoreUnavailable
from antidistill.storage.memory import MemoryStore

__all__ = ["ResilientStore", "StoreUnavailable"]

_T = TypeVar("_T")


class ResilientStore(Store):
    """Circuit breaker: primary store, in-memory fallback, background probes.

    ``breaker`` may be shared (the window limits use the store's); by default one is built
    from ``fail_mode``, ``open_after``, ``probe_interval``, ``clock`` and ``call_timeout``.
    """

    def __init__(
        self,
        primary: Store,
        *,
        fail_mode: FailMode = "open",
        fallback: Store | None = None,
        open_after: int = 3,
        probe_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        call_timeout: float | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        super().__init__(primary.config)
        self.primary = primary
        self.fallback = fallback or MemoryStore(primary.config, warn_workers=False)
        self.breaker = breaker or CircuitBreaker(
            type(primary).__name__, fail_mode=fail_mode, open_after=open_after,
            probe_interval=probe_interval, clock=clock, call_timeout=call_timeout,
        )
        self._tasks: set[asyncio.Task[object]] = set()  # fallback charges of failed writes
        # late-bound: the primary's methods may be wrapped after construction (tests)
        self.breaker.watch(lambda: self.primary.ping(), lambda: self.primary.reset_connections())

    @property
    def degraded(self) -> bool:
        """True while the breaker is open (the primary is not being used)."""
        return self.breaker.tripped

    @property
    def fail_mode(self) -> FailMode:
        return self.breaker.fail_mode

    @property
    def errors(self) -> int:
        """Primary calls that failed."""
        return self.breaker.errors

    @errors.setter
    def errors(self, value: int) -> None:
        self.breaker.errors = value

    @property
    def fallbacks(self) -> int:
        """Calls answered by the fallback."""
        return self.breaker.fallbacks

    @fallbacks.setter
    def fallbacks(self, value: int) -> None:
        self.breaker.fallbacks = value

    @property
    def trips(self) -> int:
        """Times the breaker opened."""
        return self.breaker.trips

    @trips.setter
    def trips(self, value: int) -> None:
        self.breaker.trips = value

    async def _run(self, op: Callable[[Store], Awaitable[_T]]) -> _T:
        return await self.breaker.call(lambda: op(self.primary), lambda: op(self.fallback))

    async def _admin_write(self, op: Callable[[Store], Awaitable[None]]) -> None:
        await self.breaker.write(lambda: op(self.primary))

    # -- Store API ---------------------------------------------------------------------------
    async def observe(self, batch: ObserveBatch, now: float) -> ObserveResult:
        """See :meth:`Store.observe`."""
        return await self._run(lambda s: s.observe(batch, now))

    async def apply(self, batch: ApplyBatch, now: float) -> list[BucketResult]:
        """See :meth:`Store.apply`."""
        return await self._run(lambda s: s.apply(batch, now))

    async def buckets(self, specs: Sequence[BucketSpec], now: float) -> list[BucketResult]:
        """See :meth:`Store.buckets`."""
        return await self._run(lambda s: s.buckets(specs, now))

    # -- deferred writes: the primary's write-behind, with today's failure handling ---------
    async def defer_buckets(self, specs: Sequence[BucketSpec], now: float, done: Done) -> bool:
        """Queue ``specs`` on the primary (False: not queued, call :meth:`buckets`: while
        degraded, or when the primary cannot defer). A failed write counts in the breaker
        and is then what a failed :meth:`buckets` would be: charged to the fallback
        (fail-open, ``done(None)``) or ``StoreUnavailable`` (fail-closed)."""
        if self.degraded:
            return False

        def charged(exc: BaseException | None) -> None:
            failed = self._counted(exc)
            if failed is None or self.fail_mode == "closed":
                done(failed)
                return
            self.fallbacks += 1
            self._spawn(self.fallback.buckets(specs, now))
            done(None)

        return await self.primary.defer_buckets(specs, now, charged)

    async def defer_list_add(self, name: str, members: Sequence[str], ttl: float | None,
                             done: Done) -> bool:
        """Queue the list addition on the primary (False: not queued, as above) and mirror
        it into the fallback now; a failed write counts in the breaker and reaches ``done``
        as ``StoreUnavailable``, as a failed :meth:`list_add` would."""
        if self.degraded:
            return False

        queued = await self.primary.defer_list_add(name, members, ttl,
                                                   lambda exc: done(self._counted(exc)))
        if queued:
            for member in members:
                await self.fallback.list_add(name, member, ttl)
        return queued

    def _counted(self, exc: BaseException | None) -> StoreUnavailable | None:
        """A queued write's outcome counted in the breaker; its failure as the caller of a
        direct write would see it."""
        if exc is None:
            self.breaker.succeeded()
            return None
        self.breaker.failed(exc)
        return StoreUnavailable(f"storage unavailable ({type(exc).__name__})")

    async def flush(self) -> None:
        """Send the primary's queued writes now (see ``RedisStore.flush``)."""
        await self.primary.flush()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, aw: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(aw)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def list_add(self, name: str, member: str, ttl: float | None = None) -> None:
        """Add to the primary's list (and mirror into the fallback); refused while degraded."""
        await self._admin_write(lambda s: s.list_add(name, member, ttl))
        await self.fallback.list_add(name, member, ttl)

    async def list_remove(self, name: str, member: str) -> None:
        """Remove from the primary's list (and the fallback's); refused while degraded."""
        await self._admin_write(lambda s: s.list_remove(name, member))
        await self.fallback.list_remove(name, member)

    async def list_members(self, name: str, limit: int = 1000) -> list[str]:
        """See :meth:`Store.list_members`."""
        return await self._run(lambda s: s.list_members(name, limit))

    async def get_setting(self, name: str) -> str | None:
        """See :meth:`Store.get_setting`."""
        return await self._run(lambda s: s.get_setting(name))

    async def set_setting(self, name: str, value: str | None) -> None:
        """Set on the primary; refused while degraded."""
        await self._admin_write(lambda s: s.set_setting(name, value))

    async def top_identities(self, n: int, now: float) -> list[RankedEntry]:
        """See :meth:`Store.top_identities`."""
        return await self._run(lambda s: s.top_identities(n, now))

    async def top_clusters(self, n: int, now: float) -> list[RankedEntry]:
        """See :meth:`Store.top_clusters`."""
        return await self._run(lambda s: s.top_clusters(n, now))

    async def identity_state(self, identity: str, now: float) -> IdentityStats | None:
        """See :meth:`Store.identity_state`."""
        return await self._run(lambda s: s.identity_state(identity, now))

    async def cluster_state(self, cluster: str, now: float) -> ClusterStats | None:
        """See :meth:`Store.cluster_state`."""
        return await self._run(lambda s: s.cluster_state(cluster, now))

    async def ping(self) -> bool:
        """Whether the primary answers (does not change the breaker state)."""
        try:
            return await self.primary.ping()
        except FAILURES:
            return False

    async def reset_connections(self) -> None:
        """Drop the primary's idle pooled connections."""
        await self.primary.reset_connections()

    async def clear(self) -> None:
        """Clear the fallback and the primary (raises if the primary fails)."""
        await self.fallback.clear()
        await self._admin_write(lambda s: s.clear())

    async def close(self) -> None:
        """Stop a running probe and close both stores (the primary sends its queued writes
        first)."""
        await self.breaker.close()
        await self.primary.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.fallback.close()
