"""From fingerprints to signals: the store features a request counts, and the detectors.

The guard calls :func:`build_features` before its ``observe`` round trip and
:func:`run_detectors` on what the store answered. Both are pure CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field

from antidistill.context import RequestContext
from antidistill.decision import Signal
from antidistill.policy.actions import EVIDENCE, family_of
from antidistill.signals.cadence import cadence_signals
from antidistill.signals.churn import churn_signal, network_values, stable_network
from antidistill.signals.continuity import continuity, continuity_signal, history_checks
from antidistill.signals.fanout import FanoutConfig, fanout_signal, novelty
from antidistill.signals.harvesting import SWEEP_VALUES, score_harvesting, sweep_key
from antidistill.signals.intent import detect_intent
from antidistill.signals.sybil import sybil_signal
from antidistill.storage.base import FeatureStats, ObserveResult

# A cluster is formed around a content feature whose fan-out score reaches this.
CLUSTER_FORM = 0.5
ANONYMOUS_NETWORKS = frozenset({"hosting", "vpn", "tor", "proxy", "residential_proxy"})


@dataclass(slots=True)
class Features:
    """Store keys of one request: counted features and list memberships to test."""

    templates: list[str]
    segments: list[str]
    client: list[str]
    lists: list[tuple[str, str]]  # includes ``history``
    history: list[tuple[str, str]] = field(default_factory=list)  # continuity checks

    @property
    def all(self) -> list[str]:
        return self.templates + self.segments + self.client


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    detectors: frozenset[str]
    fanout: FanoutConfig
    intent_max_chars: int
    output_caps: Mapping[str, int] = field(default_factory=dict)  # model -> stated cap


@dataclass(slots=True)
class Detection:
    signals: list[Signal]
    cluster: str | None  # the cluster this request belongs to (existing or new)
    link: list[str]  # features to link to the cluster
    benign: str = ""  # the identity's own benign evidence: cluster risk does not flow in


NO_FEATURES = Features([], [], [], [])


def build_features(ctx: RequestContext, detectors: Set[str],
                   pseudonymize: Callable[[str, str], str] | None = None) -> Features:
    """Feature keys (``t:`` template, ``s:`` segment, ``c:`` client, ``j:`` JA4, ``n:`` network,
    ``a:`` ASN) for the enabled detectors, and the allow/deny/watch lists to check."""
    templates: list[str] = []
    segments: list[str] = []
    client: list[str] = []
    ident = ctx.identity.id
    lists = [("deny:identity", ident), ("allow:identity", ident), ("watch:identity", ident)]
    fanout, sybil = "fanout" in detectors, "sybil" in detectors
    p = ctx.prompt
    if p is not None:
        if p.informative and fanout:
            templates.append("t:" + p.skeleton)
            segments.extend("s:" + seg for seg in p.segments[:4])
            if p.anchor is not None and p.anchor not in p.segments[:4]:
                # A short template before a long payload: its windows rarely make the
                # bottom of the sketch, its opening always leads it.
                segments.append("s:" + p.anchor)
        lists += [("deny:template", p.skeleton), ("watch:template", p.skeleton)]
    c = ctx.client
    if c is not None:
        if sybil:
            client.append("c:" + c.client)
        lists += [("deny:client", c.client), ("watch:client", c.client)]
        if c.ja4:
            if sybil:
                client.append("j:" + c.ja4)
            lists += [("deny:ja4", c.ja4), ("watch:ja4", c.ja4)]
    n = ctx.network
    if n is not None and n.prefix:
        if sybil:
            client.append("n:" + n.prefix)
        lists += [("deny:network", n.prefix), ("watch:network", n.prefix)]
        if n.asn:
            if sybil:
                client.append(f"a:{n.asn}")
            lists += [("deny:asn", str(n.asn)), ("watch:asn", str(n.asn))]
    if "lists" not in detectors:
        # Identity allow/deny lists are explicit operator decisions: always honoured.
        lists = lists[:3]
    history: list[tuple[str, str]] = []
    if "continuity" in detectors and pseudonymize is not None and ctx.parsed is not None \
            and ctx.parsed.assistant:
        history = history_checks(ident, ctx.parsed.assistant, pseudonymize)
        lists += history
    return Features(templates, segments, client, lists, history)


def build_values(ctx: RequestContext, detectors: Set[str],
                 pseudonymize: Callable[[str, str], str]) -> dict[str, str]:
    """Identity-scoped distinct-value counters of one request (``ObserveBatch
    .identity_values``): harvesting parameter sweeps and network churn."""
    values: dict[str, str] = {}
    if "harvesting" in detectors and ctx.parsed is not None:
        values.update(sweep_key(ctx.parsed.params))
    if "churn" in detectors:
        values.update(network_values(ctx.network, pseudonymize))
    return values


def run_detectors(
    ctx: RequestContext, obs: ObserveResult, feats: Features, fields: dict[str, float],
    listed: Set[str], cfg: DetectorConfig, epoch: float,
) -> Detection:
    """Every built-in detector's signal, and the request's cluster."""
    signals: list[Signal] = []
    det = cfg.detectors
    link: list[str] = []
    fan_key: str | None = None
    if "fanout" in det:
        sig, fan_key = fanout_signal(obs.features, feats.templates, feats.segments,
                                     cfg.fanout, epoch, ctx.now)
        if sig is not None:
            signals.append(sig)
            if sig.score >= CLUSTER_FORM and fan_key is not None:
                link.append(fan_key)
    if "sybil" in det:
        anon = ctx.network is not None and ctx.network.network_type in ANONYMOUS_NETWORKS
        sig, strong = sybil_signal(obs.features, feats.client, cfg.fanout, anon, epoch,
                                   ctx.now)
        if sig is not None:
            signals.append(sig)
        link.extend(strong)
    if "intent" in det and ctx.parsed is not None and ctx.parsed.user:
        matches = detect_intent(ctx.parsed.user, max_chars=cfg.intent_max_chars)
        if matches:
            top = max(matches, key=lambda m: m.score)
            signals.append(Signal("intent:" + top.category, top.score, top.evidence))
    if "harvesting" in det and ctx.parsed is not None:
        model = ctx.parsed.params.get("model")
        # An unknown cap is no evidence: only the operator's stated per-model caps count.
        cap = cfg.output_caps.get(model, 0) if isinstance(model, str) else 0
        h = score_harvesting(ctx.parsed.params, max_tokens_cap=cap)
        # identity-level distinct values (temperature, logit_bias key sets, seeds): sweeps
        swept = {k: n for k, n in obs.identity.values.items() if k in SWEEP_VALUES and n >= 6}
        sweep = [f"{k} x{n}" for k, n in swept.items()]
        score, detail = h.score, h.detail
        if sweep:
            score = max(score, min(1.0, 0.3 + 0.1 * max(swept.values())))
            detail = (detail + "; " if detail else "") + "sweep: " + ", ".join(sweep)
        if score > 0.0:
            signals.append(Signal("harvesting", score, detail))
    if "cadence" in det or "shift" in det:
        age = ctx.now - obs.identity.first_seen
        for sig in cadence_signals(fields, obs.identity.requests + 1, age):
            if sig.name in det:
                signals.append(sig)
    requests = obs.identity.requests + 1
    cont = continuity(feats.history, obs.listed) if feats.history else None
    if cont is not None:
        sig = continuity_signal(cont)
        if sig is not None:
            signals.append(sig)
    if "churn" in det:
        sig = churn_signal(obs.identity.values, requests, ctx.now - obs.identity.first_seen)
        if sig is not None:
            signals.append(sig)
    if "lists" in det:
        watched = sorted(n for n in listed if n.startswith("watch:"))
        if watched:
            signals.append(Signal("shared_indicator", 0.8, "matches " + ", ".join(watched)))
    own = any(s.score >= EVIDENCE and family_of(s.name) != "content" for s in signals)
    cluster = choose_cluster(obs, feats, link, fan_key, cfg.fanout, own)
    benign = "session continuity" if cont is not None and cont.own else ""
    return Detection(signals, cluster, link, benign or benign_evidence(ctx, obs))


# An identity with this much history of its own is an established customer, not a sybil.
ESTABLISHED_AGE = 2 * 86400.0
ESTABLISHED_REQUESTS = 20


def benign_evidence(ctx: RequestContext, obs: ObserveResult) -> str:
    """The identity's own benign evidence ("" if none): a long history or a stable network.

    A member showing it keeps its own risk, but the cluster's risk does not flow into it."""
    ident = obs.identity
    requests = ident.requests + 1
    if ctx.now - ident.first_seen >= ESTABLISHED_AGE and requests >= ESTABLISHED_REQUESTS:
        return "long history"
    if stable_network(ident.values, requests):
        return "stable network"
    return ""


def choose_cluster(
    obs: ObserveResult, feats: Features, link: list[str], fan_key: str | None,
    cfg: FanoutConfig, corroborated: bool = False,
) -> str | None:
    """The identity's own cluster, else the riskiest cluster its features point to, else a
    new one around the content feature that fanned out (``link`` may gain that feature).

    Joining through features needs a rare conjunction: two linked features agreeing, at
    least one of them still rare in the long window (novel), or the exact template, rare,
    together with the member's own evidence from another family (``corroborated``). A
    popular template alone must not pull an honest fleet into a campaign's cluster.
    """
    candidates = {obs.identity.cluster} if obs.identity.cluster else set()
    votes: dict[str, list[FeatureStats]] = {}
    templated: set[str] = set()
    features = obs.features
    for key in feats.all:
        st = features.get(key)
        if st is not None and st.cluster:
            votes.setdefault(st.cluster, []).append(st)
            if key.startswith("t:"):
                templated.add(st.cluster)
    for c, stats in votes.items():
        rare = any(novelty(st, cfg) > 0.0 for st in stats)
        if rare and (len(stats) >= 2 or (corroborated and c in templated)):
            candidates.add(c)
    cluster: str | None = None
    if candidates:
        cluster = max(candidates, key=lambda c: (
            obs.clusters[c].risk if c in obs.clusters else 0.0, c))
    elif fan_key is not None and fan_key in link:
        cluster = "cl:" + fan_key.split(":", 1)[1][:24]
    if cluster is not None and fan_key is not None and fan_key not in link:
        st = obs.features.get(fan_key)
        if st is not None and st.cluster is None and st.short >= cfg.min_identities:
            link.append(fan_key)
    return cluster
