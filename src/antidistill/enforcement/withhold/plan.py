"""What a filtered response loses, and the shape every per-format stream handler has."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Out", "StreamHandler", "WithholdPlan"]

Out = tuple[str | None, dict[str, Any]]
"""One SSE event to emit: its ``event:`` name (or None) and its JSON data."""


@dataclass(frozen=True, slots=True)
class WithholdPlan:
    """What to remove from one response.

    ``reasoning``: reasoning fields, items, blocks, parts, events and ``<think>`` spans.
    ``logprobs``: token log-probabilities. ``seal``: when set, every reasoning blob that is
    kept (signatures, ``encrypted_content``, ``thoughtSignature``) is passed through it (see
    :mod:`antidistill.enforcement.blobs`). ``think_hold_chars`` bounds the text held at
    the start of a stream that may end in a bare ``</think>``; ``max_json_bytes`` bounds a
    buffered JSON body (a larger one is forwarded unfiltered).
    """

    reasoning: bool = True
    logprobs: bool = False
    seal: Callable[[str], str] | None = None
    think_hold_chars: int = 65536
    max_json_bytes: int = 32 * 1024 * 1024

    @property
    def active(self) -> bool:
        return self.reasoning or self.logprobs or self.seal is not None


class StreamHandler(Protocol):
    """Per-format state for one SSE response; ``None`` means "emit the event unchanged"."""

    def quiet(self, raw: bytes) -> bool:
        """True when this raw event certainly needs no change (skips parsing it)."""
        ...

    def on_event(self, name: str | None, obj: dict[str, Any]) -> list[Out] | None: ...

    def on_done(self) -> list[Out]: ...

    def finish(self) -> list[Out]: ...


def drop_index(dropped: list[int], index: int) -> int:
    """``index`` renumbered once the (sorted) ``dropped`` indices are gone."""
    from bisect import bisect_left

    return index - bisect_left(dropped, index)


def keep_and_fix(
    items: list[Any], drop: Callable[[Any], bool], fix: Callable[[Any], bool],
) -> tuple[list[Any], bool]:
    """The items not dropped, each passed to ``fix``; and whether anything changed."""
    kept = [it for it in items if not drop(it)]
    changed = len(kept) != len(items)
    for it in kept:
        if isinstance(it, dict):
            changed |= fix(it)
    return kept, changed
