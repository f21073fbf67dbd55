"""Drive a simulated day through an ASGI app on a virtual clock and tally the decisions."""

from __future__ import annotations

import asyncio
import heapq
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from antidistill.decision import Action, Decision
from antidistill.demo.accounts import Account, Step

__all__ = ["FIRED", "Clock", "Outcome", "Report", "call_asgi", "detection_action",
           "drive_schedule", "per_key_baseline", "reply_text", "run_day", "timeline"]

DAY = 86400.0
# A reason "fired" on a request when its score reached this level (the action policy's own
# level for real evidence); the per-detector false-positive rates count these.
FIRED = 0.3


def detection_action(dec: Decision) -> Action:
    """The action detection chose for ``dec``. A budget 429 hides it: such a decision counts
    as FLAG when its score reached the flag level, else ALLOW (the budget is not detection)."""
    if any(r.name == "budget" for r in dec.reasons):
        return Action.FLAG if dec.score >= 0.4 else Action.ALLOW
    return dec.action


@dataclass(slots=True)
class Outcome:
    n: int = 0
    flagged_at: int | None = None  # 1-based index of the first flagged request
    first_flag_ts: float | None = None
    throttled_by_detection: int = 0
    blocked: int = 0
    budget_throttled: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    baseline_limited: bool = False
    first_flag: Decision | None = None
    worst: Action = Action.ALLOW  # the strongest action detection chose (budget 429s aside)
    by_detection: Counter[str] = field(default_factory=Counter)  # requests by that action
    fired: Counter[str] = field(default_factory=Counter)  # requests on which a reason fired

    def record(self, dec: Decision, t: float) -> bool:
        """Count one decision of this account (its ``n``-th request); True on its first flag.

        A 429 for budget alone is not a detection: it counts as ``budget_throttled``.
        """
        self.actions[dec.action.value] += 1
        budget_only = any(r.name == "budget" for r in dec.reasons)
        flagged = dec.action.severity >= Action.FLAG.severity and not (
            budget_only and dec.score < 0.4)
        first = False
        if flagged:
            for r in dec.top_reasons[:2]:
                self.reasons[r.name.split(":")[0]] += 1
            if self.flagged_at is None:
                self.first_flag, self.flagged_at, self.first_flag_ts = dec, self.n, t
                first = True
        if dec.action == Action.THROTTLE:
            if budget_only:
                self.budget_throttled += 1
            else:
                self.throttled_by_detection += 1
        elif dec.action == Action.BLOCK:
            self.blocked += 1
        det = detection_action(dec)
        self.by_detection[det.value] += 1
        if det.severity > self.worst.severity:
            self.worst = det
        for r in dec.reasons:
            if r.score >= FIRED and r.name != "budget":
                self.fired[r.name] += 1
        return first


def timeline(accounts: list[Account]) -> Iterator[tuple[float, Account, dict[str, Any]]]:
    """Every fixed request of every account, in time order (a k-way merge); scripted
    accounts' requests depend on the answers, so only :func:`run_day` can play them."""
    heap: list[tuple[float, int, int]] = []
    for ai, acct in enumerate(accounts):
        acct.requests.sort(key=lambda x: x[0])
        if acct.requests:
            heapq.heappush(heap, (acct.requests[0][0], ai, 0))
    while heap:
        t, ai, j = heapq.heappop(heap)
        acct = accounts[ai]
        yield t, acct, acct.requests[j][1]
        if j + 1 < len(acct.requests):
            heapq.heappush(heap, (acct.requests[j + 1][0], ai, j + 1))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def call_asgi(app: Any, method: str, path: str, headers: list[tuple[str, str]],
                    body: bytes, client: tuple[str, int]) -> tuple[int, bytes]:
    """One in-process HTTP request through an ASGI app."""
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": raw, "client": client,
             "server": ("api.example.com", 443), "state": {}}
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # a live client: no disconnect
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def reply_text(raw: bytes) -> str:
    """The assistant text of a chat-completions answer, JSON or Server-Sent Events."""
    try:
        if not raw.startswith(b"data:"):
            doc = json.loads(raw)
            return str(doc["choices"][0]["message"]["content"] or "")
        parts: list[str] = []
        for line in raw.split(b"\n"):
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            for choice in json.loads(line[6:]).get("choices") or ():
                parts.append(str((choice.get("delta") or {}).get("content") or ""))
        return "".join(parts)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""


@dataclass(slots=True)
class Report:
    outcomes: dict[str, Outcome]
    accounts: list[Account]
    cohort_of: dict[str, str]
    campaign_first: dict[str, float]
    campaign_flag: dict[str, float]
    hydra_by_third: tuple[int, int]
    requests: int
    measured_requests: int
    baseline_spec: str
    # per campaign cohort, the action served to each of its measured requests, in order
    served: dict[str, list[Action]] = field(default_factory=dict)
    # per campaign account, its cohort's measured-request count at its own first request
    first_index: dict[str, int] = field(default_factory=dict)


def per_key_baseline(limit_per_minute: int, limit_per_day: int) -> Callable[[str, float], bool]:
    """A classic per-key limiter (fixed minute and day windows): True when limited.

    One small record per key (the current minute's and day's counts), so memory does not grow
    with time.
    """
    state: dict[str, list[int]] = {}

    def hit(key: str, now: float) -> bool:
        minute, day = int(now // 60), int(now // DAY)
        rec = state.get(key)
        if rec is None:
            rec = state[key] = [minute, 0, day, 0]
        if rec[0] != minute:
            rec[0], rec[1] = minute, 0
        if rec[2] != day:
            rec[2], rec[3] = day, 0
        rec[1] += 1
        rec[3] += 1
        return rec[1] > limit_per_minute or rec[3] > limit_per_day

    return hit


class _Tally:
    """The measured day's outcomes, filled one decision at a time."""

    def __init__(self, accounts: list[Account]) -> None:
        self.outcomes: dict[str, Outcome] = {a.key: Outcome() for a in accounts}
        self.baseline = per_key_baseline(60, 5000)
        self.campaign_first: dict[str, float] = {}
        self.campaign_flag: dict[str, float] = {}
        self.campaign_count: Counter[str] = Counter()
        self.first_index: dict[str, int] = {}
        self.served: dict[str, list[Action]] = {}
        self.measured = 0

    def add(self, acct: Account, t: float, dec: Decision | None) -> None:
        self.measured += 1
        o = self.outcomes[acct.key]
        o.n += 1
        o.baseline_limited = self.baseline(acct.key, t) or o.baseline_limited
        if acct.campaign:
            self.campaign_count[acct.cohort] += 1
            self.campaign_first.setdefault(acct.cohort, t)
        if dec is None:
            return
        if o.record(dec, t) and acct.campaign:
            self.campaign_flag.setdefault(acct.cohort, t)
        if acct.campaign:
            self.served.setdefault(acct.cohort, []).append(dec.action)
            if o.n == 1:
                self.first_index[acct.key] = self.campaign_count[acct.cohort]

    def report(self, accounts: list[Account], requests: int) -> Report:
        late_ok = late_total = 0
        for acct in accounts:
            if acct.cohort != "hydra" or self.first_index.get(acct.key, 0) <= 100:
                continue
            o = self.outcomes[acct.key]
            late_total += 1
            if o.flagged_at is not None and o.flagged_at <= 3:
                late_ok += 1
        return Report(self.outcomes, accounts, {a.key: a.cohort for a in accounts},
                      self.campaign_first, self.campaign_flag, (late_ok, late_total), requests,
                      self.measured, "60/minute; 5000/day per key", self.served,
                      self.first_index)


def _step(acct: Account, j: int) -> Step | None:
    """The ``j``-th request of an account with fixed requests (sorted at ``j == 0``)."""
    if j == 0:
        acct.requests.sort(key=lambda x: x[0])
    if j >= len(acct.requests):
        return None
    t, body = acct.requests[j]
    return Step(t, body)


# What a driver does with one request: (account, step, headers, JSON body, client) in,
# (status, response body) out; the clock is already at the request's time.
Send = Callable[[Account, Step, list[tuple[str, str]], bytes, tuple[str, int]],
                Awaitable[tuple[int, bytes]]]


async def drive_schedule(accounts: list[Account], clock: Clock, send: Send) -> int:
    """Send every account's requests in time order through ``send``; a scripted account
    hears each answer before it sends its next request. Returns the requests sent."""
    heap: list[tuple[float, int, int, Step]] = []
    for ai, acct in enumerate(accounts):
        first = acct.script.first() if acct.script is not None else _step(acct, 0)
        if first is not None:
            heap.append((first.t, ai, 0, first))
    heapq.heapify(heap)
    n = 0
    while heap:
        t, ai, j, step = heapq.heappop(heap)
        acct = accounts[ai]
        clock.now = t
        base = step.headers if step.headers is not None else acct.headers
        headers = [(k, f"Bearer {acct.key}" if k == "authorization" else v) for k, v in base]
        data = json.dumps(step.body, ensure_ascii=False).encode()
        client = (step.ip or acct.ip, 40000 + n % 20000)
        status, raw = await send(acct, step, headers, data, client)
        n += 1
        if acct.script is not None:
            nxt = acct.script.after(step, status, reply_text(raw) if status == 200 else "")
        else:
            nxt = _step(acct, j + 1)
        if nxt is not None:
            heapq.heappush(heap, (max(nxt.t, t), ai, j + 1, nxt))
    return n


async def run_day(
    app: Any, clock: Clock, accounts: list[Account], day_start: float,
    last: dict[str, Decision],
    *, progress: Callable[[int], None] | None = None,
    record: IO[str] | None = None,
) -> Report:
    """Drive every request through ``app``; collect outcomes from day_start on.

    ``last`` is filled by an ``on_decision`` hook with the decision of the request in flight.
    A scripted account hears each answer before it sends its next request.
    """
    tally = _Tally(accounts)

    async def send(acct: Account, step: Step, headers: list[tuple[str, str]], data: bytes,
                   client: tuple[str, int]) -> tuple[int, bytes]:
        t = clock.now
        if record is not None:
            _write_row(record, t, client[0], headers, step.body, acct, day_start)
        last.clear()
        answer = await call_asgi(app, "POST", "/v1/chat/completions", headers, data, client)
        if progress is not None:
            progress(1)
        if t >= day_start:
            tally.add(acct, t, last.get("d"))
        return answer

    n = await drive_schedule(accounts, clock, send)
    return tally.report(accounts, n)


def _write_row(record: IO[str], t: float, ip: str, headers: list[tuple[str, str]],
               body: dict[str, Any], acct: Account, day_start: float) -> None:
    record.write(json.dumps({"ts": round(t, 3), "method": "POST",
                             "path": "/v1/chat/completions", "client": ip,
                             "headers": headers, "body": body,
                             "label": {"cohort": acct.cohort, "campaign": acct.campaign,
                                       "measured": t >= day_start}},
                            ensure_ascii=False) + "\n")
