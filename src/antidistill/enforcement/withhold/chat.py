"""OpenAI chat completions and legacy completions (and every OpenAI-compatible server)."""

from __future__ import annotations

import re
from typing import Any

from antidistill.enforcement.withhold.plan import Out, WithholdPlan
from antidistill.enforcement.withhold.think import ThinkScanner, strip_think

__all__ = ["ChatStream", "filter_chat"]

_OTHER_INDEX = re.compile(rb'"index"\s*:\s*(?!0\b)\d')

# DeepSeek and vLLM: reasoning_content; vLLM >= 0.9, Ollama, OpenRouter: reasoning;
# OpenRouter: reasoning_details[] (summaries, text and encrypted blobs).
REASONING_KEYS = ("reasoning", "reasoning_content", "reasoning_details")


def _has_tag(text: str) -> bool:
    return "think>" in text


def _drop_reasoning(d: dict[str, Any]) -> bool:
    changed = False
    for key in REASONING_KEYS:
        if key in d:
            del d[key]
            changed = True
    return changed


def filter_chat(doc: dict[str, Any], plan: WithholdPlan) -> bool:
    """Filter a non-streamed chat or completions response in place; True if it changed."""
    choices = doc.get("choices")
    if not isinstance(choices, list):
        return False
    changed = False
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        if plan.logprobs and choice.get("logprobs") is not None:
            choice["logprobs"] = None
            changed = True
        if not plan.reasoning:
            continue
        msg = choice.get("message")
        holder, key = (msg, "content") if isinstance(msg, dict) else (choice, "text")
        if isinstance(msg, dict):
            changed |= _drop_reasoning(msg)
        text = holder.get(key)
        if isinstance(text, str) and _has_tag(text):
            holder[key] = strip_think(text)
            changed = True
    return changed


class ChatStream:
    """Chat/completions chunks: reasoning deltas dropped, ``<think>`` spans cut per choice."""

    __slots__ = ("_plan", "_scanners", "_template")

    def __init__(self, plan: WithholdPlan) -> None:
        self._plan = plan
        self._scanners: dict[Any, ThinkScanner] = {}
        self._template: dict[str, Any] = {}

    def on_event(self, name: str | None, obj: dict[str, Any]) -> list[Out] | None:
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices:
            return None
        if not self._template:
            self._template = {k: obj[k] for k in ("id", "object", "created", "model")
                              if k in obj}
        changed = False
        for choice in choices:
            if isinstance(choice, dict):
                changed |= self._choice(choice)
        if not changed:
            return None
        if obj.get("usage") is None and all(_empty(c) for c in choices):
            return []  # nothing left for the client: drop the chunk
        return [(name, obj)]

    def _choice(self, choice: dict[str, Any]) -> bool:
        changed = False
        if self._plan.logprobs and choice.get("logprobs") is not None:
            choice["logprobs"] = None
            changed = True
        if not self._plan.reasoning:
            return changed
        delta = choice.get("delta")
        holder, key = (delta, "content") if isinstance(delta, dict) else (choice, "text")
        parsed = isinstance(delta, dict) and _drop_reasoning(delta)
        changed |= parsed
        text = holder.get(key)
        idx = choice.get("index", 0)
        scanner = self._scanners.get(idx)
        if scanner is None:
            scanner = self._scanners[idx] = ThinkScanner(self._plan.think_hold_chars)
        out = scanner.settle() if parsed else ""
        out += scanner.feed(text) if isinstance(text, str) else ""
        if choice.get("finish_reason") is not None:
            out += scanner.flush()
        if out != (text if isinstance(text, str) else ""):
            changed = True
            if out or key == "text":
                holder[key] = out
            else:
                holder.pop(key, None)
        return changed

    def quiet(self, raw: bytes) -> bool:
        # Most answer chunks: no reasoning key, no tag (even escaped), every choice's scanner
        # past its start with nothing carried. A new choice index is parsed (not yet scanned).
        if not self._scanners or not all(s.idle for s in self._scanners.values()):
            return False
        if b"reasoning" in raw or b"think" in raw or _OTHER_INDEX.search(raw):
            return False
        return not (self._plan.logprobs and b"logprob" in raw and b'"logprobs":null' not in raw)

    def on_done(self) -> list[Out]:
        return self.finish()

    def finish(self) -> list[Out]:
        out: list[Out] = []
        for idx, scanner in self._scanners.items():
            held = scanner.flush()
            if held:
                piece = ({"delta": {"content": held}}
                         if self._template.get("object") != "text_completion" else {"text": held})
                out.append((None, {**self._template, "choices": [
                    {"index": idx, **piece, "finish_reason": None}]}))
        return out


def _empty(choice: Any) -> bool:
    if not isinstance(choice, dict) or choice.get("finish_reason") is not None:
        return False
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return not delta
    return not choice.get("text") and choice.get("logprobs") is None
