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
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, TypeVar

from antidistill.errors import StorageError
from antidistill.storage.base import (
    ApplyBatch,
    BucketResult,
    BucketSpec,
    ClusterStats,
    IdentityStats,
    ObserveBatch,
    ObserveResult,
    RankedEntry,
    Store,
)
from antidistill.storage.memory import MemoryStore

logger = logging.getLogger("antidistill")

_T = TypeVar("_T")
_FAILURES = (StorageError, asyncio.TimeoutError, OSError)


class StoreUnavailable(StorageError):
    """The primary store failed and ``fail_mode="closed"`` (or an admin write was refused)."""


class ResilientStore(Store):
    """Circuit breaker: primary store, in-memory fallback, background probes."""

    def __init__(
        self,
        primary: Store,
        *,
        fail_mode: Literal["open", "closed"] = "open",
        fallback: Store | None = None,
        open_after: int = 3,
        probe_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        call_timeout: float | None = None,
    ) -> None:
        super().__init__(primary.config)
        if fail_mode not in ("open", "closed"):
            raise ValueError("fail_mode must be 'open' or 'closed'")
        self.primary = primary
        self.fallback = fallback or MemoryStore(primary.config, warn_workers=False)
        self.fail_mode = fail_mode
        self.open_after = max(1, open_after)
        self.probe_interval = probe_interval
        self.call_timeout = call_timeout
        self._clock = clock
        self._tripped = False
        self._consecutive = 0
        self._tripped_at = 0.0
        self._last_probe = 0.0
        self._probe_task: asyncio.Task[None] | None = None
        self.errors = 0  # primary calls that failed
        self.fallbacks = 0  # calls answered by the fallback
        self.trips = 0  # times the breaker opened

    @property
    def degraded(self) -> bool:
        """True while the breaker is open (the primary is not being used)."""
        return self._tripped

    # -- breaker -----------------------------------------------------------------------------
    async def _primary(self, op: Callable[[Store], Awaitable[_T]]) -> _T:
        if self.call_timeout is None:
            return await op(self.primary)
        return await asyncio.wait_for(op(self.primary), self.call_timeout)

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        self._consecutive += 1
        if not self._tripped and self._consecutive >= self.open_after:
            self._tripped = True
            self.trips += 1
            self._tripped_at = self._last_probe = self._clock()
            logger.warning(
                "antidistill: storage %s failing (%s, %d in a row); %s",
                type(self.primary).__name__,
                type(exc).__name__,
                self._consecutive,
                "serving from in-memory fallback"
                if self.fail_mode == "open"
                else "failing closed",
            )

    def _maybe_probe(self) -> None:
        if self._probe_task is not None and not self._probe_task.done():
            return
        now = self._clock()
        if now - self._last_probe < self.probe_interval:
            return
        self._last_probe = now
        self._probe_task = asyncio.get_running_loop().create_task(self._probe())

    async def _probe(self) -> None:
        try:
            ok = await self._primary(lambda s: s.ping())
        except _FAILURES:
            ok = False
        if ok and self._tripped:
            self._tripped = False
            self._consecutive = 0
            logger.info(
                "antidistill: storage %s recovered after %.1fs degraded",
                type(self.primary).__name__,
                self._clock() - self._tripped_at,
            )

    async def _degraded(
        self, op: Callable[[Store], Awaitable[_T]], exc: BaseException | None
    ) -> _T:
        if self.fail_mode == "closed":
            raise StoreUnavailable(
                f"storage unavailable ({type(exc).__name__ if exc else 'circuit open'})"
            ) from exc
        self.fallbacks += 1
        return await op(self.fallback)

    async def _run(self, op: Callable[[Store], Awaitable[_T]]) -> _T:
        if self._tripped:
            self._maybe_probe()
            return await self._degraded(op, None)
        try:
            result = await self._primary(op)
        except _FAILURES as exc:
            self._failed(exc)
            return await self._degraded(op, exc)
        self._consecutive = 0
        return result

    async def _admin_write(self, op: Callable[[Store], Awaitable[None]]) -> None:
        if self._tripped:
            self._maybe_probe()
            raise StoreUnavailable("storage unavailable (circuit open); write not stored")
        try:
            await self._primary(op)
        except _FAILURES as exc:
            self._failed(exc)
            raise StoreUnavailable(f"storage unavailable ({type(exc).__name__})") from exc
        self._consecutive = 0

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
            return await self._primary(lambda s: s.ping())
        except _FAILURES:
            return False

    async def clear(self) -> None:
        """Clear the fallback and the primary (raises if the primary fails)."""
        await self.fallback.clear()
        await self._admin_write(lambda s: s.clear())

    async def close(self) -> None:
        """Stop a running probe and close both stores."""
        task, self._probe_task = self._probe_task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, *_FAILURES):
                pass
        await self.primary.close()
        await self.fallback.close()
