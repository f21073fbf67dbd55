"""Measure the prompt fingerprints on real data and compare near-duplicate sketches.

Reads the public data sets in ``/work/shared/data`` (or ``$ANTIDISTILL_DATA``): gsm8k
(MIT), arena-hard (Apache-2.0), koala (Apache-2.0), self-instruct (Apache-2.0),
awesome-chatgpt-prompts (CC0). Nothing is written anywhere.

    python benchmarks/fingerprint_choice.py            # full run (a few minutes)
    python benchmarks/fingerprint_choice.py --quick    # fewer pairs and timings

Reports:

1. template skeletons: for 8 templates (prefix + suffix instructions, question first,
   question in the middle, labelled slots, two-slot reward-model grading, Chinese templates)
   filled with every gsm8k question and with arena-hard prompts, the fraction of fills whose
   skeleton equals the template's majority skeleton (target >= 95%);
2. skeleton collisions among distinct un-templated benign prompts: the fraction of prompts
   whose skeleton is shared with a different prompt (target < 0.1%);
3. near-duplicate sketches (SimHash, MinHash, Blacklight-style segments, and the shipped
   ``segments``): recall on template fills, light edits and an added sentence; precision
   on unrelated benign pairs; cost on 2 KB and 100 KB texts;
4. medians of ``parse_body`` and ``fingerprint_prompt`` on chat bodies of 2.5 KB and 100 KB.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import importlib.util
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import xxhash

if importlib.util.find_spec("antidistill") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from antidistill.fingerprints.normalize import normalize_text
from antidistill.fingerprints.parse import parse_body
from antidistill.fingerprints.prompt import (
    SEGMENT_K,
    SEGMENT_WINDOW,
    _segment_hashes,
    fingerprint_prompt,
    skeletonize,
)

csv.field_size_limit(1 << 24)
DATA = Path(os.environ.get("ANTIDISTILL_DATA", "/work/shared/data"))

# {Q} is the slot; {A} a second slot (the answer under review).
TEMPLATES: dict[str, str] = {
    "prefix+suffix": (
        "Solve the following problem: {Q} Think step by step and write out your full "
        "internal reasoning before the final answer."
    ),
    "question-first": (
        "{Q}\n\nLet's think step by step. Show all of your reasoning, then give the final "
        "answer on its own line."
    ),
    "question-first-inline": "{Q} Explain your reasoning step by step in detail.",
    "labelled-middle": (
        "You are a meticulous math tutor.\n\nQuestion: {Q}\nAnswer: Let's work this out in "
        "a step by step way to be sure we have the right answer."
    ),
    "reward-model": (
        "Grade the following answer on a scale of 1-10 against the rubric.\nQuestion: {Q}\n"
        'Answer: {A}\nRespond only with a JSON object {{"score": <int>, "reason": "<text>"}}.'
    ),
    "zh-prefix+suffix": (
        "请一步一步地思考并解决下面的问题，写出完整的推理过程。\n\n问题：{Q}\n\n"
        "最后请用“答案：”给出最终答案。"
    ),
    "zh-inline": "请详细解释你的推理过程：{Q} 请逐步思考，并在最后给出答案。",
    "task-wrapper": (
        "I need a detailed answer with your complete chain of thought, written out in full.\n"
        "Task: {Q}"
    ),
}


def _jsonl(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_benign() -> list[str]:
    """Distinct, un-templated benign prompts (deduplicated by normalised text)."""
    texts: list[str] = []
    for name in ("arena-hard-v0.1_question.jsonl", "arena-hard-v2.0_question.jsonl"):
        texts += [str(r["prompt"]) for r in _jsonl(DATA / "benign/arena-hard" / name)]
    texts += [str(r["prompt"]) for r in _jsonl(DATA / "benign/koala/koala_test_set.jsonl")]
    for name in ("user_oriented_instructions.jsonl", "seed_tasks.jsonl"):
        texts += [str(r["instruction"]) for r in _jsonl(DATA / "benign/self-instruct" / name)]
    with (DATA / "benign/awesome-chatgpt-prompts/prompts.csv").open(encoding="utf-8") as f:
        texts += [row["prompt"] for row in csv.DictReader(f)]
    seen: set[str] = set()
    out: list[str] = []
    for t in texts:
        n = normalize_text(t)
        if n and n not in seen:
            seen.add(n)
            out.append(t)
    return out


def load_slots() -> tuple[list[str], list[str], list[str]]:
    gsm = _jsonl(DATA / "benign/gsm8k/test.jsonl")
    questions = [str(r["question"]) for r in gsm]
    answers = [str(r["answer"]).split("####")[0].strip() for r in gsm]
    arena = [
        str(r["prompt"]) for r in _jsonl(DATA / "benign/arena-hard/arena-hard-v0.1_question.jsonl")
    ]
    return questions, answers, arena


def fill(template: str, q: str, a: str = "") -> str:
    return (
        template.replace("{{", "\x01")
        .replace("}}", "\x02")
        .replace("{Q}", q)
        .replace("{A}", a)
        .replace("\x01", "{")
        .replace("\x02", "}")
    )


# --- 1 + 2: skeletons ------------------------------------------------------------------------


def skeleton_report(
    questions: list[str], answers: list[str], arena: list[str], benign: list[str]
) -> None:
    print("## 1. template fills sharing the majority skeleton (target >= 95%)")
    print(
        f"{'template':24} {f'gsm8k (n={len(questions)})':>14} {f'arena (n={len(arena)})':>14}"
    )
    worst = 1.0
    for name, tpl in TEMPLATES.items():
        row = []
        for slots in (questions, arena):
            skels = Counter(
                skeletonize(fill(tpl, q, answers[i % len(answers)])) for i, q in enumerate(slots)
            )
            share = skels.most_common(1)[0][1] / len(slots)
            worst = min(worst, share)
            row.append(f"{share:14.3f}")
        print(f"{name:24} {' '.join(row)}")
    print(f"worst template/slot set: {worst:.3f}")

    print("\n## 2. skeleton collisions among distinct benign prompts (target < 0.1%)")
    by_skel: dict[str, list[int]] = {}
    for i, t in enumerate(benign):
        by_skel.setdefault(skeletonize(t), []).append(i)
    colliding = [ids for ids in by_skel.values() if len(ids) > 1]
    n_coll = sum(len(ids) for ids in colliding)
    print(
        f"prompts: {len(benign)}, sharing a skeleton with another: {n_coll} "
        f"({100 * n_coll / len(benign):.3f}%) in {len(colliding)} groups"
    )
    # Collisions between variants of one prompt (the sources hold edited re-posts) are
    # correct: count separately the prompts whose skeleton partners are all different texts
    # (word-set Jaccard < 0.5 with each of them).
    false_coll = 0
    for ids in colliding:
        words = [set(normalize_text(benign[i]).split()) for i in ids]
        for a, wa in enumerate(words):
            if all(
                len(wa & wb) / max(1, len(wa | wb)) < 0.5 for b, wb in enumerate(words) if b != a
            ):
                false_coll += 1
    print(
        f"  of which collide only with different texts (word Jaccard < 0.5): "
        f"{false_coll} ({100 * false_coll / len(benign):.3f}%)"
    )
    for ids in colliding[:6]:
        print("   e.g.", " | ".join(repr(benign[i][:60]) for i in ids[:3]))


# --- 3: sketches -----------------------------------------------------------------------------

Sketch = Callable[[str], frozenset[str]]


def _words(text: str) -> list[str]:
    return normalize_text(text).split()


def simhash_bands(text: str) -> frozenset[str]:
    """64-bit SimHash over word 3-grams, split into 4 bands of 16 bits (LSH elements)."""
    w = _words(text)
    shingles = [" ".join(w[i : i + 3]) for i in range(max(1, len(w) - 2))]
    acc = [0] * 64
    for s in shingles:
        h = xxhash.xxh3_64_intdigest(s.encode())
        for bit in range(64):
            acc[bit] += 1 if (h >> bit) & 1 else -1
    value = sum(1 << bit for bit in range(64) if acc[bit] > 0)
    return frozenset(f"b{i}:{(value >> (16 * i)) & 0xFFFF:04x}" for i in range(4))


def minhash_bottom_k(text: str, k: int = 16, n: int = 3) -> frozenset[str]:
    w = _words(text)
    shingles = {" ".join(w[i : i + n]) for i in range(max(1, len(w) - n + 1))}
    hashes = heapq.nsmallest(k, {xxhash.xxh3_64_intdigest(s.encode()) for s in shingles})
    return frozenset(f"{h:016x}" for h in hashes)


def blacklight(text: str, n: int = 8, k: int = 8) -> frozenset[str]:
    """Plain Blacklight-style: hash every n-word window, keep the k smallest."""
    return minhash_bottom_k(text, k=k, n=n)


def shipped(text: str) -> frozenset[str]:
    return frozenset(_segment_hashes(normalize_text(text)))


SKETCHES: dict[str, Sketch] = {
    "SimHash 64 (3-grams), 4x16 bands": simhash_bands,
    "MinHash k=16 (3-grams)": minhash_bottom_k,
    "Blacklight N=8 k=8": blacklight,
    "Blacklight N=6 k=8": lambda t: minhash_bottom_k(t, k=8, n=6),
    f"shipped segments (N={SEGMENT_WINDOW} k={SEGMENT_K} + anchors)": shipped,
}


def light_edit(text: str, rng: random.Random) -> str:
    """Swap two adjacent words, drop one word and replace one word, at random places."""
    w = text.split()
    if len(w) < 6:
        return text + " please"
    i = rng.randrange(len(w) - 1)
    w[i], w[i + 1] = w[i + 1], w[i]
    del w[rng.randrange(len(w))]
    w[rng.randrange(len(w))] = rng.choice(["really", "kindly", "the", "quite", "now"])
    return " ".join(w)


def add_sentence(text: str, rng: random.Random) -> str:
    extra = rng.choice(
        [
            "Thanks in advance for your help.",
            "This is for a project I am working on.",
            "Please be thorough.",
            "I have been stuck on this for a while.",
        ]
    )
    return f"{extra} {text}" if rng.random() < 0.5 else f"{text} {extra}"


def _timeit(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def sketch_report(
    questions: list[str],
    answers: list[str],
    arena: list[str],
    benign: list[str],
    n_pairs: int,
    repeat: int,
) -> None:
    rng = random.Random(7)
    fills: list[tuple[str, str]] = []
    for _ in range(n_pairs):
        tpl = rng.choice(list(TEMPLATES.values()))
        slots = questions if rng.random() < 0.7 else arena
        a, b = rng.sample(range(len(slots)), 2)
        fills.append(
            (
                fill(tpl, slots[a], answers[a % len(answers)]),
                fill(tpl, slots[b], answers[b % len(answers)]),
            )
        )
    informative = [t for t in benign if len(t.split()) >= 6]
    edits = [
        (t, light_edit(t, rng)) for t in rng.sample(informative, min(n_pairs, len(informative)))
    ]
    added = [
        (t, add_sentence(t, rng)) for t in rng.sample(informative, min(n_pairs, len(informative)))
    ]
    unrelated = []
    for _ in range(n_pairs * 5):
        a, b = rng.sample(range(len(benign)), 2)
        unrelated.append((benign[a], benign[b]))
    text_2k = (benign[5] + "\n" + questions[0] + "\n") * 20
    text_2k = text_2k[:2048]
    text_100k = (" ".join(benign[:400]))[:100_000]

    print(
        "\n## 3. near-duplicate sketches (fraction of pairs sharing >= 1 element; cost median us)"
    )
    print(
        f"{'sketch':38} {'fills':>6} {'edits':>6} {'+sent':>6} {'unrel':>7} "
        f"{'elems':>5} {'2KB us':>7} {'100KB us':>9}"
    )
    for name, sk in SKETCHES.items():

        def share(pairs: Sequence[tuple[str, str]], sk: Sketch = sk) -> float:
            return sum(bool(sk(a) & sk(b)) for a, b in pairs) / len(pairs)

        elems = statistics.median(len(sk(t)) for t in benign[:300])
        c2 = _timeit(lambda sk=sk: sk(text_2k), repeat) * 1e6
        c100 = _timeit(lambda sk=sk: sk(text_100k), max(5, repeat // 20)) * 1e6
        print(
            f"{name:38} {share(fills):6.3f} {share(edits):6.3f} {share(added):6.3f} "
            f"{share(unrelated):7.4f} {elems:5.0f} {c2:7.0f} {c100:9.0f}"
        )
    print("(SimHash/MinHash/Blacklight costs include normalize_text; 'shipped' too.)")


# --- 4: end-to-end timings -------------------------------------------------------------------


def timing_report(benign: list[str], repeat: int) -> None:
    system = "You are a helpful assistant. Answer carefully and cite sources. " * 8
    user_2k = (benign[10] + "\n\n" + benign[11])[:2000]
    body_2k = json.dumps(
        {
            "model": "gpt-4o",
            "max_tokens": 1024,
            "temperature": 0.2,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user_2k},
            ],
        }
    ).encode()
    user_100k = "\n".join(benign)[:100_000]
    body_100k = json.dumps(
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user_100k},
            ],
        }
    ).encode()
    print("\n## 4. end-to-end medians (us)")
    for label, body in (
        ("chat %.1f KB" % (len(body_2k) / 1024), body_2k),
        ("chat %.0f KB" % (len(body_100k) / 1024), body_100k),
    ):
        parsed = parse_body(body, "application/json", path="/v1/chat/completions")
        tp = (
            _timeit(
                lambda body=body: parse_body(body, "application/json", path="/v1/chat/completions"),
                repeat,
            )
            * 1e6
        )
        tf = _timeit(lambda parsed=parsed: fingerprint_prompt(parsed), repeat) * 1e6
        print(
            f"{label:14} parse_body {tp:8.1f}   fingerprint_prompt {tf:8.1f}   "
            f"(segments: {len(fingerprint_prompt(parsed).segments)})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"data folder {DATA} not found (set ANTIDISTILL_DATA)")
    n_pairs, repeat = (300, 50) if args.quick else (2000, 400)
    questions, answers, arena = load_slots()
    benign = load_benign()
    skeleton_report(questions, answers, arena, benign)
    sketch_report(questions, answers, arena, benign, n_pairs, repeat)
    timing_report(benign, repeat)


if __name__ == "__main__":
    main()
