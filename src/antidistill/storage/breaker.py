"""One circuit breaker for everything that talks to the shared storage.

The store (:class:`~antidistill.storage.resilient.ResilientStore`) and the window limits
(:class:`~antidistill.storage.windows.ResilientWindows`) share one :class:`CircuitBreaker`,
so an outage trips once, logs one warning, is answered from one fail-open/closed policy and
recovers once (one info line), whichever of them noticed it first.

Recovery is validated before it is declared: while tripped, every probe first drops the
idle pooled connections of each primary (``reset`` callbacks), then pings. After a Redis
restart every pooled socket is dead; without the reset the probe itself, and then the
first requests after recovery, would each draw a dead socket and trip the breaker again.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from antidistill.errors import StorageError

logger = logging.getLogger("antidistill")

_T = TypeVar("_T")
#: What counts as a storage failure (anything else is a bug and propagates).
FAILURES = (StorageError, asyncio.TimeoutError, OSError)

FailMode = Literal["open", "closed"]
Probe = Callable[[], Awaitable[bool]]
Reset = Callable[[], Awaitable[None]]


class StoreUnavailable(StorageError):
    """The primary store failed and ``fail_mode="closed"`` (or an admin write was refused)."""


class CircuitBreaker:
    """Counts consecutive primary failures, trips after ``open_after``, probes to recover.

    ``name`` appears in the log lines (a class name, never a key or URI). ``probes`` must
    all answer True for a recovery; ``resets`` run before each probe while tripped.
    """

    def __init__(
        self,
        name: str,
        *,
        fail_mode: FailMode = "open",
        open_after: int = 3,
        probe_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        call_timeout: float | None = None,
    ) -> None:
        if fail_mode not in ("open", "closed"):
            raise ValueError("fail_mode must be 'open' or 'closed'")
        self.name = name
        self.fail_mode: FailMode = fail_mode
        self.open_after = max(1, open_after)
        self.probe_interval = probe_interval
        self.call_timeout = call_timeout
        self.probes: list[Probe] = []
        self.resets: list[Reset] = []
        self._clock = clock
        self.tripped = False
        self._consecutive = 0
        self._tripped_at = 0.0
        self._last_probe = 0.0
        self._probe_task: asyncio.Task[bool] | None = None
        self.errors = 0  # primary calls that failed
        self.fallbacks = 0  # calls answered by a fallback
        self.trips = 0  # times the breaker opened
        self.recoveries = 0

    def watch(self, probe: Probe, reset: Reset | None = None) -> None:
        """Add a primary: its ``probe`` must pass for recovery; ``reset`` drops its pool."""
        self.probes.append(probe)
        if reset is not None:
            self.resets.append(reset)

    # -- state -------------------------------------------------------------------------------
    def failed(self, exc: BaseException) -> None:
        """Record a failed primary call; trip (and log once) at ``open_after`` in a row."""
        self.errors += 1
        self._consecutive += 1
        if not self.tripped and self._consecutive >= self.open_after:
            self.tripped = True
            self.trips += 1
            self._tripped_at = self._last_probe = self._clock()
            logger.warning(
                "antidistill: storage %s failing (%s, %d in a row); %s",
                self.name,
                type(exc).__name__,
                self._consecutive,
                "serving from in-memory fallback" if self.fail_mode == "open" else "failing closed",
            )

    def succeeded(self) -> None:
        self._consecutive = 0

    def maybe_probe(self) -> None:
        """Start one background probe if none runs and ``probe_interval`` has passed."""
        if self._probe_task is not None and not self._probe_task.done():
            return
        now = self._clock()
        if now - self._last_probe < self.probe_interval:
            return
        self._last_probe = now
        self._probe_task = asyncio.get_running_loop().create_task(self.probe())

    async def probe(self) -> bool:
        """Reset pooled connections, ping every primary; close the breaker if all answer."""
        try:
            for reset in self.resets:
                await reset()
            ok = True
            for probe in self.probes:
                ok = ok and bool(await self._timed(probe()))
        except FAILURES:
            ok = False
        if ok and self.tripped:
            self.tripped = False
            self._consecutive = 0
            self.recoveries += 1
            logger.info(
                "antidistill: storage %s recovered after %.1fs degraded",
                self.name,
                self._clock() - self._tripped_at,
            )
        return ok

    # -- calls -------------------------------------------------------------------------------
    async def _timed(self, aw: Awaitable[_T]) -> _T:
        if self.call_timeout is None:
            return await aw
        if sys.version_info >= (3, 11):
            # in this task: wait_for would start a task (and its timer) per store call
            async with asyncio.timeout(self.call_timeout):
                return await aw
        return await asyncio.wait_for(aw, self.call_timeout)

    async def _degraded(
        self, fallback: Callable[[], Awaitable[_T]], exc: BaseException | None
    ) -> _T:
        if self.fail_mode == "closed":
            raise StoreUnavailable(
                f"storage unavailable ({type(exc).__name__ if exc else 'circuit open'})"
            ) from exc
        self.fallbacks += 1
        return await fallback()

    async def call(
        self, primary: Callable[[], Awaitable[_T]], fallback: Callable[[], Awaitable[_T]]
    ) -> _T:
        """``primary()`` while closed; ``fallback()`` (open) or ``StoreUnavailable`` (closed)
        when it fails or while tripped."""
        if self.tripped:
            self.maybe_probe()
            return await self._degraded(fallback, None)
        try:
            # without a call timeout, no coroutine around the call (one per store call)
            result = await (primary() if self.call_timeout is None else self._timed(primary()))
        except FAILURES as exc:
            self.failed(exc)
            return await self._degraded(fallback, exc)
        self._consecutive = 0
        return result

    async def write(self, primary: Callable[[], Awaitable[None]]) -> None:
        """An admin write: the primary or ``StoreUnavailable``, never a fallback."""
        if self.tripped:
            self.maybe_probe()
            raise StoreUnavailable("storage unavailable (circuit open); write not stored")
        try:
            await self._timed(primary())
        except FAILURES as exc:
            self.failed(exc)
            raise StoreUnavailable(f"storage unavailable ({type(exc).__name__})") from exc
        self._consecutive = 0

    async def close(self) -> None:
        """Stop a running probe."""
        task, self._probe_task = self._probe_task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, *FAILURES):
                pass
