"""Hooks for the proxy tests (``ANTIDISTILL_HOOKS=proxy_hooks:register``): a scorer that
makes a request with ``x-test-degrade`` risky enough to be degraded (0.9 x 0.8 = 0.72)."""

from __future__ import annotations

from antidistill import Guard, RequestContext, Signal


def register(guard: Guard) -> None:
    @guard.scorer
    def test_degrade(ctx: RequestContext) -> Signal | None:
        if ctx.header("x-test-degrade") is None:
            return None
        return Signal("test_degrade", 0.8, "asked for by the test", weight=0.9)
