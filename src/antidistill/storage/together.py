"""The store writes that follow a response, started together.

After an answer the guard records continuity's answer keys (list additions) and reconciles
the token budgets (forced bucket charges). On a remote store they are started in one
event-loop turn, so that Redis sends them in one round trip (see ``RedisStore.buckets``);
on memory:// they run one after the other, without tasks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from antidistill.storage.base import BucketSpec, Store
from antidistill.storage.memory import MemoryStore


async def _outcome(aw: Awaitable[Any]) -> Any:
    try:
        return await aw
    except Exception as exc:
        return exc


async def record_and_charge(
    store: Store, name: str, members: Sequence[str], ttl: float,
    specs: Sequence[BucketSpec], now: float,
) -> tuple[bool, BaseException | None]:
    """Add ``members`` to list ``name`` for ``ttl`` seconds and apply ``specs``.

    Returns whether every member was stored (the records are bookkeeping: their failure is
    the caller's to count, never to raise) and the exception the buckets raised, if any
    (for the caller to raise, as a direct ``store.buckets`` call would have).
    """
    writes: list[Callable[[], Awaitable[Any]]] = [
        partial(store.list_add, name, m, ttl) for m in members]
    if specs:
        writes.append(partial(store.buckets, specs, now))
    if len(writes) > 1 and not isinstance(store, MemoryStore):
        done = list(await asyncio.gather(*(w() for w in writes), return_exceptions=True))
    else:
        done = [await _outcome(w()) for w in writes]
    stored = not any(isinstance(r, BaseException) for r in done[: len(members)])
    failed = done[-1] if specs and isinstance(done[-1], BaseException) else None
    return stored, failed
