"""JSON decoding for the per-request path: msgspec when installed, else the standard library.

msgspec (the ``fast`` extra) decodes request bodies two to three times faster than ``json``
(a usage object eight times) and answers exactly as ``json.loads`` for every document it
accepts: integers of any length up to Python's digit limit, floats rounded the same way, the
last of duplicate keys. What it refuses (NaN and Infinity, lone surrogate escapes, numbers
that overflow a float, integers over the digit limit, deep nesting, any syntax error) is
decoded again by ``json``, so callers see the standard library's value or its exception,
never a different one.
``benchmarks/native_choice.py`` measured the choice; see ``docs/performance.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["NATIVE", "loads", "native_enabled", "native_loads", "use_native"]

_stdlib_loads: Callable[..., Any] = json.loads
_native: Callable[[Any], Any] | None
try:
    import msgspec

    _native = msgspec.json.Decoder().decode
except ImportError:  # the stdlib path is complete on its own
    _native = None

#: True when msgspec is installed (the ``fast`` extra).
NATIVE = _native is not None
_decode = _native


def use_native(enabled: bool) -> None:
    """Switch the msgspec path on (when installed) or off; tests force the stdlib path."""
    global _decode
    _decode = _native if enabled else None


def native_enabled() -> bool:
    """True while :func:`loads` tries msgspec first."""
    return _decode is not None


def native_loads(data: bytes) -> Any:
    """msgspec's value alone (no fallback); raises ``ValueError`` when the native path is
    off, or msgspec's error when it refuses ``data``."""
    decode = _decode
    if decode is None:
        raise ValueError("native JSON decoding is off")
    return decode(data)


def loads(data: str | bytes | bytearray) -> Any:
    """``json.loads(data)``: the same value or the same exception, faster with msgspec."""
    decode = _decode
    if decode is not None:
        try:
            return decode(data)
        except Exception:  # the standard library decides what is wrong (and how deep)
            pass
    return _stdlib_loads(data)
