"""Hooks loaded by name (``ANTIDISTILL_HOOKS=tests.hooks_module:register``) in test_hooks."""

from __future__ import annotations

from antidistill import Guard, RequestContext, Signal

#: (guard, path) for every call of the scorer registered below.
CALLS: list[tuple[Guard, str]] = []


def register(guard: Guard) -> None:
    @guard.scorer
    def env_scorer(ctx: RequestContext) -> Signal:
        CALLS.append((guard, ctx.path))
        return Signal("env_hook", 0.5, "registered from ANTIDISTILL_HOOKS")
