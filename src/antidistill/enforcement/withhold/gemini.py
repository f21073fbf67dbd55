"""Gemini ``generateContent`` / ``streamGenerateContent``: thought parts and signatures."""

from __future__ import annotations

from typing import Any

from antidistill.enforcement.withhold.plan import Out, WithholdPlan

__all__ = ["GeminiStream", "filter_gemini"]

_SIGNATURE = ("thoughtSignature", "thought_signature")
_LOGPROBS = ("logprobsResult", "logprobs_result", "avgLogprobs", "avg_logprobs")


def _parts(cand: dict[str, Any], plan: WithholdPlan) -> bool:
    content = cand.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list) or content is None:
        return False
    changed = False
    kept = []
    for part in parts:
        if isinstance(part, dict):
            if plan.reasoning and part.get("thought") is True:
                changed = True
                continue
            for key in _SIGNATURE:
                blob = part.get(key)
                if key not in part:
                    continue
                if plan.reasoning:
                    del part[key]
                    changed = True
                elif plan.seal is not None and isinstance(blob, str) and blob:
                    part[key] = plan.seal(blob)
                    changed = True
        kept.append(part)
    if changed:
        content["parts"] = kept
    return changed


def filter_gemini(doc: dict[str, Any], plan: WithholdPlan) -> bool:
    """Filter one GenerateContentResponse in place; True if it changed."""
    cands = doc.get("candidates")
    if not isinstance(cands, list):
        return False
    changed = False
    for cand in cands:
        if not isinstance(cand, dict):
            continue
        if plan.logprobs:
            for key in _LOGPROBS:
                if key in cand:
                    del cand[key]
                    changed = True
        changed |= _parts(cand, plan)
    return changed


def _nothing_left(doc: dict[str, Any]) -> bool:
    if "usageMetadata" in doc or "promptFeedback" in doc:
        return False
    for cand in doc.get("candidates") or ():
        if not isinstance(cand, dict) or cand.get("finishReason"):
            return False
        content = cand.get("content")
        if not isinstance(content, dict) or content.get("parts"):
            return False
    return True


class GeminiStream:
    """Each SSE event is a whole GenerateContentResponse; emptied chunks are dropped."""

    __slots__ = ("_plan",)

    def __init__(self, plan: WithholdPlan) -> None:
        self._plan = plan

    def on_event(self, name: str | None, obj: dict[str, Any]) -> list[Out] | None:
        if not filter_gemini(obj, self._plan):
            return None
        return [] if _nothing_left(obj) else [(name, obj)]

    def quiet(self, raw: bytes) -> bool:
        # "hought" covers thought, thoughtSignature and thought_signature.
        return b"hought" not in raw and not (self._plan.logprobs and b"ogprob" in raw)

    def on_done(self) -> list[Out]:
        return []

    def finish(self) -> list[Out]:
        return []
