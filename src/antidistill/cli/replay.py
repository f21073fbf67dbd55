"""``antidistill replay``: run a recorded request log through the real middleware offline
(see :mod:`antidistill.replay` for the log format)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from antidistill.decision import Action
from antidistill.replay import ReplayResult, VirtualClock, build_guard, iter_lines, replay


def print_result(console: Any, result: ReplayResult) -> None:
    """Print the replay's tables (the demo's tables for labelled logs)."""
    from rich.table import Table

    r = result
    span = (r.last_ts - r.first_ts) if r.first_ts is not None and r.last_ts is not None else 0.0
    rate = r.requests / r.seconds if r.seconds > 0 else 0.0
    console.print(f"[bold]replayed[/] {r.requests:,} requests spanning {span / 3600:,.1f} h of "
                  f"log time in {r.seconds:,.1f} s ({rate:,.0f} req/s); skipped {r.skipped:,} "
                  f"malformed lines; {r.out_of_order:,} out of order")
    if r.report is not None:
        from antidistill.demo.report import print_report

        print_report(console, r.report)
        if r.labelled_rows < r.requests:
            console.print(f"({r.requests - r.labelled_rows:,} rows had no label: cohort "
                          f"'unlabelled')")
    t = Table(title="Actions")
    for col in ("action", "requests", "share"):
        t.add_column(col)
    for a in Action:
        n = r.actions.get(a.value, 0)
        t.add_row(a.value, f"{n:,}", f"{100 * n / max(1, r.requests):.2f}%")
    if r.no_decision:
        t.add_row("(no decision: exempt route or failure)", f"{r.no_decision:,}", "")
    console.print(t)
    console.print("HTTP statuses: " + ", ".join(f"{s}: {n:,}" for s, n in sorted(
        r.statuses.items())))
    if r.reasons:
        console.print("Top reasons (flagged or stronger): " + ", ".join(
            f"{name} x{n:,}" for name, n in r.reasons.most_common(8)))
    for title, entries in (("Riskiest identities", r.top_identities),
                           ("Riskiest clusters", r.top_clusters)):
        if not entries:
            continue
        tt = Table(title=title)
        for col in ("id (pseudonymised)", "risk (decayed)", "last seen (log time)"):
            tt.add_column(col)
        for e in entries:
            tt.add_row(e.id, f"{e.risk:.2f}", f"{e.last_seen:,.0f}")
        console.print(tt)


def add_subcommands(subparsers: Any) -> None:
    """Register ``replay`` on an argparse subparsers object."""
    p = subparsers.add_parser("replay", help="replay a recorded request log offline")
    p.add_argument("log", metavar="LOG.jsonl", help="request log, one JSON object per line")
    p.add_argument("--settings-from-demo", action="store_true",
                   help="use the demo's settings (replaying `antidistill demo --record`)")
    p.add_argument("--mode", choices=("enforce", "monitor"), default=None)
    p.add_argument("--events-out", metavar="EVENTS.jsonl",
                   help="write the decision events (input for `antidistill intel export`)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run ``replay`` from parsed arguments."""
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from antidistill.reporting.console import report_console

    console = report_console()
    clock = VirtualClock()
    guard, last = build_guard(clock, settings_from_demo=args.settings_from_demo,
                              mode=args.mode)
    size = os.path.getsize(args.log)
    events = open(args.events_out, "w", encoding="utf-8") if args.events_out else None
    try:
        with open(args.log, "rb") as f, Progress(
            "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=args.quiet,
        ) as progress:
            task = progress.add_task("replaying", total=size)
            result = await replay(iter_lines(f), guard, last, clock,
                                  progress=lambda n: progress.advance(task, n),
                                  events_out=events)
    finally:
        if events is not None:
            events.close()
        await guard.aclose()
    print_result(console, result)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m antidistill.cli.replay LOG.jsonl ...`` (same as ``antidistill replay``)."""
    parser = argparse.ArgumentParser(prog="antidistill")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["replay", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
