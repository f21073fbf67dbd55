"""The responses antidistill sends itself: 429, 403, 413 and 503, in the OpenAI error shape."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from antidistill.decision import BudgetState, Decision

MAX_RETRY_AFTER = 86400
ErrorBody = tuple[int, dict[str, object], list[tuple[str, str]]]


def retry_after_seconds(seconds: float) -> int:
    """``Retry-After`` is whole seconds, rounded up, at least 1 and at most a day.

    A bucket with no refill never conforms again (``inf``): a day is the honest answer.
    """
    if not math.isfinite(seconds):
        return MAX_RETRY_AFTER
    return min(MAX_RETRY_AFTER, max(1, math.ceil(seconds - 1e-9)))


def ratelimit_headers(budgets: Sequence[BudgetState]) -> list[tuple[str, str]]:
    """IETF draft ``RateLimit`` / ``RateLimit-Policy`` for the most constrained budget."""
    if not budgets:
        return []
    b = min(budgets, key=lambda x: (x.allowed, x.remaining / x.limit if x.limit else 0.0))
    window = b.window if math.isfinite(b.window) and b.window > 0 else 1.0
    name = b.name.replace('"', "")
    remaining = max(0, int(b.remaining)) if math.isfinite(b.remaining) else 0
    return [
        ("RateLimit-Policy", f'"{name}";q={int(b.limit)};w={max(1, math.ceil(window))}'),
        ("RateLimit", f'"{name}";r={remaining};t={retry_after_seconds(b.reset_after)}'),
    ]


def error_body(decision: Decision) -> ErrorBody:
    """Status, JSON body and headers for a denied decision."""
    if decision.action.value == "block":
        return 403, {
            "error": {
                "message": "This request was refused by the provider's usage policy.",
                "type": "permission_error",
                "param": None,
                "code": "access_denied",
            }
        }, []
    retry = retry_after_seconds(decision.retry_after or 1.0)
    headers = [("Retry-After", str(retry)), *ratelimit_headers(decision.budgets)]
    return 429, {
        "error": {
            "message": f"Rate limit exceeded. Retry after {retry} second"
                       f"{'' if retry == 1 else 's'}.",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }, headers


def simple_error(status: int, code: str, message: str) -> ErrorBody:
    return status, {"error": {"message": message, "type": code, "param": None, "code": code}}, []


def encode(body: dict[str, object]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
