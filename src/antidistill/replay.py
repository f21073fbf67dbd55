"""Offline replay: run a recorded request log through the real middleware and demo app.

``antidistill replay LOG.jsonl`` streams the log line by line (it never holds it whole), sets
a virtual clock from each row's ``ts`` and sends the request through
:class:`~antidistill.middleware.AntiDistillMiddleware` in front of the demo chat app
(:func:`antidistill.demo.app.create_app`), in process. Use it to try settings on yesterday's
traffic, to reproduce a decision, or to turn a log into decision events for
``antidistill intel export`` (``--events-out``).

Log format: JSON lines, one request per line (what ``antidistill demo --record`` writes)::

    {"ts": 1780000000.125,                 # epoch seconds: the virtual clock
     "method": "POST",                      # default POST
     "path": "/v1/chat/completions",        # default /v1/chat/completions
     "client": "203.0.113.7",               # peer address (the guard pseudonymises it)
     "headers": [["authorization", "Bearer sk-..."], ["user-agent", "..."], ...],
     "body": {...},                         # a JSON object/array, a string, or null
     "label": {"cohort": "hydra", "campaign": true, "measured": true}}   # optional

Header names and values must be latin-1 text. Rows that are not JSON objects, or lack a
numeric ``ts``, a ``headers`` list of ``[name, value]`` pairs or a ``client`` string, are
skipped and counted. Rows going back in time are replayed at the latest time seen (and
counted): state windows only move forward.

The log itself holds raw keys, prompts and addresses, as any request log does: keep it
where such logs belong. The replay prints only counts and pseudonymised ids.

Labelled logs (``label`` present) print the demo's tables (per-campaign catch rate, time to
detect, honest cohorts' false positives, the per-key baseline), computed as
:func:`antidistill.demo.simulate.run_day` does: rows with ``"measured": false`` (the demo's
history day) go through the guard but are not counted. Unlabelled logs print action
counts, HTTP statuses, top reasons and the riskiest identities and clusters.

Memory stays bounded: per-request work is freed after each row, the guard's ``memory://``
state is LRU-bounded (``ANTIDISTILL_MEMORY_MAX_IDENTITIES``/``_FEATURES``), and only
labelled logs keep anything per account (one small outcome record each).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from antidistill.decision import Action, Decision

DEFAULT_METHOD = "POST"
DEFAULT_PATH = "/v1/chat/completions"
_KEY_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")


@dataclass(frozen=True, slots=True)
class LogRow:
    """One parsed log row; ``body`` is the exact bytes to send."""

    ts: float
    method: str
    path: str
    client: str
    headers: list[tuple[str, str]]
    body: bytes
    label: dict[str, Any] | None


def parse_row(line: bytes | str) -> LogRow | None:
    """Parse one log line; ``None`` when it is malformed."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    ts, client, raw_headers = obj.get("ts"), obj.get("client"), obj.get("headers")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or ts != ts:
        return None
    if not isinstance(client, str) or not isinstance(raw_headers, list):
        return None
    headers: list[tuple[str, str]] = []
    for pair in raw_headers:
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not isinstance(pair[0], str) or not isinstance(pair[1], str)):
            return None
        headers.append((pair[0].lower(), pair[1]))
    try:
        for name, value in headers:
            name.encode("latin-1")
            value.encode("latin-1")
    except UnicodeEncodeError:
        return None
    method = obj.get("method", DEFAULT_METHOD)
    path = obj.get("path", DEFAULT_PATH)
    if not isinstance(method, str) or not isinstance(path, str) or not path.startswith("/"):
        return None
    body = obj.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        data = body.encode("utf-8", "surrogatepass")
    else:
        # The same serialisation the demo sends, so a recorded demo replays byte for byte.
        data = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
    label = obj.get("label")
    return LogRow(float(ts), method.upper(), path, client, headers, data,
                  label if isinstance(label, dict) else None)


def account_key(row: LogRow) -> str:
    """A per-account key for the report (hash of the API key, else of the client address).

    Kept in memory only, like the demo's per-key baseline; never printed.
    """
    for name, value in row.headers:
        if name in _KEY_HEADERS and value:
            return "k" + hashlib.blake2b(value.encode("latin-1"), digest_size=12).hexdigest()
    return "c" + hashlib.blake2b(row.client.encode(), digest_size=12).hexdigest()


class _Baseline:
    """The demo's per-key limit (60/minute, 5000/day in fixed windows), O(1) per key.

    ``demo.simulate.per_key_baseline`` keeps every (key, minute) it ever saw; a replay of a
    long log must not, so each key keeps only its current minute and day.
    """

    def __init__(self, per_minute: int = 60, per_day: int = 5000) -> None:
        self.per_minute = per_minute
        self.per_day = per_day
        self.state: dict[str, list[int]] = {}

    def __call__(self, key: str, now: float) -> bool:
        minute, day = int(now // 60), int(now // 86400)
        s = self.state.get(key)
        if s is None:
            s = self.state[key] = [minute, 0, day, 0]
        if minute > s[0]:
            s[0], s[1] = minute, 0
        if day > s[2]:
            s[2], s[3] = day, 0
        s[1] += 1
        s[3] += 1
        return s[1] > self.per_minute or s[3] > self.per_day


@dataclass(slots=True)
class _Labelled:
    """The demo's per-account accounting (mirrors ``run_day``), fed one row at a time."""

    outcomes: dict[str, Any] = field(default_factory=dict)
    accounts: dict[str, Any] = field(default_factory=dict)
    campaign_first: dict[str, float] = field(default_factory=dict)
    campaign_flag: dict[str, float] = field(default_factory=dict)
    campaign_count: Counter[str] = field(default_factory=Counter)
    hydra_index: dict[str, int] = field(default_factory=dict)
    measured: int = 0
    baseline: _Baseline = field(default_factory=_Baseline)

    def add(self, row: LogRow, key: str, dec: Decision | None) -> None:
        from antidistill.demo.simulate import Account, Outcome

        label = row.label or {}
        acct = self.accounts.get(key)
        if acct is None:
            cohort = label.get("cohort")
            acct = self.accounts[key] = Account(
                key, cohort if isinstance(cohort, str) and cohort else "unlabelled",
                label.get("campaign") is True, "", [])
            self.outcomes[key] = Outcome()
        if label.get("measured", True) is False:
            return
        t = row.ts
        self.measured += 1
        o = self.outcomes[key]
        o.n += 1
        o.baseline_limited = self.baseline(key, t) or o.baseline_limited
        if acct.campaign:
            self.campaign_count[acct.cohort] += 1
            self.campaign_first.setdefault(acct.cohort, t)
        if dec is None:
            return
        if o.record(dec, t) and acct.campaign:
            self.campaign_flag.setdefault(acct.cohort, t)
        if acct.cohort == "hydra" and o.n == 1:
            self.hydra_index[key] = self.campaign_count["hydra"]

    def report(self, requests: int) -> Any:
        from antidistill.demo.simulate import Report

        late_total = late_ok = 0
        for key, acct in self.accounts.items():
            if acct.cohort != "hydra" or self.hydra_index.get(key, 0) <= 100:
                continue
            late_total += 1
            o = self.outcomes[key]
            if o.flagged_at is not None and o.flagged_at <= 3:
                late_ok += 1
        accounts = list(self.accounts.values())
        return Report(self.outcomes, accounts, {a.key: a.cohort for a in accounts},
                      self.campaign_first, self.campaign_flag, (late_ok, late_total), requests,
                      self.measured, "60/minute; 5000/day per key")


@dataclass(slots=True)
class ReplayResult:
    """What a replay saw: counts, and the demo-style report for labelled rows."""

    requests: int = 0
    skipped: int = 0
    out_of_order: int = 0
    no_decision: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    labelled_rows: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    seconds: float = 0.0
    report: Any = None  # antidistill.demo.simulate.Report when any row had a label
    top_identities: list[Any] = field(default_factory=list)
    top_clusters: list[Any] = field(default_factory=list)


class VirtualClock:
    """The replay's clock: the latest ``ts`` seen."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def build_guard(
    clock: VirtualClock, *, settings_from_demo: bool = False, mode: str | None = None,
    settings: Any = None,
) -> tuple[Any, dict[str, Decision]]:
    """A guard on the virtual clock and a dict the decision in flight lands in (``"d"``).

    ``settings_from_demo`` uses ``antidistill demo``'s settings (to replay a demo recording);
    otherwise ``settings`` or the environment (``ANTIDISTILL_*``), with ``max_delay=0``: the
    clock is virtual, so delays are reported, never slept.
    """
    from antidistill.guard import Guard
    from antidistill.settings import Settings

    if settings_from_demo:
        from antidistill.demo.report import demo_guard

        return demo_guard(clock, mode or "enforce")
    if settings is None:
        settings = Settings(max_delay=0.0)
        if mode:
            settings = settings.model_copy(update={"mode": mode})
    from antidistill.demo.report import capture_last

    guard = Guard(settings, clock=clock, load_env_hooks=False)
    return guard, capture_last(guard)


def iter_lines(f: IO[bytes]) -> Iterator[bytes]:
    """Lines of a binary file, one at a time."""
    yield from f


async def replay(
    lines: Iterable[bytes | str], guard: Any, last: dict[str, Decision],
    clock: VirtualClock, *, progress: Callable[[int], None] | None = None,
    events_out: IO[str] | None = None, top: int = 10,
) -> ReplayResult:
    """Send every row of ``lines`` through the middleware + demo app; see the module doc.

    ``progress`` is called with each line's length in bytes. ``events_out`` receives every
    decision event the guard emits (subject to ``event_sample_allow``), one JSON per line.
    """
    from antidistill.demo.app import create_app
    from antidistill.demo.simulate import call_asgi
    from antidistill.middleware import AntiDistillMiddleware

    if events_out is not None:
        from antidistill.reporting.events import dumps

        out = events_out

        def write(event: dict[str, Any]) -> None:
            out.write(dumps(event) + "\n")

        guard.event_sink(write)

    app = AntiDistillMiddleware(create_app(), guard=guard)
    result = ResultBuilder()
    started = time.perf_counter()
    for line in lines:
        if progress is not None:
            progress(len(line))
        if not line.strip():
            continue
        row = parse_row(line)
        if row is None:
            result.r.skipped += 1
            continue
        if result.r.first_ts is None:
            result.r.first_ts = clock.now = row.ts
        if row.ts < clock.now:
            result.r.out_of_order += 1
        else:
            clock.now = row.ts
        last.clear()
        status, _ = await call_asgi(app, row.method, row.path, row.headers, row.body,
                                    (row.client, 40000 + result.r.requests % 20000))
        result.add(row, status, last.get("d"))
    r = result.r
    r.seconds = time.perf_counter() - started
    r.last_ts = clock.now if r.first_ts is not None else None
    if result.labelled is not None:
        r.report = result.labelled.report(r.requests)
    if r.requests:
        r.top_identities = await guard.store.top_identities(top, clock.now)
        r.top_clusters = await guard.store.top_clusters(top, clock.now)
    return r


class ResultBuilder:
    """Accumulates a :class:`ReplayResult` row by row (bounded: counters only)."""

    def __init__(self) -> None:
        self.r = ReplayResult()
        self.labelled: _Labelled | None = None

    def add(self, row: LogRow, status: int, dec: Decision | None) -> None:
        r = self.r
        r.requests += 1
        r.statuses[status] += 1
        if dec is None:
            r.no_decision += 1
        else:
            r.actions[dec.action.value] += 1
            if dec.action != Action.ALLOW:
                for reason in dec.top_reasons[:3]:
                    r.reasons[reason.name] += 1
        if row.label is not None:
            r.labelled_rows += 1
            if self.labelled is None:
                self.labelled = _Labelled()
        if self.labelled is not None:
            self.labelled.add(row, account_key(row), dec)
