"""The store writes that follow a response: continuity's answer records and the settlement's
forced bucket charges.

Nobody reads them in the request that makes them. A store with a write-behind queue
(Redis, Cluster, and :class:`ResilientStore` over them while it is not degraded) takes them
without a round trip of their own: they go in front of its next round trip (see
:mod:`antidistill.storage.deferred`). Otherwise (memory://, degraded mode) they are written
now: on a remote store started in one event-loop turn, so that Redis sends them in one
round trip (see ``RedisStore.buckets``); on memory:// one after the other, without tasks.
Either way each outcome reaches its callback exactly once, and nothing is raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from antidistill.storage.base import BucketSpec, Store
from antidistill.storage.deferred import Done
from antidistill.storage.memory import MemoryStore


async def _outcome(aw: Awaitable[Any]) -> Any:
    try:
        return await aw
    except Exception as exc:
        return exc


async def _deferred(store: Store, name: str, members: Sequence[str], ttl: float,
                    specs: Sequence[BucketSpec], now: float, recorded: Done,
                    charged: Done) -> tuple[bool, bool]:
    """Queue what the store's write-behind takes: (records queued, charge queued)."""
    defer_add = getattr(store, "defer_list_add", None)
    defer_buckets = getattr(store, "defer_buckets", None)
    if defer_add is None or defer_buckets is None:
        return False, False
    queued_add = not members or bool(await defer_add(name, members, ttl, recorded))
    queued_charge = not specs or bool(await defer_buckets(specs, now, charged))
    return queued_add, queued_charge


async def record_and_charge(
    store: Store, name: str, members: Sequence[str], ttl: float,
    specs: Sequence[BucketSpec], now: float, recorded: Done, charged: Done,
) -> None:
    """Add ``members`` to list ``name`` for ``ttl`` seconds and apply ``specs``.

    ``recorded`` hears whether the records were stored (None, or the error), ``charged``
    the same for the buckets; called once each, when there is something to write (the
    records are bookkeeping and the charge is after the response: their failure is the
    caller's to count).
    """
    queued_add, queued_charge = await _deferred(store, name, members, ttl, specs, now,
                                                recorded, charged)
    writes: list[Callable[[], Awaitable[Any]]] = []
    if members and not queued_add:
        writes += [partial(store.list_add, name, m, ttl) for m in members]
    if specs and not queued_charge:
        writes.append(partial(store.buckets, specs, now))
    if not writes:
        return
    if len(writes) > 1 and not isinstance(store, MemoryStore):
        done = list(await asyncio.gather(*(w() for w in writes), return_exceptions=True))
    else:
        done = [await _outcome(w()) for w in writes]
    if members and not queued_add:
        failed = [r for r in done[: len(members)] if isinstance(r, BaseException)]
        recorded(failed[0] if failed else None)
    if specs and not queued_charge:
        charged(done[-1] if isinstance(done[-1], BaseException) else None)
