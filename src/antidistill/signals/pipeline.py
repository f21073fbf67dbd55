"""From fingerprints to signals: the store features a request counts, the detectors, and the
cluster a request belongs to.

The guard calls :func:`build_features` before its ``observe`` round trip and
:func:`run_detectors` on what the store answered. Both are pure CPU. A detector that raises
is reported through ``on_error`` and skipped; the others still run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from antidistill.context import RequestContext
from antidistill.decision import Signal
from antidistill.fingerprints.memo import INTENT, MemoScope
from antidistill.lists import IDENTITY_LISTS
from antidistill.signals.cadence import cadence_signals
from antidistill.signals.churn import churn_signal, network_values, stable_network
from antidistill.signals.continuity import (
    BENIGN_SESSION,
    BENIGN_SESSIONS,
    OPENING_VALUE,
    continued_fields,
    continuity,
    continuity_signal,
    continuous_sessions,
    history_checks,
    opening_values,
    single_shot_signal,
)
from antidistill.signals.families import EVIDENCE, family_of
from antidistill.signals.fanout import FanoutConfig, fanout_signal, novelty
from antidistill.signals.harvesting import SWEEP_VALUES, score_harvesting, sweep_key
from antidistill.signals.intent import IntentMatch, cap_text, detect_intent, primary_match
from antidistill.signals.material import instruction_part
from antidistill.signals.spread import SpreadConfig, hour_keys, spread_signals, standing
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
    cohort: list[str] = field(default_factory=list)  # the identity's hours (signals.spread)

    @property
    def all(self) -> list[str]:
        return self.templates + self.segments + self.client + self.cohort


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    detectors: frozenset[str]
    fanout: FanoutConfig
    intent_max_chars: int
    output_caps: Mapping[str, int] = field(default_factory=dict)  # model -> stated cap
    spread: SpreadConfig = field(default_factory=SpreadConfig)


@dataclass(slots=True)
class Detection:
    signals: list[Signal]
    cluster: str | None  # the cluster this request belongs to (existing or new)
    link: list[str]  # features to link to the cluster
    benign: str = ""  # the identity's own benign evidence: cluster risk does not flow in
    mature: list[str] = field(default_factory=list)  # features to count it mature on (apply)


NO_FEATURES = Features([], [], [], [])


def build_features(ctx: RequestContext, detectors: Set[str],
                   pseudonymize: Callable[[str, str], str] | None = None,
                   memo: MemoScope | None = None) -> Features:
    """Feature keys (``t:`` template, ``s:`` segment, ``c:`` client, ``j:`` JA4, ``n:`` network,
    ``a:`` ASN) for the enabled detectors, and the allow/deny/watch lists to check.

    ``memo`` is the identity's :class:`~antidistill.fingerprints.memo.MemoScope`."""
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
    history: list[tuple[str, str]] = []
    if "continuity" in detectors and pseudonymize is not None and ctx.parsed is not None \
            and ctx.parsed.assistant:
        history = history_checks(ident, ctx.parsed.assistant, pseudonymize, memo)
        lists += history
    cohort = hour_keys(ctx.identity.created_at, ctx.now) if "spread" in detectors and \
        p is not None and p.informative else []
    return Features(templates, segments, client, lists, history, cohort)


def build_values(ctx: RequestContext, detectors: Set[str],
                 pseudonymize: Callable[[str, str], str]) -> dict[str, str]:
    """Identity-scoped distinct-value counters of one request (``ObserveBatch
    .identity_values``): harvesting parameter sweeps and network churn."""
    values: dict[str, str] = {}
    if "harvesting" in detectors and ctx.parsed is not None:
        values.update(sweep_key(ctx.parsed.params))
    if "churn" in detectors:
        values.update(network_values(ctx.network, pseudonymize))
    if "continuity" in detectors:
        values.update(opening_values(ctx.identity.id, ctx.parsed, pseudonymize))
    return values


@dataclass(slots=True)
class _Run:
    """One request's detector run: inputs, and what the detectors have found so far."""

    ctx: RequestContext
    obs: ObserveResult
    feats: Features
    fields: dict[str, float]
    listed: Set[str]
    cfg: DetectorConfig
    epoch: float
    signals: list[Signal] = field(default_factory=list)
    link: list[str] = field(default_factory=list)
    fan_key: str | None = None
    cont: Any = None
    mature: list[str] = field(default_factory=list)
    memo: MemoScope | None = None

    def add(self, sig: Signal | None) -> None:
        if sig is not None:
            self.signals.append(sig)


def _fanout(r: _Run) -> None:
    sig, r.fan_key = fanout_signal(r.obs.features, r.feats.templates, r.feats.segments,
                                   r.cfg.fanout, r.epoch, r.ctx.now)
    r.add(sig)
    if sig is not None and sig.score >= CLUSTER_FORM and r.fan_key is not None:
        r.link.append(r.fan_key)


def _sybil(r: _Run) -> None:
    net = r.ctx.network
    anon = net is not None and net.network_type in ANONYMOUS_NETWORKS
    sig, strong = sybil_signal(r.obs.features, r.feats.client, r.cfg.fanout, anon, r.epoch,
                               r.ctx.now)
    r.add(sig)
    r.link.extend(strong)


# Intent found only inside quoted or pasted material (a page, a log, a code block) is
# someone else's words: weighed down so that alone it stays below real evidence.
MATERIAL_WEIGHT = 0.25


def instruction_intent(text: str, max_chars: int) -> IntentMatch | None:
    """The request's intent: matches in its instruction part at full score, matches found
    only inside quoted or pasted material (``signals.material``) at ``MATERIAL_WEIGHT``."""
    matches = detect_intent(text, max_chars=max_chars)
    if not matches:
        return None
    # Only what the lexicon read (head and tail) is scanned for material: linear in the cap.
    rest = instruction_part(cap_text(text, max_chars))
    if rest is None:
        return primary_match(matches)
    own = {m.category: m for m in detect_intent(rest, max_chars=max_chars)}
    scored = []
    for m in matches:
        mine = own.get(m.category)
        quoted = round(m.score * MATERIAL_WEIGHT, 4)
        if mine is not None and mine.score >= quoted:
            # Never above the whole text's score: a suppressor may sit inside the block.
            scored.append(mine if mine.score <= m.score else m)
        else:
            scored.append(IntentMatch(m.category, quoted, m.evidence + " (quoted)"))
    return primary_match(tuple(sorted(scored, key=lambda m: -m.score)))


def _intent(r: _Run) -> None:
    p = r.ctx.parsed
    if p is not None and p.user:
        # Remembered for conversations only: a single turn seldom repeats.
        top = instruction_intent(p.user, r.cfg.intent_max_chars) if r.memo is None or \
            len(p.user_turns) < 2 else _remembered_intent(p.user, r.cfg.intent_max_chars, r.memo)
        if top is not None:
            r.add(Signal("intent:" + top.category, top.score, top.evidence))


def _remembered_intent(text: str, max_chars: int, memo: MemoScope) -> IntentMatch | None:
    # An agent's tool loop resends the same user text: its verdict (cue ids, no text) is kept.
    key = memo.key(INTENT, cap_text(text, max_chars).encode("utf-8", "surrogatepass"))
    got: IntentMatch | tuple[()] | None = memo.get(key)
    if got is None:
        got = instruction_intent(text, max_chars) or ()
        memo.put(key, got)
    return got or None


def _harvesting(r: _Run) -> None:
    p = r.ctx.parsed
    if p is None:
        return
    model = p.params.get("model")
    # An unknown cap is no evidence: only the operator's stated per-model caps count.
    cap = r.cfg.output_caps.get(model, 0) if isinstance(model, str) else 0
    h = score_harvesting(p.params, max_tokens_cap=cap, oddities=p.oddities)
    # identity-level distinct values (temperature, logit_bias key sets, seeds): sweeps
    swept = {k: n for k, n in r.obs.identity.values.items() if k in SWEEP_VALUES and n >= 6}
    score, detail = h.score, h.detail
    if swept:
        score = max(score, min(1.0, 0.3 + 0.1 * max(swept.values())))
        detail = (detail + "; " if detail else "") + "sweep: " + ", ".join(
            f"{k} x{n}" for k, n in swept.items())
    if score > 0.0:
        r.add(Signal("harvesting", score, detail))


def _cadence(r: _Run) -> None:
    age = r.ctx.now - r.obs.identity.first_seen
    for sig in cadence_signals(r.fields, r.obs.identity.requests + 1, age):
        if sig.name in r.cfg.detectors:
            r.add(sig)


def _continuity(r: _Run) -> None:
    if r.feats.history:
        r.cont = continuity(r.feats.history, r.obs.listed)
        if r.cont is not None:
            r.add(continuity_signal(r.cont))
            r.fields.update(continued_fields(r.cont, r.obs.identity.fields))
    ident = r.obs.identity
    openings = ident.values.get(OPENING_VALUE, 0)
    if openings:
        net = r.ctx.network
        anon = net is not None and net.network_type in ANONYMOUS_NETWORKS
        r.add(single_shot_signal(openings, ident.requests + 1, r.ctx.now - ident.first_seen,
                                 anon))


def _churn(r: _Run) -> None:
    ident = r.obs.identity
    r.add(churn_signal(ident.values, ident.requests + 1, r.ctx.now - ident.first_seen))


def _spread(r: _Run) -> None:
    p, cfg, feats = r.ctx.prompt, r.cfg.spread, r.obs.features
    keys = list(r.feats.templates)
    if p is not None and p.anchor is not None and r.feats.segments:
        keys.append("s:" + p.anchor)
    who = standing(r.obs.identity, r.ctx.identity.created_at, r.ctx.now, cfg)
    for sig in spread_signals(feats, keys, r.feats.cohort, who, cfg, r.ctx.now - r.epoch):
        r.add(sig)
    if who.mature:  # counted on shared features only: one-offs get no mature set
        r.mature = [k for k in keys if (st := feats.get(k)) is not None and st.long >= 2]
        r.mature += r.feats.cohort


def _lists(r: _Run) -> None:
    watched = sorted(n for n in r.listed if n.startswith("watch:"))
    if watched:
        r.add(Signal("shared_indicator", 0.8, "matches " + ", ".join(watched)))


# (detector names that enable it, the detector); continuity runs whenever history is checked.
DETECTORS: tuple[tuple[frozenset[str], Callable[[_Run], None]], ...] = (
    (frozenset({"fanout"}), _fanout),
    (frozenset({"sybil"}), _sybil),
    (frozenset({"intent"}), _intent),
    (frozenset({"harvesting"}), _harvesting),
    (frozenset({"cadence", "shift"}), _cadence),
    (frozenset(), _continuity),
    (frozenset({"churn"}), _churn),
    (frozenset({"spread"}), _spread),
    (frozenset({"lists"}), _lists),
)


def run_detectors(
    ctx: RequestContext, obs: ObserveResult, feats: Features, fields: dict[str, float],
    listed: Set[str], cfg: DetectorConfig, epoch: float,
    on_error: Callable[[Exception], None] | None = None, memo: MemoScope | None = None,
) -> Detection:
    """Every built-in detector's signal, and the request's cluster.

    A detector that raises is reported to ``on_error`` and skipped: the others still run and
    the request is still scored (without ``on_error`` the exception propagates). ``memo``
    (the identity's) keeps verdicts on text it sent before."""
    r = _Run(ctx, obs, feats, fields, listed, cfg, epoch, memo=memo)
    for names, detector in DETECTORS:
        if names and names.isdisjoint(cfg.detectors):
            continue
        try:
            detector(r)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(exc)
    own = any(s.score >= EVIDENCE and family_of(s.name) != "content" for s in r.signals)
    cluster = choose_cluster(obs, feats, r.link, r.fan_key, cfg.fanout, own)
    benign = BENIGN_SESSION if r.cont is not None and r.cont.own else ""
    return Detection(r.signals, cluster, r.link, benign or benign_evidence(ctx, obs),
                     r.mature)


# An identity with this much history of its own is an established customer, not a sybil.
ESTABLISHED_AGE = 2 * 86400.0
ESTABLISHED_REQUESTS = 20


def benign_evidence(ctx: RequestContext, obs: ObserveResult) -> str:
    """The identity's own benign evidence ("" if none): mostly continuous sessions, a long
    history or a stable network.

    A member showing it keeps its own risk, but the cluster's risk does not flow into it."""
    ident = obs.identity
    if continuous_sessions(ident.fields, ident.requests):
        return BENIGN_SESSIONS
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
