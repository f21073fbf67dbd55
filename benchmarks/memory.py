"""Resident memory of ``memory://`` as distinct identities pile up: does it plateau?

Usage::

    python benchmarks/memory.py                          # 1M identities at default bounds
    python benchmarks/memory.py --identities 200000 --max-identities 20000 --max-features 50000
    python benchmarks/memory.py --trace 10               # + top tracemalloc growth sites
    python benchmarks/memory.py --identities 200000 --max-identities 20000 \
        --max-features 50000 --diag 0                    # tables and objects per step

Each request is a distinct API key from a distinct client address with its own prompt, sent
through ``AntiDistillMiddleware`` in process (scope, receive and send built here, default
settings: every detector, memory store), so every per-identity structure in the store and in
the guard fills up. RSS (``/proc/self/statm``) is printed at every 10% of the run, with the
number of entries in the store's bounded maps and the CPU time of one full ``gc.collect()``
over the GC-tracked objects it walks. Acceptance (issue #11, finding 15): once the
bounds are full, RSS between 50% and 100% of the run stays within 5%. Bytes per identity are
the RSS growth from start to the point the identity bound fills, over the identities held.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, print_environment, print_table

PATH = "/v1/chat/completions"
WORDS = ("alpha", "river", "stone", "cloud", "maple", "ember", "quartz", "harbor", "lantern",
         "meadow", "violet", "copper", "tundra", "saffron", "orchid", "falcon")


def rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc``)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def trimmed_rss() -> int:
    """``--trim`` (diagnosis): RSS after glibc's ``malloc_trim(0)`` hands back free heap pages,
    so live data and allocator high-water marks can be told apart."""
    import ctypes

    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_bytes()


def prompt(i: int) -> str:
    """A distinct, natural-looking prompt per identity (distinct templates and segments)."""
    w = [WORDS[(i >> s) % len(WORDS)] for s in (0, 4, 8, 12, 16)]
    return (f"Please write a short note about the {w[0]} {w[1]} near the {w[2]} and why the "
            f"{w[3]} matters for {w[4]} number {i}.")


def scope(i: int) -> dict[str, Any]:
    ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    headers = [(b"host", b"api"), (b"content-type", b"application/json"),
               (b"authorization", f"Bearer sk-mem-{i:08d}".encode())]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "server": ("127.0.0.1", 8000), "client": (ip, 40000), "scheme": "http",
            "method": "POST", "root_path": "", "path": PATH, "raw_path": PATH.encode(),
            "query_string": b"", "headers": headers, "state": {}}


def body(i: int) -> bytes:
    return json.dumps({"model": "m", "max_tokens": 32,
                       "messages": [{"role": "user", "content": prompt(i)}]}).encode()


async def app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    payload = b'{"choices":[],"usage":{"prompt_tokens":20,"completion_tokens":5}}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": payload})


def sizes(guard: Any) -> dict[str, int]:
    """Entries in the store's and the guard's bounded maps."""
    st = guard.store
    out = {name: len(getattr(st, attr)) for name, attr in (
        ("identities", "_identities"), ("features", "_features"), ("buckets", "_buckets"),
        ("clusters", "_clusters"))}
    out["sightings"] = st._sightings
    out["guard_cache"] = len(guard.identities._cache)
    out["pseudonyms"] = len(guard.pseudonymize._cache)
    return out


def container_bytes(guard: Any) -> dict[str, int]:
    """``sys.getsizeof`` of the big containers (tables only, not what they hold)."""
    st = guard.store
    out: dict[str, int] = {}
    for name in ("_identities", "_features", "_clusters", "_buckets"):
        lru = getattr(st, name)
        out[name] = sys.getsizeof(lru.probation) + sys.getsizeof(lru.protected)
    out["guard_cache"] = sys.getsizeof(guard.identities._cache)
    out["pseudonyms"] = sys.getsizeof(guard.pseudonymize._cache)
    return out


def type_counts() -> dict[str, int]:
    """GC-tracked objects by type name."""
    counts: dict[str, int] = {}
    for obj in gc.get_objects():
        name = type(obj).__name__
        counts[name] = counts.get(name, 0) + 1
    return counts


class Diagnosis:
    """``--diag``: per step, tracemalloc growth sites, container tables and object counts."""

    def __init__(self, top: int) -> None:
        self.top = top  # 0: no tracemalloc (it slows the run about tenfold)
        self.snap: Any = None
        self.types: dict[str, int] = {}
        if top:
            tracemalloc.start(1)

    def step(self, guard: Any) -> None:
        tables = {k: f"{v / 2**20:.1f}M" for k, v in container_bytes(guard).items()}
        print(f"     tables {tables}")
        if self.top:
            snap = tracemalloc.take_snapshot()
            print(f"     traced {tracemalloc.get_traced_memory()[0] / 2**20:,.1f} MiB")
            if self.snap is not None:
                for stat in snap.compare_to(self.snap, "lineno")[: self.top]:
                    print(f"       {stat}")
            self.snap = snap
        types = type_counts()
        grew = sorted(((n - self.types.get(t, 0), t) for t, n in types.items()), reverse=True)
        print("     tracked objects: " + ", ".join(f"{t} {types[t]:,} ({d:+,})"
                                                   for d, t in grew[:8]))
        self.types = types


async def drive(mw: Any, start: int, stop: int) -> None:
    for i in range(start, stop):
        data = body(i)
        done = False

        async def receive(data: bytes = data) -> dict[str, Any]:
            nonlocal done
            if done:
                return {"type": "http.disconnect"}
            done = True
            return {"type": "http.request", "body": data, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            return None

        await mw(scope(i), receive, send)


async def drive_fast(guard: Any, start: int, stop: int) -> None:
    """The guard's hot path without body analysis: identity resolution (its cache and the
    pseudonymiser), then the store batches a detected request sends (``ObserveBatch`` with
    the feature and list keys the pipeline builds for these bodies, ``ApplyBatch`` with its
    buckets and cadence fields), keys shaped like the real ones."""
    from antidistill.policy.floods import new_key_specs
    from antidistill.storage import ApplyBatch, BucketSpec, ObserveBatch

    store, pseudo, budgets = guard.store, guard.pseudonymize, guard.budgets.default
    shared = [f"s:pg2:{pseudo('seg', str(k))[-16:]}" for k in range(5)]
    client = "c:cf1:" + pseudo("cf", "client")[-16:]
    for i in range(start, stop):
        ident, _ = guard.identities.resolve(scope(i))
        now = guard.clock()
        tpl = "pt1:" + pseudo("tpl", str(i))[-16:]
        net = "4:" + ".".join(ident.ip.split(".")[:3]) + ".0/24"
        iid = ident.id
        checks = [("deny:identity", iid), ("allow:identity", iid), ("watch:identity", iid),
                  ("deny:template", tpl), ("watch:template", tpl), ("deny:client", client[2:]),
                  ("watch:client", client[2:]), ("deny:network", net), ("watch:network", net)]
        obs = await store.observe(ObserveBatch(iid, ["t:" + tpl, *shared, client, "n:" + net],
                                               {}, checks), now)
        specs = [BucketSpec("rq:" + iid, budgets.request_capacity,
                            budgets.request_refill_per_second)]
        specs += new_key_specs(ident, obs.identity.requests > 0, guard.budgets.new_keys, pseudo)
        specs.append(BucketSpec("tk:" + iid, budgets.token_capacity,
                                budgets.token_refill_per_second, 60.0))
        await store.apply(ApplyBatch(iid, specs, fields={"rf": 0.1, "rs": 0.2, "hd": 3.0,
                                                         "hm": 4.0}), now)


def report(args: argparse.Namespace, guard: Any, rows: list[list[Any]],
           points: list[dict[str, Any]], base: int, full_at: tuple[int, int] | None,
           snap0: Any) -> float:
    """Print the table and the figures; the RSS growth from 50% to 100% of the run."""
    steps = len(points)
    print_table(["step", "identities", "RSS MiB", *sizes(guard).keys(), "gc-tracked",
                 "full gc s", "seconds"], rows,
                title="RSS as distinct identities arrive (memory://, in process)")
    mid, end = points[steps // 2 - 1]["rss"], points[-1]["rss"]
    growth = (end - mid) / mid
    print(f"\nRSS at 50%: {mid / 2**20:,.1f} MiB, at 100%: {end / 2**20:,.1f} MiB: "
          f"{growth * 100:+.1f}% (acceptance: within 5%)")
    held = points[-1]["identities"]
    print(f"full gc.collect() at 100%: {points[-1]['gc_s']:.2f} s CPU over "
          f"{points[-1]['tracked']:,} GC-tracked objects")
    if full_at is not None:
        per = (full_at[1] - base) / max(1, held)
        print(f"start RSS {base / 2**20:,.1f} MiB; bound full at {full_at[0]:,} requests; "
              f"about {per:,.0f} bytes per identity held ({held:,} held, features and "
              f"buckets included)")
    print(f"at 100%: {(end - base) / max(1, held):,.0f} bytes over the start per identity held "
          f"(every map full: features, buckets and sightings included)")
    if args.trace and snap0 is not None:
        snap1 = tracemalloc.take_snapshot()
        print("\nlargest growth from 50% to 100% (tracemalloc):")
        for stat in snap1.compare_to(snap0, "lineno")[: args.trace]:
            print(f"  {stat}")
    return growth


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--identities", type=int, default=1_000_000)
    ap.add_argument("--max-identities", type=int, default=None, help="default: the setting's")
    ap.add_argument("--max-features", type=int, default=None, help="default: the setting's")
    ap.add_argument("--max-sightings", type=int, default=None, help="default: the setting's")
    ap.add_argument("--driver", choices=("fast", "middleware"), default="fast",
                    help="fast: identity + store batches; middleware: full detection")
    ap.add_argument("--trace", type=int, default=0, help="print the N largest growth sites")
    ap.add_argument("--diag", type=int, default=None, metavar="N",
                    help="diagnosis per step: table sizes, object counts by type and (N > 0) "
                         "the N largest tracemalloc growth sites")
    ap.add_argument("--trim", action="store_true",
                    help="diagnosis: also print RSS after malloc_trim(0) at every step")
    ap.add_argument("--json", type=Path, default=None)
    return ap.parse_args()


def build_guard(args: argparse.Namespace) -> Any:
    """A guard over a fresh memory store at the requested bounds, environment ignored."""
    for name in list(os.environ):
        if name.startswith("ANTIDISTILL_"):
            del os.environ[name]
    from antidistill import Guard, Settings

    extra: dict[str, Any] = {}
    for arg in ("max_identities", "max_features", "max_sightings"):
        if getattr(args, arg) is not None:
            extra["memory_" + arg] = getattr(args, arg)
    settings = Settings(secret="memory-benchmark-secret", events=False, request_capacity=1e9,
                        token_capacity=1e12, **extra)
    return Guard(settings, load_env_hooks=False)


def full_collection() -> tuple[float, int]:
    """CPU seconds of one full cyclic-GC pass, and the GC-tracked objects it walked."""
    t = time.process_time()
    gc.collect()
    seconds = time.process_time() - t
    return seconds, len(gc.get_objects())


def main() -> None:
    args = parse_args()
    print_environment(environment(["antidistill"]))
    guard = build_guard(args)
    from antidistill import AntiDistillMiddleware

    mw = AntiDistillMiddleware(app, guard=guard)
    cfg = guard.state_config
    print(f"driver: {args.driver}; bounds: max_identities={cfg.max_identities:,} "
          f"max_features={cfg.max_features:,} (buckets {4 * cfg.max_identities:,}, "
          f"sightings {guard.store._max_sightings:,}); {args.identities:,} identities")
    n, steps = args.identities, 10
    if args.trace:
        tracemalloc.start(1)
    diag = None if args.diag is None else Diagnosis(args.diag)
    gc.collect()
    base = rss_bytes()
    rows: list[list[Any]] = []
    points: list[dict[str, Any]] = []
    snap0 = None
    full_at: tuple[int, int] | None = None
    t0 = time.perf_counter()
    for k in range(1, steps + 1):
        lo, hi = (k - 1) * n // steps, k * n // steps
        asyncio.run(drive(mw, lo, hi) if args.driver == "middleware" else
                    drive_fast(guard, lo, hi))
        gc.collect()
        rss, sz = rss_bytes(), sizes(guard)
        gc_s, tracked = full_collection()
        if full_at is None and sz["identities"] >= cfg.max_identities:
            full_at = (hi, rss)
        if args.trace and k == steps // 2:
            snap0 = tracemalloc.take_snapshot()
        points.append({"done": hi, "rss": rss, **sz, "gc_s": gc_s, "tracked": tracked})
        rows.append([f"{k * 10}%", f"{hi:,}", f"{rss / 2**20:,.1f}",
                     *(f"{v:,}" for v in sz.values()), f"{tracked:,}", f"{gc_s:.2f}",
                     f"{time.perf_counter() - t0:,.0f}"])
        print(f"  {k * 10:3d}%  rss {rss / 2**20:8.1f} MiB  {sz}  gc {gc_s:.2f} s "
              f"({tracked:,} tracked)", flush=True)
        if args.trim:
            print(f"     after malloc_trim(0): {trimmed_rss() / 2**20:8.1f} MiB", flush=True)
        if diag is not None:
            diag.step(guard)
    growth = report(args, guard, rows, points, base, full_at, snap0)
    if args.json:
        args.json.write_text(json.dumps({"points": points, "base": base,
                                         "growth_50_100": growth}, indent=1))


if __name__ == "__main__":
    main()
