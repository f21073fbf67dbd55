"""Detectors that read shared state, score combination and the action policy."""

from __future__ import annotations

import math

import pytest

from antidistill.decision import Action, Reason, Signal
from antidistill.policy.actions import ActionPolicy, corroboration, family_of
from antidistill.policy.routes import RoutePolicies
from antidistill.scoring.combine import DEFAULT_WEIGHTS, combine, saturate
from antidistill.signals.cadence import cadence_signals, update_fields
from antidistill.signals.fanout import FanoutConfig, breadth, fanout_signal, feature_score
from antidistill.signals.sybil import sybil_signal
from antidistill.storage.base import FeatureStats

CFG = FanoutConfig()


def fs(short: int, long: int) -> FeatureStats:
    return FeatureStats(short=short, long=long, first_seen=0.0, cluster=None)


def test_one_account_batch_job_has_no_fanout() -> None:
    # A million requests from one account is still one identity.
    assert feature_score(fs(1, 1), CFG) == 0.0


def test_small_team_below_breadth_floor() -> None:
    assert feature_score(fs(CFG.min_identities - 1, CFG.min_identities - 1), CFG) == 0.0


def test_sudden_broad_template_scores_high() -> None:
    assert feature_score(fs(60, 61), CFG) == pytest.approx(1.0)
    assert 0.4 < feature_score(fs(15, 15), CFG) < 1.0


def test_steady_popular_template_scores_nothing() -> None:
    # An agent framework's turn format: 50 identities this hour, 400 over the week.
    assert feature_score(fs(50, 400), CFG) == 0.0


def test_breadth_is_monotonic() -> None:
    values = [breadth(n, CFG) for n in range(1, 80)]
    assert values == sorted(values)
    assert values[-1] == 1.0


def test_fanout_prefers_template_and_reports_key() -> None:
    feats = {"t:pt1:aa": fs(30, 30), "s:pg2:bb": fs(30, 30)}
    sig, key = fanout_signal(feats, ["t:pt1:aa"], ["s:pg2:bb"], CFG)
    assert sig is not None and key == "t:pt1:aa"
    assert "30 identities" in sig.detail
    sig2, key2 = fanout_signal({"s:pg2:bb": fs(30, 30)}, [], ["s:pg2:bb"], CFG)
    assert sig2 is not None and key2 == "s:pg2:bb"
    assert sig2.score < sig.score


def test_sybil_common_sdk_is_not_evidence_but_new_stack_is() -> None:
    common = {"c:cf1:sdk": fs(40, 900)}
    sig, strong = sybil_signal(common, ["c:cf1:sdk"], CFG, anonymous_network=False)
    assert sig is None and strong == []
    fresh = {"c:cf1:new": fs(200, 200), "n:4:45.1.2.0/24": fs(30, 31)}
    sig, strong = sybil_signal(fresh, ["c:cf1:new", "n:4:45.1.2.0/24"], CFG, False)
    assert sig is not None and sig.score > 0.9
    assert "c:cf1:new" in strong


def test_network_evidence_weaker_unless_anonymous() -> None:
    feats = {"n:4:10.0.0.0/24": fs(40, 40)}
    plain, _ = sybil_signal(feats, ["n:4:10.0.0.0/24"], CFG, False)
    anon, _ = sybil_signal(feats, ["n:4:10.0.0.0/24"], CFG, True)
    assert plain is not None and anon is not None
    assert plain.score < anon.score


def test_combine_noisy_or_and_contributions_sum_to_risk() -> None:
    sigs = [Signal("fanout", 0.8, "x"), Signal("intent:cot_elicitation", 0.9, "y")]
    risk, reasons = combine(sigs, DEFAULT_WEIGHTS)
    w_intent = DEFAULT_WEIGHTS["intent:cot_elicitation"]
    expected = 1 - (1 - DEFAULT_WEIGHTS["fanout"] * 0.8) * (1 - w_intent * 0.9)
    assert risk == pytest.approx(expected)
    assert sum(r.contribution for r in reasons) == pytest.approx(risk)
    assert {r.name for r in reasons} == {"fanout", "intent:cot_elicitation"}


def test_combine_custom_signal_weight_override() -> None:
    risk, _ = combine([Signal("custom", 1.0, weight=1.0)], DEFAULT_WEIGHTS)
    assert risk > 0.99


def test_saturate() -> None:
    assert saturate(0, 3) == 0
    assert saturate(3, 3) == pytest.approx(1 - math.exp(-1))


def test_single_family_is_capped() -> None:
    policy = ActionPolicy()
    only_intent = [Reason("intent:jailbreak", 1.0, 0.99)]
    assert policy.decide(0.99, only_intent) == Action.FLAG
    only_harvest = [Reason("harvesting", 1.0, 0.99)]
    assert policy.decide(0.99, only_harvest) == Action.FLAG
    two = [Reason("fanout", 1.0, 0.6), Reason("intent:cot_elicitation", 1.0, 0.39)]
    assert policy.decide(0.99, two) == Action.BLOCK
    assert policy.decide(0.1, two) == Action.ALLOW


def test_one_family_never_enforces() -> None:
    """A shared template and the cluster it formed are one family: at most FLAG."""
    policy = ActionPolicy()
    content = [Reason("fanout", 1.0, 0.5), Reason("cluster", 1.0, 0.4),
               Reason("identity", 1.0, 0.09)]
    assert policy.decide(0.999, content) == Action.FLAG
    behaviour = [Reason("churn", 1.0, 0.5), Reason("continuity", 1.0, 0.3),
                 Reason("cadence", 1.0, 0.2)]
    assert policy.decide(0.999, behaviour) == Action.FLAG
    derived_only = [Reason("identity", 1.0, 0.99)]
    assert policy.decide(0.999, derived_only) == Action.FLAG


def test_two_families_degrade_but_throttle_needs_strong_evidence() -> None:
    policy = ActionPolicy()
    two_weak = [Reason("fanout", 0.5, 0.5), Reason("churn", 0.4, 0.49)]
    assert policy.decide(0.99, two_weak) == Action.DELAY
    assert policy.decide(0.65, two_weak) == Action.DEGRADE
    # shared content and a shared client stack are also a fleet's launch day: <= DEGRADE
    launch = [Reason("fanout", 1.0, 0.5), Reason("sybil", 1.0, 0.49)]
    assert policy.decide(0.99, launch) == Action.DEGRADE
    # a family below EVIDENCE is no corroboration
    faint = [Reason("fanout", 1.0, 0.9), Reason("sybil", 0.29, 0.09)]
    assert policy.decide(0.99, faint) == Action.FLAG
    three = [Reason("fanout", 0.5, 0.4), Reason("sybil", 0.4, 0.3),
             Reason("churn", 0.4, 0.29)]
    assert policy.decide(0.99, three) == Action.BLOCK
    listed = [Reason("shared_indicator", 0.8, 0.5), Reason("intent:jailbreak", 0.4, 0.49)]
    assert policy.decide(0.99, listed) == Action.BLOCK
    assert policy.decide(0.99, listed[:1]) == Action.FLAG


def test_corroboration_families() -> None:
    c = corroboration([Reason("fanout", 0.9, 0.3), Reason("cluster", 0.9, 0.3),
                       Reason("intent:cot_elicitation", 0.8, 0.2),
                       Reason("identity", 1.0, 0.2)])
    assert c.families == {"content", "intent"} and c.cap == Action.BLOCK
    assert family_of("intent:jailbreak") == "intent"
    assert family_of("plan_mismatch") == "operator"
    # an operator's scorer hook is an explicit decision: uncapped
    assert corroboration([Reason("plan_mismatch", 1.0, 1.0)]).cap == Action.BLOCK


def test_a_fleet_launch_with_the_life_pattern_is_degraded_at_most() -> None:
    # A brand-new honest fleet: one new template (spread), young accounts born together (life).
    launch = [Reason("spread", 0.9, 0.4), Reason("life", 0.9, 0.3)]
    assert corroboration(launch).cap == Action.DEGRADE
    assert corroboration([*launch, Reason("sybil", 0.9, 0.3)]).cap == Action.DEGRADE
    # Any evidence a launch does not show lifts the cap.
    churn = corroboration([*launch, Reason("churn", 0.9, 0.3)])
    assert churn.cap == Action.BLOCK
    assert corroboration([*launch, Reason("intent:jailbreak", 0.8, 0.3)]).cap == Action.BLOCK


def test_an_identity_holding_real_sessions_is_only_flagged_on_shared_evidence() -> None:
    # A fleet's member on its launch day continues its sessions with this server's answers:
    # a new template and a new client stack shared by its colleagues only flag it.
    launch = [Reason("fanout", 1.0, 0.5), Reason("sybil", 1.0, 0.49),
              Reason("identity", 1.0, 0.3)]
    assert corroboration(launch, shared_flags=True).cap == Action.FLAG
    assert ActionPolicy().decide(0.99, launch, shared_flags=True) == Action.FLAG
    assert ActionPolicy().decide(0.99, launch) == Action.DEGRADE
    # Evidence about the account or what it asks still counts as before.
    for other in (Reason("churn", 0.9, 0.3), Reason("intent:jailbreak", 0.8, 0.3),
                  Reason("harvesting", 0.9, 0.3)):
        assert corroboration([*launch, other], shared_flags=True).cap == Action.BLOCK
    life = corroboration([*launch, Reason("life", 0.9, 0.3)], shared_flags=True)
    assert life.cap == Action.DEGRADE
    assert corroboration([Reason("plan_mismatch", 1.0, 1.0)], shared_flags=True).cap == \
        Action.BLOCK


def test_disabled_actions_step_down() -> None:
    policy = ActionPolicy(enabled=["allow", "flag", "degrade"])
    two = [Reason("fanout", 1.0, 0.6), Reason("sybil", 1.0, 0.39)]
    assert policy.decide(0.99, two) == Action.DEGRADE


def test_thresholds_configurable() -> None:
    policy = ActionPolicy({"flag": 0.1})
    assert policy.decide(0.15, [Reason("fanout", 0.5, 0.15)]) == Action.FLAG


def test_cadence_regular_machine_timing() -> None:
    fields: dict[str, float] = {}
    t = 0.0
    for n in range(40):
        fields = update_fields(fields, t - 30.0 if n else 0.0, t, n)
        t += 30.0
    sigs = cadence_signals(fields, 40, age=t)
    assert any(s.name == "cadence" and "CV" in s.detail for s in sigs)
    # The same regularity from an identity with days of its own history is normal for it.
    old = cadence_signals(fields, 40, age=30 * 86400.0)
    assert not any("CV" in s.detail for s in old)


def test_shift_from_own_baseline_only_with_history() -> None:
    fields: dict[str, float] = {}
    t = 0.0
    n = 0
    # three days at ~2 requests/hour
    while t < 3 * 86400:
        fields = update_fields(fields, t - 1800.0, t, n)
        n += 1
        t += 1800.0
    quiet = cadence_signals(fields, n, age=t)
    assert not any(s.name == "shift" for s in quiet)
    for _ in range(300):  # then 300 requests in ten minutes
        fields = update_fields(fields, t - 2.0, t, n)
        n += 1
        t += 2.0
    loud = cadence_signals(fields, n, age=t)
    assert any(s.name == "shift" for s in loud)


def test_route_policies_specific_wins_and_default_applies() -> None:
    routes = RoutePolicies({"GET /health": "exempt", "* /v1/**": "inspect",
                            "GET /v1/models": "budget"}, default="budget")
    assert routes.lookup("GET", "/health") == "exempt"
    assert routes.lookup("POST", "/health") == "budget"  # only GET is exempt
    assert routes.lookup("GET", "/v1/models") == "budget"
    assert routes.lookup("POST", "/v1/chat/completions") == "inspect"
    assert routes.lookup("POST", "/included/router/path") == "budget"


def test_low_and_slow_campaign_seen_over_the_long_window() -> None:
    # 25 identities over six hours, never more than 5 in one hour: the fast path is blind.
    st = FeatureStats(short=5, long=25, first_seen=1000.0, cluster=None)
    assert feature_score(st, CFG) == 0.0
    slow = feature_score(st, CFG, epoch=None, now=1000.0 + 6 * 3600)
    assert slow > 0.4
    # The same breadth on a feature that has existed for days is steady use, not a campaign.
    old = feature_score(st, CFG, epoch=None, now=1000.0 + 5 * 86400)
    assert old == 0.0


def test_narrow_feature_shortcut_matches_the_formula() -> None:
    """``feature_score`` returns 0 early for features too narrow for the fast and the slow
    score; the full formula gives 0 there too, for every age and epoch."""
    cfg = FanoutConfig()
    for short in range(0, cfg.min_identities + 2):
        for long in range(short, cfg.slow_min_identities + 3):
            for first_seen in (0.0, 5000.0, 50000.0):
                for epoch, now in ((None, None), (0.0, 60000.0), (-1e6, 6000.0)):
                    st = FeatureStats(short=short, long=long, first_seen=first_seen,
                                      cluster=None)
                    got = feature_score(st, cfg, epoch, now)
                    if short < cfg.min_identities and long < cfg.slow_min_identities:
                        assert got == 0.0
                        # the formula itself, spelled out
                        fast = breadth(short, cfg)
                        slow = 0.0 if now is None or now - first_seen > cfg.young_feature \
                            else max(0.0, math.log(max(long, 1)
                                                   / (cfg.slow_min_identities - 1)))
                        assert fast == 0.0 and slow == 0.0


async def test_the_warm_up_epoch_is_kept_per_fingerprint_version() -> None:
    """An upgrade that changes the fingerprints starts the fan-out warm-up again: the epoch
    stored by an older version is not read, the current version's is."""
    from antidistill import Guard, Settings
    from antidistill.storage import MemoryStore, StateConfig

    store = MemoryStore(StateConfig())
    await store.set_setting("epoch", "1000.0")  # written before epochs were versioned
    await store.set_setting("epoch:p1.c1", "2000.0")  # the previous prompt fingerprints
    guard = Guard(Settings(secret="s"), store=store)
    EPOCH_SETTING = guard.runtime.epoch_setting
    assert EPOCH_SETTING == "epoch:p2.c1"
    await guard._load_epoch(5000.0)
    assert guard.epoch == 5000.0
    assert await store.get_setting(EPOCH_SETTING) == "5000.0"
    again = Guard(Settings(secret="s"), store=store)
    await again._load_epoch(9000.0)
    assert again.epoch == 5000.0


def test_build_features_counts_the_sketch_anchor_once() -> None:
    from antidistill.context import RequestContext
    from antidistill.fingerprints.prompt import PromptFingerprint
    from antidistill.identity import Identity
    from antidistill.signals.pipeline import build_features

    ident = Identity("key:x", "key", "key:x", None, None, None, None)
    ctx = RequestContext("POST", "/v1/chat/completions", [], ident, 0.0)
    segs = tuple(f"pg2:{i:016x}" for i in range(1, 9))
    ctx.prompt = PromptFingerprint("px1:a", "pt1:b", None, segs, 100, 20, True,
                                   anchor="pg2:" + "f" * 16)
    feats = build_features(ctx, frozenset({"fanout"}))
    assert feats.segments == [*("s:" + s for s in segs[:4]), "s:pg2:" + "f" * 16]
    # an anchor among the first four is not counted twice
    ctx.prompt = PromptFingerprint("px1:a", "pt1:b", None, segs, 100, 20, True, anchor=segs[2])
    assert build_features(ctx, frozenset({"fanout"})).segments == ["s:" + s for s in segs[:4]]


def test_cluster_risk_needs_corroborated_evidence() -> None:
    from antidistill.policy.actions import corroborated

    launch = [Signal("fanout", 0.9), Signal("sybil", 0.8)]  # a fleet's launch day
    assert not corroborated(launch)
    assert not corroborated([Signal("fanout", 1.0), Signal("identity", 1.0)])
    assert corroborated([Signal("fanout", 0.9), Signal("churn", 0.5)])
    assert corroborated([Signal("intent:jailbreak", 0.6), Signal("harvesting", 0.4)])
    assert not corroborated([Signal("fanout", 0.9), Signal("churn", 0.2)])
