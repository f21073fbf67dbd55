"""OpenAI Responses API: ``reasoning`` output items and their events."""

from __future__ import annotations

from bisect import insort
from typing import Any

from antidistill.enforcement.withhold.plan import Out, WithholdPlan, drop_index, keep_and_fix

__all__ = ["ResponsesStream", "filter_response"]

_WRAPPERS = frozenset({"response.created", "response.in_progress", "response.completed",
                       "response.incomplete", "response.failed", "response.queued"})


def _clear_logprobs(part: Any) -> bool:
    if isinstance(part, dict) and part.get("logprobs"):
        part["logprobs"] = []  # the SDK types declare a list here
        return True
    return False


def _item(item: dict[str, Any], plan: WithholdPlan) -> bool:
    """Logprobs and blob sealing inside one kept output item."""
    changed = False
    if plan.logprobs and isinstance(item.get("content"), list):
        for part in item["content"]:
            changed |= _clear_logprobs(part)
    blob = item.get("encrypted_content")
    if plan.seal is not None and item.get("type") == "reasoning" and isinstance(blob, str) \
            and blob:
        item["encrypted_content"] = plan.seal(blob)
        changed = True
    return changed


def filter_response(doc: dict[str, Any], plan: WithholdPlan) -> bool:
    """Filter a Response object in place (a JSON body, or inside a wrapper event)."""
    output = doc.get("output")
    if not isinstance(output, list):
        return False
    kept, changed = keep_and_fix(
        output,
        lambda it: plan.reasoning and isinstance(it, dict) and it.get("type") == "reasoning",
        lambda it: _item(it, plan))
    if changed:
        doc["output"] = kept
    return changed


class ResponsesStream:
    """Drops reasoning items' events; renumbers ``output_index`` and ``sequence_number``."""

    __slots__ = ("_dropped", "_dropped_ids", "_plan", "_seq_dropped")

    def __init__(self, plan: WithholdPlan) -> None:
        self._plan = plan
        self._dropped: list[int] = []
        self._dropped_ids: set[str] = set()
        self._seq_dropped = 0

    def on_event(self, name: str | None, obj: dict[str, Any]) -> list[Out] | None:
        kind = obj.get("type")
        if not isinstance(kind, str):
            return None
        if self._plan.reasoning and self._is_reasoning(kind, obj):
            self._seq_dropped += 1
            return []
        changed = False
        if kind in _WRAPPERS and isinstance(obj.get("response"), dict):
            changed = filter_response(obj["response"], self._plan)
        item = obj.get("item")
        if isinstance(item, dict):
            changed |= _item(item, self._plan)
        if self._plan.logprobs:
            changed |= _clear_logprobs(obj) | _clear_logprobs(obj.get("part"))
        index = obj.get("output_index")
        if self._dropped and isinstance(index, int):
            obj["output_index"] = drop_index(self._dropped, index)
            changed = True
        seq = obj.get("sequence_number")
        if self._seq_dropped and isinstance(seq, int):
            obj["sequence_number"] = seq - self._seq_dropped
            changed = True
        return [(name, obj)] if changed else None

    def _is_reasoning(self, kind: str, obj: dict[str, Any]) -> bool:
        if kind.startswith("response.reasoning"):
            return True
        item_id = obj.get("item_id")
        if isinstance(item_id, str) and item_id in self._dropped_ids:
            return True
        item = obj.get("item")
        if not (isinstance(item, dict) and item.get("type") == "reasoning"):
            return False
        if isinstance(item.get("id"), str):
            self._dropped_ids.add(item["id"])
        index = obj.get("output_index")
        if isinstance(index, int) and index not in self._dropped:
            insort(self._dropped, index)
        return True

    def quiet(self, raw: bytes) -> bool:
        return False  # indices after a dropped item or block change in every event

    def on_done(self) -> list[Out]:
        return []

    def finish(self) -> list[Out]:
        return []
