"""From fingerprints to signals: the store features a request counts, the detectors, and the
cluster a request belongs to.

The guard calls :func:`build_features` before its ``observe`` round trip and
:func:`run_detectors` on what the store answered. Both are pure CPU. A detector that raises
is reported through ``on_error`` and skipped; the others still run.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from antidistill.context import RequestContext
from antidistill.decision import Signal
from antidistill.lists import IDENTITY_LISTS
from antidistill.signals.cadence import cadence_signals
from antidistill.signals.fanout import FanoutConfig, fanout_signal
from antidistill.signals.harvesting import score_harvesting
from antidistill.signals.intent import detect_intent, primary_match
from antidistill.signals.sybil import sybil_signal
from antidistill.storage.base import ObserveResult

# A cluster is formed around a content feature whose fan-out score reaches this.
CLUSTER_FORM = 0.5
ANONYMOUS_NETWORKS = frozenset({"hosting", "vpn", "tor", "proxy", "residential_proxy"})


@dataclass(slots=True)
class Features:
    """Store keys of one request: counted features and list memberships to test."""

    templates: list[str]
    segments: list[str]
    client: list[str]
    lists: list[tuple[str, str]]

    @property
    def all(self) -> list[str]:
        return self.templates + self.segments + self.client


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    detectors: frozenset[str]
    fanout: FanoutConfig
    intent_max_chars: int
    max_output_tokens: int


@dataclass(slots=True)
class Detection:
    signals: list[Signal]
    cluster: str | None  # the cluster this request belongs to (existing or new)
    link: list[str]  # features to link to the cluster


NO_FEATURES = Features([], [], [], [])


def build_features(ctx: RequestContext, detectors: Set[str]) -> Features:
    """Feature keys (``t:`` template, ``s:`` segment, ``c:`` client, ``j:`` JA4, ``n:`` network,
    ``a:`` ASN) for the enabled detectors, and the allow/deny/watch lists to check."""
    templates: list[str] = []
    segments: list[str] = []
    client: list[str] = []
    ident = ctx.identity.id
    lists = [(name, ident) for name in IDENTITY_LISTS]
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
    return Features(templates, segments, client, lists)


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
        top = primary_match(detect_intent(ctx.parsed.user, max_chars=cfg.intent_max_chars))
        if top is not None:
            signals.append(Signal("intent:" + top.category, top.score, top.evidence))
    if "harvesting" in det and ctx.parsed is not None:
        h = score_harvesting(ctx.parsed.params, max_tokens_cap=cfg.max_output_tokens,
                             oddities=ctx.parsed.oddities)
        # identity-level distinct values (temperature, logit_bias key sets, seeds): sweeps
        sweep = [f"{k} x{n}" for k, n in obs.identity.values.items() if n >= 6]
        score, detail = h.score, h.detail
        if sweep:
            score = max(score, min(1.0, 0.3 + 0.1 * max(obs.identity.values.values())))
            detail = (detail + "; " if detail else "") + "sweep: " + ", ".join(sweep)
        if score > 0.0:
            signals.append(Signal("harvesting", score, detail))
    if "cadence" in det or "shift" in det:
        age = ctx.now - obs.identity.first_seen
        for sig in cadence_signals(fields, obs.identity.requests + 1, age):
            if sig.name in det:
                signals.append(sig)
    if "lists" in det:
        watched = sorted(n for n in listed if n.startswith("watch:"))
        if watched:
            signals.append(Signal("shared_indicator", 0.8, "matches " + ", ".join(watched)))
    return Detection(signals, _cluster(obs, feats, link, fan_key, cfg.fanout), link)


def _cluster(
    obs: ObserveResult, feats: Features, link: list[str], fan_key: str | None,
    cfg: FanoutConfig,
) -> str | None:
    """The identity's own cluster, else the riskiest cluster its features point to, else a
    new one around the content feature that fanned out (``link`` may gain that feature).

    Joining through features needs the exact template, or two features agreeing: one shared
    segment or client stack alone must not pull an honest user into a campaign.
    """
    candidates = {obs.identity.cluster} if obs.identity.cluster else set()
    votes: dict[str, int] = {}
    features = obs.features
    for key in feats.all:
        st = features.get(key)
        if st is not None and st.cluster:
            votes[st.cluster] = votes.get(st.cluster, 0) + (2 if key.startswith("t:") else 1)
    candidates.update(c for c, v in votes.items() if v >= 2)
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
