"""Cost of withholding reasoning: the response filter on streamed and JSON responses.

    python benchmarks/withhold.py            # 10 KB and 1 MB responses, 7 rounds
    python benchmarks/withhold.py --quick    # 3 rounds (CI smoke)

Per format it times, in one run and interleaved, forwarding a response's chunks as they are
(the allowed path does nothing else) and feeding them through the filter, and prints the
added time per byte at 10 KB and 1 MB (equal per-byte costs mean the cost is linear in
size). It then times allowed requests through the whole middleware with withholding
configured and with it switched off: both take the same unfiltered path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, median, print_environment, print_table

SIZES = {"10 KB": 10_000, "100 KB": 100_000, "1 MB": 1_000_000}
FORMATS = ("openai.chat", "openai.chat+think", "openai.responses", "anthropic.messages",
           "gemini")


def _sse(events: list[tuple[str | None, dict[str, Any]]]) -> list[bytes]:
    return [((f"event: {n}\n" if n else "") + "data: " + json.dumps(e) + "\n\n").encode()
            for n, e in events]


def _chat(n: int, think: bool) -> list[tuple[str | None, dict[str, Any]]]:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    def chunk(delta: dict[str, Any]) -> tuple[None, dict[str, Any]]:
        return None, {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    if think:
        mid = [chunk({"content": "<think>"})] + [chunk({"content": f"step {i} of it, "})
                                                 for i in range(n)]
        mid.append(chunk({"content": "</think>\n\n"}))
    else:
        mid = [chunk({"reasoning_content": f"step {i} of it, "}) for i in range(n)]
    return mid + [chunk({"content": f"word{i} "}) for i in range(n)]


def _responses(n: int) -> list[tuple[str | None, dict[str, Any]]]:
    ev: list[dict[str, Any]] = [
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"id": "rs", "type": "reasoning", "summary": []}}]
    ev += [{"type": "response.reasoning_summary_text.delta", "item_id": "rs", "output_index": 0,
            "summary_index": 0, "delta": f"step {i} of it, "} for i in range(n)]
    ev += [{"type": "response.output_item.done", "output_index": 0,
            "item": {"id": "rs", "type": "reasoning", "summary": []}},
           {"type": "response.output_item.added", "output_index": 1,
            "item": {"id": "m", "type": "message", "role": "assistant", "content": []}}]
    ev += [{"type": "response.output_text.delta", "item_id": "m", "output_index": 1,
            "content_index": 0, "delta": f"word{i} "} for i in range(n)]
    for i, e in enumerate(ev):
        e["sequence_number"] = i
    return [(e["type"], e) for e in ev]


def _anthropic(n: int) -> list[tuple[str | None, dict[str, Any]]]:
    ev: list[dict[str, Any]] = [{"type": "content_block_start", "index": 0, "content_block": {
        "type": "thinking", "thinking": "", "signature": ""}}]
    ev += [{"type": "content_block_delta", "index": 0,
            "delta": {"type": "thinking_delta", "thinking": f"step {i} of it, "}}
           for i in range(n)]
    ev += [{"type": "content_block_stop", "index": 0},
           {"type": "content_block_start", "index": 1,
            "content_block": {"type": "text", "text": ""}}]
    ev += [{"type": "content_block_delta", "index": 1,
            "delta": {"type": "text_delta", "text": f"word{i} "}} for i in range(n)]
    return [(e["type"], e) for e in ev]


def _gemini(n: int) -> list[tuple[str | None, dict[str, Any]]]:
    def c(part: dict[str, Any]) -> tuple[None, dict[str, Any]]:
        return None, {"candidates": [{"content": {"role": "model", "parts": [part]},
                                      "index": 0}]}
    return ([c({"text": f"step {i} of it, ", "thought": True}) for i in range(n)]
            + [c({"text": f"word{i} "}) for i in range(n)])


def stream_of(fmt: str, size: int) -> list[bytes]:
    """Event-sized chunks of a streamed response of about ``size`` bytes."""
    make: Callable[[int], list[tuple[str | None, dict[str, Any]]]] = {
        "openai.chat": lambda n: _chat(n, False), "openai.chat+think": lambda n: _chat(n, True),
        "openai.responses": _responses, "anthropic.messages": _anthropic, "gemini": _gemini,
    }[fmt]
    one = sum(map(len, _sse(make(10)))) / 10
    return _sse(make(max(1, round(size / one))))


def json_of(size: int) -> bytes:
    n = max(1, size // 17)  # "step of it, " + "word ": 17 bytes per n
    doc = {"id": "c1", "object": "chat.completion", "choices": [{"index": 0, "message": {
        "role": "assistant", "reasoning_content": "step of it, " * n, "content": "word " * n},
        "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 2}}
    return json.dumps(doc).encode()


def _time_filter(fmt: str, chunks: Sequence[bytes], stream: bool) -> tuple[float, float]:
    """Seconds per response: forwarding the chunks as they are, and filtering them.

    Small responses are repeated up to about 1 MB per measurement, so a scheduler hiccup on
    a loaded machine is spread over many responses rather than deciding one figure.
    """
    from antidistill.enforcement.withhold import WithholdPlan, response_filter

    headers = [(b"content-type", b"text/event-stream" if stream else b"application/json")]
    reps = max(1, 1_000_000 // sum(map(len, chunks)))
    plan = WithholdPlan(logprobs=True)
    t0 = time.perf_counter()
    for _ in range(reps):
        out = [c for c in chunks]  # the allowed path: every chunk forwarded as it is
    t1 = time.perf_counter()
    for _ in range(reps):
        f = response_filter(fmt.split("+")[0], 200, headers, plan)
        assert f is not None and out
        got = [f.feed(c) for c in chunks]
        got.append(f.finish())
    t2 = time.perf_counter()
    assert b"step 1 of it" not in b"".join(got)
    return (t1 - t0) / reps, (t2 - t1) / reps


def run_filter(rounds: int) -> list[list[Any]]:
    cases = [(fmt, label, stream_of(fmt, size), True) for fmt in FORMATS
             for label, size in SIZES.items()]
    cases += [("openai.chat", label + " JSON", [json_of(size)], False)
              for label, size in SIZES.items()]
    times: dict[int, list[tuple[float, float]]] = {i: [] for i in range(len(cases))}
    for r in range(rounds):
        order = list(range(len(cases)))
        order = order[r % len(order):] + order[: r % len(order)]
        for i in order:
            fmt, _, chunks, stream = cases[i]
            times[i].append(_time_filter(fmt, chunks, stream))
    rows = []
    for i, (fmt, label, chunks, _) in enumerate(cases):
        size = sum(map(len, chunks))
        base = median(t[0] for t in times[i])
        filt = median(t[1] for t in times[i])
        rows.append([fmt, label, size, len(chunks), base * 1e3, filt * 1e3,
                     (filt - base) * 1e9 / size])
    return rows


async def _allowed(mw: Any, raw: list[bytes], n: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b'{"model":"m","messages":[]}',
                "more_body": False}

    async def send(message: Any) -> None:
        return None

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions",
             "headers": [(b"authorization", b"Bearer sk-bench")], "client": ("127.0.0.1", 1)}
    t0 = time.perf_counter()
    for _ in range(n):
        await mw(dict(scope), receive, send)
    return (time.perf_counter() - t0) / n


def run_allowed(rounds: int, n: int) -> list[list[Any]]:
    from antidistill import AntiDistillMiddleware, Guard, Settings

    raw = stream_of("openai.chat", 10_000)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        for chunk in raw:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    variants = {
        "withhold on degrade (default)": Settings(secret="bench", detectors=[],
                                                  request_capacity=1e9, token_capacity=1e12),
        "withholding switched off": Settings(secret="bench", detectors=[], withhold=[],
                                             request_capacity=1e9, token_capacity=1e12),
    }
    mws = {k: AntiDistillMiddleware(app, guard=Guard(v)) for k, v in variants.items()}
    got: dict[str, list[float]] = {k: [] for k in mws}
    for r in range(rounds):
        for k in (list(mws) if r % 2 == 0 else list(reversed(mws))):
            got[k].append(asyncio.run(_allowed(mws[k], raw, n)))
    return [[k, median(v) * 1e6] for k, v in got.items()]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="3 rounds (CI smoke)")
    p.add_argument("--rounds", type=int, default=0)
    args = p.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 7)
    print_environment(environment(["antidistill"]))
    rows = run_filter(rounds)
    print(f"\nResponse filter, median of {rounds} interleaved rounds (ms):")
    print_table(["format", "size", "bytes", "chunks", "forward ms", "filter ms",
                 "added ns/byte"], [[*r[:4], f"{r[4]:.3f}", f"{r[5]:.2f}", f"{r[6]:.0f}"]
                                    for r in rows])
    by = {(r[0], r[1]): r[6] for r in rows}
    for fmt in FORMATS:
        small, mid, large = (by[(fmt, s)] for s in SIZES)
        print(f"linearity {fmt}: {small:.0f} / {mid:.0f} / {large:.0f} ns/byte at 10 KB / "
              f"100 KB / 1 MB -> 1 MB vs 100 KB ratio {large / mid:.2f} (1.00 = linear)")
    allowed = run_allowed(rounds, 20 if args.quick else 200)
    print("\nAllowed request through the middleware, 10 KB streamed response (median µs):")
    print_table(["variant", "µs/request"], [[k, f"{v:.0f}"] for k, v in allowed])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
