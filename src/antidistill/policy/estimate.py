"""The token estimate's two inputs read straight from the body, without the full parse.

Budgets need only the prompt's length (what :func:`~antidistill.fingerprints.parse.parse_body`
puts in ``system`` and ``user``) and the requested output limit. For the well-formed bodies
SDKs send (OpenAI chat, completions and responses with string input, Anthropic messages)
:func:`quick_inputs` reads both from one native JSON decode and returns exactly what the
full parse gives; any other body (truncated, not JSON, odd shapes, nested lists, Gemini,
many text pieces near the cap) returns None and the caller parses it fully. Equality with the
full parse is a tested property, not an approximation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from antidistill.fingerprints import jsonio
from antidistill.fingerprints.formats import format_from_path, format_from_shape
from antidistill.fingerprints.parse import MAX_TOKEN_PARAMS
from antidistill.fingerprints.values import safe_number

_SYSTEM_ROLES = frozenset({"system", "developer"})
_TEXT_PART_TYPES = frozenset({"text", "input_text"})
_SCALARS = (bool, int, float, str)
# The parser keeps its first pieces whole and only the last 64 beyond its budget; with at most
# this many pieces the joined length is exact.
MAX_PIECES = 64
MAX_PARTS = 256  # content parts read per message (the parser walks up to 20,000 nodes)


class _Unsure(Exception):
    """The body has a shape only the full parser reads exactly."""


def _joined(chars: int, n: int, max_chars: int) -> int:
    """Length of ``"\\n".join`` of ``n`` non-empty pieces of ``chars`` characters in all,
    capped as the parser's text accumulator caps it."""
    if n > MAX_PIECES:
        raise _Unsure
    if max_chars <= 0 or not n:
        return 0
    return min(chars + n - 1, max_chars)


def _content_len(content: Any) -> int:
    """Length of the parser's text of a message ``content`` (str, None or text parts)."""
    if type(content) is str:
        return len(content)
    if content is None:
        return 0
    if type(content) is not list or len(content) > MAX_PARTS:
        raise _Unsure
    total = count = 0
    for part in content:
        if type(part) is str:
            total, count = total + len(part), count + 1
        elif type(part) is dict:
            typ, text = part.get("type"), part.get("text")
            if typ is not None and type(typ) is not str:
                raise _Unsure
            if type(text) is str and (typ is None or typ in _TEXT_PART_TYPES):
                total, count = total + len(text), count + 1
        elif type(part) is list:
            raise _Unsure
    return total + count - 1 if count else 0


def _messages(doc: dict[str, Any], max_chars: int) -> int:
    msgs = doc.get("messages")
    if type(msgs) is not list:
        raise _Unsure
    sys_chars = sys_n = user_chars = user_n = 0
    for m in msgs:
        if type(m) is not dict:
            continue
        role = m.get("role")
        if role is not None and type(role) is not str:
            raise _Unsure
        content = m.get("content")
        length = len(content) if type(content) is str else _content_len(content)
        if not length:
            continue
        if role in _SYSTEM_ROLES:
            sys_chars, sys_n = sys_chars + length, sys_n + 1
        elif role == "user":
            user_chars, user_n = user_chars + length, user_n + 1
    sys_ = doc.get("system")
    if sys_ is not None:
        length = _content_len(sys_)
        if length:
            sys_chars, sys_n = sys_chars + length, sys_n + 1
    return _joined(sys_chars, sys_n, max_chars) + _joined(user_chars, user_n, max_chars)


def _completions(doc: dict[str, Any], max_chars: int) -> int:
    prompt = doc.get("prompt")
    if type(prompt) is str:
        return _joined(len(prompt), 1 if prompt else 0, max_chars)
    if type(prompt) is not list or not all(type(p) is str for p in prompt):
        raise _Unsure
    lengths = [len(p) for p in prompt if p]
    return _joined(sum(lengths), len(lengths), max_chars)


def _responses(doc: dict[str, Any], max_chars: int) -> int:
    ins, inp = doc.get("instructions"), doc.get("input")
    if type(inp) is not str or (ins is not None and type(ins) is not str):
        raise _Unsure
    system = _joined(len(ins), 1, max_chars) if ins else 0
    return system + _joined(len(inp), 1 if inp else 0, max_chars)


def _max_output(doc: dict[str, Any]) -> int | None:
    for name in MAX_TOKEN_PARAMS:
        v = doc.get(name)
        if v is None or not isinstance(v, _SCALARS):
            continue
        f = safe_number(v)
        if f is not None and f >= 1:
            return int(f)
    return None


def quick_inputs(body: bytes, path: str, max_chars: int) -> tuple[int, int | None] | None:
    """``(prompt characters, requested output tokens or None)`` exactly as the full parse
    would give them for ``body`` (complete, not truncated), or None when only the full parse
    can say."""
    try:
        doc = jsonio.native_loads(body)
    except Exception:  # not decodable natively (or msgspec absent): the parser decides
        return None
    if type(doc) is not dict or "generationConfig" in doc or "generation_config" in doc:
        return None
    fmt = format_from_path(path) or format_from_shape(doc)
    reader = _READERS.get(fmt)
    if reader is None:
        return None
    try:
        chars = reader(doc, max_chars)
    except _Unsure:
        return None
    return chars, _max_output(doc)


_READERS: dict[str, Callable[[dict[str, Any], int], int]] = {
    "openai.chat": _messages,
    "anthropic.messages": _messages,
    "openai.completions": _completions,
    "openai.responses": _responses,
}
