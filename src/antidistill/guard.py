"""The Guard: one deployment's configuration, state and hooks, and the per-request pipeline.

identity -> fingerprints -> signals -> scoring -> policy -> enforcement, then reporting.

The middleware makes three calls per request: :meth:`Guard.context` (route policy and
identity), :meth:`Guard.check` (the final, enforced decision, with any degrade rewrite
applied to the body) and, after the response, :meth:`Guard.settle` (metered usage).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar

from antidistill.context import RequestContext
from antidistill.decision import Action, Decision
from antidistill.enforcement.apply import RequestBody, apply_action
from antidistill.enforcement.degrade import DegradePlan
from antidistill.enforcement.metering import Usage
from antidistill.enforcement.responses import ErrorBody, error_body
from antidistill.enforcement.settle import remembers_answers, settle_response
from antidistill.fingerprints.prompt import FINGERPRINT_VERSION as PROMPT_VERSION
from antidistill.fingerprints.request import FINGERPRINT_VERSION as CLIENT_VERSION
from antidistill.fingerprints.run import Fingerprinter
from antidistill.hooks import HookRegistry, HookRunner, load_hooks
from antidistill.identity import Pseudonymizer, TrustedProxies
from antidistill.identity.resolver import IdentityResolver
from antidistill.policy.actions import ActionPolicy
from antidistill.policy.assessor import Assessor, error_site
from antidistill.policy.budgets import BudgetPolicy, Budgets
from antidistill.policy.finalize import finalize
from antidistill.policy.routes import RoutePolicies
from antidistill.reporting.publisher import Reporter
from antidistill.scoring.assess import NOTHING_FOUND, Assessment
from antidistill.scoring.combine import DEFAULT_WEIGHTS
from antidistill.settings import Settings
from antidistill.signals.fanout import FanoutConfig
from antidistill.signals.pipeline import DetectorConfig
from antidistill.storage.base import ApplyBatch, Store
from antidistill.storage.build import build_storage, state_config
from antidistill.storage.resilient import StoreUnavailable
from antidistill.storage.runtime import RuntimeState

__all__ = ["Budgets", "Guard", "error_site"]

logger = logging.getLogger("antidistill")
F = TypeVar("F", bound=Callable[..., Any])


class Guard:
    """Holds configuration, state and hooks; decides requests.

    ``clock`` returns seconds (wall-clock epoch by default). Inject one for tests,
    simulations and replays: every window, bucket and decay uses it.
    """

    def __init__(self, settings: Settings | None = None, *,
                 clock: Callable[[], float] | None = None, store: Store | None = None,
                 load_env_hooks: bool = True) -> None:
        import time

        self.settings = s = settings if settings is not None else Settings()
        self.clock: Callable[[], float] = clock or time.time
        self.pseudonymize = Pseudonymizer(s.secret.get_secret_value().encode()
                                          if s.secret else None)
        self.state_config = state_config(s)
        self.store, self.windows = build_storage(s, self.state_config, store)
        if self.pseudonymize.ephemeral:
            logger.warning(
                "ANTIDISTILL_SECRET is not set: pseudonyms use a random per-process key, so "
                "identities are not stable across restarts and exported indicators cannot be "
                "matched. Set ANTIDISTILL_SECRET to a long random value in production.")
        self.identities = IdentityResolver(self.pseudonymize, TrustedProxies(s.trusted_proxies),
                                           s.api_key_headers, s.account_header,
                                           s.forwarded_header)
        self.routes = RoutePolicies(s.routes, s.default_policy)
        self.detectors = frozenset(s.detectors)
        self.remember_answers = remembers_answers(self.detectors, s.default_policy, s.routes)
        self.fingerprints = Fingerprinter(s, self.detectors)
        self.weights = {**DEFAULT_WEIGHTS, **s.weights}
        self.policy = ActionPolicy(s.thresholds, s.actions)
        self.budgets = BudgetPolicy(s, self.store, self.pseudonymize)
        self.degrade_plan = DegradePlan(max_tokens_cap=s.degrade_max_tokens)
        self.registry = HookRegistry()
        self.hooks = HookRunner(s.hook_timeout)
        self.reporter = Reporter(s, self.registry, self.hooks)
        self.counters = self.reporter.counters
        self.timeline, self.recent = self.reporter.timeline, self.reporter.recent
        self.runtime = RuntimeState(self.store, s.mode,
                                    f"epoch:p{PROMPT_VERSION}.c{CLIENT_VERSION}")
        self.detector_config = DetectorConfig(self.detectors, FanoutConfig(),
                                              s.intent_max_chars, dict(s.model_output_caps))
        self.assessor = Assessor(self.store, self.detector_config, self.fingerprints, self.registry,
                                 self.hooks, self.weights, self.policy, self.counters,
                                 s.reasoning_extraction_degrade, self.pseudonymize.uncached)
        if s.log_events:
            from antidistill.reporting.logging import enable_event_logging

            enable_event_logging()
        if load_env_hooks and s.hooks:
            load_hooks(self, list(s.hooks))

    # -- hook registration ------------------------------------------------------------
    def scorer(self, fn: F) -> F:
        """Register ``fn(ctx) -> Signal | list[Signal] | None`` (sync or async)."""
        self.registry.scorers.append(fn)
        return fn

    def on_decision(self, fn: F) -> F:
        """Register ``fn(ctx, decision) -> Decision | None``; a returned decision replaces it
        (and is the one enforced and reported)."""
        self.registry.on_decision.append(fn)
        return fn

    def event_sink(self, fn: F) -> F:
        """Register ``fn(event: dict) -> None``, called with every emitted decision event."""
        self.registry.sinks.append(fn)
        return fn

    def identity_resolver(self, fn: F) -> F:
        """Register ``fn(ctx) -> str | Identity | None``: map the request to an account id."""
        self.registry.identity_resolver = fn
        return fn

    def budget_resolver(self, fn: F) -> F:
        """Register ``fn(ctx) -> Budgets | None``: per-plan bucket sizes."""
        self.registry.budget_resolver = fn
        return fn

    def error_response(self, fn: F) -> F:
        """Register ``fn(ctx, decision) -> (status, body: dict, headers: list[(name, value)])
        | None``: the body of 429 and 403 answers (None keeps the default)."""
        self.registry.error_response = fn
        return fn

    @property
    def metrics(self) -> Any:
        """The Prometheus metrics (``ANTIDISTILL_METRICS``), or None."""
        return self.reporter.metrics

    @metrics.setter
    def metrics(self, value: Any) -> None:
        self.reporter.metrics = value

    # -- run-time mode and epoch ------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.runtime.mode

    @property
    def epoch(self) -> float | None:
        return self.runtime.epoch

    async def set_mode(self, mode: str) -> None:
        """Switch monitor/enforce at run time; persisted so every instance follows."""
        await self.runtime.set_mode(mode)

    async def refresh_mode(self, tick: float | None = None) -> None:
        """Re-read the run-time mode from the store."""
        await self.runtime.refresh_mode(tick)

    async def _load_epoch(self, now: float) -> None:
        await self.runtime.load_epoch(now)

    # -- the per-request contract -----------------------------------------------------
    def context(self, scope: MutableMapping[str, Any],
                policy: str | None = None) -> RequestContext:
        """The request's context: its route policy (``policy`` when the caller already
        looked it up) and default identity (no I/O)."""
        method: str = scope.get("method", "GET")
        path: str = scope.get("path", "/")
        identity, trusted = self.identities.resolve(scope)
        # The scope's own list, not a copy: a rewrite (``_reframe``) replaces it, never edits.
        return RequestContext(method, path, scope.get("headers") or [], identity, self.clock(),
                              policy or self.routes.lookup(method, path), scope=scope,
                              trusted_peer=trusted, parser=self.fingerprints.parse)

    async def check(self, ctx: RequestContext, body: RequestBody | None = None) -> Decision:
        """The final decision: scored, budgeted, passed through ``on_decision`` hooks, applied
        (a degrade rewrites ``body``) and reported. Raises only ``StoreUnavailable``
        (fail-closed); any other failure allows the request, unscored."""
        try:
            decision = await self.evaluate(ctx)
            for fn in self.registry.on_decision:
                got = await self.hooks.call(fn, ctx, decision)
                if isinstance(got, Decision):
                    decision = got
            if decision.action is Action.DEGRADE and decision.enforced and body is not None:
                parsed = ctx.parsed
                decision = await apply_action(
                    decision, body, parsed.format if parsed else None, self.degrade_plan,
                    self.settings.degrade_max_body_bytes)
        except StoreUnavailable:
            self.counters["errors"] += 1
            raise
        except Exception as exc:
            self.counters["errors"] += 1
            logger.error("antidistill: evaluation failed (%s at %s); request allowed "
                         "(fail-open)", type(exc).__name__, error_site(exc))
            return Decision(action=Action.ALLOW, score=0.0, enforced=False)
        if self.reporter.record(ctx, decision):
            await self.reporter.emit(ctx, decision, self.mode)
        return decision

    async def evaluate(self, ctx: RequestContext) -> Decision:
        """Score and budget the request (before hooks and enforcement)."""
        if self.registry.identity_resolver is not None:
            await self.identities.apply_hook(ctx, self.registry.identity_resolver, self.hooks)
        runtime = self.runtime
        if runtime.due():
            await runtime.sync(ctx.now)
        assessor = self.assessor
        if self.detectors or self.registry.scorers:
            found = await assessor.assess(ctx, runtime.epoch)
        else:  # the identity lists hold on budget routes too
            found = await assessor.lists_only(ctx)
        return await self._decide(ctx, found)

    async def _decide(self, ctx: RequestContext, found: Assessment) -> Decision:
        """Budgets (requests always, LLM tokens when the request will be served, the cluster's
        shared token budget when the identity sits in a flagged cluster), then the decision."""
        resolved = None
        if self.registry.budget_resolver is not None:
            got = await self.hooks.call(self.registry.budget_resolver, ctx)
            resolved = got if isinstance(got, Budgets) else None
        policy, mode, ident = self.budgets, self.runtime.mode, ctx.identity.id
        ctx.budgets = budgets = resolved or policy.default
        policy.remember(ident, budgets)
        tokens = None
        if not (mode == "enforce" and found.action.is_denied()):
            ctx.estimated_tokens = policy.estimate_tokens(ctx)
            tokens = float(ctx.estimated_tokens)
        shared = found.cluster if found.cluster is not None and \
            found.cluster_risk >= self.policy.thresholds["flag"] else None
        specs = policy.bucket_specs(ident, budgets, tokens, shared)
        if ctx.observed is not None:  # a never-seen key also spends its address's budget
            specs += policy.new_key_specs(ctx)
        results = await self.store.apply(ApplyBatch(
            identity=ident, buckets=specs, risk_add=found.risk_add, cluster=found.cluster,
            cluster_risk_add=found.cluster_add if found.cluster else 0.0,
            link_features=found.link, fields=found.fields, mature_features=found.mature),
            ctx.now)
        if found.cluster is not None:
            self.assessor.remember_cluster(found.cluster)
        route = self.routes.pattern(ctx.method, ctx.path)
        if found is NOTHING_FOUND and self.windows is None and all(r.allowed for r in results):
            # Nothing found and every bucket conformed: what finalize would build, directly.
            return Decision(Action.ALLOW, 0.0, (), ident, None, tuple(policy.states(
                specs, results)), mode == "enforce", route=route)
        windows = await self.windows.hit(ident) if self.windows is not None else ()
        outcome = policy.outcome(specs, results, windows, resolved=resolved is not None,
                                 mode=mode)
        if outcome.enforced:
            await policy.refund(specs, results, ctx.now)
        return finalize(found, outcome, identity=ident, mode=mode,
                        policy=self.policy, max_delay=self.settings.max_delay, route=route)

    async def settle(self, ctx: RequestContext, decision: Decision, usage: Usage | None) -> None:
        """Reconcile the token budgets with the metered usage (debt allowed), and remember a
        keyed hash of the answer for session continuity."""
        await settle_response(self.store, self.budgets, ctx, decision, usage,
                              self.pseudonymize.uncached if self.remember_answers else None,
                              self.counters, self.clock())

    async def deny_response(self, ctx: RequestContext, decision: Decision) -> ErrorBody:
        """The 429/403 answer: the ``error_response`` hook's, else the OpenAI error shape."""
        hook = self.registry.error_response
        if hook is not None:
            got = await self.hooks.call(hook, ctx, decision)
            if isinstance(got, tuple) and len(got) == 3:
                return got
        return error_body(decision)

    def admin_app(self) -> Any:
        """The admin ASGI app (API + dashboard); mount it, e.g. at ``/antidistill``.

        Refuses every request unless ``ANTIDISTILL_ADMIN_TOKEN`` is set.
        """
        from antidistill.reporting.admin import create_admin_app

        return create_admin_app(self)

    async def aclose(self) -> None:
        await self.store.close()
        if self.windows is not None:
            await self.windows.close()
        self.fingerprints.close()
