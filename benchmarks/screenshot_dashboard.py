"""Render ``docs/dashboard.png``: the live dashboard after a simulated morning of traffic.

Runs the demo population (``antidistill.demo.simulate``: honest cohorts, a log-prob harvester
from 03:00 and a hydra of fresh accounts from 08:00) through the real middleware on a virtual
clock until 09:40 of the measured day, then serves the same guard with uvicorn on a loopback
port, opens the dashboard in Debian Chromium (Playwright, ``/usr/bin/chromium``), enters the
admin token and takes a full-page screenshot. Reads no data outside the package.

    python benchmarks/screenshot_dashboard.py [--out docs/dashboard.png] [--scale 0.4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from antidistill import AntiDistillMiddleware, Guard, Settings
from antidistill.demo.app import create_app
from antidistill.demo.simulate import Clock, Population, call_asgi, timeline

TOKEN = "screenshot-admin-token"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


async def simulate(app: Any, clock: Clock, scale: float, hydra: int, day_start: float,
                   cutoff: float) -> int:
    pop = Population(seed=7, scale=scale, hydra_accounts=hydra)
    accounts = pop.build(day_start)
    n = 0
    for t, acct, body in timeline(accounts):
        if t > cutoff:
            break
        clock.now = t
        headers = [(k, f"Bearer {acct.key}" if k == "authorization" else v)
                   for k, v in acct.headers]
        await call_asgi(app, "POST", "/v1/chat/completions", headers,
                        json.dumps(body, ensure_ascii=False).encode(), (acct.ip, 40000 + n % 20000))
        n += 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs"
                                         / "dashboard.png"))
    ap.add_argument("--scale", type=float, default=0.4)
    ap.add_argument("--hydra", type=int, default=1000)
    args = ap.parse_args()

    day_start = 1_780_000_000.0 - (1_780_000_000.0 % 86400)
    clock = Clock(day_start - 86400)
    guard = Guard(Settings(
        secret="demo-secret-not-for-production", events=False, max_delay=0.0,
        request_capacity=60, request_refill_rate=1, token_capacity=600_000,
        token_refill_rate=4_000, admin_token=TOKEN, routes={"* /antidistill/**": "exempt"},
    ), clock=clock, load_env_hooks=False)
    host = create_app()
    host.mount("/antidistill", guard.admin_app())
    app = AntiDistillMiddleware(host, guard=guard)

    t0 = time.perf_counter()
    n = asyncio.run(simulate(app, clock, args.scale, args.hydra, day_start,
                             day_start + 9 * 3600 + 40 * 60))
    print(f"simulated {n:,} requests in {time.perf_counter() - t0:.1f}s; "
          f"actions: { {k: v for k, v in guard.counters.items()} }")

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900},
                                    device_scale_factor=1)
            page.goto(f"http://127.0.0.1:{port}/antidistill/")
            page.fill("#token", TOKEN)
            page.click("#token-submit")
            page.wait_for_selector('canvas#timeline[data-rendered="1"]')
            for table in ("clusters", "identities", "reasons"):
                page.wait_for_selector(f"#{table} tbody tr")
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
            browser.close()
        print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
