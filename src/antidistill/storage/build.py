"""Building the store and the window limits from :class:`~antidistill.settings.Settings`.

:func:`build_storage` is what the guard calls: it applies the secret policy (once), builds
the store for ``ANTIDISTILL_STORAGE_URI`` and, for a shared backend, wraps it in a
:class:`ResilientStore` with an in-memory fallback; ``ANTIDISTILL_RATE_LIMITS`` window
limits are put behind the *same* circuit breaker, with their own in-memory fallback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from antidistill.errors import ConfigurationError
from antidistill.storage import storage_from_uri
from antidistill.storage.base import StateConfig, Store
from antidistill.storage.breaker import CircuitBreaker
from antidistill.storage.memory import MemoryStore, warn_if_multiple_workers
from antidistill.storage.resilient import ResilientStore
from antidistill.storage.schemes import is_memory

if TYPE_CHECKING:
    from antidistill.settings import Settings
    from antidistill.storage.windows import ResilientWindows, WindowLimits


def state_config(settings: Settings) -> StateConfig:
    """The store's windows, half-life and memory bounds from ``settings``."""
    s = settings
    return StateConfig(short_window=s.short_window, long_window=s.long_window,
                       risk_half_life=s.risk_half_life, max_identities=s.memory_max_identities,
                       max_features=s.memory_max_features,
                       max_sightings=s.memory_max_sightings)


def check_secret(settings: Settings, storage_uri: str | None = None) -> None:
    """Refuse shared storage without ``ANTIDISTILL_SECRET``: every instance would then
    pseudonymise keys differently and shared budgets would not add up."""
    uri = settings.storage_uri if storage_uri is None else storage_uri
    if not settings.secret and not is_memory(uri):
        raise ConfigurationError(
            "ANTIDISTILL_SECRET is required with shared storage: without it every instance "
            "pseudonymises keys differently and shared budgets would not add up"
        )


def build_store(settings: Settings, state_config: StateConfig) -> Store:
    """The store for ``settings.storage_uri`` (a shared one behind a circuit breaker)."""
    s = settings
    primary = storage_from_uri(s.storage_uri, state_config, prefix=s.storage_prefix,
                               socket_timeout=s.storage_timeout)
    if isinstance(primary, MemoryStore):
        warn_if_multiple_workers()
        return primary
    return ResilientStore(primary, fail_mode=s.fail_mode, fallback=MemoryStore(state_config))


def build_windows(
    settings: Settings, store: Store
) -> WindowLimits | ResilientWindows | None:
    """``ANTIDISTILL_RATE_LIMITS`` window limits, or None when unset. Over shared storage
    they share ``store``'s breaker (when it has one) and get an in-memory fallback."""
    s = settings
    if not s.rate_limits:
        return None
    from antidistill.storage.windows import ResilientWindows, WindowLimits

    primary = WindowLimits(s.rate_limits, s.storage_uri, prefix=s.storage_prefix,
                           socket_timeout=s.storage_timeout)
    if is_memory(s.storage_uri):
        return primary
    breaker = store.breaker if isinstance(store, ResilientStore) else CircuitBreaker(
        "WindowLimits", fail_mode=s.fail_mode)
    return ResilientWindows(primary, WindowLimits(s.rate_limits, "memory://"), breaker)


def build_storage(
    settings: Settings, state_config: StateConfig, store: Store | None = None
) -> tuple[Store, WindowLimits | ResilientWindows | None]:
    """``(store, window limits or None)`` for ``settings``; the secret policy is checked
    once, here. A ``store`` given by the caller is used as is (its breaker is shared with
    the window limits when it is a :class:`ResilientStore`)."""
    check_secret(settings)
    if store is None:
        store = build_store(settings, state_config)
    return store, build_windows(settings, store)
