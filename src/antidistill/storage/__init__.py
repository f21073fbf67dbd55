"""State backends: ``memory://`` and Redis / Valkey (standalone, TLS, unix, Sentinel, Cluster).

Build one from a URI, limits-style::

    store = storage_from_uri("memory://")
    store = storage_from_uri("redis://localhost:6379/0", prefix="myapp")
    store = storage_from_uri("redis+cluster://10.0.0.1:7000,10.0.0.2:7000")

redis-py is imported only when a Redis URI is used (``pip install 'antidistill[redis]'``).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from antidistill.errors import ConfigurationError, StorageError
from antidistill.storage.base import (
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
)
from antidistill.storage.breaker import CircuitBreaker
from antidistill.storage.memory import MemoryStore, warn_if_multiple_workers
from antidistill.storage.resilient import ResilientStore, StoreUnavailable
from antidistill.storage.schemes import SCHEMES, parse_scheme

if TYPE_CHECKING:
    from antidistill.storage.redis import RedisClusterStore, RedisStore

__all__ = [
    "ApplyBatch",
    "BucketResult",
    "BucketSpec",
    "CircuitBreaker",
    "ClusterStats",
    "FeatureStats",
    "IdentityStats",
    "MemoryStore",
    "ObserveBatch",
    "ObserveResult",
    "RankedEntry",
    "RedisClusterStore",
    "RedisStore",
    "SCHEMES",
    "ResilientStore",
    "StateConfig",
    "StorageError",
    "Store",
    "StoreUnavailable",
    "storage_from_uri",
    "warn_if_multiple_workers",
]

def _redis_module() -> Any:
    if importlib.util.find_spec("redis") is None:
        raise ConfigurationError(
            "Redis storage needs redis-py: pip install 'antidistill[redis]'"
        )
    from antidistill.storage import redis as redis_backend

    return redis_backend


def storage_from_uri(
    uri: str,
    config: StateConfig | None = None,
    *,
    prefix: str = "antidistill",
    socket_timeout: float = 0.1,
    **options: Any,
) -> Store:
    """Build a :class:`Store` from a storage URI.

    Schemes: ``memory://``; ``redis://``, ``rediss://`` (TLS), ``redis+unix:///path.sock``,
    ``redis+sentinel://h:p,h:p/service_name``, ``redis+cluster://h1:p1,h2:p2`` and the same
    with ``valkey`` instead of ``redis``. ``prefix`` namespaces every Redis key;
    ``socket_timeout`` (seconds) bounds connects and replies (no driver retries: the
    circuit breaker in :class:`ResilientStore` decides what a failure means). Extra
    ``options`` go to the redis-py client.
    """
    scheme, _ = parse_scheme(uri)
    if scheme.backend == "memory":
        return MemoryStore(config, **options)
    backend = _redis_module()
    cls = backend.RedisClusterStore if scheme.backend == "cluster" else backend.RedisStore
    store: Store = cls.from_uri(uri, config, prefix=prefix, socket_timeout=socket_timeout,
                                **options)
    return store


def __getattr__(name: str) -> Any:
    # RedisStore / RedisClusterStore without importing redis-py at package import
    if name in ("RedisStore", "RedisClusterStore"):
        return getattr(_redis_module(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
