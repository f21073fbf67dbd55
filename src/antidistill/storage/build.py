"""Build the store (and window limits) a deployment's settings ask for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from antidistill.errors import ConfigurationError
from antidistill.storage import storage_from_uri
from antidistill.storage.base import StateConfig, Store

if TYPE_CHECKING:
    from antidistill.settings import Settings


def state_config(settings: Settings) -> StateConfig:
    s = settings
    return StateConfig(short_window=s.short_window, long_window=s.long_window,
                       risk_half_life=s.risk_half_life, max_identities=s.memory_max_identities,
                       max_features=s.memory_max_features)


def check_secret(settings: Settings, ephemeral: bool) -> None:
    """Shared storage needs a configured secret: without it every instance pseudonymises keys
    differently and shared budgets would not add up."""
    if ephemeral and not settings.storage_uri.startswith("memory"):
        raise ConfigurationError(
            "ANTIDISTILL_SECRET is required with shared storage: without it every instance "
            "pseudonymises keys differently and shared budgets would not add up")


def build_storage(settings: Settings, config: StateConfig) -> tuple[Store, Any]:
    """The store for ``settings.storage_uri`` (wrapped with the fail-open/closed policy when
    networked) and the ``RATE_LIMITS`` window limits, if any."""
    s = settings
    primary = storage_from_uri(s.storage_uri, config, prefix=s.storage_prefix,
                               socket_timeout=s.storage_timeout)
    windows = None
    if s.rate_limits:
        from antidistill.storage.windows import WindowLimits

        windows = WindowLimits(s.rate_limits, s.storage_uri, prefix=s.storage_prefix)
    if s.storage_uri.startswith("memory"):
        from antidistill.storage.memory import warn_if_multiple_workers

        warn_if_multiple_workers()
        return primary, windows
    from antidistill.storage.memory import MemoryStore
    from antidistill.storage.resilient import ResilientStore

    return ResilientStore(primary, fail_mode=s.fail_mode, fallback=MemoryStore(config)), windows
