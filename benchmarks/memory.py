"""Resident memory of ``memory://`` as distinct identities pile up: does it plateau?

Usage::

    python benchmarks/memory.py                          # 1M identities at default bounds
    python benchmarks/memory.py --identities 200000 --max-identities 20000 --max-features 50000
    python benchmarks/memory.py --trace 10               # + top tracemalloc growth sites

Each request is a distinct API key from a distinct client address with its own prompt, sent
through ``AntiDistillMiddleware`` in process (scope, receive and send built here, default
settings: every detector, memory store), so every per-identity structure in the store and in
the guard fills up. RSS (``/proc/self/statm``) is printed at every 10% of the run, with the
number of entries in the store's bounded maps. Acceptance (issue #11, finding 15): once the
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
    out["guard_cache"] = len(guard.identities._cache)
    return out


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
    print_table(["step", "identities", "RSS MiB", *sizes(guard).keys(), "seconds"], rows,
                title="RSS as distinct identities arrive (memory://, in process)")
    mid, end = points[steps // 2 - 1]["rss"], points[-1]["rss"]
    growth = (end - mid) / mid
    print(f"\nRSS at 50%: {mid / 2**20:,.1f} MiB, at 100%: {end / 2**20:,.1f} MiB: "
          f"{growth * 100:+.1f}% (acceptance: within 5%)")
    held = points[-1]["identities"]
    if full_at is not None:
        per = (full_at[1] - base) / max(1, held)
        print(f"start RSS {base / 2**20:,.1f} MiB; bound full at {full_at[0]:,} requests; "
              f"about {per:,.0f} bytes per identity held ({held:,} held, features and "
              f"buckets included)")
    if args.trace and snap0 is not None:
        snap1 = tracemalloc.take_snapshot()
        print("\nlargest growth from 50% to 100% (tracemalloc):")
        for stat in snap1.compare_to(snap0, "lineno")[: args.trace]:
            print(f"  {stat}")
    return growth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--identities", type=int, default=1_000_000)
    ap.add_argument("--max-identities", type=int, default=None, help="default: the setting's")
    ap.add_argument("--max-features", type=int, default=None, help="default: the setting's")
    ap.add_argument("--driver", choices=("fast", "middleware"), default="fast",
                    help="fast: identity + store batches; middleware: full detection")
    ap.add_argument("--trace", type=int, default=0, help="print the N largest growth sites")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    print_environment(environment(["antidistill"]))
    for name in list(os.environ):
        if name.startswith("ANTIDISTILL_"):
            del os.environ[name]
    from antidistill import AntiDistillMiddleware, Guard, Settings

    extra: dict[str, Any] = {}
    if args.max_identities is not None:
        extra["memory_max_identities"] = args.max_identities
    if args.max_features is not None:
        extra["memory_max_features"] = args.max_features
    settings = Settings(secret="memory-benchmark-secret", events=False, request_capacity=1e9,
                        token_capacity=1e12, **extra)
    guard = Guard(settings, load_env_hooks=False)
    mw = AntiDistillMiddleware(app, guard=guard)
    cfg = guard.state_config
    print(f"driver: {args.driver}; bounds: max_identities={cfg.max_identities:,} "
          f"max_features={cfg.max_features:,} (buckets {4 * cfg.max_identities:,}); "
          f"{args.identities:,} identities")
    n, steps = args.identities, 10
    if args.trace:
        tracemalloc.start(1)
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
        if full_at is None and sz["identities"] >= cfg.max_identities:
            full_at = (k * n // steps, rss)
        if args.trace and k == steps // 2:
            snap0 = tracemalloc.take_snapshot()
        points.append({"done": k * n // steps, "rss": rss, **sz})
        rows.append([f"{k * 10}%", f"{k * n // steps:,}", f"{rss / 2**20:,.1f}",
                     *(f"{v:,}" for v in sz.values()), f"{time.perf_counter() - t0:,.0f}"])
        print(f"  {k * 10:3d}%  rss {rss / 2**20:8.1f} MiB  {sz}", flush=True)
    growth = report(args, guard, rows, points, base, full_at, snap0)
    if args.json:
        args.json.write_text(json.dumps({"points": points, "base": base,
                                         "growth_50_100": growth}, indent=1))


if __name__ == "__main__":
    main()
