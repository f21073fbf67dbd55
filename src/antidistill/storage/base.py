"""The storage contract shared by ``memory://`` and the Redis backends.

The value types here are plain (not frozen) slotted dataclasses on purpose: a request builds
a dozen of them, and a frozen dataclass costs about five times as much to construct. Treat
them as read-only all the same.

Every hot-path operation is *batched*: a request costs one ``observe`` (detection reads and
counting writes) and one ``apply`` (budgets plus risk updates), so a networked backend needs at
most two round trips per request. Keys given to the store are *logical* (already pseudonymised,
e.g. ``"t:pt1:9a3f..."``); the backend adds its prefix, hash tags and TTLs.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class BucketSpec:
    """One token-bucket operation.

    A classic token bucket: ``capacity`` tokens, refilled continuously at
    ``refill_per_second``. A request of ``cost`` conforms when the bucket holds at least
    ``min(cost, capacity)`` tokens (so a cost above capacity can still pass from a full
    bucket, then leaves the bucket in debt). When it conforms the cost is removed.
    ``force`` removes (or, if negative, returns) the cost whether or not it conforms:
    that is how usage is reconciled after a response, and how buckets go into debt.
    ``peek`` only reports. The level never exceeds ``capacity`` and never drops below
    ``-debt_limit`` (forced charges are clamped there).
    """

    key: str
    capacity: float
    refill_per_second: float
    cost: float = 1.0
    force: bool = False
    peek: bool = False
    debt_limit: float = float("inf")


@dataclass(slots=True)
class BucketResult:
    allowed: bool
    remaining: float  # level after this operation (may be negative: debt)
    retry_after: float  # seconds until this cost would conform; 0 when allowed
    reset_after: float  # seconds until the bucket is full again


@dataclass(slots=True)
class ObserveBatch:
    """Everything one request reads and counts, in one round trip.

    * ``features``: cross-identity feature keys (template skeletons, segment hashes, client
      fingerprints, networks). The identity is added to each feature's distinct-identity
      counter for the current short and long window, and the feature's counts are returned.
    * ``identity_values``: identity-scoped distinct-value counters, name -> value (e.g.
      ``{"temperature": "0.7"}``): the value is added and the distinct count returned.
    * ``list_checks``: (list name, member) pairs to test for membership in allow/deny/watch
      lists (e.g. ``("deny:identity", identity)``, ``("watch:template", "pt1:...")``).
    * ``clusters``: extra cluster ids whose state should be returned (e.g. ones the caller
      cached); clusters that features or the identity point to are returned anyway.
    """

    identity: str
    features: Sequence[str] = ()
    identity_values: Mapping[str, str] = field(default_factory=dict)
    list_checks: Sequence[tuple[str, str]] = ()
    clusters: Sequence[str] = ()


@dataclass(slots=True)
class FeatureStats:
    short: int  # distinct identities in the short window (incl. this one)
    long: int  # distinct identities in the long window (incl. the short window)
    first_seen: float  # when the feature was first counted (clock seconds)
    cluster: str | None  # cluster this feature has been linked to, if any
    # -- detect-spread addition: distinct *mature* identities (``ApplyBatch.mature_features``)
    # counted before this request, over the long window
    mature: int = 0
    # -- end detect-spread addition


@dataclass(slots=True)
class ClusterStats:
    risk: float  # decayed to ``now``
    members: int  # approximate distinct member identities
    first_seen: float
    last_seen: float


@dataclass(slots=True)
class IdentityStats:
    first_seen: float  # equals ``now`` for a new identity
    last_seen: float  # previous request time; equals ``now`` for a new identity
    requests: int  # requests seen before this one, within the state TTL
    risk: float  # decayed to ``now``
    cluster: str | None
    values: Mapping[str, int]  # distinct counts for ``identity_values``
    fields: Mapping[str, float]  # caller-owned numeric state (cadence, baseline EWMAs)


@dataclass(slots=True)
class ObserveResult:
    identity: IdentityStats
    features: Mapping[str, FeatureStats]
    clusters: Mapping[str, ClusterStats]
    listed: frozenset[tuple[str, str]]  # the list_checks that matched


@dataclass(slots=True)
class ApplyBatch:
    """Writes of one request, plus its budget operations, in one round trip.

    * ``buckets``: token-bucket operations, results returned in order.
    * ``risk_add``: added to the identity's decayed risk (may be 0).
    * ``cluster`` / ``cluster_risk_add``: the cluster the identity belongs to now (None keeps
      none) and what to add to that cluster's decayed risk; the identity is counted as a member.
    * ``link_features``: features to link to ``cluster`` (a fresh identity sending one of them
      finds the cluster on its first request). A feature already linked keeps its cluster.
    * ``fields``: caller-owned numeric identity state to store (replaces those fields).
    * ``touch``: record the request (requests += 1, last_seen = now, first_seen if new).
    * ``mature_features``: features this identity sent while *mature* (established: see
      :mod:`antidistill.signals.spread`); the identity is added to each one's distinct
      counter of mature identities for the long window (``FeatureStats.mature``).
    """

    identity: str
    buckets: Sequence[BucketSpec] = ()
    risk_add: float = 0.0
    cluster: str | None = None
    cluster_risk_add: float = 0.0
    link_features: Sequence[str] = ()
    fields: Mapping[str, float] = field(default_factory=dict)
    touch: bool = True
    mature_features: Sequence[str] = ()  # detect-spread addition


@dataclass(slots=True)
class RankedEntry:
    id: str
    risk: float  # decayed to now
    last_seen: float


@dataclass(slots=True)
class StateConfig:
    """Window and decay parameters every backend honours."""

    short_window: float = 3600.0  # seconds: fan-out "now"
    long_window: float = 7 * 86400.0  # seconds: fan-out baseline
    risk_half_life: float = 6 * 3600.0  # identity and cluster risk decay
    identity_ttl: float = 30 * 86400.0  # idle identity state expires after this
    feature_set_cap: int = 4096  # memory backend: exact distinct sets saturate here
    max_identities: int = 200_000  # memory backend: LRU bound on identities
    max_features: int = 500_000  # memory backend: LRU bound on features
    # memory backend: bound on (feature, identity) pairs over all features (a request adds
    # about 8, most of them on probation and dropped with the identity); 0: 2 x max_identities
    max_sightings: int = 0
    top_k: int = 1000  # ranking sets (top identities/clusters) keep this many


#: The outcome of a queued write: None, or the error of its commands.
Done = Callable[[BaseException | None], None]


class Store(abc.ABC):
    """Async storage backend. Implementations must be safe under concurrent requests."""

    def __init__(self, config: StateConfig | None = None) -> None:
        self.config = config or StateConfig()

    @abc.abstractmethod
    async def observe(self, batch: ObserveBatch, now: float) -> ObserveResult:
        """Count the request's features and read the state detection needs."""

    @abc.abstractmethod
    async def apply(self, batch: ApplyBatch, now: float) -> list[BucketResult]:
        """Run the bucket operations and write risk/cluster/identity updates."""

    @abc.abstractmethod
    async def buckets(self, specs: Sequence[BucketSpec], now: float) -> list[BucketResult]:
        """Bucket operations alone (response reconciliation, admin reads)."""

    # -- lists (allow / deny / watch), persisted --------------------------------------
    @abc.abstractmethod
    async def list_add(self, name: str, member: str, ttl: float | None = None) -> None: ...

    @abc.abstractmethod
    async def list_remove(self, name: str, member: str) -> None: ...

    @abc.abstractmethod
    async def list_members(self, name: str, limit: int = 1000) -> list[str]: ...

    async def listed(
        self, identity: str, checks: Sequence[tuple[str, str]], now: float
    ) -> frozenset[tuple[str, str]]:
        """Which ``(list, member)`` pairs are listed, for a request nothing else is observed
        for. The default goes through :meth:`observe`; backends may answer more cheaply."""
        obs = await self.observe(
            ObserveBatch(identity=identity, features=[], identity_values={},
                         list_checks=list(checks)),
            now,
        )
        return obs.listed

    # -- small key/value settings (e.g. run-time mode switch) -------------------------
    @abc.abstractmethod
    async def get_setting(self, name: str) -> str | None: ...

    @abc.abstractmethod
    async def set_setting(self, name: str, value: str | None) -> None: ...

    # -- read side for the admin API ---------------------------------------------------
    @abc.abstractmethod
    async def top_identities(self, n: int, now: float) -> list[RankedEntry]: ...

    @abc.abstractmethod
    async def top_clusters(self, n: int, now: float) -> list[RankedEntry]: ...

    @abc.abstractmethod
    async def identity_state(self, identity: str, now: float) -> IdentityStats | None: ...

    @abc.abstractmethod
    async def cluster_state(self, cluster: str, now: float) -> ClusterStats | None: ...

    # -- lifecycle ------------------------------------------------------------------------
    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the backend answers (used by the circuit breaker)."""

    @abc.abstractmethod
    async def clear(self) -> None:
        """Remove every key this store owns (tests, admin reset)."""

    async def reset_connections(self) -> None:  # noqa: B027 - optional hook
        """Drop idle pooled connections so the next call opens fresh ones (after an outage
        every pooled socket may be dead). Backends without a pool do nothing."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    # -- write-behind (optional): the writes that follow a response ----------------------
    async def defer_buckets(self, specs: Sequence[BucketSpec], now: float, done: Done) -> bool:
        """Queue ``specs`` to be applied with the store's next round trip; ``done`` hears the
        outcome once. False: nothing was queued and the caller applies them now (the
        default: a store without round trips has nothing to save)."""
        return False

    async def defer_list_add(self, name: str, members: Sequence[str], ttl: float | None,
                             done: Done) -> bool:
        """Queue the addition of ``members`` to list ``name``, as :meth:`defer_buckets`."""
        return False

    async def flush(self) -> None:  # noqa: B027 - optional hook
        """Send what is queued now (shutdown). Stores that queue nothing do nothing."""


# -- helpers shared by the backends (window arithmetic and risk decay) ------------------

#: Sliding windows are approximated by sub-buckets: the short window by 6, the long by 7
#: (daily buckets for the default week). A count covers the current sub-bucket and the
#: previous ``n - 1``, i.e. between ``(n - 1) / n`` of the window and the whole window.
SHORT_SUBBUCKETS = 6
LONG_SUBBUCKETS = 7


def window_bucket(now: float, window: float, subbuckets: int) -> int:
    """Index of the sub-bucket of ``window`` that ``now`` falls in."""
    return int(now // (window / subbuckets))


def decayed(value: float, ts: float, now: float, half_life: float) -> float:
    """``value`` set at ``ts``, halved every ``half_life`` seconds, read at ``now``."""
    if value == 0.0 or now <= ts:
        return value
    return float(value * 0.5 ** ((now - ts) / half_life))
