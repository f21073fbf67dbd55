"""The storage URI schemes, in one registry.

Each scheme names its backend (``memory``, ``redis`` or ``cluster``) and the ``limits.aio``
scheme the window limits use for the same server. :func:`storage_from_uri` and
:func:`~antidistill.storage.windows.limits_uri` both read this table, so a scheme added
here works for the store and the window limits alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from antidistill.errors import ConfigurationError

Backend = Literal["memory", "redis", "cluster"]


@dataclass(frozen=True, slots=True)
class Scheme:
    """One storage URI scheme."""

    name: str
    backend: Backend
    limits: str  # the limits.aio scheme for the window limits


SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        Scheme("memory", "memory", "async+memory"),
        Scheme("async+memory", "memory", "async+memory"),
        Scheme("redis", "redis", "async+redis"),
        Scheme("rediss", "redis", "async+rediss"),
        Scheme("redis+unix", "redis", "async+redis+unix"),
        Scheme("redis+sentinel", "redis", "async+redis+sentinel"),
        Scheme("redis+cluster", "cluster", "async+redis+cluster"),
        Scheme("valkey", "redis", "async+redis"),
        Scheme("valkeys", "redis", "async+rediss"),
        Scheme("valkey+unix", "redis", "async+redis+unix"),
        Scheme("valkey+sentinel", "redis", "async+redis+sentinel"),
        Scheme("valkey+cluster", "cluster", "async+redis+cluster"),
    )
}


def parse_scheme(uri: str, what: str = "storage URI") -> tuple[Scheme, str]:
    """The registered scheme of ``uri`` and the rest after ``://``; ConfigurationError if
    the URI has no scheme or an unknown one."""
    name, sep, rest = uri.partition("://")
    name = name.lower()
    if not sep:
        raise ConfigurationError(f"{what} needs a scheme, e.g. memory:// (got {name!r})")
    scheme = SCHEMES.get(name)
    if scheme is None:
        known = ", ".join(sorted(n for n in SCHEMES if not n.startswith("async+")))
        raise ConfigurationError(f"unknown storage scheme {name!r}; known: {known}")
    return scheme, rest


def is_memory(uri: str) -> bool:
    """Whether ``uri`` names the in-process backend (unknown schemes: False)."""
    scheme = SCHEMES.get(uri.partition("://")[0].lower())
    return scheme is not None and scheme.backend == "memory"
