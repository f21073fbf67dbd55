"""Session continuity's record of what was answered, written after the response.

Only keyed hashes of the answer's opening are stored (see :mod:`antidistill.signals.continuity`);
the record is bookkeeping, so it is skipped while storage is degraded and never fails a request.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Set

from antidistill.signals.continuity import LIST as ANSWERS
from antidistill.signals.continuity import TTL as ANSWER_TTL
from antidistill.signals.continuity import answer_members
from antidistill.storage.base import Store


def remembers_answers(detectors: Set[str], default_policy: str,
                      routes: Mapping[str, str]) -> bool:
    """Whether answers are worth recording: session continuity reads them back only from
    inspected requests, so with no route inspected nothing would ever read them."""
    return "continuity" in detectors and (
        default_policy == "inspect" or "inspect" in routes.values())


async def remember_answer(store: Store, identity: str, answer: str,
                          uncached: Callable[[str, str], str], counters: Counter[str]) -> None:
    """Record keyed hashes of ``answer`` for ``identity`` (counted as dropped on failure)."""
    if getattr(store, "degraded", False):
        counters["answers_dropped"] += 1
        return
    members = answer_members(identity, answer, uncached)
    try:
        await asyncio.gather(*(store.list_add(ANSWERS, m, ANSWER_TTL) for m in members))
    except Exception:
        counters["answers_dropped"] += 1
