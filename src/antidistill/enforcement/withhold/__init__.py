"""Withhold reasoning (and log-probabilities) from the responses to degraded requests.

``response_filter(api_format, status, headers, plan)`` returns a :class:`ResponseFilter`
for a response worth filtering, or ``None`` to forward it untouched: non-2xx statuses,
content types other than JSON and ``text/event-stream``, and compressed bodies (any
``Content-Encoding`` but ``identity``; decompressing and recompressing a stream is not
cheap, so a compressed body passes unfiltered -- see docs/withholding.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from antidistill.enforcement.withhold.anthropic import AnthropicStream, filter_message
from antidistill.enforcement.withhold.chat import ChatStream, filter_chat
from antidistill.enforcement.withhold.gemini import GeminiStream, filter_gemini
from antidistill.enforcement.withhold.json_body import JSONFilter
from antidistill.enforcement.withhold.plan import StreamHandler, WithholdPlan
from antidistill.enforcement.withhold.responses import ResponsesStream, filter_response
from antidistill.enforcement.withhold.sse import SSEFilter
from antidistill.enforcement.withhold.think import ThinkScanner, strip_think

__all__ = [
    "ResponseFilter",
    "ThinkScanner",
    "WithholdPlan",
    "filter_document",
    "response_filter",
    "sniff_format",
    "strip_think",
]

Headers = list[tuple[bytes, bytes]]
_DOC_FILTERS: dict[str, Callable[[dict[str, Any], WithholdPlan], bool]] = {
    "openai.chat": filter_chat,
    "openai.completions": filter_chat,
    "openai.responses": filter_response,
    "anthropic.messages": filter_message,
    "gemini": filter_gemini,
}
_STREAMS: dict[str, Callable[[WithholdPlan], StreamHandler]] = {
    "openai.chat": ChatStream,
    "openai.completions": ChatStream,
    "openai.responses": ResponsesStream,
    "anthropic.messages": AnthropicStream,
    "gemini": GeminiStream,
}
_ANTHROPIC_EVENTS = frozenset({"message_start", "message_delta", "message_stop", "ping",
                               "content_block_start", "content_block_delta",
                               "content_block_stop", "message"})


def sniff_format(obj: dict[str, Any], hint: str | None = None) -> str | None:
    """The parser's format name for a response document or stream event, by its shape.

    The response's own shape wins over ``hint`` (the request's format), which is used only
    when the shape says nothing.
    """
    if "choices" in obj:
        return "openai.chat"
    if "candidates" in obj:
        return "gemini"
    kind = obj.get("type")
    if isinstance(kind, str):
        if kind.startswith("response."):
            return "openai.responses"
        if kind in _ANTHROPIC_EVENTS:
            return "anthropic.messages"
    if obj.get("object") == "response":
        return "openai.responses"
    return hint if hint in _STREAMS else None


def filter_document(doc: Any, plan: WithholdPlan, hint: str | None = None) -> bool:
    """Filter one parsed JSON response body in place; True if anything was removed."""
    if isinstance(doc, list):  # Gemini's streamGenerateContent without alt=sse
        changed = False
        for item in doc:
            changed |= filter_document(item, plan, hint)
        return changed
    if not isinstance(doc, dict):
        return False
    fmt = sniff_format(doc, hint)
    return _DOC_FILTERS[fmt](doc, plan) if fmt is not None else False


class ResponseFilter:
    """One response's filter: ``start_headers``, then ``feed`` every chunk, then ``finish``.

    ``buffers`` is True for JSON: the caller holds the start message until :meth:`finish`
    and sets ``Content-Length`` to the length of the filtered body (or, if ``over_cap``
    turns True, sends the original start message and the body as received).
    """

    __slots__ = ("_impl", "buffers")

    def __init__(self, impl: SSEFilter | JSONFilter) -> None:
        self._impl = impl
        self.buffers = isinstance(impl, JSONFilter)

    def start_headers(self, headers: Headers) -> Headers:
        """The response headers without ``Content-Length`` (the body's length changes)."""
        return [(k, v) for k, v in headers if k.lower() != b"content-length"]

    def feed(self, chunk: bytes) -> bytes:
        return self._impl.feed(chunk)

    def finish(self) -> bytes:
        return self._impl.finish()

    @property
    def over_cap(self) -> bool:
        return isinstance(self._impl, JSONFilter) and self._impl.over_cap


def response_filter(api_format: str | None, status: int, headers: Headers,
                    plan: WithholdPlan) -> ResponseFilter | None:
    """A filter for this response, or ``None`` to pass it through byte for byte."""
    if not plan.active or not 200 <= status < 300:
        return None
    media = encoding = ""
    for name, value in headers:
        lname = name.lower()
        if lname == b"content-type":
            media = value.decode("latin-1").split(";", 1)[0].strip().lower()
        elif lname == b"content-encoding":
            encoding = value.decode("latin-1").strip().lower()
    if encoding not in ("", "identity"):
        return None
    if media == "text/event-stream":
        def pick(obj: dict[str, Any]) -> StreamHandler | None:
            fmt = sniff_format(obj, api_format)
            return _STREAMS[fmt](plan) if fmt is not None else None

        return ResponseFilter(SSEFilter(pick))
    if media == "application/json" or media.endswith("+json"):
        return ResponseFilter(JSONFilter(lambda doc: filter_document(doc, plan, api_format),
                                         plan.max_json_bytes))
    return None
