"""Detection figures on the simulated day (the demo's traffic), with the acceptance checks.

    python benchmarks/detection.py                 # one seed, full size
    python benchmarks/detection.py --seeds 7 8 9   # stability across populations
    python benchmarks/detection.py --hydra-stealth --hydra-spin 0.3   # a harder hydra
    python benchmarks/detection.py --hydra-stealth --hydra-templates short
    python benchmarks/detection.py --harder tune --seeds 7 8          # the harder day, tuning
    python benchmarks/detection.py --harder report --seeds 11 12 13   # ... and reporting
    python benchmarks/detection.py --harder tune --scale 0.2 --check  # smaller; exit 1 on FAIL
    python benchmarks/detection.py --harder tune --launch   # the honest fleets launch today

For each seed it runs the whole simulated day through the real middleware (memory store,
virtual clock) and prints the demo's tables, then one line per acceptance criterion:

* hydra (>= 1,000 accounts, <= 10 requests each, never over a per-key limit): share of its
  accounts flagged by their 3rd request, counting accounts that start after the campaign's
  first 100 requests (target >= 95%), and what the per-key baseline catches;
* benign: share of honest accounts ever flagged (target <= 0.1%) and requests throttled or
  blocked by detection (target 0).

Then the scorecard of issue #12 (``antidistill.demo.scorecard``): per cohort the accounts
detection ever flagged / degraded / delayed / throttled / blocked (budget 429s apart) and the
requests by action served; per detector (reason name) the share of honest accounts and requests
it fired on; the share of campaign requests served in full (ALLOW or FLAG) and of honest
requests served degraded or worse; per campaign the accounts flagged by their 3rd request; the
spread-thin hydra's requests after its first 500 served degraded or worse; and one PASS/FAIL
line per acceptance line of issue #12. The exit status is 0 (a report) unless ``--check``.

``--harder VARIANT`` adds the harder day's cohorts (``antidistill.demo.harder``: a coding-agent
fleet, a popular page-summary extension, evasive, spread-thin, fake-history and forged-agent
hydras, a larger templated hydra), served by the demo app with conversation-dependent replies.
Tune on seeds 7 and 8 with ``--harder tune``; report on seeds 11, 12 and 13 with
``--harder report``. ``--scale`` shrinks every cohort but the templated hydra of the default
day (``--hydra``).

The harder day resolves addresses with MaxMind-format ASN and anonymous-IP databases written
for its address plan (``antidistill.demo.networks``; needs the ``test`` extra's
``mmdb-writer``), unless ``--no-network-db``.

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
import dataclasses
import sys
import tempfile
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from antidistill.decision import Action
from antidistill.demo import scorecard
from antidistill.demo.app import create_app
from antidistill.demo.cohorts import VARIANTS
from antidistill.demo.networks import write_network_dbs
from antidistill.demo.report import demo_guard as _demo_guard
from antidistill.demo.report import explain, print_report
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
_CPU: dict[int, float] = {}  # CPU seconds of each seed's day: what an idle core would take


async def one_run(seed: int, scale: float, hydra: int | None, stealth: bool = False,
                  spin: float = 0.0, templates: str | None = None,
                  harder: str | None = None, network_db: bool = True,
                  launch: bool = False) -> tuple[Report, float]:
    with tempfile.TemporaryDirectory() as tmp:
        dbs: dict[str, str] = {}
        if harder is not None and network_db:
            dbs["asn_db"], dbs["anon_ip_db"] = write_network_dbs(tmp)
        return await _run(seed, scale, hydra, stealth, spin, templates, harder, dbs, launch)


async def _run(seed: int, scale: float, hydra: int | None, stealth: bool, spin: float,
               templates: str | None, harder: str | None,
               dbs: dict[str, str], launch: bool = False) -> tuple[Report, float]:
    day_start = 1_780_000_000.0 - (1_780_000_000.0 % DAY)
    clock = Clock(day_start - DAY)
    guard, last = _demo_guard(clock, "enforce", **dbs)
    app = AntiDistillMiddleware(create_app(varied=harder is not None), guard=guard)
    extra: dict[str, Any] = {}
    if templates is not None:
        extra["hydra_templates"] = TEMPLATES[templates]
    day = VARIANTS[harder] if harder else None
    if day is not None and launch:
        day = dataclasses.replace(day, honest_history=False)
    accounts = Population(seed=seed, scale=scale, hydra_accounts=hydra, hydra_stealth=stealth,
                          hydra_spin=spin, harder=day, **extra).build(day_start)
    t0, c0 = time.perf_counter(), time.process_time()
    report = await run_day(app, clock, accounts, day_start, last)
    _CPU[seed] = time.process_time() - c0
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


def _pct(n: float, d: float) -> str:
    return f"{100 * n / d:.2f}%" if d else "-"


def print_scorecard(console: Console, report: Report, seed: int) -> bool:
    """The issue #12 tables and checks of one run; True when every check passed."""
    t = Table(title=f"seed {seed}: accounts by detection action (budget 429s apart), "
                    "requests by action served")
    for col in ("cohort", "accounts", "requests", "ever flagged", "ever degraded",
                "ever delayed", "ever throttled", "ever blocked", "worst >= degrade",
                "budget 429s", "requests by action", "flagged by 3rd"):
        t.add_column(col)
    for row in scorecard.cohort_rows(report):
        ok, total = scorecard.by_third(report, row.name) if row.campaign else (0, 0)
        t.add_row(("[red]" if row.campaign else "") + row.name, f"{row.accounts:,}",
                  f"{row.requests:,}", f"{row.flagged:,}",
                  *(f"{row.ever[a]:,}" for a in scorecard.LEVELS[1:]),
                  f"{row.worst_at_least[Action.DEGRADE]:,}", f"{row.budget_429:,}",
                  " ".join(f"{k}:{v}" for k, v in row.served.most_common()),
                  f"{ok:,}/{total:,} = {_pct(ok, total)}" if total else "-")
    console.print(t)
    d = Table(title=f"seed {seed}: per-detector false positives (reason score >= "
                    f"{scorecard_fired()}) on honest traffic")
    for col in ("reason", "honest accounts", "share", "honest requests", "share"):
        d.add_column(col)
    for rate in scorecard.detector_rates(report):
        d.add_row(rate.name, f"{rate.accounts:,}", _pct(rate.accounts, rate.honest_accounts),
                  f"{rate.requests:,}", _pct(rate.requests, rate.honest_requests))
    console.print(d)
    f = scorecard.request_figures(report)
    console.print(f"[seed {seed}] campaign requests served in full (ALLOW or FLAG): "
                  f"{f.campaign_full:,}/{f.campaign:,} = {_pct(f.campaign_full, f.campaign)}; "
                  f"honest requests served degraded or worse by detection: "
                  f"{f.honest_degraded:,}/{f.honest:,} = {_pct(f.honest_degraded, f.honest)}",
                  markup=False)
    passed = True
    for c in scorecard.acceptance(report):
        passed &= c.passed
        value = f"{100 * c.value:.2f}%" if c.target.endswith("%") else f"{c.value:g}"
        console.print(f"[seed {seed}] {'PASS' if c.passed else 'FAIL'} {c.name}: {value} "
                      f"({c.detail}; target {c.target})", markup=False)
    return passed


def scorecard_fired() -> float:
    from antidistill.demo.run import FIRED

    return FIRED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--hydra", type=int, default=None,
                        help="templated hydra accounts (default 1000; harder day: its own)")
    parser.add_argument("--quiet", action="store_true", help="only the acceptance lines")
    parser.add_argument("--hydra-stealth", action="store_true",
                        help="the hydra uses the official SDK's client stack and residential "
                             "addresses (no client or network evidence)")
    parser.add_argument("--hydra-spin", type=float, default=0.0, metavar="RATE",
                        help="the hydra swaps each listed template word for a synonym with "
                             "this probability on every request (default 0)")
    parser.add_argument("--hydra-templates", choices=sorted(TEMPLATES), default=None,
                        help="plain: the demo's (two elicit reasoning); short: four short "
                             "instructions before a long payload, no extraction wording "
                             "(default plain; harder day: its variant's)")
    parser.add_argument("--harder", choices=sorted(VARIANTS), default=None, metavar="VARIANT",
                        help="add the harder day's cohorts: 'tune' (to tune on) or 'report' "
                             "(held out)")
    parser.add_argument("--launch", action="store_true",
                        help="with --harder: the honest fleets (coding agent, page summary) "
                             "launch on the measured day, with no history yesterday")
    parser.add_argument("--no-network-db", action="store_true",
                        help="harder day without its MaxMind-format ASN and anonymous-IP "
                             "databases (addresses then resolve to their prefix only)")
    parser.add_argument("--explain", action="append", metavar="COHORT", default=[],
                        help="print the reasons of a cohort's first flagged requests")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when an acceptance line fails (default: always 0)")
    return parser


def main() -> int:
    args = _parser().parse_args()
    if args.hydra_stealth or args.hydra_spin or args.hydra_templates:
        stack = ("official SDK, residential addresses" if args.hydra_stealth
                 else "own client stack, proxy pool")
        print(f"hydra variant: {stack}; template spin {args.hydra_spin:.2f}; "
              f"{args.hydra_templates or 'plain'} templates")
    if args.launch and not args.harder:
        _parser().error("--launch needs --harder")
    if args.harder:
        print(f"harder day: variant {args.harder}"
              + ("; the honest fleets launch today (no history)" if args.launch else ""))
    console = Console(width=230)
    ok_all = True
    for seed in args.seeds:
        report, secs = asyncio.run(one_run(seed, args.scale, args.hydra, args.hydra_stealth,
                                           args.hydra_spin, args.hydra_templates, args.harder,
                                           not args.no_network_db, args.launch))
        s = summarize(report)
        if not args.quiet:
            console.rule(f"seed {seed}: {report.requests:,} requests in {secs:.1f} s "
                         f"({report.requests / secs:,.0f} req/s through the middleware; "
                         f"{_CPU.get(seed, 0.0):.1f} s of CPU)")
            print_report(console, report)
        for cohort in args.explain:
            explain(console, report, cohort)
        hydra_ok = s["hydra_by_third"] >= 0.95
        benign_ok = s["benign_flagged"] <= 0.001 * s["benign"]
        denied_ok = s["benign_denied_requests"] == 0
        console.print(
            f"[seed {seed}] hydra flagged by 3rd request: {100 * s['hydra_by_third']:.1f}% "
            f"(target >= 95%) {'PASS' if hydra_ok else 'FAIL'}; per-key baseline caught "
            f"{s['hydra_baseline']}/{s['hydra_accounts']}", markup=False)
        console.print(
            f"[seed {seed}] benign ever flagged: {s['benign_flagged']}/{s['benign']} = "
            f"{100 * s['benign_flagged'] / max(1, s['benign']):.3f}% (target <= 0.1%) "
            f"{'PASS' if benign_ok else 'FAIL'}; throttled/blocked by detection: "
            f"{s['benign_denied_requests']} requests (target 0) "
            f"{'PASS' if denied_ok else 'FAIL'}", markup=False)
        ok_all &= print_scorecard(console, report, seed)
    return 1 if args.check and not ok_all else 0


if __name__ == "__main__":
    sys.exit(main())
