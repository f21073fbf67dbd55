"""An ASGI app for uvicorn subprocesses, and the harness the distributed tests share.

``python -m uvicorn tests.distributed_app:app --port P`` (run from the repository root)
serves the demo chat app (``antidistill.demo.app``) behind ``AntiDistillMiddleware``,
configured entirely from ``ANTIDISTILL_*`` environment variables (``ANTIDISTILL_STORAGE_URI``,
``ANTIDISTILL_SECRET``, ``ANTIDISTILL_REQUEST_CAPACITY``, ...). Several processes started with
the same environment share one budget through the store, as production replicas do.
``GET /v1/models`` should be exempt (``ANTIDISTILL_ROUTES``, see :func:`instance_env`) so
readiness polls do not spend the budget.

``app`` is built on first access (module ``__getattr__``), so ``tests/test_distributed.py``
and ``benchmarks/distributed.py`` can import the harness below without configuring a Guard:

* :func:`uvicorn_instances` / :func:`hammer`: N uvicorn processes on one store, and many
  concurrent clients spending one API key's budget across them (exactness);
* :class:`SplitApp` / :func:`demo_run`: the demo's simulated day through one instance or
  split at random over two instances sharing a store (cross-instance detection).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SECRET = "distributed-test-secret-not-for-production"
CHAT_PATH = "/v1/chat/completions"


def __getattr__(name: str) -> Any:
    # uvicorn's "module:app" lookup is a getattr, so the app is built only in the server
    if name == "app":
        from antidistill.demo.app import create_app
        from antidistill.middleware import AntiDistillMiddleware

        built = AntiDistillMiddleware(create_app())
        globals()["app"] = built
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- uvicorn instances ---------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def instance_env(storage_uri: str, *, prefix: str, capacity: float, refill: float,
                 fail_mode: str = "closed", detectors: Sequence[str] = ()) -> dict[str, str]:
    """``ANTIDISTILL_*`` variables for an exactness instance (one request budget per key).

    Fail-closed by default: a storage error then shows as a 503 instead of silently
    answering from a per-process fallback (which would look like an overshoot).
    """
    return {
        "ANTIDISTILL_STORAGE_URI": storage_uri,
        "ANTIDISTILL_STORAGE_PREFIX": prefix,
        "ANTIDISTILL_STORAGE_TIMEOUT": "2.0",  # two cores, three servers: no spurious timeouts
        "ANTIDISTILL_SECRET": SECRET,
        "ANTIDISTILL_FAIL_MODE": fail_mode,
        "ANTIDISTILL_REQUEST_CAPACITY": repr(float(capacity)),
        "ANTIDISTILL_REQUEST_REFILL_RATE": repr(float(refill)),
        "ANTIDISTILL_REQUEST_INTERVAL": "1",
        "ANTIDISTILL_TOKEN_CAPACITY": "1e12",
        "ANTIDISTILL_TOKEN_REFILL_RATE": "1e9",
        "ANTIDISTILL_DETECTORS": json.dumps(list(detectors)),
        "ANTIDISTILL_EVENTS": "false",
        "ANTIDISTILL_ROUTES": json.dumps({"GET /v1/models": "exempt"}),
    }


@dataclass
class Instance:
    """One uvicorn subprocess serving ``tests.distributed_app:app``."""

    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _wait_ready(inst: Instance, deadline: float) -> None:
    import httpx

    while True:
        if inst.proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited ({inst.proc.returncode}):\n"
                               + inst.log.read_text(errors="replace")[-3000:])
        try:
            if httpx.get(inst.url + "/v1/models", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not become ready:\n"
                               + inst.log.read_text(errors="replace")[-3000:])
        time.sleep(0.05)


@contextmanager
def uvicorn_instances(n: int, env: Mapping[str, str], logdir: Path,
                      timeout: float = 30.0) -> Iterator[list[Instance]]:
    """Start ``n`` uvicorn processes with ``env`` (added to a clean copy of ours)."""
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("ANTIDISTILL_")}
    base.update(env)
    base["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO / "src"), str(REPO), base.get("PYTHONPATH", "")]))
    logdir.mkdir(parents=True, exist_ok=True)
    instances: list[Instance] = []
    try:
        for _ in range(n):
            port = _free_port()
            log = logdir / f"uvicorn-{port}.log"
            with open(log, "wb") as fh:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "tests.distributed_app:app",
                     "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                     "--log-level", "warning"],
                    cwd=str(REPO), env=base, stdout=fh, stderr=subprocess.STDOUT,
                )
            instances.append(Instance(port, proc, log))
        deadline = time.monotonic() + timeout
        for inst in instances:
            _wait_ready(inst, deadline)
        yield instances
    finally:
        for inst in instances:
            if inst.proc.poll() is None:
                inst.proc.terminate()
        for inst in instances:
            try:
                inst.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                inst.proc.kill()
                inst.proc.wait(timeout=5)


def chat_body(i: int) -> bytes:
    """A small, benign chat request (varies with ``i``)."""
    return json.dumps({
        "model": "demo-model", "max_tokens": 32,
        "messages": [{"role": "user", "content": f"Give me one tip for watering plant #{i}."}],
    }).encode()


@dataclass
class HammerResult:
    statuses: Counter[int] = field(default_factory=Counter)
    per_instance: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # transport errors by class
    elapsed: float = 0.0
    non_json_5xx: int = 0

    @property
    def accepted(self) -> int:
        return self.statuses[200]

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)


async def hammer(urls: Sequence[str], api_key: str, total: int, clients: int = 8,
                 timeout: float = 20.0) -> HammerResult:
    """``total`` POSTs on one API key from ``clients`` concurrent httpx clients.

    Client ``c`` sends its ``j``-th request to ``urls[(c + j) % len(urls)]``: every client
    alternates between the instances, and at any moment both are being hit.
    """
    import httpx

    out = HammerResult()
    next_i = 0
    headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}

    async def client(c: int) -> None:
        nonlocal next_i
        limits = httpx.Limits(max_connections=len(urls), max_keepalive_connections=len(urls))
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
            j = 0
            while next_i < total:
                i = next_i
                next_i += 1
                url = urls[(c + j) % len(urls)]
                j += 1
                try:
                    r = await http.post(url + CHAT_PATH, content=chat_body(i), headers=headers)
                except httpx.HTTPError as exc:
                    out.errors[type(exc).__name__] += 1
                    continue
                out.statuses[r.status_code] += 1
                if r.status_code == 200:
                    out.per_instance[url] += 1
                if r.status_code >= 500:
                    try:
                        r.json()
                    except ValueError:
                        out.non_json_5xx += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    out.elapsed = time.perf_counter() - t0
    return out


# -- the demo's simulated day over one or two instances ------------------------------------
Scope = MutableMapping[str, Any]


class SplitApp:
    """A tiny ASGI load balancer: each request goes to one of ``apps`` at random (seeded)."""

    def __init__(self, apps: Sequence[Any], seed: int = 1) -> None:
        self.apps = list(apps)
        self.rng = random.Random(seed)
        self.sent: Counter[int] = Counter()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        i = self.rng.randrange(len(self.apps))
        self.sent[i] += 1
        await self.apps[i](scope, receive, send)


def demo_guard_on(storage_uri: str, clock: Any, last: dict[str, Any], *,
                  prefix: str = "antidistill", detectors: Sequence[str] | None = None) -> Any:
    """A Guard configured exactly like the demo's (``cli._demo_guard``) but on ``storage_uri``.

    The settings are the demo guard's, copied with the storage fields replaced, so the two
    cannot drift apart. Its ``on_decision`` hook writes ``last["d"]`` like the demo's.
    ``detectors`` (default: the demo's) narrows detection, e.g. to the cross-identity ones.
    """
    from antidistill.demo.report import demo_guard as _demo_guard
    from antidistill.guard import Guard

    template, _ = _demo_guard(clock, "enforce")
    template.fingerprints.close()  # only its settings are used
    update: dict[str, Any] = {
        "storage_uri": storage_uri, "storage_prefix": prefix,
        # a 2-core machine running servers and the simulation: no spurious 0.1 s timeouts
        "storage_timeout": 2.0,
    }
    if detectors is not None:
        update["detectors"] = list(detectors)
    settings = template.settings.model_copy(update=update)
    guard = Guard(settings, clock=clock, load_env_hooks=False)

    @guard.on_decision
    def capture(ctx: Any, decision: Any) -> None:
        last["d"] = decision

    return guard



def _share(part: int, total: int) -> float:
    return part / total if total else 0.0

@dataclass
class DemoFigures:
    """The demo's headline figures for one run."""

    label: str
    requests: int
    seconds: float
    hydra_caught: int
    hydra_total: int
    by_third_ok: int
    by_third_total: int
    benign_flagged: int
    benign_total: int
    campaigns: dict[str, tuple[int, int]]  # cohort -> (caught, accounts)
    split: dict[int, int]  # instance index -> requests (one entry when not split)
    store_errors: int  # primary-store failures seen by the circuit breakers
    fallbacks: int  # calls answered by the in-memory fallback
    hydra_first: int = 0  # hydra accounts flagged on their very first request

    @property
    def first_rate(self) -> float:
        return _share(self.hydra_first, self.hydra_total)

    @property
    def hydra_rate(self) -> float:
        return _share(self.hydra_caught, self.hydra_total)

    @property
    def third_rate(self) -> float:
        return _share(self.by_third_ok, self.by_third_total)

    @property
    def benign_rate(self) -> float:
        return _share(self.benign_flagged, self.benign_total)


def demo_figures(label: str, report: Any, seconds: float, split: dict[int, int],
                 guards: Sequence[Any]) -> DemoFigures:
    """Reduce a ``simulate.Report`` to the figures ``antidistill demo`` prints."""
    campaigns: dict[str, list[int]] = {}
    benign_flagged = benign_total = hydra_first = 0
    for acct in report.accounts:
        o = report.outcomes[acct.key]
        if o.n == 0:
            continue
        caught = o.flagged_at is not None
        hydra_first += acct.cohort == "hydra" and o.flagged_at == 1
        if acct.campaign:
            c = campaigns.setdefault(acct.cohort, [0, 0])
            c[0] += caught
            c[1] += 1
        else:
            benign_total += 1
            benign_flagged += caught
    hydra = campaigns.get("hydra", [0, 0])
    ok, tot = report.hydra_by_third
    errors = sum(getattr(g.store, "errors", 0) for g in guards)
    fallbacks = sum(getattr(g.store, "fallbacks", 0) for g in guards)
    return DemoFigures(label, report.requests, seconds, hydra[0], hydra[1], ok, tot,
                       benign_flagged, benign_total,
                       {k: (v[0], v[1]) for k, v in campaigns.items()}, split, errors,
                       fallbacks, hydra_first)


async def demo_run(label: str, storage_uris: Sequence[str], *, seed: int = 7,
                   scale: float = 1.0, hydra: int = 1000, split_seed: int = 1,
                   detectors: Sequence[str] | None = None) -> DemoFigures:
    """The demo's simulated day through ``len(storage_uris)`` instances (1 or 2).

    Two URIs: two Guards (same secret, same settings) behind :class:`SplitApp`, each
    request sent to either at random, both filling one ``last`` dict. Redis URIs get a
    fresh key prefix, cleared afterwards.
    """
    from antidistill.demo.app import create_app
    from antidistill.demo.simulate import Clock, Population, run_day
    from antidistill.middleware import AntiDistillMiddleware

    day_start = 1_780_000_000.0 - (1_780_000_000.0 % 86400)
    clock = Clock(day_start - 86400)
    last: dict[str, Any] = {}
    prefix = "dd" + uuid.uuid4().hex[:10]
    guards = [demo_guard_on(uri, clock, last, prefix=prefix, detectors=detectors)
              for uri in storage_uris]
    apps = [AntiDistillMiddleware(create_app(), guard=g) for g in guards]
    app: Any = SplitApp(apps, split_seed) if len(apps) > 1 else apps[0]
    accounts = Population(seed=seed, scale=scale, hydra_accounts=hydra).build(day_start)
    try:
        t0 = time.perf_counter()
        report = await run_day(app, clock, accounts, day_start, last)
        seconds = time.perf_counter() - t0
    finally:
        if not storage_uris[0].startswith("memory"):
            await guards[0].store.clear()
        for g in guards:
            await g.aclose()
    split = dict(app.sent) if isinstance(app, SplitApp) else {0: report.requests}
    return demo_figures(label, report, seconds, split, guards)
