"""Hooks for a multi-tenant API: organisations, plan tiers, a house rule, staff, alerts.

Run it::

    ANTIDISTILL_SECRET=change-me uvicorn examples.hooks_example:app

or load only the hooks into an app configured from the environment::

    ANTIDISTILL_HOOKS=examples.hooks_example:register uvicorn myapp:app

Every hook may be sync or async. A hook that raises or (async) runs past
``ANTIDISTILL_HOOK_TIMEOUT`` is logged, counted in ``guard.hooks.errors`` and skipped: it never
fails the request.

``ctx.state`` is a dict that starts empty for every request and belongs to your hooks: here the
identity resolver (which runs first) fills ``org`` and ``plan``, and the scorer, the budget
resolver, the decision hook and the error response read them, in that order.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from fastapi import FastAPI, Request

from antidistill import (
    Action,
    AntiDistillMiddleware,
    Budgets,
    Decision,
    Guard,
    Reason,
    RequestContext,
    Signal,
)
from antidistill.enforcement.responses import ErrorBody, error_body

# In production these come from your accounts service (cached: hooks run on every request).
API_KEYS = {
    "sk-acme-prod-1": "org_acme",
    "sk-acme-ci-2": "org_acme",
    "sk-trial-7c1e": "org_trial42",
    "sk-staff-eval": "org_staff",
}
PLANS = {"org_acme": "enterprise", "org_trial42": "trial", "org_staff": "internal"}
STAFF_ORGS = frozenset({"org_staff"})

# Token buckets per plan: capacity, and refill per second.
TIERS = {
    "trial": Budgets(request_capacity=20, request_refill_per_second=20 / 60,
                     token_capacity=20_000, token_refill_per_second=20_000 / 3600, plan="trial"),
    "enterprise": Budgets(request_capacity=600, request_refill_per_second=10,
                          token_capacity=2_000_000, token_refill_per_second=20_000,
                          plan="enterprise"),
    "internal": Budgets(request_capacity=10_000, request_refill_per_second=1_000,
                        token_capacity=50_000_000, token_refill_per_second=1_000_000,
                        plan="internal"),
}

#: Alerts for the security team; ship them to your SIEM from a background task.
ALERTS: deque[dict[str, Any]] = deque(maxlen=1000)


def api_key(ctx: RequestContext) -> str | None:
    auth = ctx.header("authorization") or ""
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return ctx.header("x-api-key")


def register(guard: Guard) -> None:
    """Register this module's hooks on ``guard`` (also usable as ``ANTIDISTILL_HOOKS``)."""

    @guard.identity_resolver
    def organisation(ctx: RequestContext) -> str | None:
        # Budgets and risk then follow the organisation, not each of its keys.
        # ``.get``, never ``[key]``: an exception message would carry the raw key into logs.
        key = api_key(ctx)
        org = API_KEYS.get(key) if key else None
        if org is None:
            return None  # unknown key: keep the per-key identity, trial budgets
        ctx.state["org"] = org
        ctx.state["plan"] = PLANS.get(org, "trial")
        return org

    @guard.budget_resolver
    def plan_budgets(ctx: RequestContext) -> Budgets:
        return TIERS[ctx.state.get("plan", "trial")]

    @guard.scorer
    def trial_harvesting(ctx: RequestContext) -> Signal | None:
        # House rule: trial accounts have no use for token probabilities or many samples.
        if ctx.state.get("plan", "trial") != "trial" or ctx.parsed is None:
            return None
        p = ctx.parsed.params
        asked = [k for k in ("logprobs", "top_logprobs") if p.get(k)]
        n = p.get("n")
        if isinstance(n, int) and n > 1:
            asked.append(f"n={n}")
        if not asked:
            return None
        return Signal("plan_mismatch", 0.9, "trial plan requested " + ", ".join(asked))

    @guard.on_decision
    def never_block_staff(ctx: RequestContext, decision: Decision) -> Decision | None:
        if ctx.state.get("org") in STAFF_ORGS and decision.action.severity > Action.FLAG.severity:
            return decision.with_action(
                Action.FLAG, Reason("staff_override", 0.0, 0.0, f"was {decision.action.value}"))
        return None

    @guard.error_response
    def upgrade_hint(ctx: RequestContext, decision: Decision) -> ErrorBody | None:
        # (status, JSON body, [(header, value)]) replaces antidistill's 429/403; None keeps it.
        # Start from the default so Retry-After and the RateLimit headers stay.
        if decision.action is not Action.THROTTLE or ctx.state.get("plan", "trial") != "trial":
            return None
        status, body, headers = error_body(decision)
        error = body["error"]
        assert isinstance(error, dict)
        error["message"] = f"{error['message']} Trial plans allow 20 requests a minute."
        return status, body, headers

    @guard.event_sink
    async def security_alerts(event: dict[str, Any]) -> None:
        # Events carry pseudonymised ids and fingerprints only, never keys, IPs or prompts.
        if event["action"] in ("delay", "throttle", "block") or event["score"] >= 0.6:
            ALERTS.append(event)


def build_app(guard: Guard | None = None) -> FastAPI:
    """The example API with the hooks registered on ``guard`` (default: from the env)."""
    # load_env_hooks=False: this app registers its hooks itself, even if ANTIDISTILL_HOOKS
    # also names this module.
    guard = guard if guard is not None else Guard(load_env_hooks=False)
    register(guard)
    app = FastAPI(title="antidistill hooks example")

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict[str, Any]:
        decision: Decision = request.state.antidistill
        body = await request.json()  # already rewritten when the decision is "degrade"
        content = "Hello!"
        if decision.hide_reasoning:
            content += " (reasoning withheld)"
        return {
            "object": "chat.completion", "model": str(body.get("model", "example")),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content},
                         "logprobs": {"content": []} if body.get("logprobs") else None}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }

    app.add_middleware(AntiDistillMiddleware, guard=guard)
    return app


app = build_app()
