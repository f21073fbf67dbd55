"""``antidistill`` command line: ``demo`` (a simulated day), ``replay`` and ``intel``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

from antidistill.decision import Decision


def _demo_guard(clock: Any, mode: str, **overrides: Any) -> tuple[Any, dict[str, Decision]]:
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
    last: dict[str, Decision] = {}

    @guard.on_decision
    def capture(ctx: Any, decision: Decision) -> None:
        last["d"] = decision

    return guard, last


async def run_demo(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from antidistill.demo.app import create_app
    from antidistill.demo.simulate import Clock, Population, run_day
    from antidistill.middleware import AntiDistillMiddleware

    console = Console()
    day_start = 1_780_000_000.0 - (1_780_000_000.0 % 86400)
    clock = Clock(day_start - 86400)
    guard, last = _demo_guard(clock, args.mode)
    app = AntiDistillMiddleware(create_app(), guard=guard)
    pop = Population(seed=args.seed, scale=args.scale, hydra_accounts=args.hydra)
    accounts = pop.build(day_start)
    total = sum(len(a.requests) for a in accounts)
    console.print(f"[bold]antidistill demo[/]: {len(accounts):,} accounts, {total:,} requests "
                  f"(yesterday as history, then the measured day), mode={args.mode}")
    record = open(args.record, "w", encoding="utf-8") if args.record else None
    try:
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                      disable=args.quiet) as progress:
            task = progress.add_task("simulating", total=total)
            report = await run_day(app, clock, accounts, day_start, last,
                                   progress=lambda n: progress.advance(task, n), record=record)
    finally:
        if record is not None:
            record.close()
    print_report(console, report)
    for cohort in args.explain or ():
        explain(console, report, cohort)
    return 0


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


def print_report(console: Any, report: Any) -> None:
    from rich.table import Table

    from antidistill.demo.simulate import Outcome

    cohorts: dict[str, list[Outcome]] = {}
    campaign: dict[str, bool] = {}
    for acct in report.accounts:
        o = report.outcomes[acct.key]
        if o.n == 0:
            continue
        cohorts.setdefault(acct.cohort, []).append(o)
        campaign[acct.cohort] = acct.campaign
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
        reasons: Counter[str] = Counter()
        for o in outs:
            reasons.update(o.reasons)
        denied = sum(o.throttled_by_detection + o.blocked for o in outs)
        base = sum(1 for o in outs if o.baseline_limited)
        t.add_row(name, f"{len(outs):,}", f"{sum(o.n for o in outs):,}",
                  f"{caught:,} ({100 * caught / len(outs):.1f}%)", ttd, f"{denied:,} req",
                  ", ".join(r for r, _ in reasons.most_common(3)),
                  f"{base:,} ({100 * base / len(outs):.1f}%)")
    console.print(t)
    ok, tot = report.hydra_by_third
    if tot:
        console.print(f"Hydra accounts flagged by their 3rd request (after the campaign's first "
                      f"100 requests): [bold]{ok:,}/{tot:,} = {100 * ok / tot:.1f}%[/]")
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
        breasons: Counter[str] = Counter()
        for o in outs:
            breasons.update(o.reasons)
        b.add_row(name, f"{len(outs):,}", f"{sum(o.n for o in outs):,}",
                  f"{flagged} ({100 * flagged / len(outs):.2f}%)", str(denied), str(budget),
                  ", ".join(r for r, _ in breasons.most_common(3)) or "-",
                  f"{base} ({100 * base / len(outs):.1f}%)")
    console.print(b)
    if all_benign:
        console.print(f"Benign accounts ever flagged: [bold]{flagged_benign}/{all_benign} = "
                      f"{100 * flagged_benign / all_benign:.3f}%[/]; per-key baseline: "
                      f"{report.baseline_spec}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="antidistill", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="simulate a day of honest traffic and campaigns")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--scale", type=float, default=1.0,
                      help="multiply honest cohort sizes and volumes")
    demo.add_argument("--hydra", type=int, default=1000, help="hydra accounts (default 1000)")
    demo.add_argument("--mode", choices=("enforce", "monitor"), default="enforce")
    demo.add_argument("--record", metavar="LOG.jsonl", help="write the request log for replay")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.add_argument("--explain", action="append", metavar="COHORT",
                      help="print the reasons of the first flagged requests of a cohort")
    from antidistill import intel, replay

    intel.add_subcommands(sub)
    replay.add_subcommands(sub)
    args = parser.parse_args(argv)
    if args.command == "demo":
        return asyncio.run(run_demo(args))
    if args.command == "intel":
        return intel.run(args)
    if args.command == "replay":
        return replay.run(args)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
