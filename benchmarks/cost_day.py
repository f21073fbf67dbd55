"""What antidistill costs per request on a realistic day: the harder simulated day, measured.

    python benchmarks/cost_day.py                       # seed 7, tune day, Redis sample k=10
    python benchmarks/cost_day.py --variant report --seed 11
    python benchmarks/cost_day.py --sample 5 --no-cluster --json out.json
    python benchmarks/cost_day.py --quick               # CI smoke size

Part 1 (memory): the simulated day of ``benchmarks/detection.py --harder VARIANT`` (every
honest and campaign cohort of the default and the harder day, long agent histories,
multi-turn sessions whose history holds the server's real answers) is driven in process
through two lanes *in one run*: (a) the bare demo app and (b) the same app wrapped by
``AntiDistillMiddleware`` on ``memory://`` in enforce mode, configured as detection.py's
guard (the demo's budgets, everything else the defaults). Every request is sent to both
lanes, one right after the other, in an order that alternates per request, so machine
noise hits both alike; a scripted account hears the middleware lane's answer. Added cost
is the per-request difference of wall times (middleware lane minus bare lane), summarised
over the measured day (the requests from ``day_start`` on; yesterday's history requests
are driven and timed but not counted), overall and per cohort, with the body sizes.

Part 2 (Redis): the same day restricted to every ``K``-th account (``--sample K``), through
the bare app, ``memory://``, Redis on loopback and a 3-master Redis Cluster on loopback
(servers started here, on free ports, with the helpers of ``tests/conftest.py``; or
``--redis-url`` / ``--cluster-url``). Reported per lane: client CPU per request (this
process's ``time.process_time`` over the app call, minus the bare lane's for the same
request; the server's CPU is not in it), and the store traffic per request, counted at the
connection (a counting wrapper of ``asyncio.StreamWriter``'s writes, installed by this
script only, parsed outside the timed calls): socket writes, commands and arguments, split at the
decision into the hot path (before it: observe and apply, and a refund when a budget refuses;
the PASS line counts served requests)
and what follows the response (usage settlement, continuity's answer record); the periodic
reads (the run-time mode and which allow/deny/watch lists exist, each at most every 5 real
seconds) are counted apart. ``store round trips`` is the backend's own
count of sequential pipeline executions (on Cluster one execution writes to every node it
touches, in parallel). The settlement and the answer records ride with the store's next
round trip (``storage/deferred.py``); ``deferred flushed alone`` counts the round trips the
flush timer (or a full queue) sent for them, which run between the timed calls.

The acceptance lines of issue #15 are printed as PASS/FAIL: memory day mean added
<= 120 µs and p99 <= 1 ms; Redis client CPU <= 0.6 ms and <= 2 round trips on the hot path;
Cluster client CPU <= 0.8 ms. The exit status is 0 (a report).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT / "src"))
sys.path.insert(2, str(ROOT / "tests"))

import _common as common  # noqa: E402

PACKAGES = ("antidistill", "redis", "hiredis", "starlette")
DAY = 86400.0
PATH = "/v1/chat/completions"
TARGETS = {"mean_us": 120.0, "p99_us": 1000.0, "redis_cpu_ms": 0.6, "redis_rt": 2,
           "cluster_cpu_ms": 0.8}


# --------------------------------------------------------------------------------------
# connection-level counting (this process only)
# --------------------------------------------------------------------------------------
class Wire:
    """Counts socket writes to Redis, commands and arguments, per server port.

    ``asyncio.StreamWriter.write``/``writelines`` are wrapped (this process only), which is
    where both redis-py's own calls and the store's round trips write; a write is only logged
    there (a reference to its bytes), and parsed as RESP at the next :meth:`snapshot`, which
    the lanes take outside their timed section, so the counting costs the lanes next to
    nothing. :meth:`cut` marks a point in the log (the decision) at no cost.
    """

    def __init__(self) -> None:
        self.sends: Counter[int] = Counter()
        self.commands: Counter[int] = Counter()
        self.args: Counter[int] = Counter()
        self.script_calls: Counter[int] = Counter()
        self.script_args: Counter[int] = Counter()
        self.periodic: Counter[int] = Counter()  # writes of the mode and list-presence reads
        self.in_periodic = False
        self.log: list[tuple[Any, Any, bool]] = []  # (writer, data, periodic), unparsed
        self.parsed = 0  # writes parsed so far (the log holds the ones after them)

    def install(self) -> None:
        from asyncio import StreamWriter

        write, writelines = StreamWriter.write, StreamWriter.writelines
        log = self.log
        wire = self

        def counted_write(writer: Any, data: Any) -> None:
            log.append((writer, data, wire.in_periodic))
            write(writer, data)

        def counted_writelines(writer: Any, data: Any) -> None:
            data = list(data)
            log.append((writer, b"".join(data), wire.in_periodic))
            writelines(writer, data)

        StreamWriter.write = counted_write  # type: ignore[method-assign]
        StreamWriter.writelines = counted_writelines  # type: ignore[method-assign]

    def cut(self) -> int:
        """The position of the next write in the log."""
        return self.parsed + len(self.log)

    def _parse(self, upto: int | None = None) -> None:
        n = len(self.log) if upto is None else max(0, upto - self.parsed)
        for writer, data, periodic in self.log[:n]:
            peer = writer.get_extra_info("peername")
            port = peer[1] if isinstance(peer, tuple) else 0
            self.sends[port] += 1
            self.periodic[port] += periodic
            for nargs, name in _resp_commands(bytes(data)):
                self.commands[port] += 1
                self.args[port] += nargs
                if name in (b"EVALSHA", b"EVAL"):
                    self.script_calls[port] += 1
                    self.script_args[port] += nargs - 3  # keys and ARGV only
        del self.log[:n]
        self.parsed += n

    def snapshot(self, ports: Sequence[int], upto: int | None = None) -> tuple[int, ...]:
        """Totals for ``ports`` over the writes before ``upto`` (a :meth:`cut`; default all)."""
        self._parse(upto)
        return (sum(self.sends[p] for p in ports), sum(self.commands[p] for p in ports),
                sum(self.args[p] for p in ports), sum(self.script_calls[p] for p in ports),
                sum(self.script_args[p] for p in ports), sum(self.periodic[p] for p in ports))

    def mark_periodic(self, store: Any) -> None:
        """Attribute the writes of ``store``'s settings reads and list-presence refreshes
        (each at most every 5 real seconds) to ``periodic``."""
        for name in ("get_setting", "set_setting", "_lists_to_check"):
            fn = getattr(store, name, None)
            if fn is None:
                continue

            async def wrapped(*a: Any, _fn: Any = fn, **k: Any) -> Any:
                self.in_periodic = True
                try:
                    return await _fn(*a, **k)
                finally:
                    self.in_periodic = False

            setattr(store, name, wrapped)


def _resp_commands(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(argument count, command name) of each RESP command array in ``data``."""
    i = 0
    while i < len(data):
        j = data.index(b"\r\n", i)
        nargs, i, name = int(data[i + 1 : j]), j + 2, b""
        for k in range(nargs):
            j = data.index(b"\r\n", i)
            size = int(data[i + 1 : j])
            if k == 0:
                name = data[j + 2 : j + 2 + size].upper()
            i = j + 2 + size + 2
        yield nargs, name


WIRE = Wire()


# --------------------------------------------------------------------------------------
# lanes: one app each, timed per request
# --------------------------------------------------------------------------------------
@dataclass
class Lane:
    label: str
    app: Any
    guard: Any = None
    last: dict[str, Any] = field(default_factory=dict)
    ports: tuple[int, ...] = ()
    wall: list[float] = field(default_factory=list)  # µs per request, in driver order
    cpu: list[float] = field(default_factory=list)
    hot: list[tuple[int, ...]] = field(default_factory=list)  # wire deltas before decision
    after: list[tuple[int, ...]] = field(default_factory=list)  # ... and after it
    store_rt: list[int] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    profiler: Any = None  # a cProfile.Profile enabled around this lane's calls (--profile)
    _mark: int | None = None

    def attach(self) -> None:
        """Mark the decision point (the end of the hot path) through an on_decision hook."""
        if self.guard is None or not self.ports:
            return

        def mark(ctx: Any, decision: Any) -> None:
            self._mark = WIRE.cut()

        self.guard.on_decision(mark)
        WIRE.mark_periodic(self.primary())

    def primary(self) -> Any:
        store = self.guard.store if self.guard is not None else None
        return getattr(store, "primary", store)

    async def call(self, headers: list[tuple[str, str]], body: bytes,
                   client: tuple[str, int]) -> tuple[int, bytes]:
        from antidistill.demo.run import call_asgi

        self.last.clear()
        self._mark = None
        w0 = WIRE.snapshot(self.ports) if self.ports else None
        rt0 = getattr(self.primary(), "round_trips", 0)
        if self.profiler is not None:
            self.profiler.enable()
        c0, t0 = time.process_time_ns(), time.perf_counter_ns()
        status, raw = await call_asgi(self.app, "POST", PATH, headers, body, client)
        t1, c1 = time.perf_counter_ns(), time.process_time_ns()
        if self.profiler is not None:
            self.profiler.disable()
        self.wall.append((t1 - t0) / 1000.0)
        self.cpu.append((c1 - c0) / 1000.0)
        self.statuses[status] += 1
        self.status.append(status)
        if w0 is not None:
            mid = None if self._mark is None else WIRE.snapshot(self.ports, self._mark)
            w1 = WIRE.snapshot(self.ports)
            mid = mid or w1
            self.hot.append(tuple(b - a for a, b in zip(w0, mid, strict=True)))
            self.after.append(tuple(b - a for a, b in zip(mid, w1, strict=True)))
            self.store_rt.append(getattr(self.primary(), "round_trips", 0) - rt0)
        return status, raw


@dataclass
class Driven:
    """What the driver recorded per request (same index in every lane's lists)."""

    cohort: list[str] = field(default_factory=list)
    measured: list[bool] = field(default_factory=list)
    size: list[int] = field(default_factory=list)


async def drive(lanes: Sequence[Lane], driver: Lane, clock: Any, accounts: list[Any],
                day_start: float, progress: str) -> Driven:
    """``run_day``'s schedule (``demo.run.drive_schedule``), each request sent to every lane
    (order rotated per request); scripted accounts hear ``driver``'s answer."""
    from antidistill.demo.run import drive_schedule

    out = Driven()
    by_label = {x.label: x for x in lanes}
    started = time.monotonic()

    async def send(acct: Any, step: Any, headers: list[tuple[str, str]], data: bytes,
                   client: tuple[str, int]) -> tuple[int, bytes]:
        n = len(out.cohort)
        answers: dict[str, tuple[int, bytes]] = {}
        for label in common.rotated(list(by_label), n):
            answers[label] = await by_label[label].call(headers, data, client)
        out.cohort.append(acct.cohort)
        out.measured.append(clock.now >= day_start)
        out.size.append(len(data))
        if (n + 1) % 5000 == 0:
            print(f"  [{progress}] {n + 1:,} requests, {time.monotonic() - started:.0f} s",
                  flush=True)
        return answers[driver.label]

    await drive_schedule(accounts, clock, send)
    return out


# --------------------------------------------------------------------------------------
# building the day and the guards
# --------------------------------------------------------------------------------------
def build_day(args: argparse.Namespace, sample: int) -> tuple[Any, list[Any], float]:
    from antidistill.demo.cohorts import VARIANTS
    from antidistill.demo.simulate import Clock, Population

    day_start = 1_780_000_000.0 - (1_780_000_000.0 % DAY)
    accounts = Population(seed=args.seed, scale=args.scale, hydra_accounts=args.hydra,
                          harder=VARIANTS[args.variant]).build(day_start)
    if sample > 1:
        accounts = accounts[::sample]
    return Clock(day_start - DAY), accounts, day_start


def guarded_lane(label: str, clock: Any, dbs: dict[str, str], **overrides: Any) -> Lane:
    from antidistill.demo.app import create_app
    from antidistill.demo.report import demo_guard
    from antidistill.middleware import AntiDistillMiddleware

    guard, last = demo_guard(clock, "enforce", **dbs, **overrides)
    return Lane(label, AntiDistillMiddleware(create_app(varied=True), guard=guard), guard, last)


def bare_lane() -> Lane:
    from antidistill.demo.app import create_app

    return Lane("bare app", create_app(varied=True))


# --------------------------------------------------------------------------------------
# summaries
# --------------------------------------------------------------------------------------
def _stats(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "mean": float("nan"), "p50": float("nan"), "p99": float("nan")}
    return {"n": len(values), "mean": statistics.fmean(values),
            "p50": common.percentile(values, 50), "p99": common.percentile(values, 99)}


def added(lane: Lane, bare: Lane, d: Driven, attr: str = "wall",
          cohort: str | None = None) -> list[float]:
    a, b = getattr(lane, attr), getattr(bare, attr)
    return [a[i] - b[i] for i in range(len(d.measured))
            if d.measured[i] and (cohort is None or d.cohort[i] == cohort)]


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def start_profile(args: argparse.Namespace, lanes: Sequence[Lane]) -> None:
    import cProfile

    for lane in lanes:
        if lane.label in (args.profile or ()):
            lane.profiler = cProfile.Profile(time.process_time)  # CPU, not wall time


def print_profile(lanes: Sequence[Lane], out: str | None = None) -> None:
    import pstats

    for lane in lanes:
        if lane.profiler is not None:
            if out:  # one pstats file per lane, for comparing lanes of one run
                name = re.sub(r"[^A-Za-z0-9]+", "_", lane.label).strip("_")
                lane.profiler.dump_stats(f"{out}/{name}.pstats")
            print(f"\nprofile of lane {lane.label!r} (cProfile, cumulative, top 40):")
            st = pstats.Stats(lane.profiler, stream=sys.stdout)
            st.sort_stats("cumulative").print_stats(40)
            st.sort_stats("tottime").print_stats(30)


def report_memory(lanes: Sequence[Lane], d: Driven, seconds: float) -> dict[str, Any]:
    bare, mw = lanes
    cohorts = sorted(set(d.cohort), key=lambda c: -d.cohort.count(c))
    rows, per_cohort = [], {}
    for name in [None, *cohorts]:
        st = _stats(added(mw, bare, d, cohort=name))
        if not st["n"]:
            continue
        cpu = _stats(added(mw, bare, d, "cpu", cohort=name))
        sizes = [d.size[i] for i in range(len(d.size))
                 if d.measured[i] and (name is None or d.cohort[i] == name)]
        per_cohort[name or "all"] = st | {"body_p50": common.percentile(sizes, 50),
                                          "cpu": cpu}
        rows.append([name or "ALL (measured day)", f"{st['n']:,}", common.fmt_us(st["mean"]),
                     common.fmt_us(st["p50"]), common.fmt_us(st["p99"]),
                     common.fmt_us(cpu["mean"]), common.fmt_us(cpu["p50"]),
                     common.fmt_us(cpu["p99"]), f"{common.percentile(sizes, 50) / 1024:.1f} KB"])
    common.print_table(["cohort", "requests", "mean added", "p50 added", "p99 added",
                        "CPU added mean", "CPU p50", "CPU p99", "body p50"], rows,
                       title="Realistic day, memory://, defaults, enforce: added wall time per "
                             "request (middleware lane minus bare lane, paired per request), "
                             "and added CPU time (process_time: what preemption on a busy "
                             "machine does not inflate)")
    sizes = [d.size[i] for i in range(len(d.size)) if d.measured[i]]
    size_pct = {q: common.percentile(sizes, q) for q in (50, 90, 99, 100)}
    print("body sizes (measured day): " + ", ".join(
        f"p{q} {v / 1024:.1f} KB" for q, v in size_pct.items()).replace("p100", "max"))
    bare_st = _stats([bare.wall[i] for i in range(len(d.measured)) if d.measured[i]])
    mw_st = _stats([mw.wall[i] for i in range(len(d.measured)) if d.measured[i]])
    print(f"bare app per request: mean {common.fmt_us(bare_st['mean'])}, p50 "
          f"{common.fmt_us(bare_st['p50'])}; with antidistill: mean "
          f"{common.fmt_us(mw_st['mean'])}, p50 {common.fmt_us(mw_st['p50'])}")
    print(f"requests driven: {len(d.measured):,} (measured day {sum(d.measured):,}, "
          f"history {len(d.measured) - sum(d.measured):,}); statuses "
          f"{dict(mw.statuses)}; {seconds:.0f} s")
    decisions = dict(mw.guard.counters) if mw.guard is not None else {}
    print(f"decisions: {decisions}")
    overall = per_cohort["all"]
    print(f"{_verdict(overall['mean'] <= TARGETS['mean_us'])}: realistic day, memory://, "
          f"defaults: mean added {overall['mean']:.0f} µs (target <= 120 µs)")
    print(f"{_verdict(overall['p99'] <= TARGETS['p99_us'])}: realistic day, memory://, "
          f"defaults: p99 added {overall['p99']:.0f} µs (target <= 1000 µs)")
    return {"added_us": per_cohort, "body_bytes": size_pct, "requests": len(d.measured),
            "measured": sum(d.measured), "bare_us": bare_st, "middleware_us": mw_st,
            "decisions": decisions, "seconds": seconds}


def _wire_row(lane: Lane, d: Driven) -> dict[str, float]:
    idx = [i for i in range(len(d.measured)) if d.measured[i]]
    hot = [lane.hot[i] for i in idx]
    aft = [lane.after[i] for i in idx]
    n = max(len(idx), 1)
    sends = [h[0] - h[5] for h in hot]  # observe, apply and refunds
    served = [x for x, i in zip(sends, idx, strict=True) if lane.status[i] == 200]
    refused = [x for x, i in zip(sends, idx, strict=True) if lane.status[i] != 200]
    calls = sum(h[3] + a[3] for h, a in zip(hot, aft, strict=True))
    sargs = sum(h[4] + a[4] for h, a in zip(hot, aft, strict=True))
    return {
        "hot_sends_p50": common.percentile(sends, 50), "hot_sends_mean": sum(sends) / n,
        "hot_sends_p99": common.percentile(sends, 99), "hot_sends_max": max(sends, default=0),
        "served_sends_p99": common.percentile(served, 99),
        "served_sends_max": max(served, default=0),
        "refused_sends_p50": common.percentile(refused, 50) if refused else 0.0,
        "periodic_sends_mean": sum(h[5] for h in hot) / n,
        "hot_commands_mean": sum(h[1] for h in hot) / n,
        "hot_args_mean": sum(h[2] for h in hot) / n,
        "after_sends_mean": sum(a[0] for a in aft) / n,
        "after_args_mean": sum(a[2] for a in aft) / n,
        "script_calls_mean": calls / n, "args_per_script_call": sargs / calls if calls else 0.0,
        "store_round_trips_mean": sum(lane.store_rt[i] for i in idx) / n,
        # round trips of deferred writes alone (timer or full queue), outside any request's
        # timed call: over every request the lane served (history included)
        "alone_flushes_per_request": lane_flushes(lane) / max(len(lane.cpu), 1),
    }


def lane_flushes(lane: Lane) -> int:
    behind = getattr(lane.primary(), "_behind", None)
    return int(getattr(behind, "flushes", 0))


def report_redis(lanes: Sequence[Lane], d: Driven, sample: int,
                 seconds: float) -> dict[str, Any]:
    bare = lanes[0]
    rows, wire_rows, out = [], [], {}
    for lane in lanes[1:]:
        cpu = _stats(added(lane, bare, d, "cpu"))
        wall = _stats(added(lane, bare, d, "wall"))
        out[lane.label] = {"cpu_added_us": cpu, "wall_added_us": wall,
                           "statuses": dict(lane.statuses)}
        rows.append([lane.label, f"{cpu['n']:,}", common.fmt_us(cpu["mean"]),
                     common.fmt_us(cpu["p50"]), common.fmt_us(cpu["p99"]),
                     common.fmt_us(wall["mean"]), common.fmt_us(wall["p50"])])
        if lane.ports:
            w = _wire_row(lane, d)
            out[lane.label]["wire"] = w
            wire_rows.append([lane.label, f"{w['hot_sends_p50']:.0f} / {w['hot_sends_mean']:.2f}"
                              f" / {w['hot_sends_p99']:.0f} / {w['hot_sends_max']:.0f}",
                              f"{w['store_round_trips_mean']:.2f}",
                              f"{w['hot_commands_mean']:.1f}", f"{w['hot_args_mean']:.0f}",
                              f"{w['script_calls_mean']:.1f}",
                              f"{w['args_per_script_call']:.1f}",
                              f"{w['periodic_sends_mean']:.3f}",
                              f"{w['after_sends_mean']:.2f}",
                              f"{w['alone_flushes_per_request']:.3f}"])
    common.print_table(["lane", "requests", "client CPU added mean", "p50", "p99",
                        "wall added mean", "wall p50"], rows,
                       title=f"Realistic day, every {sample}th account: client CPU per request "
                             "(process_time, minus the bare lane's), and wall time")
    common.print_table(["lane", "hot-path writes p50/mean/p99/max", "store RTs/req",
                        "hot commands/req", "hot args/req", "script calls/req",
                        "args/script call", "periodic reads/req",
                        "writes after decision/req", "deferred flushed alone/req"],
                       wire_rows,
                       title="Store traffic per request, counted at the connection")
    print(f"({seconds:.0f} s)")
    for label, key, rt in (("Redis", "redis_cpu_ms", True), ("Redis Cluster", "cluster_cpu_ms",
                                                             False)):
        res = out.get(label)
        if res is None:
            print(f"NOT MEASURED: {label}")
            continue
        ms = res["cpu_added_us"]["mean"] / 1000.0
        print(f"{_verdict(ms <= TARGETS[key])}: {label} on loopback: client CPU "
              f"{ms:.2f} ms/request (target <= {TARGETS[key]} ms)")
        w = res.get("wire")
        if rt and w is not None:
            ok = w["served_sends_p99"] <= TARGETS["redis_rt"]
            print(f"{_verdict(ok)}: {label} on loopback: hot-path round trips p99 "
                  f"{w['served_sends_p99']:.0f} (max {w['served_sends_max']:.0f}) on served "
                  f"requests, mean {w['hot_sends_mean']:.2f} over all, "
                  f"{w['refused_sends_p50']:.0f} on a budget-refused one (target <= 2)")
    return out


# --------------------------------------------------------------------------------------
# runs
# --------------------------------------------------------------------------------------
async def run_memory(args: argparse.Namespace, dbs: dict[str, str]) -> dict[str, Any]:
    clock, accounts, day_start = build_day(args, 1)
    lanes = [bare_lane(), guarded_lane("antidistill, memory://", clock, dbs)]
    print(f"\n[memory] seed {args.seed}, variant {args.variant}, scale {args.scale}: "
          f"{len(accounts):,} accounts through the bare app and antidistill, paired",
          flush=True)
    start_profile(args, lanes)
    gc.collect()
    t0 = time.monotonic()
    d = await drive(lanes, lanes[1], clock, accounts, day_start, "memory")
    res = report_memory(lanes, d, time.monotonic() - t0)
    print_profile(lanes, args.profile_out)
    for lane in lanes:
        if lane.guard is not None:
            await lane.guard.aclose()
    return res


async def run_redis(args: argparse.Namespace, dbs: dict[str, str],
                    urls: list[tuple[str, str, tuple[int, ...]]]) -> dict[str, Any]:
    clock, accounts, day_start = build_day(args, args.sample)
    lanes = [bare_lane(), guarded_lane("memory://", clock, dbs)]
    for label, url, ports in urls:
        prefix = f"cd{len(lanes)}{int(time.time()) % 100000}"
        lane = guarded_lane(label, clock, dbs, storage_uri=url, storage_prefix=prefix,
                            storage_timeout=2.0)  # a loaded machine must not time out
        lane.ports = ports
        lane.attach()
        lanes.append(lane)
    print(f"\n[redis] every {args.sample}th account ({len(accounts):,}) through "
          f"{', '.join(x.label for x in lanes)}", flush=True)
    start_profile(args, lanes)
    gc.collect()
    t0 = time.monotonic()
    d = await drive(lanes, lanes[1], clock, accounts, day_start, "redis")
    res = report_redis(lanes, d, args.sample, time.monotonic() - t0)
    print_profile(lanes, args.profile_out)
    for lane in lanes:
        if lane.guard is not None:
            store = lane.primary()
            if hasattr(store, "clear"):
                await store.clear()
            await lane.guard.aclose()
    return res


@contextmanager
def servers(args: argparse.Namespace) -> Iterator[list[tuple[str, str, tuple[int, ...]]]]:
    """(label, storage URI, server ports) of the Redis backends to measure."""
    from urllib.parse import urlsplit

    with ExitStack() as stack:
        out: list[tuple[str, str, tuple[int, ...]]] = []
        need_local = (args.redis_url is None) or (args.cluster and args.cluster_url is None)
        base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ad-cost-")))
        conftest: Any = None
        if need_local:
            import conftest as _conftest  # tests/conftest.py: RedisServer, start_redis_cluster

            conftest = _conftest
        if args.redis_url:
            port = urlsplit(args.redis_url).port or 6379
            out.append(("Redis", args.redis_url, (port,)))
        elif conftest is not None and conftest.REDIS_SERVER:
            server = conftest.RedisServer(conftest.free_port(), base / "redis")
            server.start()
            stack.callback(server.stop)
            out.append(("Redis", server.url, (server.port,)))
        if args.cluster and args.cluster_url:
            hosts = args.cluster_url.split("://", 1)[1].split("?")[0].split(",")
            out.append(("Redis Cluster", args.cluster_url,
                        tuple(int(h.rsplit(":", 1)[1]) for h in hosts)))
        elif args.cluster and conftest is not None and conftest.REDIS_CLI:
            handle = conftest.start_redis_cluster(base / "cluster")
            stack.callback(handle.stop)
            out.append(("Redis Cluster", handle.url, tuple(n.port for n in handle.nodes)))
        yield out


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    from antidistill.demo.networks import write_network_dbs

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        dbs: dict[str, str] = {}
        if args.network_db:
            dbs["asn_db"], dbs["anon_ip_db"] = write_network_dbs(tmp)
        if not args.no_memory:
            results["memory"] = await run_memory(args, dbs)
        if args.sample > 0:
            WIRE.install()
            with servers(args) as urls:
                if not urls:
                    print("NOT MEASURED: Redis (redis-server not on PATH and no URL given)")
                else:
                    results["redis"] = await run_redis(args, dbs, urls)
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--variant", choices=("tune", "report"), default="tune")
    p.add_argument("--scale", type=float, default=None, help="cohort scale (default 1.0)")
    p.add_argument("--hydra", type=int, default=None,
                   help="templated hydra accounts (default: the harder day's, times --scale)")
    p.add_argument("--sample", type=int, default=None,
                   help="Redis part: every K-th account (default 10; 0 skips the Redis part)")
    p.add_argument("--no-memory", action="store_true", help="skip the full memory:// day")
    p.add_argument("--no-cluster", dest="cluster", action="store_false",
                   help="skip Redis Cluster")
    p.add_argument("--redis-url", help="use this standalone Redis instead of starting one")
    p.add_argument("--cluster-url", help="use this Redis Cluster (redis+cluster://h:p,...)")
    p.add_argument("--no-network-db", dest="network_db", action="store_false",
                   help="no ASN / anonymous-IP databases (they need mmdb-writer)")
    p.add_argument("--profile", metavar="LANE", action="append",
                   help="cProfile one lane's calls (e.g. 'Redis', 'antidistill, memory://'; "
                        "repeat for more lanes); its timings then include the profiler's cost")
    p.add_argument("--profile-out", metavar="DIR",
                   help="also write each profiled lane's pstats file into DIR")
    p.add_argument("--quick", action="store_true", help="CI smoke size")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args(argv)
    if a.scale is None:
        a.scale = 0.02 if a.quick else 1.0
    if a.hydra is None and a.quick:
        a.hydra = 20
    if a.sample is None:
        a.sample = 4 if a.quick else 10
    return a


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # stopped from outside: unwind, so the redis-servers started here are stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    env = common.environment(PACKAGES)
    common.print_environment(env)
    started = time.perf_counter()
    results = asyncio.run(amain(args))
    results["environment"] = env
    results["args"] = vars(args)
    results["elapsed_s"] = time.perf_counter() - started
    print(f"\nelapsed {results['elapsed_s']:.0f} s")
    common.write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
