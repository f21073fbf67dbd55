"""Cluster membership needs a rare conjunction; benign evidence keeps cluster risk out."""

from __future__ import annotations

from antidistill.context import RequestContext
from antidistill.signals.churn import PREFIX_VALUE
from antidistill.signals.fanout import FanoutConfig
from antidistill.signals.pipeline import Features, benign_evidence, choose_cluster
from antidistill.storage.base import ClusterStats, FeatureStats, IdentityStats, ObserveResult

NOW = 1_780_000_000.0
DAY = 86400.0
CFG = FanoutConfig()


def _obs(features: dict[str, FeatureStats], *, first_seen: float = NOW, requests: int = 0,
         values: dict[str, int] | None = None) -> ObserveResult:
    ident = IdentityStats(first_seen, NOW, requests, 0.0, None, values or {}, {})
    clusters = {"cl:x": ClusterStats(5.0, 40, NOW - 3600, NOW)}
    return ObserveResult(ident, features, clusters, frozenset())


def _feats(*keys: str) -> Features:
    return Features([k for k in keys if k.startswith("t:")],
                    [k for k in keys if k.startswith("s:")],
                    [k for k in keys if k[:2] in ("c:", "n:", "j:", "a:")], [])


RARE = FeatureStats(30, 32, NOW - 3600, "cl:x")  # new this hour: 30 of its 32 identities
POPULAR = FeatureStats(30, 900, NOW - 20 * DAY, "cl:x")  # a fleet's template, for weeks


def test_a_shared_template_alone_does_not_join() -> None:
    obs = _obs({"t:a": RARE})
    assert choose_cluster(obs, _feats("t:a"), [], None, CFG) is None


def test_rare_template_with_own_evidence_joins() -> None:
    obs = _obs({"t:a": RARE})
    assert choose_cluster(obs, _feats("t:a"), [], None, CFG, corroborated=True) == "cl:x"


def test_popular_template_never_joins_even_corroborated() -> None:
    obs = _obs({"t:a": POPULAR, "s:b": POPULAR})
    assert choose_cluster(obs, _feats("t:a", "s:b"), [], None, CFG, corroborated=True) is None


def test_two_linked_features_one_rare_join() -> None:
    obs = _obs({"t:a": POPULAR, "c:z": RARE})
    assert choose_cluster(obs, _feats("t:a", "c:z"), [], None, CFG) == "cl:x"
    # one rare segment alone is not enough, even with own evidence (segments are weaker)
    obs = _obs({"s:b": RARE})
    assert choose_cluster(obs, _feats("s:b"), [], None, CFG, corroborated=True) is None


def test_benign_evidence() -> None:
    ctx = RequestContext.__new__(RequestContext)
    ctx.now = NOW
    assert benign_evidence(ctx, _obs({})) == ""
    assert benign_evidence(ctx, _obs({}, first_seen=NOW - 3 * DAY, requests=40)) == \
        "long history"
    assert benign_evidence(ctx, _obs({}, requests=12, values={PREFIX_VALUE: 1})) == \
        "stable network"
    assert benign_evidence(ctx, _obs({}, requests=12, values={PREFIX_VALUE: 12})) == ""
