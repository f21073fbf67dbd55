"""What detection finds for one request: fingerprints, the store's counts (one ``observe``
round trip), the detectors, the host's scorers, history and the operator's lists.

A detector bug must not become a free pass: when detection raises, the request is still
charged to its budgets and the identity lists still apply; it is only left unscored (counted
and logged once per exception type, never with its message).
"""

from __future__ import annotations

import logging
import traceback
from collections import Counter
from collections.abc import Callable, Mapping

from antidistill.context import RequestContext
from antidistill.decision import Action, Signal
from antidistill.fingerprints.run import Fingerprinter
from antidistill.hooks import HookRegistry, HookRunner
from antidistill.identity import IDENTITY_MISMATCH
from antidistill.lists import IDENTITY_LISTS
from antidistill.policy.actions import (
    ActionPolicy,
    accumulates,
    corroborated,
    reasoning_extraction_floor,
)
from antidistill.policy.lists import apply_lists
from antidistill.scoring.assess import NOTHING_FOUND, RISK_FLOOR, Assessment, score_request
from antidistill.scoring.combine import combine
from antidistill.signals.cadence import update_fields
from antidistill.signals.continuity import BENIGN_SESSION, BENIGN_SESSIONS
from antidistill.signals.intent import REASONING_EXTRACTION_SIGNAL
from antidistill.signals.pipeline import (
    NO_FEATURES,
    DetectorConfig,
    build_features,
    build_values,
    run_detectors,
)
from antidistill.storage.base import ObserveBatch, Store
from antidistill.storage.resilient import StoreUnavailable

# Benign evidence that an identity holds real sessions with this server (signals.continuity).
CONTINUOUS = frozenset({BENIGN_SESSION, BENIGN_SESSIONS})
logger = logging.getLogger("antidistill")
RECENT_CLUSTERS = 8
_DENY, _ALLOW = IDENTITY_LISTS[:2]


def _identity_checks(ident: str) -> list[tuple[str, str]]:
    return [(_DENY, ident), (_ALLOW, ident)]


def error_site(exc: BaseException) -> str:
    """``file.py:line in function`` of the innermost frame: what logs say about an exception
    (its message may quote the request, so it is never logged)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"


class Assessor:
    def __init__(self, store: Store, config: DetectorConfig, fingerprints: Fingerprinter,
                 hooks: HookRegistry, runner: HookRunner, weights: Mapping[str, float],
                 policy: ActionPolicy, counters: Counter[str], rx_threshold: float,
                 uncached: Callable[[str, str], str]) -> None:
        self.store, self.config, self.fingerprints = store, config, fingerprints
        self.detectors = config.detectors
        self.hooks, self.runner, self.weights, self.policy = hooks, runner, weights, policy
        self.counters = counters
        self.rx_threshold = rx_threshold
        self.uncached = uncached  # keyed hashes of values seen about once (answers, networks)
        self._need_cadence = bool(self.detectors & {"cadence", "shift"})
        # The few clusters seen most recently: asked for in every observe, so a member (or a
        # fresh sybil whose template is linked to one) costs no second round trip.
        self.recent_clusters: dict[str, None] = {}
        self._logged_errors: set[str] = set()

    async def assess(self, ctx: RequestContext, epoch: float | None) -> Assessment:
        inspect = ctx.policy == "inspect"
        if not (self.detectors or self.hooks.scorers):
            # The identity allow/deny lists are operator decisions: honoured on every route
            # that is not exempt, budget routes included.
            return await self.lists_only(ctx)
        try:
            if inspect:
                self.fingerprints.run(ctx)
            return await self._assess(ctx, inspect, epoch)
        except StoreUnavailable:
            raise
        except Exception as exc:
            return await self._failed(ctx, exc)

    async def _assess(self, ctx: RequestContext, inspect: bool,
                      epoch: float | None) -> Assessment:
        memo = self.fingerprints.memo.scope(ctx.identity.id) if inspect else None
        feats = build_features(ctx, self.detectors, self.uncached, memo) if inspect else NO_FEATURES
        values = build_values(ctx, self.detectors, self.uncached) if inspect else {}
        obs = await self.store.observe(ObserveBatch(
            identity=ctx.identity.id, features=feats.all, identity_values=values,
            list_checks=feats.lists if inspect else _identity_checks(ctx.identity.id),
            clusters=tuple(self.recent_clusters)), ctx.now)
        ctx.observed = obs
        found = Assessment()
        if inspect and self._need_cadence:
            found.fields = update_fields(obs.identity.fields, obs.identity.last_seen, ctx.now,
                                         obs.identity.requests)
        listed = {name for name, _ in obs.listed} if obs.listed else set()
        signals: list[Signal] = []
        benign = ""
        if inspect and self.detectors:
            # Unknown epoch (the store was unreachable): behave as on a fresh start, quietly.
            det = run_detectors(ctx, obs, feats, found.fields, listed, self.config,
                                epoch if epoch is not None else ctx.now, self._detector_failed,
                                memo)
            signals, found.cluster, found.link = det.signals, det.cluster, det.link
            benign = det.benign
            found.mature = det.mature
        if inspect and ctx.identity.key_mismatch:
            signals.append(IDENTITY_MISMATCH)
        if self.hooks.scorers:
            signals.extend(await self._scorer_signals(ctx))
        score_request(found, signals, obs, self.weights, benign=bool(benign))
        if found.risk_add and not accumulates(signals, bool(benign)):
            found.risk_add = 0.0
        # Nothing to add (most requests) needs no corroboration test: it adds 0 either way.
        found.cluster_add = found.risk_add if found.risk_add and corroborated(signals) else 0.0
        if listed:
            apply_lists(found, listed, self.policy)
        if not (found.allowlisted or found.denied):
            # Shared evidence alone only flags an identity holding real sessions with this
            # server, or one on its first request (policy.actions).
            shared_flags = benign in CONTINUOUS or obs.identity.requests == 0
            found.action = self.policy.decide(found.risk, found.reasons, shared_flags)
            # Without its signal the floor leaves the (already allowed) action as it is.
            if any(s.name == REASONING_EXTRACTION_SIGNAL for s in signals):
                self._reasoning_extraction(found, signals, bool(benign))
        return found

    def _reasoning_extraction(self, found: Assessment, signals: list[Signal],
                              benign: bool) -> None:
        """A confident request for the model's hidden reasoning is answered degraded (its
        reasoning withheld) on that evidence alone, and kept out of history (issue #13)."""
        before = found.action
        rx = reasoning_extraction_floor(found.action, found.reasons, self.rx_threshold)
        found.action = self.policy.allowed(rx.action)
        # Only when this evidence alone made the degrade: with corroboration (shared content
        # across accounts, say) it is a campaign's evidence and counts like any other.
        if rx.exempt and before.severity < Action.DEGRADE.severity:
            rest = [x for x in signals if x.name != REASONING_EXTRACTION_SIGNAL]
            fresh = combine(rest, self.weights)[0] if rest else 0.0
            found.risk_add = fresh if fresh >= RISK_FLOOR and accumulates(rest, benign) else 0.0
            found.cluster_add = found.risk_add if corroborated(rest) else 0.0

    async def _scorer_signals(self, ctx: RequestContext) -> list[Signal]:
        out: list[Signal] = []
        for fn in self.hooks.scorers:
            got = await self.runner.call(fn, ctx)
            if isinstance(got, Signal):
                out.append(got)
            elif isinstance(got, (list, tuple)):
                out.extend(x for x in got if isinstance(x, Signal))
        return out

    def _detector_failed(self, exc: Exception) -> None:
        """One detector raised: the others still ran; counted, logged once per type."""
        self._report(exc, "the request is scored by the other detectors")

    def _report(self, exc: Exception, consequence: str) -> None:
        self.counters["detector_errors"] += 1
        name = type(exc).__name__
        if name not in self._logged_errors:
            self._logged_errors.add(name)
            logger.error("antidistill: detection failed (%s at %s); %s. Further %s errors are "
                         "only counted.", name, error_site(exc), consequence, name)

    async def _failed(self, ctx: RequestContext, exc: Exception) -> Assessment:
        self._report(exc, "the request is charged to its budgets unscored")
        if ctx.parsed is None and ctx.body:
            ctx.parsed = self.fingerprints.parse(ctx)
        return await self.lists_only(ctx)

    async def lists_only(self, ctx: RequestContext) -> Assessment:
        """Budgets only (no detector, no scorer): nothing can add risk, so there is no
        history to read; only the identity lists. The body is parsed only if something reads
        ``ctx.parsed`` (the token estimate reads its two inputs without it)."""
        ident = ctx.identity.id
        listed = await self.store.listed(ident, _identity_checks(ident), ctx.now)
        if not listed:
            return NOTHING_FOUND
        return apply_lists(Assessment(), {name for name, _ in listed}, self.policy)

    def remember_cluster(self, cluster: str | None) -> None:
        if cluster is None:
            return
        self.recent_clusters.pop(cluster, None)
        self.recent_clusters[cluster] = None
        if len(self.recent_clusters) > RECENT_CLUSTERS:
            self.recent_clusters.pop(next(iter(self.recent_clusters)))
