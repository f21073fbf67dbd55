"""Response usage metering: what a response really cost, observed while it streams past.

The middleware forwards every body chunk to the client as soon as it arrives and also hands
it to a :class:`ResponseMeter`. The meter never holds the client up and never keeps a whole
stream: for JSON it keeps a bounded copy (and only a 4 KB tail past the cap), for Server-Sent
Events only the current partial line and the current event's data. When the response ends,
:meth:`ResponseMeter.finish` returns the provider-reported :class:`Usage` (OpenAI chat and
Responses, Anthropic Messages, Gemini), or an estimate from the streamed text when the
provider sent no usage, and the caller charges the identity's token budget with it.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from antidistill.fingerprints import jsonio
from antidistill.fingerprints.values import safe_count
from antidistill.usage import Usage, estimate_request_cost, estimate_tokens

__all__ = [
    "NO_USAGE",
    "ResponseMeter",
    "Usage",
    "estimate_request_cost",
    "estimate_tokens",
]

# How much of a too-large body (or SSE event) we keep to find the usage object. Every
# provider writes usage at the very end of the body / event, and it is well under 1 KB.
_TAIL_BYTES = 4096

_MODE_OFF = 0
_MODE_JSON = 1
_MODE_SSE = 2

# A usage key that really is a key: preceded by `{` or `,`. Inside a JSON string the quote
# would be escaped (`\"usage\"`), so model output that talks about usage cannot match.
_TAIL_USAGE_KEY = re.compile(rb'[{,]\s*"(usage|usageMetadata)"\s*:\s*\{')
_TAIL_BRACE = re.compile(rb"[{}]")
ANSWER_CHARS = 512
# The first answer text of a JSON response: OpenAI chat "content", Anthropic and Gemini
# "text", Responses "output_text" parts ("text"). A string literal, unescaped afterwards.
_ANSWER_KEY = re.compile(rb'"(?:content|text)"\s*:\s*"')
# Bytes read after the key: ANSWER_CHARS characters even if every one is a \uXXXX escape.
_ANSWER_WINDOW = 6 * ANSWER_CHARS + 8
_USAGE_MEMBER = re.compile(rb'"usage"\s*:\s*(?=\{)')
_DECODER = json.JSONDecoder()
# More tokens than any response can hold; larger reported counts are clamped to it.
_MAX_COUNT = 10**9
_TAIL_FIELD = re.compile(
    rb'"(prompt_tokens|completion_tokens|input_tokens|output_tokens'
    rb"|cache_creation_input_tokens|cache_read_input_tokens"
    rb'|promptTokenCount|candidatesTokenCount|thoughtsTokenCount|toolUsePromptTokenCount)"'
    rb"\s*:\s*(\d{1,15})"
)


NO_USAGE = Usage(0, 0, "none")
"""What a caller may charge when :meth:`ResponseMeter.finish` returns ``None``."""


def _count(value: object) -> int | None:
    # Clamped: a usage count of 10**400 must not overflow the token budget's counters.
    return safe_count(value, _MAX_COUNT)


def _from_usage(u: dict[str, Any]) -> tuple[int, int] | None:
    """(prompt, completion) from an OpenAI / Anthropic style usage object."""
    prompt = _count(u.get("prompt_tokens"))
    completion = _count(u.get("completion_tokens"))
    if prompt is not None or completion is not None:
        return prompt or 0, completion or 0
    inp = _count(u.get("input_tokens"))
    out = _count(u.get("output_tokens"))
    if inp is None and out is None:
        return None
    # Anthropic reports cached prompt tokens beside input_tokens, not inside it; OpenAI
    # Responses nests its cached count in input_tokens_details, so nothing is counted twice.
    cache_w = _count(u.get("cache_creation_input_tokens")) or 0
    cache_r = _count(u.get("cache_read_input_tokens")) or 0
    return (inp or 0) + cache_w + cache_r, out or 0


def _from_gemini(um: dict[str, Any]) -> tuple[int, int] | None:
    """(prompt, completion) from a Gemini ``usageMetadata`` object."""
    prompt = _count(um.get("promptTokenCount"))
    cand = _count(um.get("candidatesTokenCount"))
    # Gemini bills thinking tokens as output but leaves them out of candidatesTokenCount.
    thoughts = _count(um.get("thoughtsTokenCount"))
    if prompt is None and cand is None and thoughts is None:
        return None
    tool_prompt = _count(um.get("toolUsePromptTokenCount")) or 0
    return (prompt or 0) + tool_prompt, (cand or 0) + (thoughts or 0)


def _from_json_value(obj: object) -> tuple[int, int] | None:
    if isinstance(obj, list):
        # Gemini streamGenerateContent without alt=sse: a JSON array of chunks.
        for item in reversed(obj):
            found = _from_json_value(item)
            if found is not None:
                return found
        return None
    if not isinstance(obj, dict):
        return None
    usage = obj.get("usage")
    if isinstance(usage, dict):
        found = _from_usage(usage)
        if found is not None:
            return found
    meta = obj.get("usageMetadata")
    if isinstance(meta, dict):
        return _from_gemini(meta)
    return None


def _last_member_usage(buf: bytearray) -> tuple[int, int] | None:
    """The usage of a JSON object whose last member is ``"usage": {...}`` (OpenAI and
    Anthropic put it there), without parsing the rest of the body; None otherwise.

    ``"usage"`` followed by a colon is always a key (inside a JSON string the quotes are
    escaped), and when the object after it is followed only by the closing brace, its parent
    is the document's root object: the same answer a full parse would give.
    """
    at = buf.rfind(b'"usage"')
    if at < 1:
        return None
    m = _USAGE_MEMBER.match(buf, at)
    if m is None:
        return None
    if jsonio.native_enabled():
        found = _native_last_member(buf, m.end())
        if found is not None:
            return found
    try:
        text = buf[m.end():].decode("utf-8")
        usage, end = _DECODER.raw_decode(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(usage, dict) or text[end:].strip() != "}":
        return None
    return _from_usage(usage)


def _native_last_member(buf: bytearray, start: int) -> tuple[int, int] | None:
    """:func:`_last_member_usage` when the rest after ``start`` is an object, blanks and
    the root's closing brace; None to let the standard library decide."""
    rest = bytes(buf[start:]).rstrip()
    if not rest.endswith(b"}"):
        return None
    try:
        usage = jsonio.native_loads(rest[:-1])
    except Exception:
        return None
    return _from_usage(usage) if isinstance(usage, dict) else None


def _scan_tail(tail: bytes) -> tuple[tuple[int, int], bool] | None:
    """Find the last usage object in the tail of a body; returns (counts, is_gemini)."""
    last = None
    for last in _TAIL_USAGE_KEY.finditer(tail):  # noqa: B007 - want the last match
        pass
    if last is None:
        return None
    start = last.end()
    end = len(tail)
    depth = 1
    for m in _TAIL_BRACE.finditer(tail, start):
        depth += 1 if m.group() == b"{" else -1
        if depth == 0:
            end = m.start()
            break
    fields: dict[str, Any] = {}
    for m in _TAIL_FIELD.finditer(tail, start, end):
        fields.setdefault(m.group(1).decode("ascii"), int(m.group(2)))
    if last.group(1) == b"usageMetadata":
        gem = _from_gemini(fields)
        return (gem, True) if gem is not None else None
    found = _from_usage(fields)
    return (found, False) if found is not None else None


@lru_cache(maxsize=256)
def _meter_mode(content_type: str | None, content_encoding: str | None) -> int:
    """What to meter for a response's content type and encoding (a handful of distinct
    values per app, so cached)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    encoding = (content_encoding or "").strip().lower()
    if encoding not in ("", "identity"):
        return _MODE_OFF
    if media == "text/event-stream":
        return _MODE_SSE
    if media == "application/json" or media.endswith("+json"):
        return _MODE_JSON
    return _MODE_OFF


class ResponseMeter:
    """Observe one response body chunk by chunk and report its token usage at the end.

    Only ``application/json`` (and ``+json``) and ``text/event-stream`` bodies are metered.
    A body with a ``Content-Encoding`` other than ``identity`` (gzip, br, zstd, ...) is not
    read at all: decompressing it just to meter would cost more than the response's own
    forwarding, so :meth:`finish` returns ``None`` and the caller falls back to its
    pre-flight estimate.

    Memory is bounded: JSON keeps at most ``max_json_bytes`` plus a 4 KB tail; SSE keeps
    the current partial line and the current event's data, each capped at
    ``max_json_bytes`` (past the cap only a 4 KB tail, which is where usage sits).

    ``keep_answer=False`` skips reading the answer text (``Usage.answer`` stays empty): only
    session continuity uses it.
    """

    __slots__ = (
        "_anth_delta",
        "_anth_out",
        "_anth_prompt",
        "_anth_seen",
        "_answer",
        "_answer_len",
        "_buf",
        "_chars",
        "_data",
        "_data_len",
        "_done",
        "_event_over",
        "_event_tail",
        "_gemini",
        "_keep",
        "_line",
        "_line_over",
        "_max",
        "_mode",
        "_openai",
        "_overflow",
        "_result",
        "_skip_lf",
        "_tail",
    )

    def __init__(
        self,
        content_type: str | None,
        *,
        content_encoding: str | None = None,
        max_json_bytes: int = 1_048_576,
        keep_answer: bool = True,
    ) -> None:
        self._keep = keep_answer
        self._mode = _meter_mode(content_type, content_encoding)
        self._max = max(_TAIL_BYTES, max_json_bytes)
        self._done = False
        self._result: Usage | None = None
        # JSON state
        self._buf = bytearray()
        self._tail = bytearray()
        self._overflow = False
        if self._mode == _MODE_SSE:
            self._init_sse()

    def _init_sse(self) -> None:
        # line assembly
        self._line = bytearray()
        self._line_over = False
        self._skip_lf = False
        # the current event
        self._data: list[bytes] = []
        self._data_len = 0
        self._event_over = False
        self._event_tail = b""
        # findings
        self._chars = 0
        self._answer: list[str] = []
        # Not kept: as if the answer were already complete, so no delta is read for it.
        self._answer_len = 0 if self._keep else ANSWER_CHARS
        self._openai: tuple[int, int] | None = None
        self._gemini: tuple[int, int] | None = None
        self._anth_seen = False
        self._anth_delta = False
        self._anth_prompt = 0
        self._anth_out = 0

    def feed(self, chunk: bytes) -> None:
        """Observe the next body chunk. O(len(chunk)); never raises."""
        if self._done or not chunk or self._mode == _MODE_OFF:
            return
        try:
            if self._mode == _MODE_SSE:
                self._feed_sse(bytes(chunk))
            else:
                self._feed_json(chunk)
        except Exception:
            # Metering must never take a response down; a body we cannot follow is
            # simply not metered and the caller keeps its pre-flight estimate.
            self._mode = _MODE_OFF

    def finish(self) -> Usage | None:
        """Return the usage seen, or ``None`` when nothing usable was seen. Idempotent."""
        if self._done:
            return self._result
        self._done = True
        try:
            if self._mode == _MODE_SSE:
                self._result = self._finish_sse()
            elif self._mode == _MODE_JSON:
                self._result = self._finish_json()
        except Exception:
            self._result = None
        self._release()
        return self._result

    def _release(self) -> None:
        # Only what is worth freeing early (the meter itself dies with the request).
        if len(self._buf) > _TAIL_BYTES:
            self._buf = bytearray()
        if self._mode == _MODE_SSE:
            self._line = bytearray()
            self._data = []
            self._event_tail = b""

    # -- JSON ------------------------------------------------------------------------

    def _feed_json(self, chunk: bytes) -> None:
        if not self._overflow:
            if len(self._buf) + len(chunk) <= self._max:
                self._buf += chunk
                return
            self._overflow = True
            self._tail = bytearray(self._buf[-_TAIL_BYTES:])
            self._buf = bytearray()
        _append_tail(self._tail, chunk)

    def _finish_json(self) -> Usage | None:
        usage = self._finish_json_usage()
        if usage is None or self._overflow or not self._keep:
            return usage
        answer = _json_answer(self._buf)
        # built directly: dataclasses.replace costs a few microseconds per response
        return Usage(usage.prompt_tokens, usage.completion_tokens, usage.source, answer) \
            if answer else usage

    def _finish_json_usage(self) -> Usage | None:
        if self._overflow:
            tail = bytes(self._tail)
        else:
            if not self._buf:
                return None
            quick = _last_member_usage(self._buf)
            if quick is not None:
                return Usage(quick[0], quick[1], "json")
            try:
                found = _from_json_value(jsonio.loads(self._buf))
            except (ValueError, RecursionError):
                found = None
            if found is not None:
                return Usage(found[0], found[1], "json")
            # Not valid JSON (cut short, or a server's non-standard framing): the usage
            # object may still be readable in the tail.
            tail = bytes(self._buf[-_TAIL_BYTES:])
        scanned = _scan_tail(tail)
        if scanned is None:
            return None
        return Usage(scanned[0][0], scanned[0][1], "json")

    # -- SSE -------------------------------------------------------------------------

    def _feed_sse(self, chunk: bytes) -> None:
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                if not chunk:
                    return
        if b"\r" in chunk:
            # A trailing CR may be the first half of a CRLF split across chunks.
            self._skip_lf = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        parts = chunk.split(b"\n")
        rest = parts.pop()
        if parts:
            first = parts[0]
            if self._line or self._line_over:
                self._append_line(first)
                line, over = bytes(self._line), self._line_over
                self._line = bytearray()
                self._line_over = False
                self._on_line(line, over)
            else:
                self._on_line(first, len(first) > self._max)
            for part in parts[1:]:
                self._on_line(part, len(part) > self._max)
        if rest:
            self._append_line(rest)

    def _append_line(self, piece: bytes) -> None:
        if self._line_over:
            _append_tail(self._line, piece)
        elif len(self._line) + len(piece) > self._max:
            self._line_over = True
            _append_tail(self._line, piece)
            del self._line[:-_TAIL_BYTES]
        else:
            self._line += piece

    def _on_line(self, line: bytes, over: bool) -> None:
        if over:
            # Only data lines get this long; keep the end, where usage would be.
            self._event_over = True
            self._event_tail = line[-_TAIL_BYTES:]
            return
        if not line:
            self._dispatch()
            return
        if line.startswith(b"data:"):
            value = line[5:]
            if value[:1] == b" ":
                value = value[1:]
        elif line == b"data":
            value = b""
        else:
            return  # comments (":"), event:, id:, retry: and unknown fields
        if self._event_over:
            self._event_tail = (self._event_tail + b"\n" + value)[-_TAIL_BYTES:]
            return
        self._data.append(value)
        self._data_len += len(value) + 1
        if self._data_len > self._max:
            self._event_over = True
            self._event_tail = b"\n".join(self._data)[-_TAIL_BYTES:]
            self._data = []
            self._data_len = 0

    def _dispatch(self) -> None:
        if self._event_over:
            scanned = _scan_tail(self._event_tail)
            if scanned is not None:
                if scanned[1]:
                    self._gemini = scanned[0]
                else:
                    self._openai = scanned[0]
            self._event_over = False
            self._event_tail = b""
            self._data = []
            self._data_len = 0
        elif self._data:
            data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
            self._data = []
            self._data_len = 0
            self._on_data(data)

    def _on_data(self, data: bytes) -> None:
        if data[:1] != b"{" and data.lstrip()[:1] != b"{":
            return  # "[DONE]", keep-alive text, anything that is not an event object
        try:
            event = jsonio.loads(data)
        except (ValueError, RecursionError):
            return
        if isinstance(event, dict):
            self._on_event(event)

    def _on_event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        if isinstance(kind, str):
            self._on_typed_event(kind, ev)
            return
        choices = ev.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if isinstance(choice, dict):
                    self._chars += _choice_chars(choice)
                    if self._answer_len < ANSWER_CHARS and choice.get("index", 0) == 0:
                        delta = choice.get("delta")
                        if isinstance(delta, dict):
                            self._keep_answer(delta.get("content"))
        usage = ev.get("usage")
        if isinstance(usage, dict):
            found = _from_usage(usage)
            if found is not None:
                self._openai = found
        meta = ev.get("usageMetadata")
        if isinstance(meta, dict):
            found = _from_gemini(meta)
            if found is not None:
                self._gemini = found
        candidates = ev.get("candidates")
        if isinstance(candidates, list):
            for cand in candidates:
                if isinstance(cand, dict):
                    self._chars += _gemini_chars(cand)
                    if self._answer_len < ANSWER_CHARS and cand.get("index", 0) == 0:
                        content = cand.get("content")
                        parts = content.get("parts") if isinstance(content, dict) else None
                        for part in parts if isinstance(parts, list) else ():
                            if isinstance(part, dict) and not part.get("thought"):
                                self._keep_answer(part.get("text"))

    def _on_typed_event(self, kind: str, ev: dict[str, Any]) -> None:
        if kind == "content_block_delta":
            delta = ev.get("delta")
            if isinstance(delta, dict):
                for key in ("text", "thinking", "partial_json"):
                    text = delta.get(key)
                    if isinstance(text, str):
                        self._chars += len(text)
                self._keep_answer(delta.get("text"))
        elif kind.startswith("response."):
            # Audio deltas are base64, not text; counting them would overcharge.
            if kind.endswith(".delta") and "audio" not in kind:
                text = ev.get("delta")
                if isinstance(text, str):
                    self._chars += len(text)
                    if kind == "response.output_text.delta":
                        self._keep_answer(text)
            elif kind in ("response.completed", "response.incomplete", "response.failed"):
                resp = ev.get("response")
                usage = resp.get("usage") if isinstance(resp, dict) else None
                if isinstance(usage, dict):
                    found = _from_usage(usage)
                    if found is not None:
                        self._openai = found
        elif kind == "message_start":
            msg = ev.get("message")
            usage = msg.get("usage") if isinstance(msg, dict) else None
            if isinstance(usage, dict):
                found = _from_usage(usage)
                if found is not None:
                    self._anth_seen = True
                    self._anth_prompt, self._anth_out = found
        elif kind == "message_delta":
            usage = ev.get("usage")
            if isinstance(usage, dict):
                out = _count(usage.get("output_tokens"))
                if out is not None:
                    self._anth_seen = True
                    self._anth_delta = True
                    self._anth_out = out  # cumulative: the last one wins
                if _count(usage.get("input_tokens")) is not None:
                    # Newer API versions repeat the (cumulative) prompt counts here.
                    found = _from_usage(usage)
                    if found is not None:
                        self._anth_prompt = found[0]

    def _keep_answer(self, text: object) -> None:
        if isinstance(text, str) and text and self._answer_len < ANSWER_CHARS:
            self._answer.append(text)
            self._answer_len += len(text)

    def _finish_sse(self) -> Usage | None:
        usage = self._finish_sse_usage()
        if usage is not None and self._answer:
            return Usage(usage.prompt_tokens, usage.completion_tokens, usage.source,
                         "".join(self._answer)[:ANSWER_CHARS])
        return usage

    def _finish_sse_usage(self) -> Usage | None:
        # A stream may end without its final newline or blank line.
        if self._line or self._line_over:
            line, over = bytes(self._line), self._line_over
            self._line = bytearray()
            self._line_over = False
            self._on_line(line, over)
        self._dispatch()
        if self._anth_seen:
            out = self._anth_out
            if not self._anth_delta:
                # Cut before message_delta: message_start's output count is a placeholder.
                out = max(out, estimate_tokens(self._chars))
            return Usage(self._anth_prompt, out, "sse.anthropic")
        if self._openai is not None:
            return Usage(self._openai[0], self._openai[1], "sse.openai_usage")
        if self._gemini is not None:
            return Usage(self._gemini[0], self._gemini[1], "sse.gemini")
        if self._chars > 0:
            return Usage(0, estimate_tokens(self._chars), "sse.counted")
        return None


def _json_answer(buf: bytearray) -> str:
    """The first answer string of a JSON response body ("" if none is readable)."""
    m = _ANSWER_KEY.search(buf)
    if m is None:
        return ""
    start = pos = m.end()
    limit = end = min(len(buf), start + _ANSWER_WINDOW)
    while pos < limit:
        q = buf.find(b'"', pos, limit)
        if q < 0:
            break
        k = 0
        while buf[q - 1 - k] == 0x5C:  # backslashes before the quote: odd means escaped
            k += 1
        if k % 2 == 0:
            end = q
            break
        pos = q + 1
    # Most answers are plain text: 2 bytes a character are read first, the rest only if
    # escapes made that too few characters.
    short = _decode_literal(bytes(buf[start:min(end, start + 2 * ANSWER_CHARS)]))
    if len(short) >= ANSWER_CHARS or end <= start + 2 * ANSWER_CHARS:
        return short[:ANSWER_CHARS]
    return _decode_literal(bytes(buf[start:end]))[:ANSWER_CHARS]


def _decode_literal(raw: bytes) -> str:
    # The window may cut the literal inside an escape ("\\u00e" or a lone backslash).
    for cut in range(7):
        try:
            text = jsonio.loads(b'"' + raw[:len(raw) - cut] + b'"')
        except (ValueError, RecursionError):
            continue
        return text if isinstance(text, str) else ""
    return ""


def _append_tail(tail: bytearray, piece: bytes) -> None:
    """Append to a bounded tail buffer; trims lazily so the cost stays O(len(piece))."""
    if len(piece) >= _TAIL_BYTES:
        tail[:] = piece[-_TAIL_BYTES:]
        return
    tail += piece
    if len(tail) > 2 * _TAIL_BYTES:
        del tail[:-_TAIL_BYTES]


# reasoning_content / reasoning: OpenAI-compatible servers (DeepSeek, vLLM, OpenRouter).
_DELTA_TEXT_KEYS = frozenset(("content", "refusal", "reasoning_content", "reasoning"))


def _choice_chars(choice: dict[str, Any]) -> int:
    """Characters of generated text in one OpenAI chat (or legacy completions) choice."""
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        text = choice.get("text")  # legacy /v1/completions stream
        return len(text) if isinstance(text, str) else 0
    n = 0
    # One pass over the delta's own keys (one or two per streamed chunk), not five lookups.
    for key, value in delta.items():
        if key in _DELTA_TEXT_KEYS:
            if isinstance(value, str):
                n += len(value)
        elif key == "tool_calls" and isinstance(value, list):
            for call in value:
                fn = call.get("function") if isinstance(call, dict) else None
                args = fn.get("arguments") if isinstance(fn, dict) else None
                if isinstance(args, str):
                    n += len(args)
    return n


def _gemini_chars(candidate: dict[str, Any]) -> int:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return 0
    n = 0
    for part in parts:
        text = part.get("text") if isinstance(part, dict) else None
        if isinstance(text, str):
            n += len(text)
    return n
