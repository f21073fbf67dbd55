"""``memory://``'s mature-identity counters (``ApplyBatch.mature_features``).

Per feature, the distinct identities that sent it while mature (``signals.spread``), kept a
long window after the last one was added: the same lifetime as the Redis backend's HLL with
that TTL. Held apart from the feature's own sightings, so evicting or expiring a feature
does not change its mature count (nor does Redis's). Bounded: ``max_keys`` features (least
recently added go first) of at most ``cap`` identities each.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence


class MatureSets:
    """Distinct mature identities per feature key."""

    def __init__(self, max_keys: int, cap: int, ttl: float) -> None:
        self._sets: OrderedDict[str, tuple[set[str], float]] = OrderedDict()
        self._max_keys, self._cap, self._ttl = max_keys, cap, ttl

    def __len__(self) -> int:
        return len(self._sets)

    def count(self, key: str, now: float) -> int:
        """Distinct mature identities of ``key`` at ``now`` (0 when none or expired)."""
        entry = self._sets.get(key)
        if entry is None:
            return 0
        if entry[1] <= now:
            del self._sets[key]
            return 0
        return len(entry[0])

    def add(self, identity: str, keys: Sequence[str], now: float) -> None:
        """Count ``identity`` as mature on each of ``keys``."""
        sets = self._sets
        for key in dict.fromkeys(keys):
            entry = sets.pop(key, None)
            members = entry[0] if entry is not None and entry[1] > now else set()
            if len(members) < self._cap:
                members.add(identity)
            sets[key] = (members, now + self._ttl)
            if len(sets) > self._max_keys:
                sets.popitem(last=False)

    def clear(self) -> None:
        self._sets.clear()
