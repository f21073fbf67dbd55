"""Prometheus metrics (optional: ``pip install 'antidistill[metrics]'``).

Enable with ``ANTIDISTILL_METRICS=true`` (the guard then builds a :class:`Metrics` on the
default registry) and expose them by mounting :func:`metrics_app`::

    app.mount("/metrics", metrics_app(guard=guard))

Labels are low-cardinality by construction: actions, detector names, route patterns and hook
names. No identity, IP, API key or raw path ever becomes a label value. Detector and hook
names come from code (and from host scorers), so each label set is capped at
:data:`MAX_LABEL_VALUES` distinct values; further ones are counted under ``"other"``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from antidistill.decision import Decision, Reason
from antidistill.errors import ConfigurationError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from antidistill.guard import Guard

__all__ = ["DETECTOR_MIN_SCORE", "MAX_LABEL_VALUES", "OVERHEAD_BUCKETS", "Metrics", "metrics_app"]

#: A reason counts as a detector "firing" from this score on.
DETECTOR_MIN_SCORE = 0.3
#: Middleware overhead spans ~50 µs (budget-only routes) to tens of ms (a slow store).
OVERHEAD_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
)
#: Distinct values per free-form label (detector, route, hook) before folding into "other".
MAX_LABEL_VALUES = 64

_INSTALL_HINT = (
    "Prometheus metrics need prometheus-client: pip install 'antidistill[metrics]'"
)

# Collectors are registered once per (registry, namespace): a second Metrics on the same
# registry (several guards in one process, tests) shares them instead of failing with
# "Duplicated timeseries".
_SHARED: weakref.WeakKeyDictionary[Any, dict[str, dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)
_SHARED_LOCK = threading.Lock()


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise ConfigurationError(_INSTALL_HINT) from exc
    return prometheus_client


def _collectors(pc: Any, registry: Any, namespace: str) -> dict[str, Any]:
    with _SHARED_LOCK:
        per_ns = _SHARED.setdefault(registry, {})
        got = per_ns.get(namespace)
        if got is not None:
            return got
        kw = {"namespace": namespace, "registry": registry}
        got = {
            "requests": pc.Counter(
                "requests_total", "Requests decided, by action and whether it was enforced.",
                ["action", "enforced"], **kw),
            "detectors": pc.Counter(
                "detector_firings_total",
                f"Reasons with score >= {DETECTOR_MIN_SCORE}, by detector.", ["detector"], **kw),
            "overhead": pc.Histogram(
                "overhead_seconds", "Middleware time before the app is called, by route pattern.",
                ["route"], buckets=OVERHEAD_BUCKETS, **kw),
            "store_errors": pc.Counter(
                "store_errors_total", "Primary store calls that failed.", **kw),
            "store_fallbacks": pc.Counter(
                "store_fallbacks_total", "Store calls answered by the in-process fallback.",
                **kw),
            "store_degraded": pc.Gauge(
                "store_degraded", "1 while the circuit breaker is open (fallback store in use).",
                **kw),
            "clusters": pc.Gauge(
                "active_clusters", "Clusters seen within the short window.", **kw),
            "hook_errors": pc.Counter(
                "hook_errors_total", "Host hook calls that raised or timed out.", ["hook"], **kw),
        }
        per_ns[namespace] = got
        return got


class _Capped:
    """Maps free-form label values to at most ``limit`` distinct ones (the rest: "other")."""

    __slots__ = ("limit", "seen")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self.seen:
            return value
        if len(self.seen) >= self.limit:
            return "other"
        self.seen.add(value)
        return value


class Metrics:
    """Counters, gauges and a histogram on a ``prometheus_client`` registry.

    ``registry=None`` uses ``prometheus_client.REGISTRY`` (what the default exposition and
    :func:`metrics_app` serve). Metric names are prefixed with ``namespace``, e.g.
    ``antidistill_requests_total``.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, namespace: str = "antidistill"
    ) -> None:
        pc = _prometheus()
        self.registry: CollectorRegistry = pc.REGISTRY if registry is None else registry
        self.namespace = namespace
        c = _collectors(pc, self.registry, namespace)
        self._requests = c["requests"]
        self._detectors = c["detectors"]
        self._overhead = c["overhead"]
        self._store_errors = c["store_errors"]
        self._store_fallbacks = c["store_fallbacks"]
        self._store_degraded = c["store_degraded"]
        self._clusters = c["clusters"]
        self._hook_errors = c["hook_errors"]
        # Label children are cached: ``labels()`` costs a lock and a dict build per call,
        # and record_decision runs on every request.
        self._request_children: dict[tuple[str, bool], Any] = {}
        self._detector_children: dict[str, Any] = {}
        self._route_children: dict[str, Any] = {}
        self._detector_label = _Capped(MAX_LABEL_VALUES)
        self._route_label = _Capped(MAX_LABEL_VALUES)
        self._hook_label = _Capped(MAX_LABEL_VALUES)
        self._last_errors = 0
        self._last_fallbacks = 0
        self._last_hook_errors: dict[str, int] = {}

    # -- hot path ---------------------------------------------------------------------
    def record_decision(self, decision: Decision, *, reasons: Sequence[Reason]) -> None:
        """Count one decision, and each detector whose reason scored >= 0.3."""
        key = (decision.action.value, decision.enforced)
        child = self._request_children.get(key)
        if child is None:
            child = self._requests.labels(action=key[0], enforced="true" if key[1] else "false")
            self._request_children[key] = child
        child.inc()
        for reason in reasons:
            if reason.score < DETECTOR_MIN_SCORE:
                continue
            name = reason.name.partition(":")[0]
            det = self._detector_children.get(name)
            if det is None:
                det = self._detectors.labels(detector=self._detector_label(name))
                self._detector_children[name] = det
            det.inc()

    def observe_overhead(self, seconds: float, route: str) -> None:
        """Record the middleware's own time for one request.

        ``route`` must be low-cardinality: the route-policy pattern that matched, or
        ``"default"``; never the raw request path.
        """
        child = self._route_children.get(route)
        if child is None:
            child = self._overhead.labels(route=self._route_label(route))
            self._route_children[route] = child
        child.observe(seconds)

    # -- state synchronised from elsewhere ---------------------------------------------
    def record_store(self, *, errors: int, fallbacks: int, degraded: bool) -> None:
        """Sync from a ``ResilientStore``'s cumulative ``errors``/``fallbacks`` counters.

        Counters advance by the delta since the last call; a value lower than the last one
        means the source restarted (a new store), so the whole value is the delta.
        """
        d_err = errors - self._last_errors if errors >= self._last_errors else errors
        d_fb = fallbacks - self._last_fallbacks if fallbacks >= self._last_fallbacks else fallbacks
        self._last_errors, self._last_fallbacks = errors, fallbacks
        if d_err > 0:
            self._store_errors.inc(d_err)
        if d_fb > 0:
            self._store_fallbacks.inc(d_fb)
        self._store_degraded.set(1 if degraded else 0)

    def set_active_clusters(self, n: int) -> None:
        """Set the number of currently active clusters."""
        self._clusters.set(n)

    def hook_error(self, name: str, count: int = 1) -> None:
        """Count ``count`` failures of the hook called ``name`` (its qualified name)."""
        if count > 0:
            self._hook_errors.labels(hook=self._hook_label(name)).inc(count)

    def sync_hook_errors(self, errors: Mapping[str, int]) -> None:
        """Sync from ``HookRunner.errors`` (cumulative per hook) by delta."""
        for name, total in errors.items():
            last = self._last_hook_errors.get(name, 0)
            self.hook_error(name, total - last if total >= last else total)
            self._last_hook_errors[name] = total

    async def sync(self, guard: Guard) -> None:
        """Pull the guard's store, cluster and hook state into the gauges and counters.

        :func:`metrics_app` calls this before every scrape, so none of it costs anything on
        the request path.
        """
        store: Any = guard.store
        if hasattr(store, "errors") and hasattr(store, "fallbacks"):
            self.record_store(errors=int(store.errors), fallbacks=int(store.fallbacks),
                              degraded=bool(getattr(store, "degraded", False)))
        self.sync_hook_errors(guard.hooks.errors)
        now = guard.clock()
        try:
            top = await guard.store.top_clusters(guard.store.config.top_k, now)
        except Exception:  # a scrape must still answer while the store is down
            return
        horizon = now - guard.settings.short_window
        self.set_active_clusters(sum(1 for c in top if c.last_seen >= horizon))


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def metrics_app(
    registry: CollectorRegistry | None = None, *, guard: Guard | None = None
) -> ASGIApp:
    """An ASGI app serving the Prometheus text exposition of ``registry``.

    With ``guard``, the registry defaults to ``guard.metrics.registry`` and each scrape first
    syncs store, cluster and hook state (:meth:`Metrics.sync`). Mount it where your scraper
    looks, and keep it off the public internet (it is not authenticated).
    """
    pc = _prometheus()
    metrics: Metrics | None = None
    if guard is not None:
        metrics = guard.metrics
        if metrics is None:
            raise ConfigurationError(
                "metrics_app(guard=...) needs metrics enabled: set ANTIDISTILL_METRICS=true"
            )
        if registry is None:
            registry = metrics.registry
    inner: ASGIApp = pc.make_asgi_app(registry=pc.REGISTRY if registry is None else registry)
    if metrics is None or guard is None:
        return inner
    synced, owner = metrics, guard

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await synced.sync(owner)
        await inner(scope, receive, send)

    return app
