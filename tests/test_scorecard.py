"""The harder day's scorecard: what counts as detection, warm-up, the request-level figures."""

from __future__ import annotations

from antidistill.decision import Action, Decision, Reason
from antidistill.demo.accounts import Account
from antidistill.demo.run import _Tally
from antidistill.demo.scorecard import (
    acceptance,
    by_third,
    cohort_rows,
    detector_rates,
    request_figures,
    spread_thin_after,
)


def _dec(action: Action, score: float = 0.0, *reasons: tuple[str, float]) -> Decision:
    return Decision(action, score, tuple(Reason(n, s, s) for n, s in reasons))


BUDGET = ("budget", 1.0)


def _report(plan: dict[str, list[list[Decision]]], campaigns: set[str]) -> object:
    accounts = [Account(f"k-{cohort}-{i}", cohort, cohort in campaigns, "", [])
                for cohort, accts in plan.items() for i in range(len(accts))]
    tally = _Tally(accounts)
    t = 0.0
    for acct, decisions in zip(accounts, [d for accts in plan.values() for d in accts],
                               strict=True):
        for dec in decisions:
            t += 1.0
            tally.add(acct, t, dec)
    return tally.report(accounts, int(t))


def test_budget_429s_are_not_detection_and_honest_figures_count_detection_only() -> None:
    report = _report({
        "loop": [[_dec(Action.ALLOW), _dec(Action.THROTTLE, 0.1, BUDGET)]],
        "fleet": [[_dec(Action.FLAG, 0.45, ("fanout", 0.5))], [_dec(Action.ALLOW)],
                  [_dec(Action.DEGRADE, 0.65, ("cluster", 0.7), ("fanout", 0.6))]],
    }, set())
    rows = {r.name: r for r in cohort_rows(report)}
    assert rows["loop"].budget_429 == 1 and rows["loop"].flagged == 0
    assert rows["loop"].worst_at_least[Action.DEGRADE] == 0
    assert rows["fleet"].flagged == 2 and rows["fleet"].worst_at_least[Action.DEGRADE] == 1
    assert rows["fleet"].ever[Action.DEGRADE] == 1 and rows["fleet"].ever[Action.FLAG] == 1
    figs = request_figures(report)
    assert (figs.honest_degraded, figs.honest) == (1, 5)
    rates = {r.name: (r.accounts, r.requests) for r in detector_rates(report)}
    assert rates == {"fanout": (2, 2), "cluster": (1, 1)}  # budget is not a detector
    checks = {c.name: c.passed for c in acceptance(report)}
    assert checks == {
        "honest accounts degraded/delayed/throttled/blocked by detection": False,
        "honest accounts ever flagged": False,
        "honest requests served degraded or worse by detection": False,
    }


def test_by_third_skips_the_warm_up_and_counts_short_accounts_by_their_last() -> None:
    flag = _dec(Action.FLAG, 0.5, ("intent:x", 0.6))
    ok = _dec(Action.ALLOW)
    plan = {"evasive_hydra": [[ok] * 5] * 30 + [[ok, ok, flag]] * 60 + [[ok, ok, ok, flag]] * 10
            + [[flag]] * 5}
    report = _report(plan, {"evasive_hydra"})
    # 375 requests: the warm-up is the first 37, so the first 8 accounts (5 requests each,
    # first requests at 1, 6, ..., 36) are not judged
    assert by_third(report, "evasive_hydra") == (65, 97)
    figs = request_figures(report)
    assert figs.campaign_full == figs.campaign == 375
    checks = [c for c in acceptance(report) if c.name.startswith("evasive")]
    assert len(checks) == 1 and not checks[0].passed and checks[0].detail == "65/97"


def test_spread_thin_counts_requests_after_its_first_500_served_degraded_or_worse() -> None:
    served = [_dec(Action.ALLOW)] * 500 + [_dec(Action.DEGRADE, 0.7, ("fanout", 0.8))] * 90 + \
        [_dec(Action.FLAG, 0.5, ("fanout", 0.5))] * 10
    report = _report({"spread_thin": [[d] for d in served]}, {"spread_thin"})
    assert spread_thin_after(report) == (90, 100)
    check = next(c for c in acceptance(report) if c.name.startswith("spread_thin"))
    assert check.passed and check.detail == "90/100"
    figs = request_figures(report)
    assert (figs.campaign_full, figs.campaign) == (510, 600)
