"""Budgets: which token buckets a request charges, what it costs, and what a refusal means.

One vocabulary everywhere: a bucket has a ``capacity`` and refills ``refill_rate`` per
``interval`` seconds (``Budgets`` holds the per-second rate). ``bucket_specs`` is the only
place bucket keys and sizes are made, for the guard and the admin view alike.

Roll-out rule: budgets are always tracked and reported, but a refusal is *enforced* only when
the operator configured budgets (any ``ANTIDISTILL_REQUEST_*``/``TOKEN_*`` setting, window
``RATE_LIMITS``, or a budget resolver that returned ``Budgets``), and in monitor mode only
with ``ANTIDISTILL_MONITOR_ENFORCE_BUDGETS``. The shared budget of a flagged cluster and the
per-address budgets of never-seen keys (:mod:`antidistill.policy.floods`) are protection,
not configuration: enforce mode always applies them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from antidistill.decision import BudgetState, Reason
from antidistill.fingerprints.parse import MAX_TOKEN_PARAMS
from antidistill.fingerprints.values import safe_number
from antidistill.identity import Pseudonymizer
from antidistill.policy.estimate import quick_inputs
from antidistill.policy.floods import NewKeyBudgets, new_key_specs
from antidistill.settings import Settings
from antidistill.storage.base import BucketResult, BucketSpec, Store
from antidistill.usage import Usage, estimate_request_cost, estimate_tokens

if TYPE_CHECKING:
    from antidistill.context import RequestContext

BUCKET_NAMES = {"rq": "requests", "tk": "tokens", "ct": "cluster_tokens", "nk": "new_keys"}
_NAMES = BUCKET_NAMES
# Buckets that are abuse protection, not a customer's budget: enforce mode applies them.
PROTECTIVE = frozenset({"cluster_tokens", "new_keys"})
# Settings whose explicit presence means "the operator sized these budgets".
BUDGET_SETTINGS = frozenset({
    "request_capacity", "request_refill_rate", "request_interval",
    "token_capacity", "token_refill_rate", "token_interval",
})
# Per-identity budgets last resolved, so the admin view shows an identity's plan.
REMEMBERED = 16384


@dataclass(frozen=True, slots=True)
class Budgets:
    """Token-bucket parameters for one identity (returned by a budget-resolver hook)."""

    request_capacity: float
    request_refill_per_second: float
    token_capacity: float
    token_refill_per_second: float
    plan: str = ""


@dataclass(slots=True)
class BudgetOutcome:
    """What the buckets said about one request."""

    states: list[BudgetState] = field(default_factory=list)
    refused: list[BudgetState] = field(default_factory=list)
    retry_after: float = 0.0
    enforced: bool = False  # a refusal that must be answered with 429

    def reason(self) -> Reason | None:
        if not self.refused:
            return None
        detail = ", ".join(f"{b.name} exhausted (retry in {b.retry_after:.1f}s)"
                           for b in self.refused)
        if not self.enforced:
            detail += "; tracked, not enforced"
        return Reason("budget", 1.0, 0.0, detail)


def requested_output_tokens(params: Any, names: tuple[str, ...]) -> int | None:
    """The first positive output-token limit among ``names`` in the parsed ``params``.

    Read with :func:`~antidistill.fingerprints.values.safe_number`: ``1e400`` or ``10**400``
    count as the largest limit (the estimate then caps them), a string or a bool as none.
    """
    if not isinstance(params, dict):
        return None
    for name in names:
        f = safe_number(params.get(name))
        if f is not None and f >= 1:
            return int(f)
    return None


class BudgetPolicy:
    """Sizes, keys, estimates, refunds and settles the token buckets of identities and
    clusters."""

    def __init__(self, settings: Settings, store: Store, pseudonymize: Pseudonymizer) -> None:
        s = settings
        self.settings = s
        self.store = store
        self.pseudonymize = pseudonymize
        self.new_keys = NewKeyBudgets(
            s.new_key_ip_capacity, s.new_key_ip_refill_rate / s.new_key_interval,
            s.new_key_prefix_capacity, s.new_key_prefix_refill_rate / s.new_key_interval)
        self.default = Budgets(
            s.request_capacity, s.request_refill_rate / s.request_interval,
            s.token_capacity, s.token_refill_rate / s.token_interval,
        )
        self.configured = bool(BUDGET_SETTINGS & s.model_fields_set) or bool(s.rate_limits)
        self.cluster_capacity = s.cluster_token_capacity
        self.cluster_refill = s.cluster_token_refill_rate / s.cluster_token_interval
        self._remembered: OrderedDict[str, Budgets] = OrderedDict()

    # -- sizes and keys ------------------------------------------------------------------
    def remember(self, identity: str, budgets: Budgets) -> None:
        if budgets is self.default:
            if self._remembered:
                self._remembered.pop(identity, None)
            return
        self._remembered[identity] = budgets
        self._remembered.move_to_end(identity)
        if len(self._remembered) > REMEMBERED:
            self._remembered.popitem(last=False)

    def budgets_of(self, identity: str) -> Budgets:
        """The budgets last charged to ``identity`` on this instance (default if none)."""
        return self._remembered.get(identity, self.default)

    def bucket_specs(
        self, identity: str, budgets: Budgets, tokens: float | None, cluster: str | None = None,
        *, peek: bool = False,
    ) -> list[BucketSpec]:
        """The request bucket, the token bucket when ``tokens`` is given, and the cluster's
        shared token bucket when ``cluster`` is given."""
        specs = [BucketSpec("rq:" + identity, budgets.request_capacity,
                            budgets.request_refill_per_second, 1.0, peek=peek)]
        if tokens is not None:
            specs.append(BucketSpec("tk:" + identity, budgets.token_capacity,
                                    budgets.token_refill_per_second, tokens, peek=peek))
            if cluster is not None:
                specs.append(BucketSpec("ct:" + cluster, self.cluster_capacity,
                                        self.cluster_refill, tokens, peek=peek))
        return specs

    def new_key_specs(self, ctx: RequestContext) -> list[BucketSpec]:
        """A never-seen key's first request also spends its address's new-key budgets."""
        assert ctx.observed is not None
        return new_key_specs(ctx.identity, ctx.observed.identity.requests > 0, self.new_keys,
                             self.pseudonymize)

    # -- costs ---------------------------------------------------------------------------
    @staticmethod
    def prompt_chars(ctx: RequestContext) -> int:
        hint = ctx.prompt_chars_hint
        if hint is not None and ctx.parsed_if_done() is None:
            return hint
        p = ctx.parsed
        chars = len(p.system) + len(p.user) if p is not None else len(ctx.body)
        return max(chars, len(ctx.body)) if ctx.body_truncated else chars

    def estimate_tokens(self, ctx: RequestContext) -> int:
        s = self.settings
        quick = None
        if ctx.body and not ctx.body_truncated and ctx.parsed_if_done() is None:
            quick = quick_inputs(ctx.body, ctx.path, s.max_analysis_chars)
        if quick is not None:
            ctx.prompt_chars_hint, max_out = quick
            chars = quick[0]
        else:
            max_out = (requested_output_tokens(ctx.parsed.params, MAX_TOKEN_PARAMS)
                       if ctx.parsed is not None else None)
            chars = self.prompt_chars(ctx)
        return estimate_request_cost(chars, max_out, default_output=s.default_output_tokens,
                                     output_cap=s.max_output_tokens)

    # -- outcomes ------------------------------------------------------------------------
    @staticmethod
    def states(specs: Sequence[BucketSpec], results: Sequence[BucketResult]
               ) -> list[BudgetState]:
        """The buckets' states after this request, in ``specs`` order."""
        states = []
        for spec, res in zip(specs, results, strict=True):
            key, rate = spec.key, spec.refill_per_second
            states.append(BudgetState(_NAMES.get(key[:2]) or key[:2], spec.capacity,
                                      res.remaining, res.reset_after, res.retry_after,
                                      res.allowed, spec.capacity / rate if rate else 0.0))
        return states

    def outcome(
        self, specs: Sequence[BucketSpec], results: Sequence[BucketResult],
        windows: Sequence[BudgetState], *, resolved: bool, mode: str,
    ) -> BudgetOutcome:
        """Budget states of this request; whether a refusal is to be enforced (see module)."""
        states = self.states(specs, results)
        if windows:
            states.extend(windows)
        refused = [b for b in states if not b.allowed]
        out = BudgetOutcome(states, refused)
        if not refused:
            return out
        out.retry_after = max(b.retry_after for b in out.refused)
        live = mode == "enforce" or self.settings.monitor_enforce_budgets
        configured = self.configured or resolved
        # A cluster's shared budget and the new-key budgets are protection, not a customer's
        # budget: they apply without configuration.
        protective = any(b.name in PROTECTIVE for b in out.refused)
        out.enforced = live and (configured or protective)
        return out

    async def refund(
        self, specs: Sequence[BucketSpec], results: Sequence[BucketResult], now: float
    ) -> None:
        """Give back what a refused request took from the buckets that did conform."""
        back = [replace(spec, cost=-spec.cost, force=True)
                for spec, res in zip(specs, results, strict=True)
                if res.allowed and spec.cost > 0]
        if back:
            await self.store.buckets(back, now)

    def settlement(
        self, ctx: RequestContext, cluster: str | None, usage: Usage, estimated: int,
    ) -> list[BucketSpec]:
        """Forced charges (or refunds) reconciling the estimate with the metered usage."""
        total = usage.prompt_tokens + usage.completion_tokens
        if usage.prompt_tokens == 0:
            # Counted from streamed deltas: the prompt side was not reported; estimate it.
            total += estimate_tokens(self.prompt_chars(ctx))
        delta = float(total - estimated)
        if delta == 0:
            return []
        budgets = ctx.budgets if isinstance(ctx.budgets, Budgets) else self.default
        specs = [BucketSpec("tk:" + ctx.identity.id, budgets.token_capacity,
                            budgets.token_refill_per_second, delta, force=True)]
        if cluster is not None:
            specs.append(BucketSpec("ct:" + cluster, self.cluster_capacity, self.cluster_refill,
                                    delta, force=True))
        return specs
