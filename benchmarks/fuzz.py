"""Long fuzzing campaign through the real middleware, in process (issue #11, item 9).

Generates requests a fuzzing or evading client would send (malformed and truncated JSON,
wrong types, huge numbers, unhashable roles and odd content shapes, deep nesting, odd
encodings, duplicate and odd headers, bodies cut into odd chunks) for six API formats, and
drives them through ``AntiDistillMiddleware`` on ``memory://`` in front of an app that
echoes a digest of the body it received. For a share of requests an ``on_decision`` hook
forces ``degrade``. Checked, and printed at the end:

* exceptions escaping the middleware: 0
* 5xx responses: 0
* bodies changed on the way to the app, outside degrade: 0 (and degraded bodies are strict
  JSON)
* detection skipped because of input shape: 0 (``guard.counters["detector_errors"]``, the
  parser's last-resort ``internal`` error, and one ``store.observe`` per inspected request)
* hangs: 0 requests over the per-request bound (1 s of CPU outside the cyclic garbage
  collector, whose full passes scale with the heap, not the input; 20 s wall aborts one)

    python benchmarks/fuzz.py --requests 100000 --seed 1
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import hashlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, percentile, print_environment

PATHS = {
    "openai.chat": "/v1/chat/completions",
    "openai.completions": "/v1/completions",
    "openai.responses": "/v1/responses",
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/gemini-2.0-flash:generateContent",
    "embeddings": "/v1/embeddings",
}
WORDS = ("explain", "the", "reasoning", "step", "by", "step", "translate", "París", "中文",
         "привет", "Ab", "x", "://", "www.", "「", "」", '"', "'", "`", "{", "}", "\\u00e9",
         "\u200b", "<think>", "you", "are", "a", "grader", "score", "this", "answer", "1e400")
ODD_NUMBERS: tuple[Any, ...] = (10**400, -(10**400), 1e300, -0.0, 2**63, 2**64 + 1, -1, 0)
ODD_LITERALS = ("1e400", "-1e400", "9" * 5000, "NaN", "Infinity", "-Infinity", "1E-400")
PARAMS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "n", "seed",
          "temperature", "top_p", "logprobs", "top_logprobs", "logit_bias", "stream",
          "thinking", "reasoning", "reasoning_effort", "include", "stream_options")
BOUND_SECONDS = 1.0


class Gen:
    """Random request generator (seeded: a run is reproducible)."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def text(self, lo: int = 1, hi: int = 40) -> str:
        r = self.r
        return " ".join(r.choice(WORDS) for _ in range(r.randint(lo, hi)))

    def odd_value(self, depth: int = 0) -> Any:
        r = self.r
        k = r.randrange(11)
        if k == 0:
            return r.choice(ODD_NUMBERS)
        if k == 1:
            return self.text(1, 3)
        if k == 2:
            return [self.odd_value(depth + 1) for _ in range(r.randint(0, 3))] if depth < 3 else []
        if k == 3:
            return {self.text(1, 1): self.odd_value(depth + 1)} if depth < 3 else {}
        if k == 4:
            return r.choice((True, False, None))
        if k == 5:
            return "\x01LIT" + r.choice(ODD_LITERALS)
        if k == 6:
            return r.uniform(-1e6, 1e6)
        return r.randint(-5, 100_000)

    def message(self, role: str) -> dict[str, Any]:
        r = self.r
        content: Any = self.text()
        k = r.randrange(12)
        if k == 0:
            content = [{"type": "text", "text": self.text()}]
        elif k == 1:
            content = [[self.text()], {"type": ["text"], "text": self.text()}]
        elif k == 2:
            content = self.odd_value()
        elif k == 3:
            content = {"text": self.text()}
        role_v: Any = role
        k = r.randrange(12)
        if k == 0:
            role_v = [role]
        elif k == 1:
            role_v = {"role": role}
        elif k == 2:
            role_v = self.odd_value()
        return {"role": role_v, "content": content}

    def doc(self, fmt: str) -> dict[str, Any]:
        r = self.r
        turns = [self.message(r.choice(("user", "user", "assistant", "system", "developer")))
                 for _ in range(r.randint(0, 4))] + [self.message("user")]
        d: dict[str, Any]
        if fmt == "openai.chat":
            d = {"model": "gpt-4o-mini", "messages": turns}
        elif fmt == "anthropic":
            d = {"model": "claude-3-5-haiku", "system": self.text(), "messages": turns,
                 "max_tokens": 1024}
        elif fmt == "openai.responses":
            d = {"model": "gpt-5", "instructions": self.text(),
                 "input": turns if r.random() < 0.5 else self.text()}
        elif fmt == "openai.completions":
            d = {"model": "gpt-3.5-turbo-instruct", "prompt": self.text()}
        elif fmt == "gemini":
            d = {"contents": [{"role": "user", "parts": [{"text": self.text()}]}],
                 "generationConfig": {"maxOutputTokens": r.choice((64, 8192, 10**400)),
                                      "candidateCount": r.choice((1, 8, "8", [1]))}}
        else:
            d = {"model": "text-embedding-3-small", "input": self.text()}
        for name in r.sample(PARAMS, r.randint(0, 6)):
            d[name] = self.odd_value() if r.random() < 0.6 else r.choice(
                (True, 20, 8, 4096, {"50256": 100}, {str(i): -100 for i in range(300)}))
        if r.random() < 0.05:
            depth = r.choice((100, 1000, 5000, 20000))
            d["nest"] = "\x01LIT" + "[" * depth + "]" * depth
        return d

    def body(self, fmt: str) -> tuple[bytes, str]:
        """(body bytes, content type)."""
        r = self.r
        text = json.dumps(self.doc(fmt), ensure_ascii=r.random() < 0.3)
        # Literal JSON-ish tokens (huge numbers, NaN, deep nesting) go in unquoted.
        while '"\\u0001LIT' in text:
            start = text.index('"\\u0001LIT')
            end = text.index('"', start + 1)
            while text[end - 1] == "\\":
                end = text.index('"', end + 1)
            text = text[:start] + json.loads(text[start:end + 1])[4:] + text[end + 1:]
        raw = text.encode("utf-8", "surrogatepass")
        ctype = "application/json"
        k = r.randrange(40)
        if k == 0:
            raw = raw[: r.randrange(len(raw) + 1)]  # truncated
        elif k == 1:
            i = r.randrange(len(raw) + 1)
            raw = raw[:i] + bytes(r.randrange(256) for _ in range(r.randint(1, 8))) + raw[i:]
        elif k == 2:
            raw = text.encode("utf-16")
        elif k == 3:
            raw = text.encode("latin-1", "replace")
        elif k == 4:
            raw = b"\xef\xbb\xbf" + raw
        elif k == 5:
            raw = gzip.compress(raw)
        elif k == 6:
            raw = bytes(r.randrange(256) for _ in range(r.randint(0, 2000)))
        elif k == 7:
            raw = b""
        elif k == 8:
            ctype = r.choice(("text/plain", "application/x-www-form-urlencoded", "", "a/b;;;"))
        elif k == 9:
            raw = raw.replace(b'"', b"'", r.randint(1, 4))
        elif k == 10:
            raw = raw + b" " * r.randint(1, 70_000)
        return raw, ctype

    def headers(self, ctype: str) -> list[tuple[bytes, bytes]]:
        r = self.r
        h: list[tuple[bytes, bytes]] = []
        if ctype:
            h.append((b"content-type", ctype.encode()))
        ident = r.randrange(3000)
        k = r.randrange(10)
        if k == 0:
            h += [(b"authorization", f"Bearer junk-{r.randrange(10**6)}".encode()),
                  (b"x-api-key", f"sk-{ident}".encode())]
        elif k == 1:
            h += [(b"x-api-key", f"sk-{ident}".encode()), (b"x-api-key", b"sk-other")]
        elif k == 2:
            h.append((b"authorization", b"Bearer " + bytes(r.randrange(32, 256)
                                                           for _ in range(r.randint(1, 900)))))
        elif k == 3:
            pass  # no key: identified by IP
        else:
            h.append((b"authorization", f"Bearer sk-{ident}".encode()))
        if r.random() < 0.1:
            h.append((b"content-type", b"text/plain"))
        if r.random() < 0.1:
            h.append((b"x-forwarded-for", b"1.2.3.4, " + bytes(r.randrange(32, 127)
                                                             for _ in range(20))))
        if r.random() < 0.1:
            h.append((b"forwarded", b'for="[::1]:80";by=x, for=unknown'))
        if r.random() < 0.3:
            h.append((b"user-agent", r.choice((b"OpenAI/Python 1.54.0", b"curl/8",
                                               bytes(r.randrange(1, 256) for _ in range(300))))))
        if r.random() < 0.05:
            h.append((b"content-encoding", r.choice((b"gzip", b"br", b"identity"))))
        return h

    def chunks(self, body: bytes) -> list[bytes]:
        r = self.r
        if not body or r.random() < 0.6:
            return [body]
        cuts = sorted(r.randrange(len(body) + 1) for _ in range(r.randint(1, 6)))
        out, prev = [], 0
        for c in [*cuts, len(body)]:
            out.append(body[prev:c])
            prev = c
        return out


async def echo_app(scope: dict[str, Any], receive: Callable[..., Any],
                   send: Callable[..., Any]) -> None:
    """Returns the SHA-256 of the body it received and the degrade changes it was told of."""
    body = bytearray()
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    decision = (scope.get("state") or {}).get("antidistill")
    payload = json.dumps({"sha": hashlib.sha256(bytes(body)).hexdigest(),
                          "degrade": list(getattr(decision, "degrade", ()) or ()),
                          "strict": _strict(bytes(body))}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": payload})


def _strict(body: bytes) -> bool:
    def refuse(name: str) -> Any:
        raise ValueError(name)
    try:
        json.loads(body, parse_constant=refuse, parse_int=Decimal, parse_float=Decimal)
    except (ValueError, RecursionError):
        return False
    return True


def build(degrade_share: float, seed: int) -> tuple[Any, Any, Counter[str]]:
    from antidistill import AntiDistillMiddleware, Guard
    from antidistill.decision import Action, Decision
    from antidistill.settings import Settings

    guard = Guard(Settings(secret="fuzz", request_capacity=1e9, request_refill_rate=1e9,
                           token_capacity=1e12, token_refill_rate=1e12,
                           trusted_proxies=["127.0.0.0/8"], events=False,
                           max_delay=0.0))  # a tarpit's sleep is no hang
    stats: Counter[str] = Counter()
    picker = random.Random(seed ^ 0xDE6)

    @guard.on_decision
    def force_degrade(ctx: Any, decision: Decision) -> Decision | None:
        if picker.random() < degrade_share:
            stats["forced_degrade"] += 1
            return replace(decision, action=Action.DEGRADE, enforced=True)
        return None

    observe = guard.store.observe

    async def counted_observe(*args: Any, **kwargs: Any) -> Any:
        stats["observe"] += 1
        return await observe(*args, **kwargs)

    guard.store.observe = counted_observe  # type: ignore[method-assign]
    parse = guard.fingerprints.parse

    def checked_parse(ctx: Any) -> Any:
        p = parse(ctx)
        if p.error.startswith("internal"):
            stats["parser_gave_up"] += 1
        return p

    guard.fingerprints.parse = checked_parse  # type: ignore[method-assign]
    return AntiDistillMiddleware(echo_app, guard=guard), guard, stats


class _GCClock:
    """CPU seconds spent in the cyclic garbage collector (gc.callbacks), and its longest pass."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.longest = 0.0
        self._start: float | None = None
        gc.callbacks.append(self._on)

    def _on(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.thread_time()
        elif self._start is not None:
            # A pass whose "start" call failed (a collection triggered at the recursion
            # limit) is not counted: its time stays with the request.
            took = time.thread_time() - self._start
            self._start = None
            self.seconds += took
            self.longest = max(self.longest, took)


GC = _GCClock()


async def one(app: Any, gen: Gen, stats: Counter[str], times: list[float]) -> None:
    r = gen.r
    fmt = r.choice(list(PATHS))
    body, ctype = gen.body(fmt)
    headers = gen.headers(ctype)
    pieces = gen.chunks(body)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": PATHS[fmt], "raw_path": b"",
             "query_string": b"", "root_path": "", "headers": headers,
             "client": (f"127.0.{r.randrange(4)}.{r.randrange(256)}", 40000),
             "server": ("127.0.0.1", 8000)}
    queue = [{"type": "http.request", "body": p, "more_body": i < len(pieces) - 1}
             for i, p in enumerate(pieces)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    start = time.perf_counter()
    cpu = time.thread_time()
    gc_before = GC.seconds
    try:
        await asyncio.wait_for(app(scope, receive, send), BOUND_SECONDS * 20)
    except asyncio.TimeoutError:
        stats["hangs"] += 1
        return
    except Exception as exc:  # what the campaign is looking for
        stats["exceptions"] += 1
        stats["exception:" + type(exc).__name__] += 1
        return
    finally:
        times.append(time.perf_counter() - start)
        # CPU time: on a shared machine the wall clock also counts other processes' turns.
        # A full collection of the cyclic GC lands on whichever request allocates at that
        # moment and scales with the whole heap (the store's state), not with this input.
        spent = time.thread_time() - cpu
        in_gc = GC.seconds - gc_before
        if spent - in_gc > BOUND_SECONDS:
            stats["over_bound"] += 1
            print(f"  slow: {spent:.2f} s CPU ({in_gc:.2f} s GC), {fmt}, {len(body)} bytes, "
                  f"{len(pieces)} chunks", flush=True)
        elif spent > BOUND_SECONDS:
            stats["over_bound_gc"] += 1
    _check(sent, body, stats)


def _check(sent: list[dict[str, Any]], body: bytes, stats: Counter[str]) -> None:
    starts = [m for m in sent if m["type"] == "http.response.start"]
    if len(starts) != 1:
        stats["bad_response"] += 1
        return
    status = starts[0]["status"]
    stats[f"status:{status}"] += 1
    if status >= 500:
        stats["5xx"] += 1
        return
    if status != 200:
        return  # refused by the middleware (budgets, oversize): the app never saw it
    reply = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    if reply["degrade"]:
        stats["degraded"] += 1
        if not reply["strict"]:
            stats["degraded_not_json"] += 1
    elif reply["sha"] != hashlib.sha256(body).hexdigest():
        stats["body_changed"] += 1


async def campaign(n: int, seed: int, degrade_share: float) -> tuple[Counter[str], Any,
                                                                      list[float], float]:
    app, guard, stats = build(degrade_share, seed)
    gen = Gen(seed)
    times: list[float] = []
    started = time.perf_counter()
    for i in range(n):
        await one(app, gen, stats, times)
        if (i + 1) % 10_000 == 0:
            print(f"  {i + 1:,} requests, {time.perf_counter() - started:.0f} s", flush=True)
    return stats, guard, times, time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--degrade-share", type=float, default=0.2)
    args = ap.parse_args()
    print_environment(environment(["antidistill"]))
    stats, guard, times, elapsed = asyncio.run(
        campaign(args.requests, args.seed, args.degrade_share))
    inspected = sum(v for k, v in stats.items() if k.startswith("status:")) + stats["5xx"]
    skipped = (guard.counters["detector_errors"] + stats["parser_gave_up"]
               + max(0, args.requests - stats["exceptions"] - stats["hangs"] - stats["observe"]))
    print(f"\n{args.requests:,} requests (seed {args.seed}) in {elapsed:.0f} s; "
          f"p50 {percentile(times, 50) * 1e3:.2f} ms, p99 {percentile(times, 99) * 1e3:.2f} ms, "
          f"max {max(times) * 1e3:.1f} ms (wall time, loaded machine)")
    print("statuses: " + ", ".join(f"{k[7:]}={v}" for k, v in sorted(stats.items())
                                    if k.startswith("status:")))
    print(f"degrade forced {stats['forced_degrade']:,}, bodies rewritten {stats['degraded']:,}; "
          f"store.observe ran {stats['observe']:,} times for {inspected:,} answered requests")
    checks = [
        ("exceptions escaping the middleware", stats["exceptions"]),
        ("middleware 5xx", stats["5xx"] + stats["bad_response"]),
        ("bodies changed outside degrade", stats["body_changed"]),
        ("degraded bodies that are not strict JSON", stats["degraded_not_json"]),
        ("detection skipped because of input shape", skipped),
        (f"requests over {BOUND_SECONDS:g} s of CPU or aborted (hangs)",
         stats["over_bound"] + stats["hangs"]),
    ]
    print(f"cyclic GC: {GC.seconds:.1f} s CPU in all, longest pass {GC.longest:.2f} s; "
          f"{stats['over_bound_gc']} requests over the bound only because a full collection "
          "ran during them (not counted as hangs)")
    ok = True
    for label, count in checks:
        ok &= count == 0
        print(f"{'PASS' if count == 0 else 'FAIL'}: {label}: {count}")
    for k, v in sorted(stats.items()):
        if k.startswith("exception:"):
            print(f"  {k}: {v}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
