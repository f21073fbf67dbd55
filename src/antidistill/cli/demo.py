"""``antidistill demo``: a simulated day of honest traffic and campaigns through the real
middleware."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any


def add_subcommands(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="simulate a day of honest traffic and campaigns")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--scale", type=float, default=1.0,
                      help="multiply honest cohort sizes and volumes")
    demo.add_argument("--hydra", type=int, default=1000, help="hydra accounts (default 1000)")
    demo.add_argument("--mode", choices=("enforce", "monitor"), default="enforce")
    demo.add_argument("--record", metavar="LOG.jsonl", help="write the request log for replay")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.add_argument("--explain", action="append", metavar="COHORT",
                      help="print the reasons of the first flagged requests of a cohort")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(run_demo(args))


async def run_demo(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from antidistill.demo.app import create_app
    from antidistill.demo.report import demo_guard, explain, print_report
    from antidistill.demo.simulate import Clock, Population, run_day
    from antidistill.middleware import AntiDistillMiddleware
    from antidistill.reporting.console import report_console

    console = report_console()
    day_start = 1_780_000_000.0 - (1_780_000_000.0 % 86400)
    clock = Clock(day_start - 86400)
    guard, last = demo_guard(clock, args.mode)
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
    from antidistill.demo import withhold_view

    for cohort in args.explain or ():
        explain(console, report, cohort)
        withhold_view.render(console, report, cohort)
    return 0
