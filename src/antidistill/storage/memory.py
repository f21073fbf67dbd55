"""``memory://``: the in-process backend.

Design:

* Every method runs to completion without an ``await``, so under asyncio each one is atomic:
  concurrent requests in one process never interleave inside a read-modify-write. There are
  no background threads; expiry is lazy (checked on access against the caller's ``now``).
* Bounded: identities, features, clusters and buckets live in two-segment LRUs
  (``max_identities``, ``max_features``, ``max_identities`` and ``4 * max_identities``
  entries); a bucket evicted by the LRU comes back full. New entries start on probation and
  are evicted first; an identity with a second request, risk or a cluster, a feature seen by
  two identities or linked to a cluster, and a bucket used twice are protected, so a flood
  of one-request junk keys cannot flush real state (issue #11, finding 7).
* Each feature keeps at most ``feature_set_cap`` identities (the least recently seen are
  dropped), so its counts saturate there; identity value sets and cluster member sets
  saturate at the same cap.
* Protected features together keep at most ``max_sightings`` (feature, identity) pairs
  (default ``2 * max_identities``; the least recent protected feature goes beyond it);
  probation's pairs leave with their identity. So RSS has a plateau (docs/storage.md).
* Feature counts are exact below the cap: each feature maps identity -> sub-bucket of its
  last sighting, plus per-sub-bucket tallies, so counting costs O(sub-buckets), not O(set).
* Lists and their TTLs use the wall clock (``list_add`` has no ``now``); everything else
  uses the caller's ``now``.
* State is per process: under several workers every limit multiplies by the worker count.
  :func:`warn_if_multiple_workers` logs that once.
"""

from __future__ import annotations

import logging
import math
import os
import shlex
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from antidistill.storage.base import (
    LONG_SUBBUCKETS,
    SHORT_SUBBUCKETS,
    ApplyBatch,
    BucketResult,
    BucketSpec,
    ClusterStats,
    FeatureStats,
    IdentityStats,
    ObserveBatch,
    ObserveResult,
    RankedEntry,
    StateConfig,
    Store,
    decayed,
)
from antidistill.storage.mature import MatureSets  # detect-spread addition

logger = logging.getLogger("antidistill")

_EPS = 1e-9
_LOG2 = math.log(2.0)

_V = TypeVar("_V")
# Features an identity remembers being counted in (the most recent), so that forgetting the
# identity takes it out of them; older sightings leave with their window or feature.
MAX_FEATURE_REFS = 64
_EMPTY_LIST: dict[str, float] = {}
_NOTHING_LISTED: frozenset[tuple[str, str]] = frozenset()


def token_bucket(
    spec: BucketSpec, level: float | None, ts: float, now: float
) -> tuple[BucketResult, float, float]:
    """Pure token-bucket arithmetic shared with the Lua script (``token_bucket.lua``).

    ``level`` is None for a bucket never seen (it starts full). Returns the result and the
    new ``(level, ts)`` to store (unchanged for ``peek``).
    """
    # ``b if b < a else a`` is ``min(a, b)`` (and the ``max`` twin), NaN included, without
    # the builtin's call: this runs for every bucket of every request.
    capacity, rate, cost = spec.capacity, spec.refill_per_second, spec.cost
    if level is None:
        level, ts = capacity, now
    else:
        if now > ts:  # a lagging clock never refills backwards
            level += (now - ts) * rate
            ts = now
        level = capacity if capacity < level else level
    need = capacity if capacity < cost else cost
    allowed = cost <= 0 or level >= need - _EPS  # a refund always conforms
    after = level
    if not spec.peek and (allowed or spec.force):
        after = level - cost
        after = capacity if capacity < after else after
        floor = -spec.debt_limit
        after = floor if floor > after else after
    retry_after = 0.0
    if not allowed:
        base = after if spec.force else level
        retry_after = (need - base) / rate if rate > 0 else math.inf
    reset_after = 0.0
    if after < capacity:
        reset_after = (capacity - after) / rate if rate > 0 else math.inf
    return BucketResult(allowed, after, retry_after, reset_after), after, ts


def rank_score(risk: float, ts: float, half_life: float) -> float:
    """Log-space score ranking entries by decayed risk at any later time."""
    return math.log(risk) / _LOG2 + ts / half_life


def risk_from_score(score: float, now: float, half_life: float) -> float:
    """Inverse of :func:`rank_score` at ``now``."""
    return float(2.0 ** (score - now / half_life))


# A bucket is a plain (level, ts, expires) tuple: tuples of floats are not tracked by the
# cyclic GC, and 4 x max_identities slotted objects made every full collection slower.
_Bucket = tuple[float, float, float]


@dataclass(slots=True)
class _Identity:
    first_seen: float | None = None  # None: only values were counted, no state yet
    last_seen: float = 0.0
    requests: int = 0
    risk: float = 0.0
    risk_ts: float = 0.0
    cluster: str | None = None
    fields: dict[str, float] | None = None  # allocated on first use, like values
    values: dict[str, set[str]] | None = None
    expires: float = 0.0
    # where it was counted (most recent last); a tuple of strings is not GC-tracked
    features: tuple[str, ...] = ()


@dataclass(slots=True)
class _Feature:
    first_seen: float
    cluster: str | None = None
    # identity -> (short sub-bucket, long sub-bucket) of its last sighting, oldest first
    seen: OrderedDict[str, tuple[int, int]] = field(default_factory=OrderedDict)
    short: dict[int, int] = field(default_factory=dict)  # sub-bucket -> identities there
    long: dict[int, int] = field(default_factory=dict)
    expires: float = 0.0
    # the (short, long) sub-buckets its windows were last trimmed at (see _windowed)
    trimmed: tuple[int, int] | None = None
    # sum(short.values()) and sum(long.values()), kept with every change to the tallies
    n_short: int = 0
    n_long: int = 0


@dataclass(slots=True)
class _Cluster:
    first_seen: float
    last_seen: float
    risk: float = 0.0
    risk_ts: float = 0.0
    members: set[str] = field(default_factory=set)
    expires: float = 0.0


def _seen_count(feat: _Feature) -> int:
    return len(feat.seen)


def _windowed(feat: _Feature, cur: tuple[int, int]) -> FeatureStats:
    """The feature's counts in the short and long windows ending at sub-buckets ``cur``."""
    if feat.trimmed != cur:
        # Trimmed at these sub-buckets before, nothing older can be left: since then only
        # sightings of these very sub-buckets were added, and trims only remove.
        sb, lb = cur
        short, long = feat.short, feat.long
        if min(short) <= sb - SHORT_SUBBUCKETS:
            short = feat.short = {b: n for b, n in short.items() if b > sb - SHORT_SUBBUCKETS}
            feat.n_short = sum(short.values())
        if min(long) <= lb - LONG_SUBBUCKETS:
            long = feat.long = {b: n for b, n in long.items() if b > lb - LONG_SUBBUCKETS}
            feat.n_long = sum(long.values())
        feat.trimmed = cur
    n_short, n_long = feat.n_short, feat.n_long
    return FeatureStats(n_short, n_long if n_long > n_short else n_short, feat.first_seen,
                        feat.cluster)


def _decrement(tally: dict[int, int], key: int) -> int:
    """Take one sighting from ``tally[key]``: 1 if there was one to take, else 0."""
    n = tally.get(key, 0) - 1
    if n > 0:
        tally[key] = n
        return 1
    if n == 0:
        del tally[key]
        return 1
    return 0


_SETTLE_KEY = "\x00settle"  # never a real key: those are prefixed ("rq:", "key:", ...)
_SETTLE_STEP = 32  # extra slots used per insert while settling (a few microseconds)


def _settle_step(od: OrderedDict[str, _V], size: int) -> bool:
    """One step towards the table size ``od`` keeps under LRU churn; True once it resized.

    A dict never reuses a deleted slot before it resizes, and it resizes to about 3 x its
    live entries: filling up leaves a smaller table than churn at the bound settles on
    later, so RSS stepped up (+85 MiB at the default bounds, 70% into a run of 1M
    identities) long after every map was full. Using a few extra slots per insert brings
    that resize forward, so the plateau starts at the bound.
    """
    if not od or sys.getsizeof(od) != size:
        return True
    value = next(iter(od.values()))
    for _ in range(_SETTLE_STEP):
        od[_SETTLE_KEY] = value
        del od[_SETTLE_KEY]
    return sys.getsizeof(od) != size


class _SegmentedLRU(Generic[_V]):
    """A two-segment LRU: newcomers enter *probation*; :meth:`promote` moves an entry that
    proved itself (a second request, risk, a cluster, a second identity) to *protected*.
    Beyond ``maxsize`` the least recent probation entry goes first, so a flood of one-off
    keys only cycles probation and cannot flush established state. Protected holds at most
    ``protected_share`` of ``maxsize``; its overflow drops back to probation (most recent).
    With ``weigh``, ``protected_weight`` is the total weight of the protected entries (the
    owner adds to it when a protected value grows in place).
    """

    __slots__ = ("maxsize", "protected_max", "probation", "protected", "on_drop", "weigh",
                 "protected_weight", "settling")

    def __init__(
        self,
        maxsize: int,
        protected_share: float = 0.8,
        on_drop: Callable[[str, _V], None] | None = None,
        weigh: Callable[[_V], int] | None = None,
    ) -> None:
        self.maxsize = maxsize
        self.on_drop = on_drop  # called with every value removed (evicted, deleted, popped)
        self.weigh = weigh
        self.protected_weight = 0
        # tables not yet at their steady-state size (None: the bound was never reached)
        self.settling: list[tuple[OrderedDict[str, _V], int]] | None = None
        self.protected_max = max(1, int(maxsize * protected_share))
        self.probation: OrderedDict[str, _V] = OrderedDict()
        self.protected: OrderedDict[str, _V] = OrderedDict()

    def _unprotect(self, value: _V) -> None:
        if self.weigh is not None:
            self.protected_weight -= self.weigh(value)

    def __len__(self) -> int:
        return len(self.probation) + len(self.protected)

    def __contains__(self, key: str) -> bool:
        return key in self.protected or key in self.probation

    def get(self, key: str) -> _V | None:
        value = self.protected.get(key)
        return self.probation.get(key) if value is None else value

    def __delitem__(self, key: str) -> None:
        value = self.protected.pop(key, None)
        if value is None:
            value = self.probation.pop(key)
        else:
            self._unprotect(value)
        if self.on_drop is not None:
            self.on_drop(key, value)

    def pop(self, key: str, default: _V | None = None) -> _V | None:
        value = self.protected.pop(key, None)
        if value is None:
            value = self.probation.pop(key, None)
            if value is None:
                return default
        else:
            self._unprotect(value)
        if self.on_drop is not None:
            self.on_drop(key, value)
        return value

    def evict(self, protected_first: bool = False) -> None:
        """Drop the least recent entry (of probation, unless ``protected_first``)."""
        if self.probation and not (protected_first and self.protected):
            key, value = self.probation.popitem(last=False)
        else:
            key, value = self.protected.popitem(last=False)
            self._unprotect(value)
        if self.on_drop is not None:
            self.on_drop(key, value)

    def move_to_end(self, key: str) -> None:
        """Mark ``key`` most recently used within its segment."""
        if key in self.protected:
            self.protected.move_to_end(key)
        else:
            self.probation.move_to_end(key)

    def put(self, key: str, value: _V) -> None:
        """Insert (new keys on probation) or replace; evict beyond ``maxsize``."""
        if key in self.protected:
            self._unprotect(self.protected[key])
            self.protected[key] = value
            self.protected.move_to_end(key)
            if self.weigh is not None:
                self.protected_weight += self.weigh(value)
            return
        self.probation[key] = value
        self.probation.move_to_end(key)
        if len(self.probation) + len(self.protected) > self.maxsize:
            settling = self.settling
            if settling is None:
                settling = self.settling = [(od, sys.getsizeof(od))
                                            for od in (self.probation, self.protected)]
            if settling:
                settling[:] = [(od, n) for od, n in settling if not _settle_step(od, n)]
            while len(self.probation) + len(self.protected) > self.maxsize:
                self.evict()

    def promote(self, key: str) -> None:
        """Move ``key`` from probation to protected (no-op if absent or protected)."""
        value = self.probation.pop(key, None)
        if value is None:
            return
        protected = self.protected
        protected[key] = value
        if self.weigh is not None:
            self.protected_weight += self.weigh(value)
        if len(protected) > self.protected_max:
            old, demoted = protected.popitem(last=False)
            self._unprotect(demoted)
            self.probation[old] = demoted

    def clear(self) -> None:
        self.probation.clear()
        self.protected.clear()
        self.protected_weight = 0


class MemoryStore(Store):
    """In-process :class:`Store` (``memory://``); see the module docstring."""

    def __init__(
        self,
        config: StateConfig | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
        warn_workers: bool = True,
    ) -> None:
        super().__init__(config)
        cfg = self.config
        self._wall = wall_clock
        self._identities: _SegmentedLRU[_Identity] = _SegmentedLRU(
            cfg.max_identities, on_drop=self._dropped_identity)
        # Every feature holds the identities that sent it ("sightings"); those of protected
        # features outlive the identities, so their total is bounded too, or RSS grows with
        # distinct identities long after every other bound is full.
        self._sightings = 0
        self._max_sightings = cfg.max_sightings or 2 * cfg.max_identities
        self._cur: tuple[int, int] = (-1, -1)  # shared by the sightings of one sub-bucket
        self._features: _SegmentedLRU[_Feature] = _SegmentedLRU(
            cfg.max_features, on_drop=self._dropped_feature, weigh=_seen_count)
        self._clusters: _SegmentedLRU[_Cluster] = _SegmentedLRU(cfg.max_identities)
        self._buckets: _SegmentedLRU[_Bucket] = _SegmentedLRU(4 * cfg.max_identities)
        self._lists: dict[str, dict[str, float]] = {}
        self._settings: dict[str, str] = {}
        self._rank_identities: dict[str, float] = {}
        self._rank_clusters: dict[str, float] = {}
        # FeatureStats.mature (ApplyBatch.mature_features), bounded like the sightings
        self._mature = MatureSets(cfg.max_features, cfg.feature_set_cap, cfg.long_window,
                                  self._max_sightings)
        self.round_trips = 0  # always 0: kept so benchmarks can treat backends alike
        # Window arithmetic hoisted out of the per-feature loop (base.window_bucket()).
        self._short_span = cfg.short_window / SHORT_SUBBUCKETS
        self._long_span = cfg.long_window / LONG_SUBBUCKETS
        self._long_window = cfg.long_window
        self._feature_set_cap = cfg.feature_set_cap
        if warn_workers:
            warn_if_multiple_workers()

    def _dropped_feature(self, key: str, feat: _Feature) -> None:
        self._sightings -= len(feat.seen)

    def _dropped_identity(self, identity: str, ident: _Identity) -> None:
        """A forgotten identity leaves the features on probation it was counted in (so a
        flood's one-off features hold nothing); protected features keep their history, and
        their total is bounded by ``max_sightings``."""
        probation = self._features.probation
        for key in ident.features:
            feat = probation.get(key)
            if feat is None:
                continue
            seen = feat.seen
            where = seen.pop(identity, None)
            if where is not None:
                self._sightings -= 1
                feat.n_short -= _decrement(feat.short, where[0])
                feat.n_long -= _decrement(feat.long, where[1])
                # a dict never shrinks its table: rebuild one that lost most of its entries
                n = len(seen)
                if n == 0:  # fresh empty maps have no table (~500 B less per feature)
                    feat.seen, feat.short, feat.long = OrderedDict(), {}, {}
                    feat.n_short = feat.n_long = 0
                elif n & 15 == 0 and sys.getsizeof(seen) > 512 * n + 1024:
                    feat.seen = OrderedDict(seen)

    # -- entities ------------------------------------------------------------------------
    @staticmethod
    def _get(lru: _SegmentedLRU[_V], key: str, now: float) -> _V | None:
        entry = lru.get(key)
        if entry is None:
            return None
        if entry.expires <= now:  # type: ignore[attr-defined]
            del lru[key]
            return None
        lru.move_to_end(key)
        return entry

    def _identity(self, identity: str, now: float) -> _Identity:
        ident = self._get(self._identities, identity, now)
        if ident is None:
            ident = _Identity()
            self._identities.put(identity, ident)
        ident.expires = now + self.config.identity_ttl
        return ident

    def _identity_stats(
        self, ident: _Identity | None, now: float, values: dict[str, int] | None = None
    ) -> IdentityStats:
        if values is None:
            values = {}
        if ident is None or ident.first_seen is None:
            return IdentityStats(now, now, 0, 0.0, None, values, {})
        return IdentityStats(
            ident.first_seen,
            ident.last_seen,
            ident.requests,
            decayed(ident.risk, ident.risk_ts, now, self.config.risk_half_life),
            ident.cluster,
            values,
            dict(ident.fields) if ident.fields else {},
        )

    def _cluster_stats(self, cluster: str, now: float) -> ClusterStats | None:
        # _get, with the segment that holds the cluster looked up once: every observe asks
        # for the recent clusters.
        lru = self._clusters
        segment = lru.protected
        c = segment.get(cluster)
        if c is None:
            segment = lru.probation
            c = segment.get(cluster)
            if c is None:
                return None
        if c.expires <= now:
            del lru[cluster]
            return None
        segment.move_to_end(cluster)
        risk = decayed(c.risk, c.risk_ts, now, self.config.risk_half_life)
        return ClusterStats(risk, len(c.members), c.first_seen, c.last_seen)

    def _count_feature(
        self, key: str, identity: str, now: float, cur: tuple[int, int], refs: list[str]
    ) -> FeatureStats:
        """Count ``identity`` against feature ``key``; ``cur`` = (short, long) sub-bucket;
        a new sighting is noted in ``refs`` (the identity's features)."""
        features = self._features
        # The LRU's segments are read directly: which one holds the key decides the
        # recency update and the promotion below (one lookup instead of three).
        protected = features.protected
        feat = protected.get(key)
        held = feat is not None
        if feat is None:
            feat = features.probation.get(key)
        if feat is not None and feat.expires <= now:
            del features[key]
            feat = None
        if feat is None:
            feat = _Feature(first_seen=now)
            features.put(key, feat)
            held = False
        elif held:
            protected.move_to_end(key)
        else:
            features.probation.move_to_end(key)
        feat.expires = now + self._long_window
        seen = feat.seen
        prev = seen.get(identity)
        if prev == cur:
            # Seen in this very sub-bucket: only the recency order changes.
            seen.move_to_end(identity)
        else:
            self._move_sighting(feat, identity, prev, cur, key, refs, held)
        # Most features live in one sub-bucket: skip the window filter when all are inside.
        # Sub-buckets that left a window are dropped when met, so the next request takes the
        # quick sum: they cannot count again as the clock moves on (a sighting that moves
        # decrements a missing tally as a no-op). A request whose clock lags a whole
        # sub-bucket behind may miss the boundary one, as with the size trim above.
        if not held and (len(seen) >= 2 or feat.cluster is not None):
            features.promote(key)  # shared by two identities: fan-out history to keep
        if feat.trimmed is cur:  # _windowed's common case, without the call
            n_short, n_long = feat.n_short, feat.n_long
            return FeatureStats(n_short, n_long if n_long > n_short else n_short,
                                feat.first_seen, feat.cluster)
        return _windowed(feat, cur)

    def _move_sighting(self, feat: _Feature, identity: str, prev: tuple[int, int] | None,
                       cur: tuple[int, int], key: str, refs: list[str], held: bool) -> None:
        """Record ``identity``'s sighting of ``feat`` in sub-buckets ``cur`` (``prev``: its
        previous one, if any); ``held``: the feature is in the protected segment."""
        sb, lb = cur
        seen, short, long = feat.seen, feat.short, feat.long
        n_short, n_long = feat.n_short, feat.n_long
        before = len(seen)
        if prev is not None:
            del seen[identity]
            n_short -= _decrement(short, prev[0])
            n_long -= _decrement(long, prev[1])
        # drop sightings that left the long window, then the oldest beyond the cap
        oldest_allowed = lb - LONG_SUBBUCKETS
        cap = self._feature_set_cap
        while seen:
            oldest, (osb, olb) = next(iter(seen.items()))
            if olb > oldest_allowed and len(seen) < cap:
                break
            del seen[oldest]
            self._sightings -= 1
            n_short -= _decrement(short, osb)
            n_long -= _decrement(long, olb)
        if prev is None:
            self._sightings += 1
            refs.append(key)
        seen[identity] = cur
        short[sb] = short.get(sb, 0) + 1
        long[lb] = long.get(lb, 0) + 1
        n_short += 1
        n_long += 1
        if len(short) > 2 * SHORT_SUBBUCKETS:
            short = feat.short = {b: n for b, n in short.items() if b > sb - SHORT_SUBBUCKETS}
            n_short = sum(short.values())
        feat.n_short, feat.n_long = n_short, n_long
        if held:
            self._features.protected_weight += len(seen) - before

    # -- Store API ------------------------------------------------------------------------
    async def observe(self, batch: ObserveBatch, now: float) -> ObserveResult:
        """See :meth:`Store.observe`."""
        cfg = self.config
        ident: _Identity | None
        counts: dict[str, int] = {}
        if batch.identity_values:
            ident = self._identity(batch.identity, now)
            cap = cfg.feature_set_cap
            if ident.values is None:
                ident.values = {}
            for name, value in batch.identity_values.items():
                values = ident.values.get(name)
                if values is None:
                    values = ident.values[name] = set()
                if len(values) < cap:
                    values.add(value)
                counts[name] = len(values)
        else:
            ident = self._get(self._identities, batch.identity, now)
        istats = self._identity_stats(ident, now, counts)
        features: dict[str, FeatureStats] = {}
        if batch.features:
            if ident is None:
                ident = self._identity(batch.identity, now)
            cur = (
                int(now // self._short_span),
                int(now // self._long_span),
            )
            count, identity = self._count_feature, batch.identity
            refs: list[str] = []
            if cur != self._cur:
                self._cur = cur
            cur = self._cur
            for f in batch.features:
                features[f] = count(f, identity, now, cur, refs)
            if len(self._mature):  # detect-spread addition
                self._mature.count_into(features, now)
            if refs:
                ident.features = (*ident.features, *refs)[-MAX_FEATURE_REFS:]
            # Over the bound on protected sightings (the history that outlives identities):
            # the least recent protected feature goes. Probation's sightings leave with their
            # identities (_dropped_identity), so they are bounded by max_identities.
            feats = self._features
            while feats.protected_weight > self._max_sightings and len(feats.protected) > 1:
                feats.evict(protected_first=True)
        clusters: dict[str, ClusterStats] = {}
        wanted = [*batch.clusters, istats.cluster, *(fs.cluster for fs in features.values())]
        for cid in wanted:
            if cid and cid not in clusters:
                cs = self._cluster_stats(cid, now)
                if cs is not None:
                    clusters[cid] = cs
        return ObserveResult(istats, features, clusters, self._listed(batch.list_checks))

    def _listed(self, checks: Sequence[tuple[str, str]]) -> frozenset[tuple[str, str]]:
        """The ``(list, member)`` checks that hit an unexpired member (wall clock)."""
        lists = self._lists
        if not lists or not checks:
            return _NOTHING_LISTED
        wall = self._wall()
        hits = [c for c in checks if lists.get(c[0], _EMPTY_LIST).get(c[1], -math.inf) > wall]
        return frozenset(hits) if hits else _NOTHING_LISTED

    def _run_buckets(self, specs: Sequence[BucketSpec], now: float) -> list[BucketResult]:
        results = []
        max_ttl = self.config.identity_ttl
        lru = self._buckets
        protected, probation = lru.protected, lru.probation
        for spec in specs:
            key = spec.key
            # The LRU's segments read directly: two lookups instead of four method calls.
            seg = protected
            b = protected.get(key)
            if b is None:
                seg = probation
                b = probation.get(key)
            if b is not None:
                if b[2] <= now:
                    del seg[key]
                    b = None
                else:
                    seg.move_to_end(key)
            if b is None:
                result, level, ts = token_bucket(spec, None, now, now)
            else:
                result, level, ts = token_bucket(spec, b[0], b[1], now)
            results.append(result)
            if spec.peek:
                continue
            if level >= spec.capacity:
                if b is not None:
                    del seg[key]
                continue
            ttl = max_ttl
            if spec.refill_per_second > 0:
                ttl = min(max_ttl, result.reset_after * 2 + 1.0)
            value = (level, ts, now + ttl)
            if b is None:
                lru.put(key, value)
            elif seg is protected:
                protected[key] = value  # already most recent
            else:
                # A bucket used twice is worth keeping over a flood's one-offs.
                probation[key] = value
                lru.promote(key)
        return results

    def _update_rank(self, rank: dict[str, float], key: str, risk: float, ts: float) -> None:
        if risk > 0:
            rank[key] = rank_score(risk, ts, self.config.risk_half_life)
        else:
            rank.pop(key, None)
        top_k = self.config.top_k
        if len(rank) > 2 * top_k:  # trim in batches so the sort cost is amortised
            keep = sorted(rank.items(), key=lambda kv: kv[1], reverse=True)[:top_k]
            rank.clear()
            rank.update(keep)

    async def apply(self, batch: ApplyBatch, now: float) -> list[BucketResult]:
        """See :meth:`Store.apply`."""
        cfg = self.config
        results = self._run_buckets(batch.buckets, now)
        ident = self._identity(batch.identity, now)
        if ident.first_seen is None:
            ident.first_seen = ident.last_seen = now
        if batch.touch:
            ident.requests += 1
            ident.last_seen = max(ident.last_seen, now)
        if batch.risk_add:
            risk = decayed(ident.risk, ident.risk_ts, now, cfg.risk_half_life)
            ident.risk = max(0.0, risk + batch.risk_add)
            ident.risk_ts = max(ident.risk_ts, now)
            self._update_rank(self._rank_identities, batch.identity, ident.risk, ident.risk_ts)
        if batch.fields:
            if ident.fields is None:
                ident.fields = dict(batch.fields)
            else:
                ident.fields.update(batch.fields)
        if ident.requests >= 2 or ident.risk > 0 or batch.cluster is not None:
            self._identities.promote(batch.identity)
        if batch.cluster is not None:
            ident.cluster = batch.cluster
            c = self._get(self._clusters, batch.cluster, now)
            if c is None:
                c = _Cluster(first_seen=now, last_seen=now)
                self._clusters.put(batch.cluster, c)
                self._clusters.promote(batch.cluster)
            c.last_seen = max(c.last_seen, now)
            c.expires = now + cfg.identity_ttl
            if len(c.members) < cfg.feature_set_cap:
                c.members.add(batch.identity)
            if batch.cluster_risk_add:
                risk = decayed(c.risk, c.risk_ts, now, cfg.risk_half_life)
                c.risk = max(0.0, risk + batch.cluster_risk_add)
                c.risk_ts = max(c.risk_ts, now)
                self._update_rank(self._rank_clusters, batch.cluster, c.risk, c.risk_ts)
            for key in batch.link_features:
                feat = self._get(self._features, key, now)
                if feat is None:
                    feat = _Feature(first_seen=now)
                    self._features.put(key, feat)
                feat.expires = now + cfg.long_window
                if feat.cluster is None:
                    feat.cluster = batch.cluster
                self._features.promote(key)
        if batch.mature_features:  # detect-spread addition
            self._mature.add(batch.identity, batch.mature_features, now)
        return results

    async def buckets(self, specs: Sequence[BucketSpec], now: float) -> list[BucketResult]:
        """See :meth:`Store.buckets`."""
        return self._run_buckets(specs, now)

    async def listed(
        self, identity: str, checks: Sequence[tuple[str, str]], now: float
    ) -> frozenset[tuple[str, str]]:
        """See :meth:`Store.listed`: a dictionary lookup per check, nothing else."""
        return self._listed(checks)

    async def list_add(self, name: str, member: str, ttl: float | None = None) -> None:
        """Add ``member`` to list ``name``, for ``ttl`` seconds (wall clock) or for good."""
        expires = math.inf if ttl is None else self._wall() + ttl
        members = self._lists.setdefault(name, {})
        members[member] = expires
        if len(members) > self.config.max_features:
            # Bounded like the features (the answers that session continuity keeps live in
            # a list): drop the expired, then the soonest to expire.
            _trim_list(members, self._wall(), self.config.max_features)

    async def list_remove(self, name: str, member: str) -> None:
        """Remove ``member`` from list ``name`` (no error when absent)."""
        self._lists.get(name, {}).pop(member, None)

    async def list_members(self, name: str, limit: int = 1000) -> list[str]:
        """Up to ``limit`` unexpired members, soonest to expire first."""
        members = self._lists.get(name)
        if not members:
            return []
        wall = self._wall()
        for m in [m for m, exp in members.items() if exp <= wall]:
            del members[m]
        return [m for m, _ in sorted(members.items(), key=lambda kv: (kv[1], kv[0]))][:limit]

    async def get_setting(self, name: str) -> str | None:
        """A persisted setting, or None."""
        return self._settings.get(name)

    async def set_setting(self, name: str, value: str | None) -> None:
        """Set (or with None, delete) a setting."""
        if value is None:
            self._settings.pop(name, None)
        else:
            self._settings[name] = value

    def _top(
        self,
        rank: Mapping[str, float],
        n: int,
        now: float,
        last_seen: Callable[[str], float | None],
    ) -> list[RankedEntry]:
        out: list[RankedEntry] = []
        for key, score in sorted(rank.items(), key=lambda kv: kv[1], reverse=True):
            seen = last_seen(key)
            if seen is None:
                continue
            risk = risk_from_score(score, now, self.config.risk_half_life)
            out.append(RankedEntry(key, risk, seen))
            if len(out) >= n:
                break
        return out

    async def top_identities(self, n: int, now: float) -> list[RankedEntry]:
        """Identities by decayed risk, highest first (expired ones skipped)."""

        def last_seen(key: str) -> float | None:
            ident = self._get(self._identities, key, now)
            return None if ident is None or ident.first_seen is None else ident.last_seen

        return self._top(self._rank_identities, n, now, last_seen)

    async def top_clusters(self, n: int, now: float) -> list[RankedEntry]:
        """Clusters by decayed risk, highest first (expired ones skipped)."""

        def last_seen(key: str) -> float | None:
            c = self._get(self._clusters, key, now)
            return None if c is None else c.last_seen

        return self._top(self._rank_clusters, n, now, last_seen)

    async def identity_state(self, identity: str, now: float) -> IdentityStats | None:
        """The identity's state without counting anything, or None."""
        ident = self._get(self._identities, identity, now)
        if ident is None or ident.first_seen is None:
            return None
        return self._identity_stats(ident, now)

    async def cluster_state(self, cluster: str, now: float) -> ClusterStats | None:
        """The cluster's state, or None."""
        return self._cluster_stats(cluster, now)

    async def ping(self) -> bool:
        """Always True."""
        return True

    async def clear(self) -> None:
        """Forget everything."""
        for d in (
            self._identities,
            self._features,
            self._clusters,
            self._buckets,
            self._lists,
            self._settings,
            self._rank_identities,
            self._rank_clusters,
            self._mature,  # detect-spread addition
        ):
            d.clear()
        self._sightings = 0


# -- several workers ------------------------------------------------------------------------

_warned = False
_WORKER_FLAGS = ("--workers", "-w")


def _workers_in_args(args: Sequence[str]) -> int | None:
    for i, arg in enumerate(args):
        for flag in _WORKER_FLAGS:
            value: str | None = None
            if arg == flag and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(flag + "="):
                value = arg[len(flag) + 1 :]
            elif flag == "-w" and arg.startswith("-w") and arg[2:].isdigit():
                value = arg[2:]
            if value is not None and value.isdigit():
                return int(value)
    return None


def _read_proc(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def detect_multiple_workers(
    environ: Mapping[str, str] | None = None,
    argv: Sequence[str] | None = None,
    parent_argv: Sequence[str] | None = None,
    siblings: int | None = None,
) -> str | None:
    """Why this process looks like one of several workers, or None.

    Hints: ``WEB_CONCURRENCY`` > 1, ``--workers``/``-w`` > 1 in ``GUNICORN_CMD_ARGS``, in
    our own argv or in the parent's command line (uvicorn's supervisor), or a gunicorn
    parent with more than one child. Arguments default to this process (Linux ``/proc``).
    """
    env = os.environ if environ is None else environ
    if argv is None:
        argv = sys.argv
    ppid = os.getppid()
    if parent_argv is None:
        raw = _read_proc(f"/proc/{ppid}/cmdline")
        parent_argv = [a for a in raw.split("\0") if a]
    concurrency = env.get("WEB_CONCURRENCY", "")
    if concurrency.isdigit() and int(concurrency) > 1:
        return f"WEB_CONCURRENCY={concurrency}"
    gunicorn_args = env.get("GUNICORN_CMD_ARGS", "")
    if gunicorn_args:
        try:
            n = _workers_in_args(shlex.split(gunicorn_args))
        except ValueError:
            n = None
        if n is not None and n > 1:
            return f"GUNICORN_CMD_ARGS workers={n}"
    for where, args in (("argv", argv), ("parent command line", parent_argv)):
        n = _workers_in_args(args)
        if n is not None and n > 1:
            return f"{where} workers={n}"
    if any("gunicorn" in a for a in parent_argv[:2]):
        if siblings is None:
            children = _read_proc(f"/proc/{ppid}/task/{ppid}/children").split()
            siblings = len(children)
        if siblings > 1:
            return f"gunicorn parent with {siblings} workers"
    return None


def warn_if_multiple_workers() -> bool:
    """Log (once per process) that ``memory://`` state is per worker. True if it warned."""
    global _warned
    if _warned:
        return False
    reason = detect_multiple_workers()
    if reason is None:
        return False
    _warned = True
    logger.warning(
        "antidistill: memory:// storage under several workers (%s): every worker keeps its "
        "own state, so budgets and fan-out thresholds multiply by the worker count; "
        "use redis:// for a shared state",
        reason,
    )
    return True


def _trim_list(members: dict[str, float], wall: float, cap: int) -> None:
    for m in [m for m, exp in members.items() if exp <= wall]:
        del members[m]
    if len(members) > cap:
        for m, _ in sorted(members.items(), key=lambda kv: kv[1])[: len(members) - cap * 9 // 10]:
            del members[m]
