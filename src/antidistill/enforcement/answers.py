"""Session continuity's record of what was answered, written after the response.

Only keyed hashes of the answer's opening are stored (see :mod:`antidistill.signals.continuity`);
the record is bookkeeping, so it is skipped while storage is degraded and never fails a request.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Set

from antidistill.signals.continuity import LIST as ANSWERS
from antidistill.signals.continuity import TTL as ANSWER_TTL
from antidistill.signals.continuity import answer_members

__all__ = ["ANSWERS", "ANSWER_TTL", "answer_record", "remembers_answers"]
from antidistill.storage.base import Store


def remembers_answers(detectors: Set[str], default_policy: str,
                      routes: Mapping[str, str]) -> bool:
    """Whether answers are worth recording: session continuity reads them back only from
    inspected requests, so with no route inspected nothing would ever read them."""
    return "continuity" in detectors and (
        default_policy == "inspect" or "inspect" in routes.values())


def answer_record(store: Store, identity: str, answer: str,
                  uncached: Callable[[str, str], str], counters: Counter[str]) -> list[str]:
    """The list members recording ``answer`` for ``identity``; none while storage is degraded
    (counted as dropped). The guard writes them with the settlement (storage.together)."""
    if getattr(store, "degraded", False):
        counters["answers_dropped"] += 1
        return []
    return answer_members(identity, answer, uncached)
