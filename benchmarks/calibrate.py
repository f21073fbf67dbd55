"""Calibrate detection on benign traffic: every detector's score distribution on honest cohorts.

    python benchmarks/calibrate.py --seeds 7 8                 # the tuning seeds
    python benchmarks/calibrate.py --harder tune --seeds 7 8   # with the harder day's cohorts

Runs the simulated day with its campaigns removed (honest cohorts only, the same traffic
``benchmarks/detection.py`` measures) through the real middleware, and records every
decision's signals. For each detector it prints, over honest requests: how many carried the
signal, its 99th and 99.9th percentile and maximum score, and the share at or above the
corroboration bar (``policy.actions.EVIDENCE``). Per cohort it prints the same share for
every detector that reached the bar anywhere.

The procedure in ``docs/detection.md`` reads this table: a per-account detector whose
honest 99.9th percentile reaches ``EVIDENCE`` corroborates honest fleets and must be made
stricter (its own thresholds come from the honest distribution printed here), never the
campaign made easier.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from typing import Any

from antidistill.decision import Decision
from antidistill.demo.app import create_app
from antidistill.demo.cohorts import VARIANTS
from antidistill.demo.report import demo_guard
from antidistill.demo.simulate import Clock, Population, run_day
from antidistill.middleware import AntiDistillMiddleware
from antidistill.policy.actions import EVIDENCE

DAY = 86400.0
DERIVED = ("identity", "budget")


def quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


Scores = dict[str, list[float]]


async def honest_scores(seed: int, scale: float, harder: str | None = None
                        ) -> tuple[Scores, dict[str, Scores], dict[str, int]]:
    """Per detector, every honest request's score (0 when absent); and per cohort."""
    day_start = 1_780_000_000.0 - (1_780_000_000.0 % DAY)
    clock = Clock(day_start - DAY)
    guard, last = demo_guard(clock, "enforce")
    seen: list[Decision] = []

    @guard.on_decision
    def keep(ctx: Any, decision: Decision) -> None:
        seen.append(decision)

    app = AntiDistillMiddleware(create_app(varied=harder is not None), guard=guard)
    pop = Population(seed=seed, scale=scale, harder=VARIANTS[harder] if harder else None)
    accounts = [a for a in pop.build(day_start) if not a.campaign]
    cohort_of = {guard.pseudonymize("key", a.key): a.cohort for a in accounts}
    await run_day(app, clock, accounts, day_start, last)
    per: Scores = defaultdict(list)
    by_cohort: dict[str, Scores] = defaultdict(lambda: defaultdict(list))
    requests: dict[str, int] = defaultdict(int)
    for d in seen:
        cohort = cohort_of.get(d.identity, "?")
        requests[cohort] += 1
        scores: dict[str, float] = {}
        for r in d.reasons:
            name = r.name.split(":", 1)[0]
            scores[name] = max(scores.get(name, 0.0), r.score)
        for name, score in scores.items():
            per[name].append(score)
            by_cohort[cohort][name].append(score)
    return per, by_cohort, requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--harder", choices=sorted(VARIANTS), default=None,
                        help="add the harder day's honest cohorts (tune or report variant)")
    args = parser.parse_args()
    for seed in args.seeds:
        per, by_cohort, requests = asyncio.run(honest_scores(seed, args.scale, args.harder))
        total = sum(requests.values())
        print(f"seed {seed}: {total:,} honest requests (both days); corroboration bar "
              f"EVIDENCE = {EVIDENCE}")
        print(f"{'detector':<18} {'fired':>8} {'p99':>6} {'p99.9':>6} {'max':>6} "
              f"{'>= bar':>9}")
        for name in sorted(per):
            vals = per[name] + [0.0] * (total - len(per[name]))
            at_bar = sum(1 for v in per[name] if v >= EVIDENCE)
            tag = " (derived)" if name in DERIVED else ""
            print(f"{name:<18} {len(per[name]):>8,} {quantile(vals, 0.99):>6.2f} "
                  f"{quantile(vals, 0.999):>6.2f} {max(vals):>6.2f} "
                  f"{100 * at_bar / max(1, total):>8.3f}%{tag}")
        print("per cohort, share of its requests at or above the bar:")
        for cohort in sorted(by_cohort):
            parts = [f"{name} {100 * sum(v >= EVIDENCE for v in vals) / requests[cohort]:.2f}%"
                     for name, vals in sorted(by_cohort[cohort].items())
                     if any(v >= EVIDENCE for v in vals)]
            print(f"  {cohort:<14} {requests[cohort]:>7,} requests: "
                  f"{', '.join(parts) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
