"""The figures of a simulated day that issue #12 judges detection by, from a run's Report.

Per cohort: accounts by the strongest action detection chose for them and requests by the
action served; per detector (reason name): the share of honest accounts and requests it fired
on; the two request-level figures; per campaign "flagged by the 3rd request"; for the
spread-thin hydra, its requests after the first 500 served degraded or worse; and one
:class:`Check` per acceptance line. Budget 429s are not detection: they are counted apart.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from antidistill.decision import Action

__all__ = ["ACCEPTANCE", "Check", "CohortRow", "DetectorRate", "RequestFigures", "acceptance",
           "by_third", "cohort_rows", "detector_rates", "request_figures", "spread_thin_after"]

# (cohort, target share flagged by the 3rd request) for the campaigns issue #12 names
ACCEPTANCE: tuple[tuple[str, float], ...] = (
    ("hydra", 0.99), ("evasive_hydra", 0.90), ("fake_history", 0.90), ("forged_agent", 0.90))
SPREAD_THIN_TARGET = 0.80
SPREAD_THIN_AFTER = 500
HONEST_FLAGGED_MAX = 0.001
WARMUP = 100  # a campaign's first requests, before which "by the 3rd request" is not judged
LEVELS = (Action.FLAG, Action.DEGRADE, Action.DELAY, Action.THROTTLE, Action.BLOCK)


@dataclass(frozen=True, slots=True)
class CohortRow:
    """One cohort's outcome. ``ever[a]``: accounts for which detection ever chose action
    ``a``; ``worst_at_least[a]``: accounts whose strongest detection action was ``a`` or
    stronger; ``served``: requests by the action served (budget 429s included)."""

    name: str
    campaign: bool
    accounts: int
    requests: int
    flagged: int  # accounts ever flagged (the demo's own count)
    ever: dict[Action, int]
    worst_at_least: dict[Action, int]
    budget_429: int  # requests refused by a budget alone
    served: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class DetectorRate:
    name: str
    accounts: int  # honest accounts it fired on at least once
    requests: int  # honest requests it fired on
    honest_accounts: int
    honest_requests: int


@dataclass(frozen=True, slots=True)
class RequestFigures:
    campaign_full: int  # campaign requests served ALLOW or FLAG (the whole answer)
    campaign: int
    honest_degraded: int  # honest requests detection served DEGRADE or stronger
    honest: int


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    value: float
    target: str
    passed: bool
    detail: str


def _groups(report: Any) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for acct in report.accounts:
        if report.outcomes[acct.key].n:
            groups.setdefault(acct.cohort, []).append(acct)
    return groups


def cohort_rows(report: Any) -> list[CohortRow]:
    """One row per cohort with measured requests, in the order the cohorts were built."""
    rows = []
    for name, accts in _groups(report).items():
        outs = [report.outcomes[a.key] for a in accts]
        served: Counter[str] = Counter()
        for o in outs:
            served.update(o.actions)
        rows.append(CohortRow(
            name, accts[0].campaign, len(outs), sum(o.n for o in outs),
            sum(1 for o in outs if o.flagged_at is not None),
            {a: sum(1 for o in outs if o.by_detection[a.value]) for a in LEVELS},
            {a: sum(1 for o in outs if o.worst.severity >= a.severity) for a in LEVELS},
            sum(o.budget_throttled for o in outs), served))
    return rows


def detector_rates(report: Any) -> list[DetectorRate]:
    """Per reason name, how often it fired on honest traffic (most accounts first)."""
    honest = [report.outcomes[a.key] for a in report.accounts
              if not a.campaign and report.outcomes[a.key].n]
    accounts: Counter[str] = Counter()
    requests: Counter[str] = Counter()
    for o in honest:
        accounts.update(o.fired.keys())
        requests.update(o.fired)
    n_req = sum(o.n for o in honest)
    return [DetectorRate(name, accounts[name], requests[name], len(honest), n_req)
            for name in sorted(accounts, key=lambda k: (-accounts[k], -requests[k], k))]


def request_figures(report: Any) -> RequestFigures:
    full = campaign = degraded = honest = 0
    for acct in report.accounts:
        o = report.outcomes[acct.key]
        if acct.campaign:
            campaign += sum(o.actions.values())
            full += o.actions[Action.ALLOW.value] + o.actions[Action.FLAG.value]
        else:
            honest += sum(o.by_detection.values())
            degraded += sum(o.by_detection[a.value] for a in LEVELS[1:])
    return RequestFigures(full, campaign, degraded, honest)


def by_third(report: Any, cohort: str) -> tuple[int, int]:
    """Accounts of ``cohort`` flagged by their 3rd request (or by their last, with fewer),
    among those whose first request came after the campaign's warm-up: its first 100
    requests, or a tenth of them on a smaller run."""
    total_requests = len(report.served.get(cohort, ()))
    warmup = min(WARMUP, total_requests // 10)
    ok = total = 0
    for acct in report.accounts:
        if acct.cohort != cohort or report.first_index.get(acct.key, 0) <= warmup:
            continue
        o = report.outcomes[acct.key]
        total += 1
        ok += o.flagged_at is not None and o.flagged_at <= 3
    return ok, total


def spread_thin_after(report: Any, cohort: str = "spread_thin",
                      after: int = SPREAD_THIN_AFTER) -> tuple[int, int]:
    """Of ``cohort``'s requests after its first ``after``, how many were served degraded or
    worse (budget 429s included: the answer was withheld either way)."""
    rest = report.served.get(cohort, [])[after:]
    return sum(1 for a in rest if a.severity >= Action.DEGRADE.severity), len(rest)


def _share(n: int, d: int) -> float:
    return n / d if d else 0.0


def acceptance(report: Any) -> list[Check]:
    """One check per acceptance line of issue #12 whose cohort ran."""
    rows = cohort_rows(report)
    honest = [r for r in rows if not r.campaign]
    n_honest = sum(r.accounts for r in honest)
    strong = sum(r.worst_at_least[Action.DEGRADE] for r in honest)
    flagged = sum(r.flagged for r in honest)
    figs = request_figures(report)
    checks = [
        Check("honest accounts degraded/delayed/throttled/blocked by detection", strong,
              "0", strong == 0, f"{strong}/{n_honest}"),
        Check("honest accounts ever flagged", _share(flagged, n_honest), "<= 0.1%",
              flagged <= HONEST_FLAGGED_MAX * n_honest, f"{flagged}/{n_honest}"),
        Check("honest requests served degraded or worse by detection", figs.honest_degraded,
              "0", figs.honest_degraded == 0, f"{figs.honest_degraded}/{figs.honest}"),
    ]
    present = {r.name for r in rows}
    for cohort, target in ACCEPTANCE:
        if cohort not in present:
            continue
        ok, total = by_third(report, cohort)
        checks.append(Check(f"{cohort} accounts flagged by 3rd request", _share(ok, total),
                            f">= {target:.0%}", total > 0 and ok >= target * total,
                            f"{ok}/{total}"))
    if "spread_thin" in present:
        bad, total = spread_thin_after(report)
        checks.append(Check(f"spread_thin requests after its first {SPREAD_THIN_AFTER} served "
                            "degraded or worse", _share(bad, total),
                            f">= {SPREAD_THIN_TARGET:.0%}",
                            total > 0 and bad >= SPREAD_THIN_TARGET * total, f"{bad}/{total}"))
    return checks
