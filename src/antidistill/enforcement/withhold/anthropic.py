"""Anthropic Messages: ``thinking`` and ``redacted_thinking`` blocks."""

from __future__ import annotations

from bisect import insort
from typing import Any

from antidistill.enforcement.withhold.plan import Out, WithholdPlan, drop_index, keep_and_fix

__all__ = ["AnthropicStream", "filter_message"]

THINKING = frozenset({"thinking", "redacted_thinking"})
_BLOB_FIELD = {"thinking": "signature", "redacted_thinking": "data"}


def _seal_block(block: dict[str, Any], plan: WithholdPlan) -> bool:
    field = _BLOB_FIELD.get(block.get("type", ""))
    blob = block.get(field) if field else None
    if plan.seal is None or not isinstance(blob, str) or not blob or field is None:
        return False
    block[field] = plan.seal(blob)
    return True


def filter_message(doc: dict[str, Any], plan: WithholdPlan) -> bool:
    """Filter a Message object's ``content`` in place; True if it changed."""
    content = doc.get("content")
    if not isinstance(content, list):
        return False
    kept, changed = keep_and_fix(
        content,
        lambda b: plan.reasoning and isinstance(b, dict) and b.get("type") in THINKING,
        lambda b: _seal_block(b, plan))
    if changed:
        doc["content"] = kept
    return changed


class AnthropicStream:
    """Drops the start/delta/stop events of thinking blocks and renumbers ``index``."""

    __slots__ = ("_dropped", "_plan")

    def __init__(self, plan: WithholdPlan) -> None:
        self._plan = plan
        self._dropped: list[int] = []

    def on_event(self, name: str | None, obj: dict[str, Any]) -> list[Out] | None:
        kind = obj.get("type")
        index = obj.get("index")
        changed = False
        if kind == "message_start" and isinstance(obj.get("message"), dict):
            changed = filter_message(obj["message"], self._plan)
        elif kind == "content_block_start" and isinstance(obj.get("content_block"), dict):
            block = obj["content_block"]
            if self._plan.reasoning and block.get("type") in THINKING:
                if isinstance(index, int) and index not in self._dropped:
                    insort(self._dropped, index)
                return []
            changed = _seal_block(block, self._plan)
        elif kind in ("content_block_delta", "content_block_stop") and isinstance(index, int):
            if self._dropped and index in self._dropped:
                return []
            delta = obj.get("delta")
            if (self._plan.seal is not None and isinstance(delta, dict)
                    and delta.get("type") == "signature_delta"
                    and isinstance(delta.get("signature"), str) and delta["signature"]):
                delta["signature"] = self._plan.seal(delta["signature"])
                changed = True
        if self._dropped and isinstance(index, int):
            obj["index"] = drop_index(self._dropped, index)
            changed = True
        return [(name, obj)] if changed else None

    def quiet(self, raw: bytes) -> bool:
        return False  # indices after a dropped item or block change in every event

    def on_done(self) -> list[Out]:
        return []

    def finish(self) -> list[Out]:
        return []
