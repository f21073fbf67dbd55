"""The store writes that follow a response: continuity's answer records and the settlement's
forced bucket charges.

Nobody reads them in the request that makes them. A store with a write-behind queue
(Redis, Cluster, and :class:`ResilientStore` over them while it is not degraded) takes them
without a round trip of their own: they go in front of its next round trip (see
:mod:`antidistill.storage.deferred`). Otherwise (memory://, degraded mode) they are written
now, one after the other. Either way each outcome reaches its callback exactly once, and
nothing is raised.
"""

from __future__ import annotations

from collections.abc import Sequence

from antidistill.storage.base import BucketSpec, Done, Store


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
    if members and not await store.defer_list_add(name, members, ttl, recorded):
        failed: BaseException | None = None
        for member in members:
            try:
                await store.list_add(name, member, ttl)
            except Exception as exc:
                failed = failed or exc
        recorded(failed)
    if specs and not await store.defer_buckets(specs, now, charged):
        try:
            await store.buckets(specs, now)
        except Exception as exc:
            charged(exc)
        else:
            charged(None)
