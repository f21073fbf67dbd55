"""The harder simulated day (issue #12): deterministic, the default day untouched, and each new
cohort with the properties it claims."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

from antidistill.cli import _demo_guard
from antidistill.demo.accounts import Account, ListScript
from antidistill.demo.agent import AGENT_SYSTEM, AGENT_TOOLS, FleetScript
from antidistill.demo.app import VARIED, create_app
from antidistill.demo.cohorts import VARIANTS
from antidistill.demo.harder import CAMPAIGNS, HONEST
from antidistill.demo.phrasings import EVASIVE, FAKE_ASK, RELAY, SPREAD_THIN
from antidistill.demo.simulate import DAY, Clock, Population, run_day
from antidistill.middleware import AntiDistillMiddleware

DAY_START = 1_780_000_000.0 - (1_780_000_000.0 % DAY)
# Digests of the default day's accounts (scale 0.05, 60 hydra accounts) as built before the
# harder day existed: the default day must stay exactly what it was.
DEFAULT_DAY = {
    7: "2a793202ef39f7aa1a4387e5f3c956cd74eda3df483c9f8403b2a945332bec5b",
    11: "82087cbef808c0686251394754d6ea45dbec7f8f955567d2484743d497d8a60e",
}


def _digest(accounts: list[Account]) -> str:
    h = hashlib.sha256()
    for a in accounts:
        h.update(json.dumps([a.key, a.cohort, a.campaign, a.ip, a.headers, a.requests],
                            sort_keys=True).encode())
        if isinstance(a.script, ListScript):
            h.update(json.dumps([[s.t, s.body, s.ip, s.headers] for s in a.script.steps],
                                sort_keys=True).encode())
        elif isinstance(a.script, FleetScript):
            h.update(repr((a.script.sessions, a.script.dev)).encode())
    return h.hexdigest()


def _harder(seed: int = 7, variant: str = "tune", scale: float = 0.05,
            hydra: int = 30) -> list[Account]:
    return Population(seed=seed, scale=scale, hydra_accounts=hydra,
                      harder=VARIANTS[variant]).build(DAY_START)


def _steps(acct: Account) -> list[Any]:
    assert isinstance(acct.script, ListScript)
    return acct.script.steps


def test_default_day_is_unchanged() -> None:
    for seed, digest in DEFAULT_DAY.items():
        assert _digest(Population(seed=seed, scale=0.05, hydra_accounts=60)
                       .build(DAY_START)) == digest


def test_harder_day_builds_deterministically_after_the_default_cohorts() -> None:
    day = _harder()
    assert _digest(day) == _digest(_harder())
    assert _digest(day) != _digest(_harder(seed=8))
    assert _digest(day) != _digest(_harder(variant="report"))
    default = Population(seed=7, scale=0.05, hydra_accounts=30).build(DAY_START)
    assert _digest(day[:len(default)]) == _digest(default)
    cohorts = Counter(a.cohort for a in day[len(default):])
    assert set(cohorts) == set(HONEST) | set(CAMPAIGNS)
    assert all(a.campaign == (a.cohort in CAMPAIGNS) for a in day[len(default):])


def test_variants_use_disjoint_phrasings() -> None:
    for pool in (EVASIVE, SPREAD_THIN, FAKE_ASK, RELAY):
        assert not set(pool["tune"]) & set(pool["report"])
    assert len(EVASIVE["tune"]) == len(EVASIVE["report"]) == 20
    for variant in ("tune", "report"):
        parts = {tuple(p.split("{q}")) for p in EVASIVE[variant]}
        for acct in (a for a in _harder(variant=variant) if a.cohort == "evasive_hydra"):
            texts = {s.body["messages"][-1]["content"] for s in _steps(acct)}
            used = {(pre, post) for pre, post in parts for t in texts
                    if t.startswith(pre) and t.endswith(post)}
            assert len(used) == 1  # one paraphrase per account, kept for all its requests


def test_evasive_hydra_takes_a_new_residential_exit_for_every_request() -> None:
    accounts = [a for a in _harder(scale=0.1) if a.cohort == "evasive_hydra"]
    ips = [s.ip for a in accounts for s in _steps(a)]
    assert len(ips) > 200 and len(set(ips)) == len(ips)
    moved = total = 0
    for a in accounts:
        nets = [s.ip.rsplit(".", 1)[0] for s in _steps(a)]
        total += len(nets) - 1
        moved += sum(x != y for x, y in zip(nets, nets[1:], strict=False))
    assert moved > 0.7 * total
    agents = Counter(dict(a.headers)["user-agent"] for a in accounts)
    assert len(agents) >= 8 and all(ua.startswith("Mozilla/5.0") for ua in agents)
    gaps = [y.t - x.t for a in accounts for x, y in zip(_steps(a), _steps(a)[1:], strict=False)]
    assert min(gaps) >= 25 and max(gaps) > 600  # human think times, not machine cadence


def test_relay_forges_the_fleet_identity_with_a_fresh_session_per_request() -> None:
    day = _harder()
    fleet = [a for a in day if a.cohort == "coding_agent"]
    forged = [a for a in day if a.cohort == "forged_agent"]
    fleet_step = fleet[0].script.first() if fleet[0].script else None
    assert fleet_step is not None and fleet_step.headers is not None

    def names_and_agent(headers: Any) -> tuple[Any, ...]:
        d = dict(headers)
        return tuple(k for k, _ in headers), d["user-agent"], d["x-stainless-package-version"]

    sessions = []
    for acct in forged:
        for step in _steps(acct):
            assert step.headers is not None
            assert names_and_agent(step.headers) == names_and_agent(fleet_step.headers)
            sessions.append(dict(step.headers)["x-quill-session-id"])
            assert step.body["messages"][0] == {"role": "system", "content": AGENT_SYSTEM}
            assert step.body["tools"] == AGENT_TOOLS
            assert step.body["messages"][1]["content"].startswith("<environment>")
    assert len(sessions) > 30 and len(set(sessions)) == len(sessions)


def test_spread_thin_and_page_summary_shapes() -> None:
    day = _harder(scale=0.1)
    thin = [a for a in day if a.cohort == "spread_thin"]
    assert len(thin) >= 400 and {len(_steps(a)) for a in thin} == {1, 2}
    hours = {int((s.t - DAY_START) // 3600) for a in thin for s in _steps(a)}
    assert len(hours) >= 22  # spread over the whole day
    pages = [a for a in day if a.cohort == "page_summary"]
    assert len(pages) == 100
    assert len({dict(a.headers)["x-pagewise-version"] for a in pages}) == 1
    assert len({dict(a.headers)["origin"] for a in pages}) == 1
    nets = [len({s.ip for s in _steps(a)}) for a in pages]
    assert sum(n > 1 for n in nets) > 20
    for a in pages:
        for s in _steps(a):
            text = s.body["messages"][0]["content"]
            assert "--- page ---" in text and len(text) > 300


def _run(seed: int) -> tuple[Any, list[dict[str, Any]], list[Account]]:
    clock = Clock(DAY_START - DAY)
    guard, last = _demo_guard(clock, "enforce")
    app = AntiDistillMiddleware(create_app(varied=True), guard=guard)
    accounts = _harder(seed=seed, scale=0.015, hydra=20)
    log = io.StringIO()
    report = asyncio.run(run_day(app, clock, accounts, DAY_START, last, record=log))
    rows = [json.loads(line) for line in log.getvalue().split("\n") if line]
    return report, rows, accounts


def test_small_harder_day_through_the_middleware() -> None:
    report, rows, accounts = _run(7)
    measured = Counter(a.cohort for a in accounts if report.outcomes[a.key].n)
    assert set(HONEST) | set(CAMPAIGNS) <= set(measured)
    scripts = {a.key: a.script for a in accounts if isinstance(a.script, FleetScript)}
    answers = {k: set(s.answers) for k, s in scripts.items()}
    assert sum(len(v) for v in answers.values()) > 50
    assert len(set().union(*answers.values())) > 40  # the server's answers differ
    longest = 0
    for row in rows:
        key = dict(row["headers"])["authorization"].removeprefix("Bearer ")
        history = [m["content"] for m in row["body"]["messages"] if m["role"] == "assistant"]
        if row["label"]["cohort"] == "coding_agent":
            assert set(history) <= answers[key]  # only what the server answered this account
            longest = max(longest, len(history))
        elif row["label"]["cohort"] == "fake_history":
            assert history and all(not set(h.split()) <= set(VARIED) for h in history)
    assert longest >= 5
    # the run itself is deterministic: the same seed sends the same requests
    _, again, _ = _run(7)
    assert [(r["ts"], r["client"], r["body"]) for r in again] == \
        [(r["ts"], r["client"], r["body"]) for r in rows]


def test_network_databases_resolve_every_address_of_the_day(tmp_path: Path) -> None:
    from antidistill.demo.networks import write_network_dbs
    from antidistill.fingerprints.network import NetworkResolver

    asn_db, anon_db = write_network_dbs(str(tmp_path))
    day = _harder(variant="report")
    ips = {a.ip for a in day if a.ip} | {
        s.ip for a in day if isinstance(a.script, ListScript) for s in a.script.steps if s.ip}
    ips |= {s.ip for a in day if isinstance(a.script, FleetScript) for s in a.script.sessions}
    with NetworkResolver(asn_db, anon_db) as resolver:
        infos = {ip: resolver.lookup(ip) for ip in ips}
    assert all(info.asn is not None for info in infos.values())
    by_cohort: dict[str, set[str]] = {}
    for a in day:
        by_cohort.setdefault(a.cohort, set()).add(infos[a.ip].network_type)
    assert by_cohort["forged_agent"] == {"hosting"}  # the relay's servers
    assert by_cohort["evasive_hydra"] == {"isp"}  # residential exits look like homes
    evasive = [s.ip for a in day if a.cohort == "evasive_hydra" for s in _steps(a)]
    assert len({infos[ip].asn for ip in evasive}) > 20
