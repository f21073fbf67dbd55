"""Identity risk accumulates only from corroborated or strong evidence (issue #12)."""

from __future__ import annotations

from typing import Any

import pytest

from antidistill.decision import Signal
from antidistill.policy.actions import accumulates
from apps import FakeClock, asgi_client, clear_env, make_guard, recording_middleware


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


def test_weak_single_family_does_not_accumulate() -> None:
    assert not accumulates([Signal("intent:system_prompt_extraction", 0.5)])
    assert not accumulates([Signal("fanout", 0.6)])
    assert not accumulates([Signal("churn", 0.2), Signal("identity", 0.9)])
    assert not accumulates([])


def test_strong_or_corroborated_evidence_accumulates() -> None:
    assert accumulates([Signal("intent:system_prompt_extraction", 0.9)])
    assert accumulates([Signal("harvesting", 0.8)])
    assert accumulates([Signal("fanout", 0.5), Signal("churn", 0.4)])
    assert accumulates([Signal("fanout", 0.5), Signal("churn", 0.4)], benign=True)
    assert accumulates([Signal("my_fraud_model", 0.5)])  # an operator's hook: not capped


def test_fleet_launch_pair_spares_identities_with_benign_evidence() -> None:
    launch = [Signal("fanout", 0.8), Signal("sybil", 0.9)]
    assert accumulates(launch)  # a hydra's accounts have nothing of their own
    assert not accumulates(launch, benign=True)  # a fleet's sessions carry its answers
    assert not accumulates([Signal("fanout", 0.5), Signal("sybil", 0.5)])


async def test_a_flag_level_hint_does_not_ratchet_into_the_next_request() -> None:
    clock = FakeClock()
    guard = make_guard(clock, detectors=[])
    hint = {"score": 0.6}

    @guard.scorer
    def content_hint(ctx: Any) -> Signal:
        # built-in family (content), full weight: risk 0.6, one family, below STRONG
        return Signal("fanout", hint["score"], "test", weight=1.0)

    mw, seen = recording_middleware(guard)
    body = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}
    async with asgi_client(mw) as client:
        for _ in range(4):
            await client.post("/v1/chat/completions", json=body,
                              headers={"authorization": "Bearer sk-weak-hint"})
            clock.advance(5)
        assert max(d.identity_risk for d in seen) == 0.0
        hint["score"] = 0.9  # strong: accumulates
        for _ in range(2):
            await client.post("/v1/chat/completions", json=body,
                              headers={"authorization": "Bearer sk-weak-hint"})
            clock.advance(5)
    assert seen[-1].identity_risk > 0.0


def test_a_broad_clusters_risk_is_weighed_by_its_breadth() -> None:
    from antidistill.scoring.assess import Assessment, score_request
    from antidistill.scoring.combine import DEFAULT_WEIGHTS
    from antidistill.storage.base import ClusterStats, IdentityStats, ObserveResult

    def cluster_signal(members: int) -> float:
        ident = IdentityStats(0.0, 0.0, 3, 0.0, "cl:x", {}, {})
        obs = ObserveResult(ident, {}, {"cl:x": ClusterStats(2.0, members, 0.0, 0.0)},
                            frozenset())
        found = Assessment(cluster="cl:x")
        score_request(found, [], obs, DEFAULT_WEIGHTS)
        return found.cluster_risk

    # a campaign's cluster of 30: a risk sum of 2 is a real share of its members
    assert cluster_signal(30) > 0.35
    # a thousand-member template cluster with the same sum: a handful of members
    assert cluster_signal(1000) < 0.05
    assert cluster_signal(30) == cluster_signal(40) > cluster_signal(80)
