"""Distributed behaviour, measured: shared-budget exactness, cross-instance detection, cost.

Usage::

    python benchmarks/distributed.py                 # everything (minutes)
    python benchmarks/distributed.py --quick         # small counts
    python benchmarks/distributed.py --only exactness,cost --json out.json
    python benchmarks/distributed.py --redis-url redis://h:6379/0 \\
        --cluster-url redis+cluster://h1:7000,h2:7001,h3:7002

Without URLs the script starts its own redis-server processes (a standalone server and a
3-master Cluster on free loopback ports, in a temp dir, stopped at the end) with the
helpers of ``tests/conftest.py``; ``redis-server`` and ``redis-cli`` must be on PATH.

Sections:

``exactness``  Two uvicorn *processes* (``tests.distributed_app:app``) on one store, one API
               key with a request budget B (refill ~0), eight concurrent httpx clients
               alternating between the two, 3 x B requests. Overshoot = accepted / B - 1.
               ``memory://`` gives each process its own budget (the classic multi-worker
               bug: expect about +100 %); Redis and Redis Cluster should be exact.
``detection``  The demo's simulated day (``antidistill demo``: honest cohorts plus hydra,
               harvester, system-prompt extraction and grading campaigns) through: one
               instance on ``memory://``; one on Redis; two Guards sharing Redis with every
               request sent to either at random (a seeded dispatcher); and, as a control,
               two instances with a ``memory://`` store each (what a non-shared deployment
               sees). The Guards are configured exactly like the demo's.
``cost``       Per-request added cost, in process (direct ASGI calls, no HTTP), of the
               middleware with all detectors on ``memory://``, Redis on loopback and Redis
               Cluster on loopback, next to the bare app; ~2.5 KB OpenAI chat bodies over
               200 keys (``benchmarks/overhead.py``'s generator and two-day-old history).
               Plus the store's round trips per request: the hot path (observe + apply,
               and a refund when a budget refuses), the usage settlement after the
               response, and the occasional settings reads (run-time mode every 5 s, the
               deployment epoch on an instance's first request), counted separately;
               and the commands and arguments written per request, counted at the
               connection (``cost_day.py``'s counting wrapper, installed here only).

Reads no external data (the demo corpus ships with the package).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT / "src"))
sys.path.insert(2, str(ROOT / "tests"))

import _common as common  # noqa: E402
from cost_day import WIRE  # noqa: E402  # connection-level command and argument counts

PACKAGES = ("antidistill", "redis", "uvicorn", "httpx", "starlette")
SECTIONS = ("exactness", "detection", "cost")
Message = MutableMapping[str, Any]


# --------------------------------------------------------------------------------------
# Redis servers
# --------------------------------------------------------------------------------------
@dataclass
class Backends:
    redis: str | None
    cluster: str | None
    pids: dict[str, list[int]] = field(default_factory=dict)  # URL -> server pids (ours)


@contextmanager
def redis_servers(args: argparse.Namespace) -> Iterator[Backends]:
    """The URLs given, or servers started here for the duration of the run."""
    with ExitStack() as stack:
        redis_url, cluster_url = args.redis_url, args.cluster_url
        pids: dict[str, list[int]] = {}
        if redis_url is None or cluster_url is None:
            import conftest  # tests/conftest.py: RedisServer, start_redis_cluster

            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ad-bench-")))
            if redis_url is None and conftest.REDIS_SERVER:
                server = conftest.RedisServer(conftest.free_port(), base / "redis")
                server.start()
                stack.callback(server.stop)
                redis_url = server.url
                pids[redis_url] = [server.proc.pid] if server.proc else []
            if cluster_url is None and conftest.REDIS_SERVER and conftest.REDIS_CLI:
                handle = conftest.start_redis_cluster(base / "cluster")
                stack.callback(handle.stop)
                cluster_url = handle.url
                pids[cluster_url] = [n.proc.pid for n in handle.nodes if n.proc]
        yield Backends(redis_url, cluster_url, pids)


def backend_uris(b: Backends) -> list[tuple[str, str]]:
    out = [("memory://", "memory://")]
    if b.redis:
        out.append(("Redis", b.redis))
    if b.cluster:
        out.append(("Redis Cluster", b.cluster))
    return out


async def clear_prefix(uri: str, prefix: str) -> None:
    if uri.startswith("memory"):
        return
    from antidistill.storage import storage_from_uri

    store = storage_from_uri(uri, prefix=prefix, socket_timeout=5.0)
    try:
        await store.clear()
    finally:
        await store.close()


# --------------------------------------------------------------------------------------
# 1. exactness
# --------------------------------------------------------------------------------------
async def run_exactness(args: argparse.Namespace, b: Backends) -> list[dict[str, Any]]:
    from distributed_app import hammer, instance_env, uvicorn_instances

    budget = args.budget
    total = 3 * budget
    rows: list[dict[str, Any]] = []
    print(f"\n[exactness] 2 uvicorn processes, 1 API key, budget {budget}, {total} requests "
          f"from {args.clients} concurrent clients, refill {args.refill}/s")
    for label, uri in backend_uris(b):
        for rep in range(args.repeat):
            prefix = "bx" + uuid.uuid4().hex[:10]
            env = instance_env(uri, prefix=prefix, capacity=budget, refill=args.refill)
            with tempfile.TemporaryDirectory(prefix="ad-uv-") as logs:
                try:
                    with uvicorn_instances(2, env, Path(logs)) as instances:
                        res = await hammer([i.url for i in instances], "sk-bench-exact-1",
                                           total, clients=args.clients)
                finally:
                    await clear_prefix(uri, prefix)
            bound = budget + args.refill * (res.elapsed + 1.0)
            rows.append({
                "backend": label, "run": rep + 1, "budget": budget, "requests": total,
                "accepted": res.accepted, "bound": bound,
                "overshoot_pct": 100.0 * (res.accepted - budget) / budget,
                "status_429": res.statuses[429], "status_5xx": res.server_errors,
                "transport_errors": sum(res.errors.values()),
                "per_instance": sorted(res.per_instance.values(), reverse=True),
                "req_per_s": total / res.elapsed if res.elapsed else 0.0,
                "statuses": dict(res.statuses),
            })
            print(f"  {label:<14} run {rep + 1}: accepted {res.accepted} "
                  f"({dict(res.statuses)}) in {res.elapsed:.1f} s", flush=True)
    common.print_table(
        ["backend", "budget", "accepted", "overshoot", "per instance", "429", "5xx",
         "errors", "req/s"],
        [[r["backend"], r["budget"], r["accepted"], f"{r['overshoot_pct']:+.1f}%",
          " + ".join(str(x) for x in r["per_instance"]), r["status_429"], r["status_5xx"],
          r["transport_errors"], f"{r['req_per_s']:.0f}"] for r in rows],
        title=f"Shared request budget across 2 uvicorn processes ({total} requests, "
              f"budget {budget})",
    )
    return rows


# --------------------------------------------------------------------------------------
# 2. detection
# --------------------------------------------------------------------------------------
async def run_detection(args: argparse.Namespace, b: Backends) -> list[dict[str, Any]]:
    from distributed_app import DemoFigures, demo_run

    runs: list[tuple[str, list[str]]] = [("1 instance, memory://", ["memory://"])]
    if b.redis:
        runs += [("1 instance, Redis", [b.redis]),
                 ("2 instances, Redis (random split)", [b.redis, b.redis])]
    if b.cluster and args.detection_cluster:
        runs.append(("2 instances, Redis Cluster", [b.cluster, b.cluster]))
    if args.detection_control:
        runs.append(("control: 2 instances, memory:// each", ["memory://", "memory://"]))
    print(f"\n[detection] the demo's day (seed {args.seed}, scale {args.scale}, "
          f"{args.hydra} hydra accounts) through {len(runs)} deployments")
    figs: list[DemoFigures] = []
    for label, uris in runs:
        f = await demo_run(label, uris, seed=args.seed, scale=args.scale, hydra=args.hydra)
        figs.append(f)
        print(f"  {label}: {f.requests:,} requests in {f.seconds:.0f} s "
              f"({1000 * f.seconds / max(f.requests, 1):.2f} ms/request)", flush=True)

    def pct(a: int, n: int) -> str:
        return f"{a:,}/{n:,} = {100 * a / n:.1f}%" if n else "-"

    def camp(f: DemoFigures, name: str) -> str:
        c = f.campaigns.get(name)
        return f"{c[0]}/{c[1]}" if c else "-"

    common.print_table(
        ["deployment", "hydra caught", "hydra flagged by 3rd req", "benign flagged",
         "grading", "harvester", "sysprompt", "split", "store errors"],
        [[f.label, pct(f.hydra_caught, f.hydra_total), pct(f.by_third_ok, f.by_third_total),
          pct(f.benign_flagged, f.benign_total), camp(f, "grading"), camp(f, "harvester"),
          camp(f, "sysprompt_extraction"),
          " / ".join(str(v) for _, v in sorted(f.split.items())),
          f"{f.store_errors} ({f.fallbacks} fallbacks)"] for f in figs],
        title="The demo's measured day, per deployment (caught = ever flagged)",
    )
    return [asdict(f) | {"hydra_rate": f.hydra_rate, "third_rate": f.third_rate,
                         "benign_rate": f.benign_rate} for f in figs]


# --------------------------------------------------------------------------------------
# 3. cost and round trips
# --------------------------------------------------------------------------------------
@dataclass
class RoundTrips:
    """Round trips of the primary store per request, by phase (sequential requests only)."""

    requests: int = 0
    hot: list[int] = field(default_factory=list)  # observe + apply + refunds, per request
    observe: Counter[int] = field(default_factory=Counter)
    apply: Counter[int] = field(default_factory=Counter)
    refund: int = 0
    settle: list[int] = field(default_factory=list)  # after the response, per request
    settings: int = 0  # mode refresh and epoch reads/writes
    first_request: int = 0  # everything the first measured request cost
    slot_batches: list[int] = field(default_factory=list)


class RoundTripMeter:
    """Wraps a ``ResilientStore``'s methods to attribute its primary's round trips.

    The Guard's ``on_decision`` hook marks the end of the hot path: a ``buckets`` call
    after it is the usage settlement (which runs after the response was sent), one before
    it is a refund of a refused request's other budgets.
    """

    def __init__(self, guard: Any) -> None:
        self.primary = guard.store.primary
        self.rt = RoundTrips()
        self.decided = False
        self.active = False  # measured requests only (after the warm-up)
        self.first: Counter[str] | None = None  # the instance's very first request
        self._cur: Counter[str] = Counter()
        self._slots = self._total = 0
        store = guard.store
        for name in ("observe", "apply", "buckets", "get_setting", "set_setting"):
            setattr(store, name, self._wrap(name, getattr(store, name)))

        def mark(ctx: Any, decision: Any) -> None:
            self.decided = True

        guard.on_decision(mark)

    def _wrap(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def wrapped(*a: Any, **k: Any) -> Any:
            before = self.primary.round_trips
            try:
                return await fn(*a, **k)
            finally:
                n = self.primary.round_trips - before
                if name == "buckets":
                    self._cur["settle" if self.decided else "refund"] += n
                elif name in ("get_setting", "set_setting"):
                    self._cur["settings"] += n
                else:
                    self._cur[name] += n

        return wrapped

    def start(self) -> None:
        self.decided = False
        self._cur = Counter()
        self._slots = getattr(self.primary, "slot_batches", 0)
        self._total = self.primary.round_trips

    def stop(self) -> None:
        c, rt = self._cur, self.rt
        if self.first is None:
            self.first = Counter(c)
            rt.first_request = self.primary.round_trips - self._total
        if not self.active:
            return
        rt.requests += 1
        rt.hot.append(c["observe"] + c["apply"] + c["refund"])
        rt.observe[c["observe"]] += 1
        rt.apply[c["apply"]] += 1
        rt.refund += c["refund"]
        rt.settle.append(c["settle"])
        rt.settings += c["settings"]
        rt.slot_batches.append(getattr(self.primary, "slot_batches", 0) - self._slots)


@dataclass
class Variant:
    label: str
    app: Any
    guard: Any = None
    meter: RoundTripMeter | None = None
    prefix: str = ""
    uri: str = ""
    samples: list[float] = field(default_factory=list)
    round_medians: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    cpu: list[float] = field(default_factory=list)  # this process, µs/request per round
    server_cpu: float = 0.0  # redis-server processes, seconds over the measured rounds
    server_pids: list[int] = field(default_factory=list)
    ports: tuple[int, ...] = ()  # the store's server ports (connection-level counts)
    wire: list[int] = field(default_factory=lambda: [0] * 6)  # cost_day.Wire.snapshot sums


def uri_ports(uri: str) -> tuple[int, ...]:
    """The server ports of a ``redis://`` or ``redis+cluster://`` URI (none for memory)."""
    if uri.startswith("memory"):
        return ()
    hosts = uri.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    return tuple(int(h.rsplit(":", 1)[1]) if ":" in h else 6379 for h in hosts.split(","))


async def run_cost(args: argparse.Namespace, b: Backends) -> dict[str, Any]:
    import overhead  # benchmarks/overhead.py: request generator and history primer

    from antidistill import AntiDistillMiddleware, Guard, Settings
    from antidistill.demo.app import create_app

    base: dict[str, Any] = {
        "secret": "benchmark-only-not-a-secret-0123456789", "events": False,
        # never throttle the benchmark: the cost of served requests is measured
        "request_capacity": 1e9, "request_refill_rate": 1e7,
        "token_capacity": 1e13, "token_refill_rate": 1e10,
        "storage_timeout": 2.0,  # loaded 2-core machine: a timeout would skew the numbers
    }
    variants = [Variant("bare app", create_app())]
    for label, uri in backend_uris(b):
        prefix = "bc" + uuid.uuid4().hex[:10]
        guard = Guard(Settings(**base, storage_uri=uri, storage_prefix=prefix),
                      load_env_hooks=False)
        await overhead.history_primer(guard, base, False, args.history_keys)()
        meter = RoundTripMeter(guard) if not uri.startswith("memory") else None
        variants.append(Variant(f"+ antidistill, {label}", AntiDistillMiddleware(
            create_app(), guard=guard), guard, meter, prefix, uri,
            server_pids=b.pids.get(uri, []), ports=uri_ports(uri)))
    WIRE.install()
    reqs = overhead.chat_requests(args.warmup + args.rounds * args.per_round, seed=3)
    print(f"\n[cost] in-process, all detectors, {len(reqs)} requests of "
          f"{sum(len(r.body) for r in reqs) / len(reqs) / 1024:.1f} KB (mean) over 200 keys, "
          f"{args.rounds} interleaved rounds of {args.per_round}; history of "
          f"{args.history_keys} keys primed", flush=True)

    async def batch(v: Variant, start: int, n: int, timed: bool) -> None:
        clock = time.perf_counter_ns
        times: list[float] = []
        w0 = WIRE.snapshot(v.ports)  # parses the writes logged so far: before the clock
        cpu0 = time.process_time()
        srv0 = [common.proc_cpu_seconds(pid) or 0.0 for pid in v.server_pids]
        for i in range(start, start + n):
            req = reqs[i % len(reqs)]
            send = overhead._Send()
            if v.meter is not None:
                v.meter.start()
            t0 = clock()
            await v.app(overhead._scope(req), overhead._Receive(req.body), send)
            t1 = clock()
            if v.meter is not None:
                v.meter.stop()
            if timed:
                times.append((t1 - t0) / 1000.0)
                v.statuses[send.status] += 1
        if timed:
            v.cpu.append(1e6 * (time.process_time() - cpu0) / n)
            srv1 = [common.proc_cpu_seconds(pid) or 0.0 for pid in v.server_pids]
            v.server_cpu += sum(srv1) - sum(srv0)
            v.wire = [a + b - c for a, b, c in zip(v.wire, WIRE.snapshot(v.ports), w0,
                                                   strict=True)]
            v.samples.extend(times)
            v.round_medians.append(common.median(times))

    gc.collect()
    for v in variants:  # warm-up; round trips are counted from the first measured request
        await batch(v, 0, args.warmup, False)
        if v.meter is not None:
            v.meter.active = True
    for r in range(args.rounds):
        start = args.warmup + r * args.per_round
        order = common.rotated([v.label for v in variants], r)
        for label in order:
            v = next(x for x in variants if x.label == label)
            await batch(v, start, args.per_round, True)
    bare = variants[0]
    bare_cpu = common.median(bare.cpu)
    rows = []
    out: dict[str, Any] = {"variants": {}}
    for v in variants:
        added = [a - b_ for a, b_ in zip(v.round_medians, bare.round_medians, strict=True)]
        st = common.summarize(v.samples)
        decisions = dict(v.guard.counters) if v.guard is not None else {}
        non2xx = sum(n for s, n in v.statuses.items() if not 200 <= s < 300)
        cpu = common.median(v.cpu)
        srv = 1e6 * v.server_cpu / len(v.samples) if v.server_pids and v.samples else None
        rows.append([v.label, common.fmt_us(st.median), common.fmt_us(st.p99),
                     "-" if v is bare else common.fmt_us(common.median(added)),
                     common.fmt_us(cpu), "-" if v is bare else common.fmt_us(cpu - bare_cpu),
                     "-" if srv is None else common.fmt_us(srv), non2xx])
        out["variants"][v.label] = {"median_us": st.median, "p99_us": st.p99,
                                    "added_median_us": common.median(added) if v is not bare
                                    else 0.0, "cpu_us": cpu, "server_cpu_us": srv,
                                    "non_2xx": non2xx, "decisions": decisions}
    common.print_table(["variant", "median", "p99", "added (median of rounds)",
                        "CPU/req (this process)", "added CPU", "redis-server CPU/req",
                        "non-2xx"],
                       rows, title="Per-request cost, in process (2.5 KB chat bodies, all "
                                   "detectors; wall time, then CPU time)")
    rt_rows = []
    for v in variants:
        if v.meter is None:
            continue
        rt = v.meter.rt
        n = max(rt.requests, 1)
        hot_mean = sum(rt.hot) / n
        w, calls = v.wire, max(v.wire[3], 1)
        rt_rows.append([
            v.label.removeprefix("+ antidistill, "), rt.requests,
            f"{common.median(rt.hot):.0f} / {hot_mean:.2f} / {max(rt.hot, default=0)}",
            ", ".join(f"{k}:{c}" for k, c in sorted(rt.observe.items())),
            ", ".join(f"{k}:{c}" for k, c in sorted(rt.apply.items())),
            rt.refund, f"{sum(rt.settle) / n:.2f}", rt.settings, rt.first_request,
            f"{sum(rt.slot_batches) / n:.1f}", f"{w[1] / n:.1f}", f"{w[2] / n:.0f}",
            f"{w[4] / calls:.1f}",
        ])
        out["variants"][v.label]["round_trips"] = {
            "requests": rt.requests, "hot_median": common.median(rt.hot), "hot_mean": hot_mean,
            "hot_max": max(rt.hot, default=0), "observe": dict(rt.observe),
            "apply": dict(rt.apply), "refund": rt.refund, "settle_mean": sum(rt.settle) / n,
            "settings": rt.settings, "first_request": rt.first_request,
            "first_request_by_phase": dict(v.meter.first or {}),
            "slot_batches_mean": sum(rt.slot_batches) / n,
            "commands_per_request": w[1] / n, "args_per_request": w[2] / n,
            "script_calls_per_request": w[3] / n, "args_per_script_call": w[4] / calls,
        }
    common.print_table(
        ["store", "requests", "hot path med/mean/max", "observe (RTs:reqs)",
         "apply (RTs:reqs)", "refunds", "settle/req (after resp.)", "settings reads",
         "1st request", "slots/req", "commands/req", "args/req", "args/script call"],
        rt_rows, title="Store round trips per request (measured requests; the hot path "
                       "excludes settlement and settings reads)")
    for v in variants:
        if v.meter is not None and v.meter.first is not None:
            phases = ", ".join(f"{k} {n}" for k, n in sorted(v.meter.first.items()) if n)
            print(f"  first request of {v.label.removeprefix('+ antidistill, ')}: "
                  f"{v.meter.rt.first_request} round trips ({phases})")
    for v in variants:
        if v.guard is not None:
            await clear_prefix(v.uri, v.prefix)
            await v.guard.aclose()
    return out


# --------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections ({', '.join(SECTIONS)})")
    p.add_argument("--redis-url", help="use this standalone Redis instead of starting one")
    p.add_argument("--cluster-url", help="use this Redis Cluster (redis+cluster://...)")
    p.add_argument("--budget", type=int, default=200)
    p.add_argument("--refill", type=float, default=0.0001)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--repeat", type=int, default=None, help="exactness runs per backend")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--scale", type=float, default=None, help="demo scale (default 1.0)")
    p.add_argument("--hydra", type=int, default=None, help="hydra accounts (default 1000)")
    p.add_argument("--no-control", dest="detection_control", action="store_false",
                   help="skip the 2 x memory:// control run")
    p.add_argument("--detection-cluster", action="store_true",
                   help="also run the demo split over two instances on Redis Cluster")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--per-round", type=int, default=None)
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--history-keys", type=int, default=None)
    p.add_argument("--json", help="write the results here")
    a = p.parse_args(argv)
    q = a.quick
    a.repeat = a.repeat or (1 if q else 2)
    a.scale = a.scale if a.scale is not None else (0.1 if q else 1.0)
    a.hydra = a.hydra if a.hydra is not None else (150 if q else 1000)
    a.rounds = a.rounds or (3 if q else 7)
    a.per_round = a.per_round or (60 if q else 300)
    a.warmup = a.warmup if a.warmup is not None else (20 if q else 100)
    a.history_keys = a.history_keys if a.history_keys is not None else (300 if q else 2000)
    a.sections = [s.strip() for s in a.only.split(",") if s.strip()]
    bad = set(a.sections) - set(SECTIONS)
    if bad:
        p.error(f"unknown sections {sorted(bad)}")
    return a


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with redis_servers(args) as b:
        missing = [n for n, u in (("standalone Redis", b.redis), ("Redis Cluster", b.cluster))
                   if not u]
        if missing:
            print(f"NOT MEASURED: {', '.join(missing)} (redis-server/redis-cli not on PATH "
                  f"and no URL given)")
        if "exactness" in args.sections:
            results["exactness"] = await run_exactness(args, b)
        if "detection" in args.sections:
            results["detection"] = await run_detection(args, b)
        if "cost" in args.sections:
            results["cost"] = await run_cost(args, b)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    env = common.environment(PACKAGES)
    common.print_environment(env)
    started = time.perf_counter()
    results = asyncio.run(amain(args))
    results["environment"] = env
    results["elapsed_s"] = time.perf_counter() - started
    print(f"\nelapsed {results['elapsed_s']:.0f} s")
    common.write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
