"""Golden outputs: fingerprints, normalisation and intent scores are bit-for-bit unchanged.

The hot paths of ``fingerprints.prompt``, ``fingerprints.normalize`` and ``signals.intent``
are optimised for speed; this recomputes their outputs for about 12,100 varied inputs (see
``tests/data/make_prompt_golden.py``) and compares digests with the stored ones. When an
output change is intended, regenerate the file with that script.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parent / "data" / "make_prompt_golden.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_prompt_golden", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses resolve their module by name
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return _generator()


def test_golden_outputs_unchanged(gen: ModuleType) -> None:
    golden = gen.load()
    assert golden["format"] == gen.FORMAT
    per_case, per_fn, matching = gen.digests(golden)
    assert len(per_case) == golden["count"], "inputs changed: regenerate the golden file"
    assert matching == golden["matching"]
    changed_fns = [f for f in gen.FUNCTIONS if per_fn[f] != golden["functions"][f]]
    stored = golden["digests"]
    changed = [i for i, d in enumerate(per_case) if stored[16 * i : 16 * i + 16] != d]
    assert not changed, (
        f"{len(changed)} of {len(per_case)} inputs give other outputs (functions: "
        f"{changed_fns}); first case indices: {changed[:10]}"
    )
    assert not changed_fns


def test_golden_covers_intent_matches(gen: ModuleType) -> None:
    golden = gen.load()
    assert golden["matching"] >= 500
    assert golden["count"] >= 10_000


def test_golden_detects_a_perturbation(gen: ModuleType) -> None:
    """The comparison can fail: a one-character change of one output is caught."""
    golden = gen.load()
    cases = gen.cases(golden)
    target = next(i for i, c in enumerate(cases) if "system prompt" in c.user)
    prev: list[object] = [None]
    gen.outputs(target - 1, cases[target - 1], prev)  # the previous fingerprint (similarity)
    outs = gen.outputs(target, cases[target], prev)
    stored = golden["digests"][16 * target : 16 * target + 16]
    assert gen.digest(outs) == stored
    for k in range(len(outs)):
        changed = (*outs[:k], outs[k] + " ", *outs[k + 1 :])
        assert gen.digest(changed) != stored
