"""Native libraries for the per-request path, measured side by side in one run.

Usage::

    python benchmarks/native_choice.py            # about a minute
    python benchmarks/native_choice.py --quick    # small counts (CI smoke)

Three jobs, each on the package's own inputs, each candidate timed in interleaved rounds
(the median of the round medians, in microseconds per call):

* **JSON decoding**: stdlib ``json``, ``orjson`` and ``msgspec`` on 2 KB chat bodies, a
  100 KB agent history (many turns, tool calls and tool results), a 100 KB pasted document,
  streamed chat chunks (one SSE event each) and a response's usage object. The "same as
  json" column counts the edge documents (numbers at every limit, escapes, duplicates,
  syntax errors) on which a library gives another value or accepts what ``json`` refuses:
  what a fallback must catch.
* **Multi-pattern matching** (the intent pre-filter: does a normalised prompt hold one of
  the lexicon's anchor tokens?): the current tokeniser and set test, one ``re`` alternation
  with word boundaries, ``ahocorasick_rs`` and ``pyahocorasick`` (matches checked for word
  boundaries), on benign prompts of 2 KB and 16 KB.
* **Hashing and sketching** of a 2 KB prompt: the current segment sketch (xxh3-64 of every
  5-word window, bottom-8), ``rensa``'s 128-permutation MinHash of the same windows, and the
  exact hash with xxh3-64, xxh64 and blake2b.

A candidate that is not installed is reported as such. Reads no external data.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent / "src"))

import _common as common  # noqa: E402

PACKAGES = ("antidistill", "orjson", "msgspec", "ahocorasick_rs", "pyahocorasick", "rensa",
            "xxhash")


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def time_rounds(cases: dict[str, Callable[[], object]], calls: int, rounds: int,
                per_call: int) -> dict[str, float]:
    """Median over rounds of each case's time per call (µs); order rotated every round."""
    names = list(cases)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for fn in cases.values():
        fn()  # warm-up (and the first import-time costs)
    clock = time.perf_counter_ns
    for r in range(rounds):
        for name in common.rotated(names, r):
            fn = cases[name]
            t0 = clock()
            for _ in range(calls):
                fn()
            samples[name].append((clock() - t0) / 1000 / calls / per_call)
    return {n: common.median(v) for n, v in samples.items()}


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------


def agent_history(nbytes: int, rng: random.Random) -> bytes:
    """An OpenAI chat body of a coding agent's session: tool calls and their results."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a coding agent. Use the tools to read and "
                                      "edit files; run the tests before you answer."},
        {"role": "user", "content": "The date parser fails on ISO weeks; fix it and add a "
                                    "test."},
    ]
    size = 0
    turn = 0
    while size < nbytes:
        turn += 1
        call_id = f"call_{rng.getrandbits(64):016x}"
        path = f"src/pkg/module_{rng.randint(1, 40)}.py"
        messages.append({"role": "assistant", "content": None, "tool_calls": [{
            "id": call_id, "type": "function",
            "function": {"name": "read_file", "arguments": json.dumps({"path": path})}}]})
        lines = [f"def f_{turn}_{i}(x: int) -> int:\n    return x * {rng.randint(2, 99)}  # "
                 f"step {i} of the \"{path}\" helper" for i in range(rng.randint(8, 30))]
        messages.append({"role": "tool", "tool_call_id": call_id, "content": "\n".join(lines)})
        if turn % 4 == 0:
            messages.append({"role": "user", "content": f"Turn {turn}: also check the "
                                                         "week-53 case, please."})
        size = len(json.dumps(messages))
    body = {"model": "gpt-4o", "messages": messages, "temperature": 0.2, "tools": [
        {"type": "function", "function": {"name": "read_file", "parameters": {
            "type": "object", "properties": {"path": {"type": "string"}}}}}]}
    return json.dumps(body, ensure_ascii=False).encode()


def stream_chunks(n: int, rng: random.Random) -> list[bytes]:
    """The data lines of an OpenAI chat stream with ``include_usage`` (one event each)."""
    words = ("the", "parser", "reads", "ISO", "weeks", "so", "week", "53", "is", "valid",
             "when", "the", "year", "starts", "on", "a", "Thursday", "é", "—", "ok")
    out = []
    for i in range(n):
        event: dict[str, Any] = {
            "id": "chatcmpl-abc", "object": "chat.completion.chunk", "created": 1700000000 + i,
            "model": "gpt-4o-mini", "system_fingerprint": "fp_0123456789",
            "choices": [{"index": 0, "delta": {"content": " " + rng.choice(words)},
                         "logprobs": None, "finish_reason": None}]}
        out.append(json.dumps(event).encode())
    out.append(json.dumps({"id": "chatcmpl-abc", "object": "chat.completion.chunk",
                           "choices": [], "usage": {"prompt_tokens": 812,
                                                    "completion_tokens": n,
                                                    "total_tokens": 812 + n}}).encode())
    return out


EDGE_DOCUMENTS = (
    '{"a":-0}', '{"a":-0.0}', '{"a":1e400}', '{"a":1,"b":2,"a":3}', '"\\ud800"',
    '{"\\ud800":1}', '"a\x01b"', '{"a":NaN}', '[Infinity]', '[1.5e-320]',
    '{"a":18446744073709551616}', '{"a":-9223372036854775809}', '[' + '9' * 400 + ']',
    '[' + '9' * 4301 + ']', '  {"a":1}  ', '{"a":1}\x0c', '"\\/"', '"\\x41"', '01', '[1,]',
    '{"a":1}garbage', '1' + '0' * 25 + 'e-10', '[' * 5000 + ']' * 5000,
)


def _outcome(fn: Callable[[str], Any], doc: str) -> tuple[str, str]:
    try:
        return "ok", repr(fn(doc))
    except RecursionError:
        return "recursion", ""
    except Exception:
        return "error", ""


def differences(fn: Callable[[str], Any]) -> str:
    """On the edge documents: how often ``fn`` refuses what ``json.loads`` accepts (or fails
    otherwise), and how often it returns another value (what no fallback can catch)."""
    refused = other = 0
    for doc in EDGE_DOCUMENTS:
        want, got = _outcome(json.loads, doc), _outcome(fn, doc)
        if want != got:
            if got[0] == "ok":
                other += 1
            else:
                refused += 1
    return f"{refused} refused, {other} other value"


# --------------------------------------------------------------------------------------
# The three comparisons
# --------------------------------------------------------------------------------------


def json_table(args: argparse.Namespace) -> list[list[str]]:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    import overhead

    rng = random.Random(3)
    chats = [r.body for r in overhead.chat_requests(50)]
    inputs: dict[str, list[bytes]] = {
        "2 KB chat body": chats,
        "100 KB agent history": [agent_history(100 * 1024, rng) for _ in range(3)],
        "100 KB pasted document": [r.body for r in overhead.sized_requests(100 * 1024, 3)],
        "SSE chunk (~250 B)": stream_chunks(60, rng),
        "usage object": [b'{"prompt_tokens":812,"completion_tokens":64,"total_tokens":876}'],
    }
    orjson, msgspec = _optional("orjson"), _optional("msgspec")
    decoders: dict[str, Callable[[Any], Any] | None] = {
        "json (str)": lambda b: json.loads(b.decode()),
        "orjson": orjson.loads if orjson else None,
        "msgspec": msgspec.json.Decoder().decode if msgspec else None,
    }
    live = {k: v for k, v in decoders.items() if v is not None}
    rows = []
    for label, data in inputs.items():
        calls = max(1, (args.scale * 40) // len(data) // (1 + len(data[0]) // 4096))

        def batch(fn: Callable[[Any], Any], data: list[bytes] = data) -> None:
            for b in data:
                fn(b)

        t = time_rounds({k: (lambda f=f: batch(f)) for k, f in live.items()}, calls,
                        args.rounds, len(data))
        base = t["json (str)"]
        rows.append([label, f"{len(data[0]):,} B"] + [
            (f"{t[k]:.2f} ({base / t[k]:.1f}x)" if k in t else "not installed")
            for k in decoders])
    on_text: dict[str, Callable[[str], Any] | None] = {
        "json (str)": json.loads, "orjson": decoders["orjson"], "msgspec": decoders["msgspec"]}
    rows.append(["differs from json on edge docs", f"{len(EDGE_DOCUMENTS)} docs"] + [
        (differences(f) if f is not None else "not installed")
        for f in on_text.values()])
    return [["input", "size", *decoders], *rows]


def matching_table(args: argparse.Namespace) -> list[list[str]]:
    import overhead

    from antidistill.fingerprints.normalize import normalize_text
    from antidistill.signals import intent

    anchors = sorted(intent._ANCHOR_KEYS)
    prompts = [normalize_text(p) for p in overhead.USER_PROMPTS]
    system = normalize_text(overhead.SYSTEM_PROMPTS[0])
    texts = {"2 KB benign prompt": [system + " " + p for p in prompts[:20]],
             "16 KB benign prompt": [" ".join([system] * 8) + " " + p for p in prompts[:5]]}
    alternation = re.compile(r"\b(?:" + "|".join(map(re.escape, anchors)) + r")\b")

    def current(text: str) -> bool:
        return not intent._ANCHOR_KEYS.isdisjoint(intent._tokenize(text))

    def regex(text: str) -> bool:
        return alternation.search(text) is not None

    cases: dict[str, Callable[[str], bool] | None] = {
        "current (tokenise + set)": current, "re alternation": regex}
    ac_rs = _optional("ahocorasick_rs")
    cases["ahocorasick_rs"] = _aho_rs(ac_rs, anchors) if ac_rs else None
    ac_py = _optional("ahocorasick")
    cases["pyahocorasick"] = _aho_py(ac_py, anchors) if ac_py else None
    live = {k: v for k, v in cases.items() if v is not None}
    rows = []
    for label, data in texts.items():
        answers = {k: [f(t) for t in data] for k, f in live.items()}
        calls = max(1, args.scale // len(data) // (1 + len(data[0]) // 2048))

        def batch(fn: Callable[[str], bool], data: list[str] = data) -> None:
            for t in data:
                fn(t)

        t = time_rounds({k: (lambda f=f: batch(f)) for k, f in live.items()}, calls,
                        args.rounds, len(data))
        base = t["current (tokenise + set)"]
        ref = answers["current (tokenise + set)"]
        rows.append([label, f"{len(data[0]):,} chars"] + [
            (f"{t[k]:.2f} ({base / t[k]:.1f}x)" + ("" if answers[k] == ref else " DIFFERS")
             if k in t else "not installed") for k in cases])
    return [["text", "size", *cases], *rows]


def _bounded(text: str, start: int, end: int) -> bool:
    return (start == 0 or not text[start - 1].isalnum()) and (
        end == len(text) or not text[end].isalnum())


def _aho_rs(mod: Any, anchors: Sequence[str]) -> Callable[[str], bool]:
    ac = mod.AhoCorasick(list(anchors), matchkind=mod.MatchKind.LeftmostLongest,
                         implementation=mod.Implementation.DFA)

    def find(text: str) -> bool:
        return any(_bounded(text, s, e) for _, s, e in ac.find_matches_as_indexes(
            text, overlapping=False))

    return find


def _aho_py(mod: Any, anchors: Sequence[str]) -> Callable[[str], bool]:
    automaton = mod.Automaton()
    for word in anchors:
        automaton.add_word(word, len(word))
    automaton.make_automaton()

    def find(text: str) -> bool:
        return any(_bounded(text, end - n + 1, end + 1) for end, n in automaton.iter(text))

    return find


def hashing_table(args: argparse.Namespace) -> list[list[str]]:
    import hashlib

    import overhead
    import xxhash

    from antidistill.fingerprints import prompt
    from antidistill.fingerprints.normalize import normalize_text

    text = normalize_text(overhead.SYSTEM_PROMPTS[2])
    encoded = text.encode()
    words = encoded.split(b" ")
    windows = [b" ".join(words[i:i + 5]) for i in range(len(words) - 4)]
    cases: dict[str, Callable[[], object] | None] = {
        "segment sketch (current, xxh3-64 bottom-8)": lambda: prompt._sketch(text),
        "exact hash xxh3-64 (current)": lambda: xxhash.xxh3_64_hexdigest(encoded),
        "exact hash xxh64": lambda: xxhash.xxh64_hexdigest(encoded),
        "exact hash blake2b-64": lambda: hashlib.blake2b(encoded, digest_size=8).hexdigest(),
    }
    rensa = _optional("rensa")
    if rensa is not None:
        def minhash() -> object:
            m = rensa.RMinHash(num_perm=128, seed=0)
            m.update([w.decode() for w in windows])
            return m.digest()

        cases["rensa RMinHash 128 perms (same windows)"] = minhash
    else:
        cases["rensa RMinHash 128 perms (same windows)"] = None
    live = {k: v for k, v in cases.items() if v is not None}
    t = time_rounds(live, max(1, args.scale * 2), args.rounds, 1)
    return [["job (2 KB prompt)", "µs per call"]] + [
        [k, f"{t[k]:.2f}" if k in t else "not installed"] for k in cases]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="small counts (CI smoke run)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 9)")
    args = p.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 9)
    args.scale = 20 if args.quick else 400
    common.print_environment(common.environment(PACKAGES))
    print(f"\nMedian over {args.rounds} interleaved rounds, µs per call (speed-up vs the "
          f"first column in brackets)")
    for title, table in (("JSON decoding", json_table(args)),
                         ("Intent pre-filter: any anchor token in the text?",
                          matching_table(args)),
                         ("Hashing and sketching", hashing_table(args))):
        common.print_table(table[0], table[1:], title=title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
