"""Redis outages under load with ``ANTIDISTILL_RATE_LIMITS`` set (issue #11, findings 9, 10).

Usage::

    python benchmarks/faults.py                 # SIGSTOP 10 s, then SIGKILL + restart
    python benchmarks/faults.py --stop 3 --hold 1 --json out.json

A private redis-server (``tests/conftest.py`` helpers; ``redis-server`` on PATH) serves one
``AntiDistillMiddleware`` in process, driven by ``--workers`` concurrent clients. Each
variant goes through the same two outages: the server frozen with SIGSTOP for ``--stop``
seconds, then killed with SIGKILL and restarted on its port. Variants:

``breaker``       this code: the window limits behind the store's circuit breaker (fail-open)
``outside``       the window limits built as before (a bare ``WindowLimits`` outside the
                  breaker), for comparison (fail-open)
``breaker-closed`` this code in fail-closed mode (503 while down, none after recovery)

Reported per variant: requests and failed requests (anything but 200, a 429 with
``Retry-After``, or, in fail-closed mode while Redis is down, a 503), the served count of a
fresh key that sends ``limit + 6`` requests during each outage (the limit holds when it is
``limit``), seconds from "Redis answers again" to "the breaker is closed", trips, the log
lines at WARNING or above per outage, and the median request latency while down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent / "src"))
sys.path.insert(2, str(HERE.parent / "tests"))

import _common as common  # noqa: E402

LIMIT = 8  # requests per minute per identity
PATH = "/v1/chat/completions"


class Lines(logging.Handler):
    """Counts antidistill log lines at WARNING or above, and recovery lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.bad = 0
        self.recovered = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.bad += 1
        elif "recovered" in record.getMessage():
            self.recovered += 1


@dataclass
class Result:
    variant: str
    sent: int = 0
    failed: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    window_served: list[int] = field(default_factory=list)  # per outage, of LIMIT + 6
    recovery_s: list[float] = field(default_factory=list)
    trips: int = 0
    log_lines: list[int] = field(default_factory=list)  # WARNING+ lines per outage
    recovery_lines: int = 0
    down_latency_ms: float = 0.0
    after_503: int = 0


class Run:
    def __init__(self, app: Any, workers: int) -> None:
        self.app, self.workers = app, workers
        self.down = False
        self.statuses: Counter[int] = Counter()
        self.failed = 0
        self.after_503 = 0
        self.down_latency: list[float] = []
        self.done = asyncio.Event()

    async def post(self, http: Any, key: str, text: str) -> Any:
        body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": text}]}
        return await http.post(PATH, json=body, headers={"authorization": f"Bearer {key}"})

    def judge(self, r: Any, closed: bool) -> None:
        self.statuses[r.status_code] += 1
        ok = r.status_code == 200 or (r.status_code == 429 and "retry-after" in r.headers)
        if r.status_code == 503 and closed:
            ok = self.down
            self.after_503 += not self.down
        self.failed += not ok

    async def worker(self, w: int, closed: bool) -> None:
        import httpx

        transport = httpx.ASGITransport(app=self.app, client=(f"198.51.100.{10 + w}", 5000))
        key = f"sk-faults-{w}-{uuid.uuid4().hex[:6]}"
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            i = 0
            while not self.done.is_set():
                t0 = time.perf_counter()
                r = await self.post(http, key, f"Which houseplants tolerate low light? ({i})")
                if self.down:
                    self.down_latency.append(time.perf_counter() - t0)
                self.judge(r, closed)
                i += 1
                await asyncio.sleep(0.002)

    async def window(self) -> int:
        import httpx

        transport = httpx.ASGITransport(app=self.app, client=("192.0.2.77", 4000))
        key = f"sk-window-{uuid.uuid4().hex[:8]}"
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            codes = [(await self.post(http, key, f"window {i}")).status_code
                     for i in range(LIMIT + 6)]
        return codes.count(200)


async def until(cond: Any, timeout: float) -> float:
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            return float("nan")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


async def variant(name: str, args: argparse.Namespace, server: Any, lines: Lines) -> Result:
    from antidistill import AntiDistillMiddleware, Guard, Settings
    from antidistill.demo.app import create_app
    from antidistill.storage.windows import WindowLimits

    closed = name.endswith("closed")
    prefix = "bf" + uuid.uuid4().hex[:8]
    settings = Settings(secret="faults-benchmark-secret", storage_uri=server.url,
                        storage_prefix=prefix, fail_mode="closed" if closed else "open",
                        events=False, max_delay=0.0, rate_limits=f"{LIMIT}/minute",
                        request_capacity=1e6)
    guard = Guard(settings, load_env_hooks=False)
    if name == "outside":  # the construction before this change: no breaker, no fallback
        await guard.windows.close()
        guard.windows = WindowLimits(settings.rate_limits, server.url, prefix=prefix,
                                     socket_timeout=settings.storage_timeout)
    store = guard.store
    run = Run(AntiDistillMiddleware(create_app(), guard=guard), args.workers)
    res = Result(name)
    tasks = [asyncio.create_task(run.worker(w, closed)) for w in range(args.workers)]
    outages = (("SIGSTOP", lambda: server.proc.send_signal(signal.SIGSTOP),
                lambda: server.proc.send_signal(signal.SIGCONT), args.stop),
               ("SIGKILL", server.kill, server.start, 0.0))
    try:
        await asyncio.sleep(args.hold)
        for _label, down, up, hold in outages:
            before = lines.bad
            run.down = True
            await asyncio.to_thread(down)
            t0 = time.monotonic()
            await until(lambda: store.degraded, 10)
            res.window_served.append(await run.window())
            await asyncio.sleep(max(0.0, hold - (time.monotonic() - t0)))
            await asyncio.to_thread(up)
            res.recovery_s.append(await until(lambda: not store.degraded, 10))
            run.down = False
            await asyncio.sleep(args.hold)
            res.log_lines.append(lines.bad - before)
    finally:
        run.done.set()
        await asyncio.gather(*tasks)
        await guard.aclose()
    res.sent, res.failed = sum(run.statuses.values()), run.failed
    res.statuses = dict(run.statuses)
    res.trips = getattr(store, "trips", 0)
    res.after_503 = run.after_503
    res.down_latency_ms = statistics.median(run.down_latency) * 1000 if run.down_latency else 0
    return res


async def amain(args: argparse.Namespace) -> list[Result]:
    import conftest  # tests/conftest.py: RedisServer

    if not conftest.REDIS_SERVER:
        print("NOT MEASURED: redis-server is not on PATH")
        return []
    lines = Lines()
    log = logging.getLogger("antidistill")
    log.addHandler(lines)
    log.setLevel(logging.INFO)
    log.propagate = False
    results = []
    with tempfile.TemporaryDirectory(prefix="ad-faults-") as tmp:
        for name in args.variants:
            server = conftest.RedisServer(conftest.free_port(), Path(tmp) / name)
            server.start()
            try:
                lines.recovered = 0
                res = await variant(name, args, server, lines)
                res.recovery_lines = lines.recovered
                results.append(res)
            finally:
                server.stop()
    return results


def report(results: list[Result], args: argparse.Namespace) -> None:
    def secs(xs: list[float]) -> str:
        return " / ".join(f"{x:.2f}" for x in xs)

    rows = [[r.variant, f"{r.sent:,}", r.failed, " / ".join(f"{n}/{LIMIT}" for n in
             r.window_served), secs(r.recovery_s), r.trips, " / ".join(map(str, r.log_lines)),
             r.recovery_lines, f"{r.down_latency_ms:.1f}", r.after_503] for r in results]
    common.print_table(
        ["variant", "requests", "failed", "window served (stop / kill)", "recovery s",
         "trips", "log lines", "recovered lines", "ms/req down", "503 after"], rows,
        title=f"Redis SIGSTOP {args.stop:.0f} s, then SIGKILL + restart, {args.workers} "
              f"workers, RATE_LIMITS={LIMIT}/minute")
    print("\nwindow served: requests of a fresh key served during the outage, of its limit "
          f"({LIMIT + 6} sent); log lines: WARNING or above per outage; recovery: seconds "
          "from 'Redis answers again' to 'breaker closed'.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stop", type=float, default=10.0, help="seconds of SIGSTOP")
    ap.add_argument("--hold", type=float, default=3.0, help="seconds of load between phases")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--variants", nargs="+", default=["breaker", "outside", "breaker-closed"],
                    choices=["breaker", "outside", "breaker-closed"])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    common.print_environment(common.environment(["antidistill", "redis", "limits", "httpx"]))
    results = asyncio.run(amain(args))
    report(results, args)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
