"""The demo's guard and its reports, shared by ``antidistill demo``, ``replay`` and the
benchmarks."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from antidistill.decision import Decision

if TYPE_CHECKING:
    from antidistill.guard import Guard


def demo_guard(clock: Any, mode: str, **overrides: Any) -> tuple[Any, dict[str, Decision]]:
    from antidistill.guard import Guard
    from antidistill.settings import Settings

    settings = Settings(**{
        "secret": "demo-secret-not-for-production",
        "mode": mode,
        "events": False,
        "max_delay": 0.0,  # the virtual clock does not wait; delay is reported, not slept
        "request_capacity": 60,
        "request_refill_rate": 1,
        "token_capacity": 600_000,
        "token_refill_rate": 4_000,
        **overrides,  # e.g. the harder day's network databases (benchmarks/detection.py)
    })
    guard = Guard(settings, clock=clock, load_env_hooks=False)
    return guard, capture_last(guard)


def capture_last(guard: Guard) -> dict[str, Decision]:
    """A dict that holds the guard's decision in flight under ``"d"`` (an on_decision hook)."""
    last: dict[str, Decision] = {}

    @guard.on_decision
    def capture(ctx: Any, decision: Decision) -> None:
        last["d"] = decision

    return last


def explain(console: Any, report: Any, cohort: str, limit: int = 5) -> None:
    """Print the first flagged decision of a few accounts of one cohort, with its reasons."""
    shown = 0
    for acct in report.accounts:
        o = report.outcomes[acct.key]
        if acct.cohort != cohort or o.first_flag is None:
            continue
        d = o.first_flag
        console.print(f"[bold]{cohort}[/] {d.identity} request #{o.flagged_at}: "
                      f"{d.action.value} score={d.score:.2f} cluster={d.cluster}")
        for r in d.top_reasons:
            console.print(f"    {r.name:<34} score={r.score:.2f} +{r.contribution:.2f}  {r.detail}")
        shown += 1
        if shown >= limit:
            break
    if not shown:
        console.print(f"{cohort}: no flagged accounts")


def _cohorts(report: Any) -> tuple[dict[str, list[Any]], dict[str, bool]]:
    cohorts: dict[str, list[Any]] = {}
    campaign: dict[str, bool] = {}
    for acct in report.accounts:
        o = report.outcomes[acct.key]
        if o.n == 0:
            continue
        cohorts.setdefault(acct.cohort, []).append(o)
        campaign[acct.cohort] = acct.campaign
    return cohorts, campaign


def _top_reasons(outs: list[Any]) -> str:
    reasons: Counter[str] = Counter()
    for o in outs:
        reasons.update(o.reasons)
    return ", ".join(r for r, _ in reasons.most_common(3))


def _campaign_table(report: Any, cohorts: dict[str, list[Any]],
                    campaign: dict[str, bool]) -> Any:
    from rich.table import Table

    t = Table(title="Campaigns (measured day)")
    for col in ("campaign", "accounts", "requests", "caught", "time to detect",
                "throttled/blocked", "top reasons", "per-key baseline"):
        t.add_column(col)
    for name, outs in cohorts.items():
        if not campaign[name]:
            continue
        caught = sum(1 for o in outs if o.flagged_at is not None)
        first = report.campaign_first.get(name)
        flag = report.campaign_flag.get(name)
        ttd = f"{flag - first:,.0f} s" if first is not None and flag is not None else "never"
        denied = sum(o.throttled_by_detection + o.blocked for o in outs)
        base = sum(1 for o in outs if o.baseline_limited)
        t.add_row(name, f"{len(outs):,}", f"{sum(o.n for o in outs):,}",
                  f"{caught:,} ({100 * caught / len(outs):.1f}%)", ttd, f"{denied:,} req",
                  _top_reasons(outs), f"{base:,} ({100 * base / len(outs):.1f}%)")
    return t


def _honest_table(cohorts: dict[str, list[Any]],
                  campaign: dict[str, bool]) -> tuple[Any, int, int]:
    from rich.table import Table

    b = Table(title="Honest cohorts (measured day)")
    for col in ("cohort", "accounts", "requests", "ever flagged", "throttled/blocked by detection",
                "budget 429s", "top reasons (flagged)", "per-key baseline"):
        b.add_column(col)
    all_benign = flagged_benign = 0
    for name, outs in cohorts.items():
        if campaign[name]:
            continue
        flagged = sum(1 for o in outs if o.flagged_at is not None)
        all_benign += len(outs)
        flagged_benign += flagged
        denied = sum(o.throttled_by_detection + o.blocked for o in outs)
        budget = sum(o.budget_throttled for o in outs)
        base = sum(1 for o in outs if o.baseline_limited)
        b.add_row(name, f"{len(outs):,}", f"{sum(o.n for o in outs):,}",
                  f"{flagged} ({100 * flagged / len(outs):.2f}%)", str(denied), str(budget),
                  _top_reasons(outs) or "-", f"{base} ({100 * base / len(outs):.1f}%)")
    return b, all_benign, flagged_benign


def print_report(console: Any, report: Any) -> None:
    """The demo's tables: campaigns caught, and honest cohorts' false positives."""
    cohorts, campaign = _cohorts(report)
    console.print(_campaign_table(report, cohorts, campaign))
    ok, tot = report.hydra_by_third
    if tot:
        console.print(f"Hydra accounts flagged by their 3rd request (after the campaign's first "
                      f"100 requests): [bold]{ok:,}/{tot:,} = {100 * ok / tot:.1f}%[/]")
    table, all_benign, flagged_benign = _honest_table(cohorts, campaign)
    console.print(table)
    if all_benign:
        console.print(f"Benign accounts ever flagged: [bold]{flagged_benign}/{all_benign} = "
                      f"{100 * flagged_benign / all_benign:.3f}%[/]; per-key baseline: "
                      f"{report.baseline_spec}")
