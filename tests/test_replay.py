"""Offline replay: a recorded demo day replays to the same outcome as the live run.

The labelled population is built as ``demo/simulate.py`` builds its cohorts (real
GSM8K / Arena-Hard / awesome-chatgpt-prompts samples from ``tests/data/intent``), run live
through ``run_day`` with ``record=``, then replayed from the file.
"""

from __future__ import annotations

import gc
import io
import json
import os
import random
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from antidistill import replay as rp
from antidistill.cli import replay as replay_cli
from antidistill.demo.app import create_app
from antidistill.demo.report import demo_guard as _demo_guard
from antidistill.demo.report import print_report
from antidistill.demo.simulate import (
    DAY,
    HONEST_STACKS,
    HYDRA_TEMPLATES,
    STUDENT_PHRASES,
    Account,
    Clock,
    _hydra_stack,
    _openai_python,
    run_day,
)
from antidistill.middleware import AntiDistillMiddleware
from antidistill.settings import Settings

DATA = Path(__file__).parent / "data" / "intent"
DAY_START = 1_780_000_000.0 - (1_780_000_000.0 % 86400)


def _jsonl(name: str, key: str) -> list[str]:
    with open(DATA / name, encoding="utf-8") as f:
        return [json.loads(line)[key] for line in f if line.strip()]


GSM8K = _jsonl("gsm8k_sample.jsonl", "question")
CASUAL = _jsonl("arena_hard_sample.jsonl", "prompt") + [
    p[:800] for p in _jsonl("awesome_chatgpt_sample.jsonl", "prompt")]


def _body(user: str, **params: Any) -> dict[str, Any]:
    return {"model": "demo-model", "messages": [{"role": "user", "content": user}], **params}


def population(seed: int = 5) -> list[Account]:
    """Casual users, students and an office NAT (yesterday and today), and a hydra today."""
    r = random.Random(seed)
    prev = DAY_START - DAY
    accounts: list[Account] = []
    n = 0

    def key(cohort: str) -> str:
        nonlocal n
        n += 1
        return f"sk-{cohort}-{n:06d}-{r.getrandbits(48):012x}"

    def times(start: float, end: float, k: int) -> list[float]:
        return sorted(r.uniform(start, end) for _ in range(k))

    def residential() -> str:
        return f"{r.choice([24, 68, 73, 86])}.{r.randrange(256)}.{r.randrange(256)}." \
               f"{r.randrange(1, 255)}"

    for _ in range(30):
        a = Account(key("casual"), "casual", False, residential(), r.choice(HONEST_STACKS)())
        a.requests = [(t, _body(r.choice(CASUAL))) for t in times(prev, DAY_START + DAY,
                                                                  r.randint(1, 10))]
        accounts.append(a)
    for _ in range(12):
        a = Account(key("student"), "students", False, residential(), _openai_python())
        a.requests = [(t, _body(r.choice(STUDENT_PHRASES).format(q=r.choice(GSM8K))))
                      for t in times(prev, DAY_START + DAY, r.randint(2, 6))]
        accounts.append(a)
    for _ in range(8):
        a = Account(key("office"), "office", False, f"198.51.100.{r.randrange(1, 5)}",
                    _openai_python())
        a.requests = [(t, _body(r.choice(CASUAL))) for t in times(prev, DAY_START + DAY,
                                                                  r.randint(3, 8))]
        accounts.append(a)
    pool = [f"45.{130 + i // 10}.{(i * 7) % 256}." for i in range(12)]
    for i in range(130):
        a = Account(key("hydra"), "hydra", True, r.choice(pool) + str(r.randrange(2, 250)),
                    _hydra_stack())
        first = DAY_START + 8 * 3600 + i * 30 + r.uniform(0, 30)
        tmpl = HYDRA_TEMPLATES[i % len(HYDRA_TEMPLATES)]
        a.requests = [(first + j * r.uniform(90, 400),
                       _body(tmpl.format(q=r.choice(GSM8K)), max_tokens=4096, temperature=0.6))
                      for j in range(r.randint(3, 6))]
        accounts.append(a)
    return accounts


def _render(report: Any) -> str:
    buf = io.StringIO()
    print_report(Console(file=buf, width=240, color_system=None), report)
    return buf.getvalue()


def _cohort_outcomes(report: Any) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for acct in report.accounts:
        o = report.outcomes[acct.key]
        if o.n:
            out.setdefault(acct.cohort, []).append((
                o.n, o.flagged_at, o.throttled_by_detection, o.blocked, o.budget_throttled,
                sorted(o.actions.items()), sorted(o.reasons.items()), o.baseline_limited))
    return {k: sorted(v) for k, v in out.items()}


async def _live(log: Path) -> Any:
    clock = Clock(DAY_START - DAY)
    guard, last = _demo_guard(clock, "enforce")
    app = AntiDistillMiddleware(create_app(), guard=guard)
    with open(log, "w", encoding="utf-8") as f:
        return await run_day(app, clock, population(), DAY_START, last, record=f)


async def _replay(lines: Any, **kw: Any) -> tuple[rp.ReplayResult, Any]:
    clock = rp.VirtualClock()
    guard, last = rp.build_guard(clock, **kw)
    result = await rp.replay(lines, guard, last, clock)
    return result, guard


async def test_labelled_log_replays_to_the_live_outcome(tmp_path: Path) -> None:
    log = tmp_path / "day.jsonl"
    live = await _live(log)
    with open(log, "rb") as f:
        result, _ = await _replay(rp.iter_lines(f), settings_from_demo=True)
    assert result.skipped == 0 and result.out_of_order == 0
    assert result.requests == live.requests
    got = result.report
    assert got is not None and got.measured_requests == live.measured_requests
    # the campaign is really caught and the day has honest users: a meaningful comparison
    hydra = [o for a in live.accounts if a.cohort == "hydra" for o in [live.outcomes[a.key]]]
    assert sum(o.flagged_at is not None for o in hydra) > 100
    assert live.hydra_by_third[1] > 0
    assert _cohort_outcomes(got) == _cohort_outcomes(live)
    # the log keeps milliseconds
    for field in ("campaign_first", "campaign_flag"):
        want = {k: round(v, 3) for k, v in getattr(live, field).items()}
        assert getattr(got, field) == want, field
    assert got.hydra_by_third == live.hydra_by_third
    # the same tables line for line (cohort rows may come in another order)
    assert sorted(_render(got).splitlines()) == sorted(_render(live).splitlines())
    # and the printed report carries no raw key
    buf = io.StringIO()
    replay_cli.print_result(Console(file=buf, width=240, color_system=None), result)
    text = buf.getvalue()
    assert "Campaigns (measured day)" in text and "Honest cohorts" in text
    assert "sk-" not in text


async def test_unlabelled_log(tmp_path: Path) -> None:
    log = tmp_path / "day.jsonl"
    await _live(log)
    raw = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    for row in raw:
        del row["label"]
    lines = [json.dumps(row).encode() + b"\n" for row in raw]
    settings = Settings(secret="replay-test-secret", events=False, max_delay=0.0,
                        request_capacity=60, request_refill_rate=1)
    result, _ = await _replay(lines, settings=settings)
    assert result.report is None and result.labelled_rows == 0
    assert result.requests == len(raw)
    assert sum(result.actions.values()) == len(raw)
    assert result.actions["block"] + result.actions["throttle"] > 0
    assert result.reasons["fanout"] > 0
    assert result.top_identities and result.top_clusters
    assert all(e.id.startswith("cl:") for e in result.top_clusters)
    buf = io.StringIO()
    replay_cli.print_result(Console(file=buf, width=240, color_system=None), result)
    text = buf.getvalue()
    assert "Actions" in text and "Riskiest identities" in text and "Riskiest clusters" in text
    assert "Campaigns (measured day)" not in text
    for row in raw[:200]:
        assert row["client"] not in text
        assert row["body"]["messages"][-1]["content"][:30] not in text
    assert "sk-" not in text


def _row(ts: float, key: str = "sk-test-1", **extra: Any) -> dict[str, Any]:
    row = {"ts": ts, "method": "POST", "path": "/v1/chat/completions", "client": "24.1.2.3",
           "headers": [["content-type", "application/json"],
                       ["authorization", f"Bearer {key}"]],
           "body": _body("What is the capital of France?")}
    row.update(extra)
    return row


async def test_malformed_lines_are_skipped_and_counted() -> None:
    t = DAY_START
    lines: list[bytes | str] = [
        json.dumps(_row(t)),
        "not json at all",
        "{\"ts\": 1, \"client\": \"1.2.3.4\", \"headers\": [[\"a\", \"b\"]",   # truncated
        "[1, 2, 3]",
        json.dumps({"ts": t + 1, "client": "1.2.3.4"}),                  # no headers
        json.dumps({**_row(t + 2), "ts": "yesterday"}),
        json.dumps(_row(t + 3, headers=[["x-note", "caf\u00e9 \u2603"]])),  # not latin-1
        json.dumps(_row(t + 4, headers=[["only-a-name"]])),
        json.dumps(_row(t + 5, path="no-slash")),
        "",
        "   ",
        json.dumps(_row(t + 6, body="raw text body")),
        json.dumps(_row(t + 1)),                                         # back in time
        json.dumps(_row(t + 7, body=None, method="get", path="/v1/models")),
    ]
    result, guard = await _replay([x.encode() if isinstance(x, str) else x for x in lines],
                                  settings=Settings(secret="s" * 20, max_delay=0.0))
    assert result.skipped == 8
    assert result.requests == 4
    assert result.out_of_order == 1
    assert result.statuses == {200: 3, 400: 1}  # the raw text body is not JSON


async def test_memory_stays_bounded_over_20k_lines() -> None:
    """20,000 generated rows: the log is consumed one line at a time, and the process's
    allocated blocks stop growing once the guard's LRU-bounded state is full."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
    try:
        import replay_scale
    finally:
        sys.path.pop(0)
    n = 20_000
    clock = rp.VirtualClock()
    guard, last = rp.build_guard(clock, settings=Settings(
        secret="s" * 20, events=False, max_delay=0.0, memory_max_identities=100,
        memory_max_features=100))
    # The dashboard keeps the last 2,000 flagged decisions; fill that bounded buffer early.
    guard.recent.maxlen = 50
    blocks: dict[int, int] = {}
    ahead: list[int] = []

    def lines() -> Iterator[bytes]:
        for i, line in enumerate(replay_scale.rows(n, seed=3)):
            # every earlier line has been through the guard before this one is read
            ahead.append(i - sum(guard.counters[a] for a in
                                 ("allow", "flag", "degrade", "delay", "throttle", "block")))
            if i in (n // 4, n - 1):
                gc.collect()
                blocks[i] = sys.getallocatedblocks()
            yield line.encode()

    result = await rp.replay(lines(), guard, last, clock)
    assert result.requests == n and result.skipped == 0
    assert max(ahead) == 0
    growth = blocks[n - 1] - blocks[n // 4]
    per_line = growth / (n - 1 - n // 4)
    # A replay that kept anything per request (rows, decisions, per-minute baseline keys)
    # grows by tens of blocks per line; bounded state stays well under one.
    assert per_line < 1.0, (growth, per_line)
    assert sum(result.actions.values()) == n
    assert Counter(result.actions)["allow"] > n // 2


def test_cli_entry_point(tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("ANTIDISTILL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ANTIDISTILL_SECRET", "cli-replay-test-secret")
    monkeypatch.setenv("ANTIDISTILL_EVENT_SAMPLE_ALLOW", "1")
    log = tmp_path / "small.jsonl"
    events = tmp_path / "events.jsonl"
    log.write_text("".join(json.dumps(_row(DAY_START + i, key=f"sk-k{i % 3}")) + "\n"
                           for i in range(30)) + "garbage\n", encoding="utf-8")
    assert replay_cli.main([str(log), "--quiet", "--events-out", str(events)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # undo the console's line wrapping
    assert "replayed 30 requests" in out and "skipped 1 malformed" in out
    assert "sk-k" not in out
    rows = [json.loads(line) for line in events.read_text().splitlines()]
    assert len(rows) == 30
    assert all(r["schema"] == "antidistill.decision/1" for r in rows)
