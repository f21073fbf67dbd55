"""Detection figures on the simulated day (the demo's traffic), with the acceptance checks.

    python benchmarks/detection.py                 # one seed, full size
    python benchmarks/detection.py --seeds 7 8 9   # stability across populations
    python benchmarks/detection.py --hydra-stealth --hydra-spin 0.3   # a harder hydra
    python benchmarks/detection.py --hydra-stealth --hydra-templates short

For each seed it runs the whole simulated day through the real middleware (memory store,
virtual clock) and prints the demo's tables, then one line per acceptance criterion:

* hydra (>= 1,000 accounts, <= 10 requests each, never over a per-key limit): share of its
  accounts flagged by their 3rd request, counting accounts that start after the campaign's
  first 100 requests (target >= 95%), and what the per-key baseline catches;
* benign: share of honest accounts ever flagged (target <= 0.1%) and requests throttled or
  blocked by detection (target 0).

``--hydra-stealth`` and ``--hydra-spin`` make the hydra harder than the acceptance scenario:
the official SDK's client stack from residential addresses (so no client or network
evidence), and templates whose words are swapped for synonyms on every request (so no two
requests share the exact template; see ``antidistill.demo.simulate.spin``).
``--hydra-templates short`` gives it four short instructions before a long payload, with no
extraction wording (``SHORT_HYDRA_TEMPLATES``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from rich.console import Console

from antidistill.demo.app import create_app
from antidistill.demo.report import demo_guard as _demo_guard
from antidistill.demo.report import print_report
from antidistill.demo.simulate import (
    HYDRA_TEMPLATES,
    SHORT_HYDRA_TEMPLATES,
    Clock,
    Population,
    Report,
    run_day,
)
from antidistill.middleware import AntiDistillMiddleware

DAY = 86400.0
TEMPLATES = {"plain": HYDRA_TEMPLATES, "short": SHORT_HYDRA_TEMPLATES}


async def one_run(seed: int, scale: float, hydra: int, stealth: bool = False,
                  spin: float = 0.0, templates: str = "plain") -> tuple[Report, float]:
    day_start = 1_780_000_000.0 - (1_780_000_000.0 % DAY)
    clock = Clock(day_start - DAY)
    guard, last = _demo_guard(clock, "enforce")
    app = AntiDistillMiddleware(create_app(), guard=guard)
    accounts = Population(seed=seed, scale=scale, hydra_accounts=hydra, hydra_stealth=stealth,
                          hydra_spin=spin, hydra_templates=TEMPLATES[templates]).build(day_start)
    t0 = time.perf_counter()
    report = await run_day(app, clock, accounts, day_start, last)
    return report, time.perf_counter() - t0


def summarize(report: Report) -> dict[str, Any]:
    benign = [a for a in report.accounts if not a.campaign and report.outcomes[a.key].n]
    flagged = sum(1 for a in benign if report.outcomes[a.key].flagged_at is not None)
    denied = sum(report.outcomes[a.key].throttled_by_detection + report.outcomes[a.key].blocked
                 for a in benign)
    hydra = [a for a in report.accounts if a.cohort == "hydra"]
    base = sum(1 for a in hydra if report.outcomes[a.key].baseline_limited)
    ok, tot = report.hydra_by_third
    return {
        "hydra_by_third": ok / tot if tot else 0.0,
        "hydra_accounts": len(hydra),
        "hydra_baseline": base,
        "benign": len(benign),
        "benign_flagged": flagged,
        "benign_denied_requests": denied,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--hydra", type=int, default=1000)
    parser.add_argument("--quiet", action="store_true", help="only the acceptance lines")
    parser.add_argument("--hydra-stealth", action="store_true",
                        help="the hydra uses the official SDK's client stack and residential "
                             "addresses (no client or network evidence)")
    parser.add_argument("--hydra-spin", type=float, default=0.0, metavar="RATE",
                        help="the hydra swaps each listed template word for a synonym with "
                             "this probability on every request (default 0)")
    parser.add_argument("--hydra-templates", choices=sorted(TEMPLATES), default="plain",
                        help="plain: the demo's (two elicit reasoning); short: four short "
                             "instructions before a long payload, no extraction wording")
    args = parser.parse_args()
    if args.hydra_stealth or args.hydra_spin or args.hydra_templates != "plain":
        stack = ("official SDK, residential addresses" if args.hydra_stealth
                 else "own client stack, proxy pool")
        print(f"hydra variant: {stack}; template spin {args.hydra_spin:.2f}; "
              f"{args.hydra_templates} templates")
    console = Console(width=170)
    ok_all = True
    for seed in args.seeds:
        report, secs = asyncio.run(one_run(seed, args.scale, args.hydra, args.hydra_stealth,
                                           args.hydra_spin, args.hydra_templates))
        s = summarize(report)
        if not args.quiet:
            console.rule(f"seed {seed}: {report.requests:,} requests in {secs:.1f} s "
                         f"({report.requests / secs:,.0f} req/s through the middleware)")
            print_report(console, report)
        hydra_ok = s["hydra_by_third"] >= 0.95
        benign_ok = s["benign_flagged"] <= 0.001 * s["benign"]
        denied_ok = s["benign_denied_requests"] == 0
        ok_all &= hydra_ok and benign_ok and denied_ok
        console.print(
            f"[seed {seed}] hydra flagged by 3rd request: {100 * s['hydra_by_third']:.1f}% "
            f"(target >= 95%) {'PASS' if hydra_ok else 'FAIL'}; per-key baseline caught "
            f"{s['hydra_baseline']}/{s['hydra_accounts']}")
        console.print(
            f"[seed {seed}] benign ever flagged: {s['benign_flagged']}/{s['benign']} = "
            f"{100 * s['benign_flagged'] / max(1, s['benign']):.3f}% (target <= 0.1%) "
            f"{'PASS' if benign_ok else 'FAIL'}; throttled/blocked by detection: "
            f"{s['benign_denied_requests']} requests (target 0) "
            f"{'PASS' if denied_ok else 'FAIL'}")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
