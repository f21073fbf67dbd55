"""Added latency and CPU per request of ``antidistill proxy`` versus calling the model server
directly, with and without detection, measured side by side in one run.

Usage::

    python benchmarks/proxy.py                 # 10 interleaved rounds x 300 requests
    python benchmarks/proxy.py --quick         # small counts (CI smoke)
    python benchmarks/proxy.py --json out.json

Processes, all on loopback: a stand-in model server (a pure-ASGI app under uvicorn answering
every ``POST /v1/chat/completions`` with a fixed completion and ``usage``, so the model costs
nothing and the proxy's share is what is seen), and one ``antidistill proxy`` subprocess per
variant in front of it:

``direct``          the client calls the upstream itself (the baseline)
``proxy-exempt``    ``ANTIDISTILL_DEFAULT_POLICY=exempt``: the forwarding alone
``proxy-budgets``   ``ANTIDISTILL_DETECTORS=[]``: forwarding + identity + token budgets
``proxy-detect``    the defaults: forwarding + budgets + every detector

The driver sends ~2.5 KB OpenAI chat bodies over 200 API keys, one request at a time on a
keep-alive ``httpx.Client``, in interleaved rounds (variant order rotated each round). Latency
is per request (median and p99 over all rounds); the added latency is the median over rounds
of (variant's round median - direct's round median). CPU per request is each server process's
user+system time over a round (``/proc``) divided by its requests. Budgets are raised so no
request is throttled; the proxies run in their first hour, when fan-out and sybil evidence
are still held back (the detectors run, their cross-account evidence does not count yet).
The run stops by itself; it reads no external data.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    environment,
    fmt_us,
    free_port,
    median,
    percentile,
    print_environment,
    print_table,
    proc_cpu_seconds,
    rotated,
)

PACKAGES = ("antidistill", "httpx", "uvicorn", "starlette")
VARIANTS = ("direct", "proxy-exempt", "proxy-budgets", "proxy-detect")
LABELS = {"direct": "direct to the upstream", "proxy-exempt": "proxy, forwarding only",
          "proxy-budgets": "proxy + budgets", "proxy-detect": "proxy + all detectors"}
ENV = {
    "proxy-exempt": {"ANTIDISTILL_DEFAULT_POLICY": "exempt"},
    "proxy-budgets": {"ANTIDISTILL_DETECTORS": "[]"},
    "proxy-detect": {},
}
COMMON_ENV = {"ANTIDISTILL_SECRET": "benchmark-secret-not-for-production",
              "ANTIDISTILL_REQUEST_CAPACITY": "1000000000",
              "ANTIDISTILL_TOKEN_CAPACITY": "1000000000000",
              "ANTIDISTILL_LOG_EVENTS": "false"}
N_KEYS = 200
COMPLETION = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "bench",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "A short benchmark answer."}}],
    "usage": {"prompt_tokens": 600, "completion_tokens": 6, "total_tokens": 606}}).encode()
SYSTEMS = [
    "You are the support assistant of a bicycle shop. Answer questions about orders, repairs "
    "and opening hours politely and briefly. " * 6,
    "You help accountants classify invoices. Reply with the category and one sentence of "
    "justification, nothing else. " * 6,
    "You are a travel planner for a regional rail company; suggest connections and fares "
    "in plain language. " * 6,
]
QUESTIONS = ["Where is my order number {n}?", "Which category fits invoice {n} for toner?",
             "Is there a train from Lyon at {n} past nine?", "Can you repair a wheel by day {n}?",
             "How much is a return ticket for {n} people?", "What does code {n} on my bill mean?"]


# -- the stand-in upstream (run in its own process) ---------------------------------------------
async def upstream_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(COMPLETION)).encode())]})
    await send({"type": "http.response.body", "body": COMPLETION})


def serve_upstream(port: int) -> None:
    import uvicorn

    uvicorn.run(upstream_app, host="127.0.0.1", port=port, log_level="warning",
                access_log=False, lifespan="on")


# -- processes -------------------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def started(name: str, args: Sequence[str], port: int, env: dict[str, str]) -> Iterator[Server]:
    child = {k: v for k, v in os.environ.items() if not k.startswith("ANTIDISTILL_")}
    child.update(env)
    proc = subprocess.Popen([sys.executable, *args], env=child, stdout=subprocess.DEVNULL)
    try:
        _wait_port(port, proc)
        yield Server(name, port, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the load -----------------------------------------------------------------------------------
def requests(count: int, seed: int = 1) -> list[tuple[dict[str, str], bytes]]:
    """``count`` ~2.5 KB chat bodies with their headers, over ``N_KEYS`` API keys."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        k = (i * 7) % N_KEYS
        body = {"model": "bench", "max_tokens": rng.choice((128, 256, 512)),
                "messages": [{"role": "system", "content": SYSTEMS[k % len(SYSTEMS)]},
                             {"role": "user", "content": QUESTIONS[(i + k) % len(QUESTIONS)]
                              .format(n=rng.randint(2, 9999))}]}
        headers = {"authorization": f"Bearer sk-bench-{k:04d}-{(k * 2654435761) % 2**32:08x}",
                   "content-type": "application/json"}
        out.append((headers, json.dumps(body).encode()))
    return out


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds, every request
    round_medians: list[float] = field(default_factory=list)
    proxy_cpu: list[float] = field(default_factory=list)  # seconds per request, per round
    upstream_cpu: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


def one_round(client: Any, url: str, reqs: Sequence[tuple[dict[str, str], bytes]],
              result: Result, proxy_pid: int | None, upstream_pid: int) -> None:
    before = proc_cpu_seconds(proxy_pid) if proxy_pid else None
    up_before = proc_cpu_seconds(upstream_pid)
    lat = []
    for headers, body in reqs:
        t0 = time.perf_counter()
        r = client.post(url, content=body, headers=headers)
        lat.append(time.perf_counter() - t0)
        result.statuses[r.status_code] = result.statuses.get(r.status_code, 0) + 1
    after = proc_cpu_seconds(proxy_pid) if proxy_pid else None
    up_after = proc_cpu_seconds(upstream_pid)
    result.latencies += lat
    result.round_medians.append(median(lat))
    if before is not None and after is not None:
        result.proxy_cpu.append((after - before) / len(reqs))
    if up_before is not None and up_after is not None:
        result.upstream_cpu.append((up_after - up_before) / len(reqs))


def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    up_port = free_port()
    with ExitStack() as stack:
        up = stack.enter_context(started("upstream", [__file__, "--serve-upstream", str(up_port)],
                                         up_port, {}))
        upstream_url = f"http://127.0.0.1:{up_port}"
        urls: dict[str, str] = {"direct": upstream_url + "/v1/chat/completions"}
        pids: dict[str, int | None] = {"direct": None}
        for name in VARIANTS[1:]:
            port = free_port()
            srv = stack.enter_context(started(name, [
                "-m", "antidistill.cli", "proxy", "--upstream", upstream_url, "--port", str(port),
                "--log-level", "warning"], port, {**COMMON_ENV, **ENV[name]}))
            urls[name] = f"http://127.0.0.1:{port}/v1/chat/completions"
            pids[name] = srv.proc.pid
        reqs = requests(args.requests * args.rounds)
        results = {name: Result() for name in VARIANTS}
        with httpx.Client(timeout=30) as client:
            for name in VARIANTS:  # warm-up: connections, imports, first-request paths
                one_round(client, urls[name], reqs[: args.warmup], Result(), pids[name],
                          up.proc.pid)
            for r in range(args.rounds):
                batch = reqs[r * args.requests:(r + 1) * args.requests]
                for name in rotated(VARIANTS, r):
                    one_round(client, urls[name], batch, results[name], pids[name],
                              up.proc.pid)
    return summarize(results, args)


def summarize(results: dict[str, Result], args: argparse.Namespace) -> dict[str, Any]:
    base = results["direct"].round_medians
    out: dict[str, Any] = {}
    for name, res in results.items():
        added = [m - b for m, b in zip(res.round_medians, base, strict=True)]
        out[name] = {
            "n": len(res.latencies),
            "median_us": median(res.latencies) * 1e6,
            "p99_us": percentile(res.latencies, 99) * 1e6,
            "added_us": median(added) * 1e6 if name != "direct" else 0.0,
            "proxy_cpu_us": median(res.proxy_cpu) * 1e6 if res.proxy_cpu else None,
            "upstream_cpu_us": median(res.upstream_cpu) * 1e6 if res.upstream_cpu else None,
            "non_2xx": sum(n for s, n in res.statuses.items() if not 200 <= s < 300),
            "statuses": {str(k): v for k, v in sorted(res.statuses.items())},
        }
    return {"rounds": args.rounds, "requests_per_round": args.requests, "variants": out}


def report(data: dict[str, Any]) -> None:
    rows = []
    for name in VARIANTS:
        v = data["variants"][name]
        rows.append([LABELS[name], fmt_us(v["median_us"]), fmt_us(v["p99_us"]),
                     "-" if name == "direct" else "+" + fmt_us(v["added_us"]),
                     "-" if v["proxy_cpu_us"] is None else fmt_us(v["proxy_cpu_us"]),
                     "-" if v["upstream_cpu_us"] is None else fmt_us(v["upstream_cpu_us"]),
                     v["non_2xx"]])
    print_table(["variant", "median", "p99", "added latency", "proxy CPU/req",
                 "upstream CPU/req", "non-2xx"], rows,
                title=f"Proxy cost, loopback ({data['rounds']} interleaved rounds x "
                      f"{data['requests_per_round']} sequential requests)")
    v = data["variants"]
    detect, forward = v["proxy-detect"], v["proxy-exempt"]
    cpu = (detect["proxy_cpu_us"] or 0.0) - (forward["proxy_cpu_us"] or 0.0)
    print()
    print(f"antidistill's share (all detectors over forwarding alone): "
          f"{fmt_us(detect['added_us'] - forward['added_us'])} latency, {fmt_us(cpu)} proxy CPU "
          f"per request")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per round")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="3 rounds x 30 requests")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--serve-upstream", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return 0
    if args.quick:
        args.requests, args.rounds, args.warmup = 30, 3, 10
    env = environment(PACKAGES)
    print_environment(env)
    data = run(args)
    data["environment"] = env
    report(data)
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
