"""The Guard: settings, storage, hooks and the per-request pipeline.

identity -> fingerprints -> signals -> scoring -> policy -> (middleware) enforcement.

One ``Guard`` serves one app (or several, sharing state). The middleware builds a
``RequestContext`` and calls :meth:`Guard.evaluate`; after the response it calls
:meth:`Guard.settle` with the metered usage.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import traceback
from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from antidistill.context import RequestContext
from antidistill.decision import Action, BudgetState, Decision, Reason, Signal
from antidistill.enforcement.metering import Usage, estimate_request_cost, estimate_tokens
from antidistill.errors import ConfigurationError
from antidistill.fingerprints.network import NetworkResolver
from antidistill.fingerprints.parse import MAX_TOKEN_PARAMS, ParsedPrompt, parse_body
from antidistill.fingerprints.prompt import FINGERPRINT_VERSION as PROMPT_FINGERPRINT_VERSION
from antidistill.fingerprints.prompt import fingerprint_prompt
from antidistill.fingerprints.request import FINGERPRINT_VERSION as CLIENT_FINGERPRINT_VERSION
from antidistill.fingerprints.request import fingerprint_request
from antidistill.hooks import Hook, HookRunner, load_hooks
from antidistill.identity import Identity, Pseudonymizer, TrustedProxies, client_ip, extract_api_key
from antidistill.policy.actions import ActionPolicy, corroborated
from antidistill.policy.routes import RoutePolicies
from antidistill.scoring.combine import (
    CLUSTER_RISK_SCALE,
    DEFAULT_WEIGHTS,
    IDENTITY_RISK_SCALE,
    combine,
    saturate,
)
from antidistill.scoring.pipeline import (
    NO_FEATURES,
    DetectorConfig,
    build_features,
    build_values,
    run_detectors,
)
from antidistill.settings import Settings
from antidistill.signals.cadence import update_fields
from antidistill.signals.continuity import LIST as ANSWERS
from antidistill.signals.continuity import TTL as ANSWER_TTL
from antidistill.signals.continuity import answer_members
from antidistill.signals.fanout import FanoutConfig
from antidistill.storage import storage_from_uri
from antidistill.storage.base import (
    ApplyBatch,
    BucketResult,
    BucketSpec,
    ObserveBatch,
    StateConfig,
    Store,
)
from antidistill.storage.resilient import StoreUnavailable

logger = logging.getLogger("antidistill")
event_logger = logging.getLogger("antidistill.events")

F = TypeVar("F", bound=Callable[..., Any])

# Identity-risk added per request only above this request risk, so that honest traffic's
# small scores never accumulate into a history.
RISK_FLOOR = 0.4
# How often (real seconds) each instance re-reads the run-time mode from the store.
MODE_REFRESH = 5.0
RECENT_CLUSTERS = 8
# The store setting holding the deployment's epoch, per prompt and client fingerprint version.
EPOCH_SETTING = f"epoch:p{PROMPT_FINGERPRINT_VERSION}.c{CLIENT_FINGERPRINT_VERSION}"
# (API key, client IP) -> Identity, so a returning caller costs one dict lookup.
IDENTITY_CACHE = 16384  # cleared when full; keys are at most 512 characters
_ACTION_NAMES = {a: a.value for a in Action}
_BUCKET_NAMES = {"rq": "requests", "tk": "tokens", "ct": "cluster_tokens"}
_DEGRADE_SEVERITY = Action.DEGRADE.severity


@dataclass(frozen=True, slots=True)
class Budgets:
    """Token-bucket parameters for one identity (returned by a budget-resolver hook)."""

    request_capacity: float
    request_refill_per_second: float
    token_capacity: float
    token_refill_per_second: float
    plan: str = ""


@dataclass(slots=True)
class _Assessment:
    """What detection found for one request, before budgets."""

    action: Action = Action.ALLOW
    risk: float = 0.0
    reasons: tuple[Reason, ...] = ()
    cluster: str | None = None
    identity_risk: float = 0.0
    cluster_risk: float = 0.0
    risk_add: float = 0.0  # this request's own evidence, added to identity and cluster risk
    cluster_add: float = 0.0  # ... to the cluster's only when corroborated (policy.actions)
    link: list[str] = field(default_factory=list)
    fields: dict[str, float] = field(default_factory=dict)
    allowlisted: bool = False
    denied: bool = False


# Shared and never mutated: the assessment of a request nothing can score.
_NOTHING_FOUND = _Assessment()


def error_site(exc: BaseException) -> str:
    """``file.py:line in function`` of the innermost frame: what logs say about an exception
    (its message may quote the request, so it is never logged)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"


class Guard:
    """Holds configuration, state and hooks; evaluates requests.

    ``clock`` returns seconds (wall-clock epoch by default). Inject one for tests,
    simulations and replays: every window, bucket and decay uses it.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Callable[[], float] | None = None,
        store: Store | None = None,
        load_env_hooks: bool = True,
    ) -> None:
        self.settings = settings if settings is not None else Settings()
        s = self.settings
        self.clock: Callable[[], float] = clock or time.time
        secret = s.secret.get_secret_value().encode() if s.secret else None
        self.pseudonymize = Pseudonymizer(secret)
        self.state_config = StateConfig(
            short_window=s.short_window,
            long_window=s.long_window,
            risk_half_life=s.risk_half_life,
            max_identities=s.memory_max_identities,
            max_features=s.memory_max_features,
        )
        if store is None:
            store = self._build_store()
        elif self.pseudonymize.ephemeral and not s.storage_uri.startswith("memory"):
            raise ConfigurationError("ANTIDISTILL_SECRET is required with shared storage")
        self.store = store
        if self.pseudonymize.ephemeral:
            logger.warning(
                "ANTIDISTILL_SECRET is not set: pseudonyms use a random per-process key, so "
                "identities are not stable across restarts and exported indicators cannot be "
                "matched. Set ANTIDISTILL_SECRET to a long random value in production."
            )
        self.proxies = TrustedProxies(s.trusted_proxies)
        self.routes = RoutePolicies(s.routes, s.default_policy)
        self.key_headers = tuple(h.lower().encode("latin-1") for h in s.api_key_headers)
        self.account_header = s.account_header.lower().encode("latin-1")
        self.network = NetworkResolver(s.asn_db or None, s.anon_ip_db or None)
        self.weights = dict(DEFAULT_WEIGHTS)
        self.weights.update(s.weights)
        self.policy = ActionPolicy(s.thresholds, s.actions)
        self.detector_config = DetectorConfig(
            frozenset(s.detectors), FanoutConfig(), s.intent_max_chars,
            dict(s.model_output_caps))
        self.detectors = frozenset(s.detectors)
        self._need_client = bool(self.detectors & {"sybil", "lists", "churn"})
        self._need_prompt = bool(self.detectors & {"fanout", "lists"})
        self._need_cadence = bool(self.detectors & {"cadence", "shift"})
        self.mode = s.mode
        self._events = s.events
        self.hooks = HookRunner(s.hook_timeout)
        self._scorers: list[Hook] = []
        self._on_decision: list[Hook] = []
        self._sinks: list[Hook] = []
        self._identity_resolver: Hook | None = None
        self._budget_resolver: Hook | None = None
        self._error_response: Hook | None = None
        self.windows = self._build_windows()
        self._default_budgets = Budgets(
            s.request_capacity, s.request_refill_rate / s.request_interval,
            s.token_capacity, s.token_refill_rate / s.token_interval,
        )
        self.counters: Counter[str] = Counter()
        self._random = random.Random(0x5EED)
        from antidistill.reporting.recent import ActionTimeline, RecentDecisions

        self.timeline = ActionTimeline()
        self.recent = RecentDecisions()
        self.metrics: Any = None
        if s.metrics:
            from antidistill.reporting.metrics import Metrics

            self.metrics = Metrics()
        self._mode_checked = -1e18
        # The few clusters seen most recently: asked for in every observe, so a member (or a
        # fresh sybil whose template is linked to one) costs no second round trip.
        self._recent_clusters: dict[str, None] = {}
        self._identities: dict[tuple[str | None, str | None], Identity] = {}
        self._logged_errors: set[str] = set()
        self.epoch: float | None = None
        if load_env_hooks and s.hooks:
            load_hooks(self, list(s.hooks))

    # -- construction helpers ---------------------------------------------------------
    def _build_store(self) -> Store:
        s = self.settings
        if self.pseudonymize.ephemeral and not s.storage_uri.startswith("memory"):
            raise ConfigurationError(
                "ANTIDISTILL_SECRET is required with shared storage: without it every instance "
                "pseudonymises keys differently and shared budgets would not add up"
            )
        primary = storage_from_uri(
            s.storage_uri, self.state_config, prefix=s.storage_prefix,
            socket_timeout=s.storage_timeout,
        )
        if s.storage_uri.startswith("memory"):
            from antidistill.storage.memory import warn_if_multiple_workers

            warn_if_multiple_workers()
            return primary
        from antidistill.storage.memory import MemoryStore
        from antidistill.storage.resilient import ResilientStore

        return ResilientStore(primary, fail_mode=s.fail_mode,
                              fallback=MemoryStore(self.state_config))

    def _build_windows(self) -> Any:
        if not self.settings.rate_limits:
            return None
        from antidistill.storage.windows import WindowLimits

        return WindowLimits(self.settings.rate_limits, self.settings.storage_uri,
                            prefix=self.settings.storage_prefix)

    # -- hook registration ------------------------------------------------------------
    def scorer(self, fn: F) -> F:
        """Register ``fn(ctx) -> Signal | list[Signal] | None`` (sync or async)."""
        self._scorers.append(fn)
        return fn

    def on_decision(self, fn: F) -> F:
        """Register ``fn(ctx, decision) -> Decision | None``; a returned decision replaces it."""
        self._on_decision.append(fn)
        return fn

    def event_sink(self, fn: F) -> F:
        """Register ``fn(event: dict) -> None``, called with every emitted decision event."""
        self._sinks.append(fn)
        return fn

    def identity_resolver(self, fn: F) -> F:
        """Register ``fn(ctx) -> str | Identity | None``: map the request to an account id."""
        self._identity_resolver = fn
        return fn

    def budget_resolver(self, fn: F) -> F:
        """Register ``fn(ctx) -> Budgets | None``: per-plan bucket sizes."""
        self._budget_resolver = fn
        return fn

    def error_response(self, fn: F) -> F:
        """Register ``fn(ctx, decision) -> (status, dict body, headers) | None``."""
        self._error_response = fn
        return fn

    # -- identity ---------------------------------------------------------------------
    def resolve_identity(self, scope: MutableMapping[str, Any]) -> tuple[Identity, bool]:
        """The default identity (before the resolver hook) and whether the peer is trusted."""
        headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
        client = scope.get("client")
        peer = client[0] if client else None
        trusted = bool(peer) and bool(self.proxies) and self.proxies.contains(str(peer))
        ip = client_ip(peer, headers, self.proxies)
        key = extract_api_key(headers, self.key_headers)
        if self.account_header and trusted:
            for name, value in headers:
                if name == self.account_header and value:
                    ip_id = self.pseudonymize("ip", ip) if ip else None
                    key_id = self.pseudonymize("key", key) if key else None
                    account_id = self.pseudonymize("acct", value.decode("latin-1")[:256])
                    return Identity(account_id, "account", key_id, account_id, ip_id, None,
                                    ip), trusted
        cache_key = (key, ip)
        identity = self._identities.get(cache_key)
        if identity is None:
            identity = self._identity(key, ip)
            if len(self._identities) >= IDENTITY_CACHE:
                self._identities.clear()
            self._identities[cache_key] = identity
        return identity, trusted

    def _identity(self, key: str | None, ip: str | None) -> Identity:
        ip_id = self.pseudonymize("ip", ip) if ip else None
        if key:
            key_id = self.pseudonymize("key", key)
            return Identity(key_id, "key", key_id, None, ip_id, None, ip)
        if ip_id:
            return Identity(ip_id, "ip", None, None, ip_id, None, ip)
        return Identity("anon:unknown", "anonymous", None, None, None, None, None)

    async def apply_identity_hook(self, ctx: RequestContext) -> None:
        if self._identity_resolver is None:
            return
        result = await self.hooks.call(self._identity_resolver, ctx)
        if isinstance(result, Identity):
            ctx.identity = result
        elif isinstance(result, str) and result:
            acct = self.pseudonymize("acct", result[:256])
            ctx.identity = replace(ctx.identity, id=acct, kind="account", account_id=acct)

    # -- the pipeline -----------------------------------------------------------------
    def fingerprint(self, ctx: RequestContext) -> None:
        """Request, network and prompt fingerprints (pure CPU, no I/O), as far as the enabled
        detectors need them. The body is always parsed: token estimates need ``max_tokens``."""
        s = self.settings
        if self._need_client:
            ctx.client = fingerprint_request(
                ctx.headers, trusted_peer=ctx.trusted_peer, ja4_header=s.ja4_header,
                bot_score_header=s.bot_score_header,
            )
            if ctx.identity.ip:
                ctx.network = self.network.lookup(ctx.identity.ip)
        if ctx.body:
            ctx.parsed = self._parse(ctx)
            if self._need_prompt and (ctx.parsed.user or ctx.parsed.system):
                ctx.prompt = fingerprint_prompt(ctx.parsed)

    def _parse(self, ctx: RequestContext) -> ParsedPrompt:
        return parse_body(ctx.body, ctx.header("content-type"), truncated=ctx.body_truncated,
                          path=ctx.path, max_chars=self.settings.max_analysis_chars)

    async def evaluate(self, ctx: RequestContext) -> Decision:
        """Score the request and decide. Raises only ``StoreUnavailable`` (fail-closed)."""
        # Real time, not the (possibly virtual) request clock: a replay must not re-read the
        # mode on every request.
        tick = time.monotonic()
        if tick - self._mode_checked >= MODE_REFRESH:
            await self.refresh_mode(tick)
        if self.epoch is None:
            await self._load_epoch(ctx.now)
        inspect = ctx.policy == "inspect"
        if self.detectors or self._scorers:
            try:
                if inspect:
                    self.fingerprint(ctx)
                found = await self._assess(ctx, inspect)
            except StoreUnavailable:
                raise
            except Exception as exc:
                # A detector bug must not become a free pass: the request is still charged
                # to its budgets (and the operator's lists still apply), only unscored.
                found = await self._detection_failed(ctx, exc)
        elif inspect:
            self.fingerprint(ctx)
            # No detector and no scorer: nothing can add risk, so there is no history to read;
            # only the operator's identity allow/deny lists are checked.
            found = await self._lists_only(ctx)
        else:
            found = _NOTHING_FOUND
        return await self._decide(ctx, found)

    async def _detection_failed(self, ctx: RequestContext, exc: Exception) -> _Assessment:
        self.counters["detector_errors"] += 1
        name = type(exc).__name__
        if name not in self._logged_errors:
            self._logged_errors.add(name)
            logger.error("antidistill: detection failed (%s at %s); the request is charged to "
                         "its budgets unscored. Further %s errors are only counted.", name,
                         error_site(exc), name)
        if ctx.parsed is None and ctx.body:
            ctx.parsed = self._parse(ctx)  # never raises; the token estimate needs it
        return await self._lists_only(ctx)

    async def _lists_only(self, ctx: RequestContext) -> _Assessment:
        ident = ctx.identity.id
        listed = await self.store.listed(
            ident, (("deny:identity", ident), ("allow:identity", ident)), ctx.now)
        if not listed:
            return _NOTHING_FOUND
        return self._listed(_Assessment(), {name for name, _ in listed})

    def _listed(self, found: _Assessment, listed: set[str]) -> _Assessment:
        """Apply the operator's lists: an allow-listed identity is allowed, a denied one
        blocked."""
        if "allow:identity" in listed:
            found.allowlisted = True
            found.action = Action.ALLOW
        elif any(name.startswith("deny:") for name in listed):
            found.denied = True
            found.action = self.policy.allowed(Action.BLOCK)
            found.risk = 1.0
            found.reasons += (Reason("deny_list", 1.0, 0.0, ", ".join(sorted(
                n for n in listed if n.startswith("deny:")))),)
        return found

    async def _assess(self, ctx: RequestContext, inspect: bool) -> _Assessment:
        """Fingerprint features counted in the store, detectors, scorers and history."""
        now = ctx.now
        feats = build_features(ctx, self.detectors, self.pseudonymize.uncached) if inspect \
            else NO_FEATURES
        values = build_values(ctx, self.detectors, self.pseudonymize.uncached) if inspect \
            else {}
        obs = await self.store.observe(
            ObserveBatch(identity=ctx.identity.id, features=feats.all, identity_values=values,
                         list_checks=feats.lists, clusters=tuple(self._recent_clusters)),
            now,
        )
        ctx.observed = obs
        found = _Assessment()
        signals: list[Signal] = []
        cluster: str | None = None
        benign = ""
        if inspect and self._need_cadence:
            found.fields = update_fields(obs.identity.fields, obs.identity.last_seen, now,
                                         obs.identity.requests)
        listed = {name for name, _ in obs.listed} if obs.listed else set()
        if inspect and self.detectors:
            # Unknown epoch (the store was unreachable): behave as on a fresh start, quietly.
            epoch = self.epoch if self.epoch is not None else now
            det = run_detectors(ctx, obs, feats, found.fields, listed, self.detector_config,
                                epoch)
            signals, cluster, found.link = det.signals, det.cluster, det.link
            benign = det.benign
        for fn in self._scorers:
            got = await self.hooks.call(fn, ctx)
            if isinstance(got, Signal):
                signals.append(got)
            elif isinstance(got, (list, tuple)):
                signals.extend(x for x in got if isinstance(x, Signal))
        # Only this request's own evidence accumulates into identity and cluster risk; adding
        # the history-derived signals back would let a moderate score feed on itself.
        fresh = list(signals)
        fresh_risk = combine(signals, self.weights)[0] if signals else 0.0
        # History: the identity's own decayed risk, and its cluster's.
        ident_risk = saturate(obs.identity.risk, IDENTITY_RISK_SCALE)
        if ident_risk >= 0.05:
            signals.append(Signal("identity", ident_risk,
                                  f"accumulated risk {obs.identity.risk:.2f} (decaying)"))
        cluster_risk = 0.0
        if cluster is not None and cluster in obs.clusters and not benign:
            cst = obs.clusters[cluster]
            cluster_risk = saturate(cst.risk, CLUSTER_RISK_SCALE)
            if cluster_risk >= 0.05:
                signals.append(Signal("cluster", cluster_risk,
                                      f"member of cluster {cluster[:14]} ({cst.members} "
                                      f"identities, accumulated risk {cst.risk:.1f})"))
        found.cluster, found.identity_risk, found.cluster_risk = cluster, ident_risk, cluster_risk
        if signals:
            found.risk, found.reasons = combine(signals, self.weights)
        if listed:
            self._listed(found, listed)
        if not (found.allowlisted or found.denied):
            found.action = self.policy.decide(found.risk, found.reasons)
        if fresh_risk >= RISK_FLOOR and not found.allowlisted:
            found.risk_add = fresh_risk
            found.cluster_add = fresh_risk if corroborated(fresh) else 0.0
        return found

    async def _decide(self, ctx: RequestContext, found: _Assessment) -> Decision:
        """Budgets (requests always, LLM tokens when the request will be served, the cluster's
        shared token budget when the identity sits in a flagged cluster), then the decision."""
        s = self.settings
        now = ctx.now
        ident = ctx.identity.id
        action, risk, reasons, cluster = found.action, found.risk, found.reasons, found.cluster
        budgets = (await self._resolve_budgets(ctx) if self._budget_resolver is not None
                   else self._default_budgets)
        ctx.budgets = budgets
        specs = [BucketSpec("rq:" + ident, budgets.request_capacity,
                            budgets.request_refill_per_second, 1.0)]
        if not (self.mode == "enforce" and action.is_denied()):
            ctx.estimated_tokens = self._estimate_tokens(ctx)
            specs.append(BucketSpec("tk:" + ident, budgets.token_capacity,
                                    budgets.token_refill_per_second, ctx.estimated_tokens))
            if cluster is not None and found.cluster_risk >= self.policy.thresholds["flag"]:
                specs.append(BucketSpec(
                    "ct:" + cluster, s.cluster_token_capacity,
                    s.cluster_token_refill_rate / s.cluster_token_interval,
                    ctx.estimated_tokens))
        results = await self.store.apply(
            ApplyBatch(
                identity=ident, buckets=specs, risk_add=found.risk_add, cluster=cluster,
                cluster_risk_add=found.cluster_add if cluster else 0.0,
                link_features=found.link, fields=found.fields,
            ),
            now,
        )
        if cluster is not None:
            self._recent_clusters.pop(cluster, None)
            self._recent_clusters[cluster] = None
            if len(self._recent_clusters) > RECENT_CLUSTERS:
                self._recent_clusters.pop(next(iter(self._recent_clusters)))
        states = [
            BudgetState(_BUCKET_NAMES.get(spec.key[:2], spec.key[:2]), spec.capacity,
                        res.remaining, res.reset_after, res.retry_after, res.allowed,
                        spec.capacity / spec.refill_per_second if spec.refill_per_second
                        else 0.0)
            for spec, res in zip(specs, results, strict=True)
        ]
        if self.windows is not None:
            states.extend(await self.windows.hit(ident))
        refused = [b for b in states if not b.allowed] if not all(
            res.allowed for res in results) or self.windows is not None else []
        retry_after = 0.0
        if refused:
            retry_after = max(b.retry_after for b in refused)
            if action.severity < Action.THROTTLE.severity:
                action = Action.THROTTLE
            reasons += (Reason("budget", 1.0, 0.0, ", ".join(
                f"{b.name} exhausted (retry in {b.retry_after:.1f}s)" for b in refused)),)
            await self._refund(specs, results, now)
            if self.mode == "monitor":
                # Monitor mode enforces explicit budgets only: the budget's own answer (429).
                action = Action.THROTTLE
        delay = 0.0
        if action is Action.DELAY:
            t = self.policy.thresholds
            span = max(t["throttle"] - t["delay"], 1e-6)
            delay = s.max_delay * min(1.0, 0.25 + 0.75 * (risk - t["delay"]) / span)
        monitor_only = self.mode == "monitor" and not refused
        if monitor_only and action is not Action.ALLOW:
            # Monitor mode computes everything and enforces only explicit budgets.
            enforced, delay, hide = False, 0.0, False
        else:
            enforced = not monitor_only
            hide = action.severity >= _DEGRADE_SEVERITY
        decision = Decision(
            action=action, score=risk, reasons=reasons, identity=ident,
            cluster=cluster, budgets=tuple(states), enforced=enforced,
            identity_risk=found.identity_risk, cluster_risk=found.cluster_risk,
            retry_after=retry_after, delay_seconds=delay, hide_reasoning=hide,
            route=ctx.path,
        )
        for fn in self._on_decision:
            got = await self.hooks.call(fn, ctx, decision)
            if isinstance(got, Decision):
                decision = got
        name = _ACTION_NAMES[decision.action]
        self.counters[name] += 1
        self.timeline.add(now, name)
        if decision.action is not Action.ALLOW:
            self.recent.add(now, decision)
        if self.metrics is not None:
            self.metrics.record_decision(decision, reasons=decision.reasons)
        if self._publish(decision):
            await self._emit(ctx, decision)
        return decision

    async def _resolve_budgets(self, ctx: RequestContext) -> Budgets:
        if self._budget_resolver is not None:
            got = await self.hooks.call(self._budget_resolver, ctx)
            if isinstance(got, Budgets):
                return got
        return self._default_budgets

    @staticmethod
    def _prompt_chars(ctx: RequestContext) -> int:
        p = ctx.parsed
        chars = len(p.system) + len(p.user) if p is not None else len(ctx.body)
        return max(chars, len(ctx.body)) if ctx.body_truncated else chars

    def _estimate_tokens(self, ctx: RequestContext) -> int:
        s = self.settings
        chars = self._prompt_chars(ctx)
        max_out = None
        p = ctx.parsed
        if p is not None:
            for name in MAX_TOKEN_PARAMS:
                v = p.params.get(name)
                if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                    max_out = v
                    break
        return estimate_request_cost(chars, max_out, default_output=s.default_output_tokens,
                                     output_cap=s.max_output_tokens)

    async def _refund(
        self, specs: list[BucketSpec], results: list[BucketResult], now: float
    ) -> None:
        back = [replace(spec, cost=-spec.cost, force=True)
                for spec, res in zip(specs, results, strict=True)
                if res.allowed and spec.cost > 0]
        if back:
            await self.store.buckets(back, now)

    async def settle(self, ctx: RequestContext, decision: Decision, usage: Usage | None) -> None:
        """Reconcile the token budgets with the metered usage (debt allowed)."""
        if usage is not None and usage.answer and "continuity" in self.detectors:
            members = answer_members(ctx.identity.id, usage.answer,
                                     self.pseudonymize.uncached)
            await asyncio.gather(*(self.store.list_add(ANSWERS, m, ANSWER_TTL)
                                   for m in members))
        if usage is None or not ctx.estimated_tokens or decision.is_denied():
            return
        total = usage.prompt_tokens + usage.completion_tokens
        if usage.prompt_tokens == 0:
            # Counted from streamed deltas: the prompt side was not reported; estimate it.
            total += estimate_tokens(self._prompt_chars(ctx))
        delta = float(total - ctx.estimated_tokens)
        if delta == 0:
            return
        budgets = ctx.budgets if isinstance(ctx.budgets, Budgets) else self._default_budgets
        specs = [BucketSpec("tk:" + ctx.identity.id, budgets.token_capacity,
                            budgets.token_refill_per_second, delta, force=True)]
        if decision.cluster and any(b.name == "cluster_tokens" for b in decision.budgets):
            s = self.settings
            specs.append(BucketSpec("ct:" + decision.cluster, s.cluster_token_capacity,
                                    s.cluster_token_refill_rate / s.cluster_token_interval,
                                    delta, force=True))
        await self.store.buckets(specs, self.clock())
        self.counters["tokens_reconciled"] += 1

    # -- events -----------------------------------------------------------------------
    async def emit(self, ctx: RequestContext, decision: Decision) -> None:
        """Publish a decision event to the log and the sinks (allow decisions are sampled)."""
        if self._publish(decision):
            await self._emit(ctx, decision)

    def _publish(self, decision: Decision) -> bool:
        """Whether the decision becomes an event: never without a log or sink; allow decisions
        sampled at ``event_sample_allow``."""
        return bool(self._events or self._sinks) and (
            decision.action is not Action.ALLOW
            or self._random.random() < self.settings.event_sample_allow)

    async def _emit(self, ctx: RequestContext, decision: Decision) -> None:
        from antidistill.reporting.events import build_event, dumps

        event = build_event(ctx, decision, mode=self.mode)
        if self.settings.events and event_logger.isEnabledFor(logging.INFO):
            event_logger.info(dumps(event))
        for sink in self._sinks:
            await self.hooks.call(sink, event)

    # -- run-time mode ----------------------------------------------------------------
    async def set_mode(self, mode: str) -> None:
        """Switch monitor/enforce at run time; persisted so every instance follows."""
        if mode not in ("enforce", "monitor"):
            raise ValueError("mode must be 'enforce' or 'monitor'")
        await self.store.set_setting("mode", mode)
        self.mode = mode  # type: ignore[assignment]
        self._mode_checked = time.monotonic()

    async def refresh_mode(self, tick: float | None = None) -> None:
        """Re-read the run-time mode from the store (every ``MODE_REFRESH`` seconds)."""
        self._mode_checked = time.monotonic() if tick is None else tick
        try:
            stored = await self.store.get_setting("mode")
        except Exception:  # the store's own failure policy applies on the hot path
            return
        if stored in ("enforce", "monitor"):
            self.mode = stored  # type: ignore[assignment]

    async def _load_epoch(self, now: float) -> None:
        """The deployment's first-request time, shared through the store (fan-out warm-up).

        Kept per fingerprint version (``EPOCH_SETTING``): after an upgrade that changes the
        fingerprints, every feature is new to the store, so the warm-up starts again instead
        of reading honest traffic's long-established templates as a sudden fan-out."""
        try:
            stored = await self.store.get_setting(EPOCH_SETTING)
            if stored is None:
                await self.store.set_setting(EPOCH_SETTING, repr(now))
                self.epoch = now
            else:
                self.epoch = float(stored)
        except Exception:
            # Storage trouble: leave the epoch unknown (fan-out stays quiet, as on a fresh
            # start) and read it again on the next request.
            self.epoch = None

    def admin_app(self) -> Any:
        """The admin ASGI app (API + dashboard); mount it, e.g. at ``/antidistill``.

        Refuses every request unless ``ANTIDISTILL_ADMIN_TOKEN`` is set.
        """
        from antidistill.reporting.admin import create_admin_app

        return create_admin_app(self)

    async def aclose(self) -> None:
        await self.store.close()
        self.network.close()
