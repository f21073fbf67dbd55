"""What the prompt fingerprints cost per request, by stage and body size, against a baseline.

The bodies are ``overhead.py``'s: its 2 KB chat bodies and its ``--sizes`` bodies (a
question and a pasted, name- and number-dense order export of 1 KB, 10 KB and 100 KB).
Each stage (``parse_body``; then on the parsed prompt the exact hash, the segment sketch,
the skeleton and the whole ``fingerprint_prompt``) is timed in CPU time per request, in
interleaved rounds, and with ``--baseline CHECKOUT`` the same stages of another checkout's
``antidistill.fingerprints`` (loaded under another name) run in the same rounds; the script
also checks that both give the same fingerprints.

    python benchmarks/fingerprint_cost.py --baseline /path/to/older/checkout
    python benchmarks/fingerprint_cost.py --quick
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
if importlib.util.find_spec("antidistill") is None:
    sys.path.insert(0, str(HERE.parent / "src"))

import overhead  # noqa: E402  (the benchmark's own request generators)

from antidistill.fingerprints import normalize, parse, prompt  # noqa: E402

_BASE_NAME = "_baseline_fingerprints"


def _load_baseline(checkout: Path) -> tuple[ModuleType, ModuleType, ModuleType]:
    """The checkout's ``fingerprints`` package under another name (its relative imports
    resolve inside it; ``parse``'s absolute imports of JSON helpers use this checkout's)."""
    pkg_dir = checkout / "src" / "antidistill" / "fingerprints"
    if not pkg_dir.is_dir():
        pkg_dir = checkout / "antidistill" / "fingerprints"
    spec = importlib.util.spec_from_file_location(
        _BASE_NAME, pkg_dir / "__init__.py", submodule_search_locations=[str(pkg_dir)])
    if spec is None or spec.loader is None:
        raise SystemExit(f"no antidistill/fingerprints package under {checkout}")
    pkg = importlib.util.module_from_spec(spec)
    sys.modules[_BASE_NAME] = pkg
    spec.loader.exec_module(pkg)
    mods = [importlib.import_module(f"{_BASE_NAME}.{m}") for m in ("normalize", "parse", "prompt")]
    return mods[0], mods[1], mods[2]


def _stages(norm: ModuleType, par: ModuleType, pro: ModuleType,
            bodies: list[bytes]) -> dict[str, Callable[[], Any]]:
    parsed = [par.parse_body(b) for b in bodies]
    exact = [pro._exact(p.user) for p in parsed]

    def whole() -> None:
        for p in parsed:
            # normalize_text remembers its last inputs by identity: every round starts cold.
            norm._recent[:] = [("", "")] * len(norm._recent)
            pro.fingerprint_prompt(p)

    return {
        "parse_body": lambda: [par.parse_body(b) for b in bodies],
        "exact hash": lambda: [pro._exact(p.user) for p in parsed],
        "segment sketch": lambda: [pro._sketch(e[1], e[2]) for e in exact],
        "skeleton": lambda: [pro.skeletonize(p.last_user or p.user) for p in parsed],
        "fingerprint_prompt": whole,
    }


def _bodies(quick: bool) -> dict[str, list[bytes]]:
    n = 8 if quick else 40
    out = {"2 KB chat": [r.body for r in overhead.chat_requests(n)]}
    for size in (1024, 10240, 102400):
        out[f"{size // 1024} KB export"] = [r.body for r in overhead.sized_requests(size, n)]
    return out


def _same(base: tuple[ModuleType, ModuleType, ModuleType], bodies: list[bytes]) -> bool:
    for b in bodies:
        ours = prompt.fingerprint_prompt(parse.parse_body(b))
        theirs = base[2].fingerprint_prompt(base[1].parse_body(b))
        if repr(ours) != repr(theirs):  # two classes of one name: compare the fields
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--baseline", type=Path, help="another checkout to compare with")
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--quick", action="store_true", help="CI smoke size")
    args = ap.parse_args(argv)
    rounds = 3 if args.quick else args.rounds
    base = _load_baseline(args.baseline) if args.baseline else None
    print(f"Python {sys.version.split()[0]}; CPU µs per request, median of {rounds} "
          "interleaved rounds (process time)")
    for label, bodies in _bodies(args.quick).items():
        lanes = {"this": _stages(normalize, parse, prompt, bodies)}
        if base is not None:
            lanes["baseline"] = _stages(*base, bodies)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(rounds):
            for lane, stages in lanes.items():
                for stage, fn in stages.items():
                    t = time.process_time()
                    fn()
                    times.setdefault((lane, stage), []).append(
                        (time.process_time() - t) / len(bodies) * 1e6)
        same = "" if base is None else f"; same fingerprints: {_same(base, bodies)}"
        print(f"\n{label} ({len(bodies)} bodies{same})")
        for stage in lanes["this"]:
            ours = statistics.median(times[("this", stage)])
            line = f"  {stage:<20} {ours:9.1f}"
            if base is not None:
                theirs = statistics.median(times[("baseline", stage)])
                line += f"   baseline {theirs:9.1f}   ratio {ours / theirs:5.2f}"
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
