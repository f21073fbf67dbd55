"""Safe reads of client-supplied numbers: the one place request numbers are turned into floats.

A JSON number can be ``10**400`` (``float()`` raises ``OverflowError``), ``1e400`` (parses as
infinity), ``NaN``, a bool (an ``int`` subclass), a string or a nested value. Every numeric
read of request and usage values goes through :func:`read_number`, which never raises: it
returns a finite float clamped to ``±LIMIT`` together with what was wrong with the value, so
callers can both do arithmetic and count the oddity as evidence.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["ISSUES", "LIMIT", "read_number", "safe_count", "safe_int", "safe_number"]

#: Magnitude beyond which a number is out of range (2**63: no API parameter is larger).
LIMIT = float(2**63)
_INT_LIMIT = 2**63
# Numeric strings longer than this are not numbers a client means (and float() on a long
# digit string is not free).
_STR_CAP = 32

#: The values of the ``issue`` returned by :func:`read_number`.
ISSUES = ("", "type", "range", "nan")


def read_number(value: Any) -> tuple[float | None, str]:
    """``(number, issue)`` for a client-supplied value; never raises.

    ``issue`` is ``""`` for a usable number, ``"type"`` for a value that is not a number
    (bool, None excepted: ``None`` is "absent" and gives ``(None, "")``), ``"range"`` for a
    number beyond ``±LIMIT`` or infinite (the number is then clamped to ``±LIMIT``) and
    ``"nan"`` for NaN (no number). Numeric strings up to 32 characters are read.
    """
    if value is None:
        return None, ""
    if isinstance(value, bool):
        return None, "type"
    if isinstance(value, int):
        if -_INT_LIMIT <= value <= _INT_LIMIT:
            return float(value), ""
        return (LIMIT if value > 0 else -LIMIT), "range"
    if isinstance(value, float):
        f = value
    elif isinstance(value, str) and 0 < len(value) <= _STR_CAP:
        try:
            f = float(value.strip())
        except ValueError:
            return None, "type"
    else:
        return None, "type"
    if math.isnan(f):
        return None, "nan"
    if not -LIMIT <= f <= LIMIT:
        return (LIMIT if f > 0 else -LIMIT), "range"
    return f, ""


def safe_number(value: Any) -> float | None:
    """A finite float for ``value`` (clamped to ``±LIMIT``), or ``None``; never raises."""
    return read_number(value)[0]


def safe_int(value: Any) -> int | None:
    """:func:`safe_number` truncated to an ``int`` (so within ``±2**63``), or ``None``."""
    f = read_number(value)[0]
    return int(f) if f is not None else None


def safe_count(value: Any, cap: int = 2**53) -> int | None:
    """A token count from a usage object: a non-negative JSON integer clamped to ``cap``
    (a ``10**400`` count would overflow a store's counters); ``None`` for anything else,
    floats and bools included. Never raises."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return min(value, cap)
