"""``memory://``'s mature-identity counters (``ApplyBatch.mature_features``).

Per feature, the distinct identities that sent it while mature (``signals.spread``), kept a
long window after the last one was added: the same lifetime as the Redis backend's HLL with
that TTL. Held apart from the feature's own sightings, so evicting or expiring a feature
does not change its mature count (nor does Redis's). Bounded: ``max_keys`` features (least
recently added go first) of at most ``cap`` identities each, and at most ``max_members``
identities over all of them (the least recently added features go first).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

from antidistill.storage.base import FeatureStats


class MatureSets:
    """Distinct mature identities per feature key."""

    def __init__(self, max_keys: int, cap: int, ttl: float, max_members: int) -> None:
        self._sets: OrderedDict[str, tuple[set[str], float]] = OrderedDict()
        self._max_keys, self._cap, self._ttl = max_keys, cap, ttl
        self._max_members = max_members
        self.members = 0  # identities held over all features

    def __len__(self) -> int:
        return len(self._sets)

    def count(self, key: str, now: float) -> int:
        """Distinct mature identities of ``key`` at ``now`` (0 when none or expired)."""
        entry = self._sets.get(key)
        if entry is None:
            return 0
        if entry[1] <= now:
            del self._sets[key]
            self.members -= len(entry[0])
            return 0
        return len(entry[0])

    def count_into(self, features: Mapping[str, FeatureStats], now: float) -> None:
        """Set each ``FeatureStats.mature`` of ``features`` (keyed by feature) at ``now``."""
        sets = self._sets
        for key, st in features.items():
            entry = sets.get(key)
            if entry is not None:  # count(), with the entry looked up once
                if entry[1] <= now:
                    del sets[key]
                    self.members -= len(entry[0])
                    st.mature = 0
                else:
                    st.mature = len(entry[0])

    def add(self, identity: str, keys: Sequence[str], now: float) -> None:
        """Count ``identity`` as mature on each of ``keys``."""
        sets = self._sets
        for key in dict.fromkeys(keys):
            entry = sets.pop(key, None)
            if entry is not None and entry[1] > now:
                members = entry[0]
            else:
                members = set()
                if entry is not None:
                    self.members -= len(entry[0])
            if len(members) < self._cap and identity not in members:
                members.add(identity)
                self.members += 1
            sets[key] = (members, now + self._ttl)
            while len(sets) > 1 and (len(sets) > self._max_keys
                                     or self.members > self._max_members):
                self.members -= len(sets.popitem(last=False)[1][0])

    def clear(self) -> None:
        self._sets.clear()
        self.members = 0
