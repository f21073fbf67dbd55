"""Where the budgets-only configuration's per-request cost goes, and what its parts cost.

Usage::

    python benchmarks/overhead_study.py            # 10 interleaved rounds x 1,000 requests
    python benchmarks/overhead_study.py --quick    # small counts (CI smoke)

``benchmarks/overhead.py`` says how much antidistill adds; this study says where it goes and
how low the package's own parts can go. Same FastAPI app, request bodies, history and
interleaved in-process method as ``overhead.py`` (whose code it reuses). Variants:

``slowapi``      slowapi with one limit (the yardstick of issue #2)
``floor``        ``overhead.FloorMiddleware``: the budget arithmetic alone, JSON-only
``budgets``      ``AntiDistillMiddleware`` with ``detectors=[]``, as shipped
``-evaluate``    ``budgets`` with ``Guard.evaluate`` answered from a cached decision: the
                 rest of the middleware (identity, body replay, metering, settlement)
``-settle``      ``budgets`` without the post-response settlement
``parts``        ``PartsMiddleware``: the shipped parts (route lookup, identity, context,
                 body replay, the multi-format parser and token estimate, the memory store's
                 buckets, the decision, the multi-format response meter, the settlement)
                 called in a straight line: no hooks, lists, run-time mode, counters or
                 events. A lower bound for any rearrangement of the middleware that keeps
                 the parts.
``parts-json``   ``parts`` with the parser and meter swapped for the floor's OpenAI-JSON-only
                 ``json.loads`` estimate and ``"usage"`` read: what the multi-format parts
                 cost.

The table prints each variant's added cost (paired median over rounds vs the bare app) and
its ratio to slowapi's. Not a product configuration: ``PartsMiddleware`` calls private
methods and skips features; it exists to measure them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as common  # noqa: E402
import overhead as ob  # noqa: E402

VARIANTS = ("bare", "slowapi", "floor", "budgets", "-evaluate", "-settle", "parts",
            "parts-json")
LABELS = {
    "bare": "bare FastAPI app",
    "slowapi": "+ slowapi (1 limit)",
    "floor": "+ budget arithmetic alone (floor)",
    "budgets": "+ antidistill budgets only",
    "-evaluate": "  budgets without Guard.evaluate",
    "-settle": "  budgets without the settlement",
    "parts": "+ shipped parts, straight line",
    "parts-json": "+ parts, JSON-only parse and meter",
}


class PartsMiddleware:
    """The budgets-only path's shipped parts, called in a straight line (see module doc)."""

    def __init__(self, app: ob.ASGIApp, guard: Any, json_only: bool = False) -> None:
        from antidistill.context import RequestContext, current_decision
        from antidistill.decision import Action, BudgetState, Decision
        from antidistill.enforcement.sending import ResponseSender as _Metering
        from antidistill.middleware import _BodyReplay
        from antidistill.storage.base import BucketSpec

        self.app, self.guard, self.json_only = app, guard, json_only
        self.replay, self.metering, self.context = _BodyReplay, _Metering, RequestContext
        self.decision, self.state, self.spec = Decision, BudgetState, BucketSpec
        self.allow, self.current = Action.ALLOW, current_decision

    async def __call__(self, scope: ob.Scope, receive: ob.Receive, send: ob.Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        g = self.guard
        method, path = scope["method"], scope["path"]
        policy = g.routes.lookup(method, path)
        identity, trusted = g.identities.resolve(scope)
        ctx = self.context(method, path, list(scope["headers"]), identity, g.clock(), policy,
                           scope=scope, trusted_peer=trusted)
        replay = self.replay(receive)
        await replay.read(g.settings.max_body_bytes)
        ctx.body = replay.body
        if self.json_only:
            doc = json.loads(ctx.body)
            chars = sum(len(m.get("content") or "") for m in doc.get("messages", ()))
            estimate = chars // 4 + int(doc.get("max_tokens") or 256)
        else:
            ctx.parsed = g.fingerprints.parse(ctx)
            estimate = g.budgets.estimate_tokens(ctx)
        ctx.estimated_tokens = estimate
        ident, store, b, spec = identity.id, g.store, g.budgets.default, self.spec
        rq, tk = store._run_buckets((
            spec("rq:" + ident, b.request_capacity, b.request_refill_per_second, 1.0),
            spec("tk:" + ident, b.token_capacity, b.token_refill_per_second, estimate)),
            ctx.now)
        state = self.state
        decision = self.decision(action=self.allow, score=0.0, identity=ident, budgets=(
            state("requests", b.request_capacity, rq.remaining, rq.reset_after,
                  rq.retry_after, rq.allowed, 100.0),
            state("tokens", b.token_capacity, tk.remaining, tk.reset_after, tk.retry_after,
                  tk.allowed, 1000.0)), route=path)
        scope["state"]["antidistill"] = decision
        token = self.current.set(decision)
        try:
            used: int | None = None
            if self.json_only:
                chunks: list[bytes] = []

                async def metered(m: ob.Message) -> None:
                    if m["type"] == "http.response.body":
                        chunks.append(m.get("body", b""))
                    await send(m)

                await self.app(scope, replay.receive, metered)
                body = b"".join(chunks)
                at = body.rfind(b'"usage"')
                if at >= 0:
                    usage = json.JSONDecoder().raw_decode(body[body.index(b"{", at):].decode())
                    used = usage[0]["prompt_tokens"] + usage[0]["completion_tokens"]
            else:
                meter = self.metering()
                await self.app(scope, replay.receive, meter.wrap(send))
                got = meter.finish()
                if got is not None:
                    used = got.prompt_tokens + got.completion_tokens
            if used is not None and used != estimate:
                store._run_buckets((spec("tk:" + ident, b.token_capacity,
                                         b.token_refill_per_second, float(used - estimate),
                                         force=True),), g.clock())
        finally:
            self.current.reset(token)


def _budgets_guard() -> Any:
    from antidistill import Guard, Settings

    return Guard(Settings(**ob.BENCH_SETTINGS, detectors=[]))


def build(variant: str) -> ob.Built:
    if variant in ("bare", "slowapi", "floor"):
        return ob.build_variant(variant)
    if variant == "budgets":
        return ob.build_variant("antidistill-budgets")
    if variant in ("-evaluate", "-settle"):
        built = ob.build_variant("antidistill-budgets")
        guard = built.guard
        if variant == "-evaluate":
            evaluate, cached = guard.evaluate, []

            async def cached_evaluate(ctx: Any) -> Any:
                if not cached:
                    cached.append(await evaluate(ctx))
                ctx.estimated_tokens = 600
                return cached[0]

            guard.evaluate = cached_evaluate
        else:
            async def no_settle(*args: Any) -> None:
                return None

            guard.settle = no_settle
        return built
    guard = _budgets_guard()
    app = ob._fastapi_app(lambda: {})
    app.add_middleware(PartsMiddleware, guard=guard, json_only=variant == "parts-json")
    return ob.Built(app, None)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small counts (CI smoke run)")
    p.add_argument("--requests", type=int, default=None, help="per variant (default 1000)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 10)")
    args = p.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 10)
    requests = args.requests or (45 if args.quick else 1000)
    warmup = 30 if args.quick else 500
    per_round = max(1, requests // rounds)
    common.print_environment(common.environment(ob.PACKAGES))
    built = {name: build(name) for name in VARIANTS}
    reqs = ob.chat_requests(min(4000, warmup + rounds * per_round))
    res = asyncio.run(ob.interleaved(built, reqs, rounds, per_round, warmup))
    slow = ob.added_cost(res, "slowapi")
    rows = []
    for name in VARIANTS:
        r = res[name]
        non2xx = sum(v for k, v in r.statuses.items() if not 200 <= k < 300)
        if name == "bare":
            rows.append([LABELS[name], common.fmt_us(common.median(r.samples)), "", "",
                         str(non2xx)])
            continue
        add = ob.added_cost(res, name)
        ratio = "" if name == "slowapi" else f"{ob._ratio(add, slow):.2f}"
        rows.append([LABELS[name], common.fmt_us(common.median(r.samples)),
                     common.fmt_us(add), ratio, str(non2xx)])
    print()
    common.print_table(["variant", "median", "added", "vs slowapi", "non-2xx"], rows,
                       title=f"Budgets-only cost study, in-process ({rounds} interleaved "
                             f"rounds x {per_round} requests per variant, +{warmup} warm-up)")
    budgets = ob.added_cost(res, "budgets")
    print()
    print(f"Guard.evaluate: {budgets - ob.added_cost(res, '-evaluate'):.1f} µs of the "
          f"{budgets:.1f} µs; settlement: {budgets - ob.added_cost(res, '-settle'):.1f} µs")
    parts, parts_json = ob.added_cost(res, "parts"), ob.added_cost(res, "parts-json")
    print(f"Multi-format parse + meter over JSON-only: {parts - parts_json:.1f} µs; "
          f"shipped parts in a straight line: {ob._ratio(parts, slow):.2f}x slowapi")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
