"""Write-behind for a networked store: the writes that follow a response (the settlement's
forced bucket charges, continuity's answer records) are queued and sent with the store's
next round trip, in front of that round trip's own commands.

Nothing reads these writes back in the request that makes them, so a round trip of their
own is pure cost. Queued commands go *first* in the next pipeline the store sends (Redis
executes a connection's commands in order), so the next request of the same identity reads
state that already includes them. A round trip that shares a key with queued writes still in
flight on another connection waits for them first (see :meth:`WriteBehind.settled`).

Each write hears its outcome once, through its ``done`` callback: None, or the first error
of its commands (an error reply, the round trip's failure, a timeout, a cancellation). The
round trip that carried it never fails because of it. A queue left alone is flushed by a
timer after ``delay`` seconds, at once when it holds ``limit`` commands, and on close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any

from antidistill.errors import StorageError
from antidistill.storage.base import Done, Store

logger = logging.getLogger("antidistill")

# 50 ms: this instance's next round trip carries the writes sooner on a server with 20+
# requests/s; only another instance can read them late, by this at most (a settlement
# corrects an estimate already charged; budgets refill over seconds to hours).
FLUSH_DELAY = 0.05
# Commands queued at most; reaching it flushes at once (a few settlements' worth on Cluster).
QUEUE_LIMIT = 256



class Deferred:
    """One queued write: ``left`` commands to be answered, the first error, the callback."""

    __slots__ = ("done", "error", "left", "marks")

    def __init__(self, n: int, marks: frozenset[str], done: Done) -> None:
        self.left = n
        self.marks = marks  # the keys (or key/member pairs) it writes
        self.error: BaseException | None = None
        self.done = done

    def answered(self, error: BaseException | None) -> None:
        """One of its commands was answered (``error``: it failed)."""
        if error is not None and self.error is None:
            self.error = error
        self.left -= 1
        if self.left == 0:
            try:
                self.done(self.error)
            except Exception as exc:  # a caller's bookkeeping must not fail the carrier
                logger.warning("antidistill: deferred write callback failed: %s",
                               type(exc).__name__)


Rider = tuple[Any, Deferred]  # (a store command, the write it belongs to)


class WriteBehind:
    """The queue of one store. ``flush`` sends a round trip of queued writes only."""

    def __init__(self, flush: Callable[[], Awaitable[Any]], *, delay: float = FLUSH_DELAY,
                 limit: int = QUEUE_LIMIT) -> None:
        self.queue: list[Rider] = []
        self.delay = delay
        self.limit = limit
        self._flush = flush
        self._timer: asyncio.TimerHandle | None = None
        self._since = 0.0  # loop time the oldest queued write was queued
        self._tasks: set[asyncio.Task[None]] = set()
        self.flushes = 0  # round trips of queued writes alone (the timer, a full queue)
        # round trips carrying queued writes: the keys they write, and their end
        self.inflight: dict[int, tuple[frozenset[str], asyncio.Future[None]]] = {}

    def add(self, cmds: Sequence[Any], marks: frozenset[str], done: Done) -> None:
        """Queue ``cmds`` as one write; ``done`` hears its outcome."""
        if not cmds:
            done(None)
            return
        write = Deferred(len(cmds), marks, done)
        if not self.queue:
            self._since = asyncio.get_running_loop().time()
        self.queue += [(cmd, write) for cmd in cmds]
        if len(self.queue) >= self.limit:
            self._start_flush()
        elif self._timer is None:
            self._arm()

    def _arm(self) -> None:
        # One timer at a time, never cancelled: a carrier empties the queue, and a timer
        # that finds it refilled since waits out the new oldest write's delay.
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(self._since + self.delay, self._due)

    def _due(self) -> None:
        self._timer = None
        if not self.queue:
            return
        if asyncio.get_running_loop().time() < self._since + self.delay:
            self._arm()
        else:
            self._start_flush()

    def take(self, rides: Callable[[Any], bool] | None = None) -> list[Rider]:
        """The queued commands to send now (``rides``: which may; default all)."""
        out: list[Rider] = []
        if rides is None:
            out, self.queue = self.queue, out
        else:
            stay: list[Rider] = []
            for rider in self.queue:
                (out if rides(rider[0]) else stay).append(rider)
            self.queue = stay
        return out

    async def settled(self, marks: Iterable[str]) -> None:
        """Wait for the in-flight round trips whose queued writes share a key with
        ``marks``: another connection's writes are not ordered with this one's."""
        keys = frozenset(marks)
        for written, end in list(self.inflight.values()):
            if not written.isdisjoint(keys):
                await asyncio.shield(end)

    def sending(self, riders: Sequence[Rider]) -> int:
        """Register a round trip carrying ``riders``; returns its token for :meth:`sent`."""
        marks = frozenset().union(*{id(w): w.marks for _c, w in riders}.values())
        end: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        token = id(end)
        self.inflight[token] = (marks, end)
        return token

    def sent(self, token: int) -> None:
        """The round trip of ``token`` ended (answered or failed)."""
        entry = self.inflight.pop(token, None)
        if entry is not None and not entry[1].done():
            entry[1].set_result(None)

    @staticmethod
    def answered(riders: Sequence[Rider], replies: Sequence[Any]) -> None:
        """Hand each rider its reply (an exception reply fails its write)."""
        for (_cmd, write), reply in zip(riders, replies, strict=True):
            if isinstance(reply, Exception):
                write.answered(StorageError(f"redis: {type(reply).__name__}: {reply}"))
            else:
                write.answered(None)

    @staticmethod
    def failed(riders: Sequence[Rider], exc: BaseException) -> None:
        """The round trip carrying ``riders`` failed as a whole."""
        err = exc if isinstance(exc, StorageError) else StorageError(
            f"redis: {type(exc).__name__}")
        for _cmd, write in riders:
            write.answered(err)

    def _start_flush(self) -> None:
        if self.queue:
            self.flushes += 1
            task = asyncio.get_running_loop().create_task(self._run_flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_flush(self) -> None:
        try:
            await self._flush()
        except Exception:  # the writes heard it through their callbacks
            pass

    async def drain(self) -> None:
        """Send everything queued now and wait for every flush under way (close)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self.queue:
            await self._run_flush()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for _marks, end in list(self.inflight.values()):
            await asyncio.shield(end)


Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def flush_before_shutdown(send: Send, store: Store) -> Send:
    """An ASGI lifespan ``send`` that sends ``store``'s queued writes (``Store.flush``)
    before the app reports its shutdown complete: the server may stop the
    event loop right after, before a flush timer fires."""

    async def wrapped(message: MutableMapping[str, Any]) -> None:
        if message.get("type") == "lifespan.shutdown.complete":
            try:
                await store.flush()
            except Exception as exc:  # the writes heard it; shutdown goes on
                logger.warning("antidistill: flushing queued writes failed: %s",
                               type(exc).__name__)
        await send(message)

    return wrapped
