"""Which LLM API a request is for: one detector for the parser and the degrade rewrite.

The path is the better witness (``/v1/chat/completions``, ``/v1/messages``,
``:generateContent``); without one, the body's shape decides. Names are the parser's:
``openai.chat``, ``openai.completions``, ``openai.responses``, ``anthropic.messages``,
``gemini``, or ``json`` for a JSON body of no known API (embeddings, moderations, ...).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

API_FORMATS = ("openai.chat", "openai.completions", "openai.responses", "anthropic.messages",
               "gemini")
UNKNOWN = "json"

_PATH_HINTS = (
    ("/chat/completions", "openai.chat"),
    ("/completions", "openai.completions"),
    ("/responses", "openai.responses"),
    ("/messages", "anthropic.messages"),
    (":generatecontent", "gemini"),
    (":streamgeneratecontent", "gemini"),
    ("/converse", "anthropic.messages"),
)
# Keys only one of the two "messages" APIs accepts; they tell the two apart without a path.
_OPENAI_CHAT_KEYS = frozenset({
    "max_completion_tokens", "logprobs", "top_logprobs", "logit_bias", "n",
    "stream_options", "response_format", "frequency_penalty", "presence_penalty",
    "seed", "reasoning_effort", "modalities", "parallel_tool_calls", "prediction",
    "audio", "web_search_options",
})
_ANTHROPIC_KEYS = frozenset(
    {"system", "anthropic_version", "thinking", "stop_sequences", "top_k", "mcp_servers"})
_OPENAI_ROLES = frozenset({"system", "developer", "tool", "function"})
_RESPONSES_KEYS = frozenset({
    "max_output_tokens", "instructions", "previous_response_id", "conversation",
    "reasoning", "include", "truncation", "background", "text", "max_tool_calls",
})
_GEMINI_KEYS = frozenset({"contents", "systemInstruction", "system_instruction",
                          "generationConfig", "generation_config"})
_EMBED_KEYS = frozenset({"encoding_format", "dimensions"})


@lru_cache(maxsize=1024)
def format_from_path(path: str) -> str:
    """The API a request path names, or ``""``."""
    p = path.split("?", 1)[0].lower()
    for needle, fmt in _PATH_HINTS:
        if needle in p:
            return fmt
    return ""


def _model(doc: dict[str, Any]) -> str:
    model = doc.get("model")
    return model[:200].lower() if isinstance(model, str) else ""


def _messages_format(doc: dict[str, Any]) -> str:
    if not _OPENAI_CHAT_KEYS.isdisjoint(doc):
        return "openai.chat"
    if not _ANTHROPIC_KEYS.isdisjoint(doc):
        return "anthropic.messages"
    messages = doc["messages"]
    if isinstance(messages, list) and any(
        isinstance(m, dict) and isinstance(m.get("role"), str) and m["role"] in _OPENAI_ROLES
        for m in messages[:64]
    ):
        return "openai.chat"  # Anthropic has no system/tool roles inside messages
    if "claude" in _model(doc):
        return "anthropic.messages"
    # Ambiguous: both APIs accept max_tokens, so the rewrite is the same either way.
    return "openai.chat"


def format_from_shape(doc: dict[str, Any]) -> str:
    """The API a parsed JSON object looks like, from its keys alone."""
    if not _GEMINI_KEYS.isdisjoint(doc):
        return "gemini"
    if "messages" in doc:
        return _messages_format(doc)
    if "prompt" in doc:
        return "openai.completions"
    if not _RESPONSES_KEYS.isdisjoint(doc) or "input" in doc:
        # /v1/embeddings and /v1/moderations also take a bare "input": an output limit added
        # to those would make the upstream reject the request.
        model = _model(doc)
        if not _EMBED_KEYS.isdisjoint(doc) or "embed" in model or "moderation" in model:
            return UNKNOWN
        return "openai.responses"
    return UNKNOWN


def detect_format(doc: dict[str, Any], path: str = "") -> str:
    """The path's API when it names one, else the shape's."""
    return format_from_path(path) or format_from_shape(doc)
