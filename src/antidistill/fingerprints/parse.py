"""Request-body parsing: find the system text, the user turns and the sampling parameters.

One entry point, :func:`parse_body`, turns the raw bytes of an LLM API request into a
:class:`ParsedPrompt`. It understands OpenAI chat/completions/responses, Anthropic messages
(and Bedrock ``converse``, which has the same shape), Gemini ``contents`` and plain text.

It never raises: hostile bodies (binary, non-UTF-8, 10,000 levels of nesting, wrong types
everywhere, a prefix cut at the size cap) come back as a ``ParsedPrompt`` with whatever text
could be read, so the detectors still score them. Work is linear in the body size; the
extracted texts are capped at ``max_chars`` so later stages are bounded too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from antidistill.fingerprints import jsonio
from antidistill.fingerprints.formats import format_from_path, format_from_shape

__all__ = ["FORMATS", "ParsedPrompt", "parse_body"]

FORMATS = frozenset(
    {
        "openai.chat",
        "openai.completions",
        "openai.responses",
        "anthropic.messages",
        "gemini",
        "json",
        "text",
        "empty",
        "binary",
        "invalid",
    }
)


@dataclass(frozen=True, slots=True)
class ParsedPrompt:
    """What a request asks, independent of the API dialect it was sent in.

    ``system`` holds system/developer/instructions text, ``user`` every user turn joined by
    newlines (text parts only), ``last_user`` the final user turn. ``params`` keeps only the
    generation parameters that matter for harvesting detection, under OpenAI names.
    ``truncated`` says the body was cut at the size cap; ``error`` is a short reason
    (``"json: ..."``, ``"depth"``, ``"utf8"``, ``"binary: ..."``) or empty. ``oddities``
    names the shapes no SDK sends that were read around (``"role"``: a role that is not a
    string, ``"content"``: content of an odd type or nested lists, ``"huge_int"``: an
    integer literal too long for ``int()``, ``"depth"``: nesting beyond the JSON parser),
    sorted; the harvesting detector counts them as evidence.
    """

    format: str
    system: str
    user: str
    last_user: str
    params: dict[str, Any] = field(default_factory=dict)
    n_messages: int = 0
    truncated: bool = False
    error: str = ""
    oddities: tuple[str, ...] = ()
    #: The last ``MAX_ASSISTANT_TURNS`` assistant turns' text, each cut at
    #: ``ASSISTANT_TURN_CHARS`` (what the history claims the model answered).
    assistant: tuple[str, ...] = ()
    #: The user turns ``user`` joins, when it is exactly their join (not cut at
    #: ``max_chars``); else empty. Lets the fingerprints skip turns already analysed.
    user_turns: tuple[str, ...] = ()


# --- limits -------------------------------------------------------------------------------

_LOGIT_BIAS_CAP = 2000
MAX_ASSISTANT_TURNS = 4
ASSISTANT_TURN_CHARS = 2048
_PARAM_STR_CAP = 200
_DICT_PARAM_CAP = 32
_BINARY_SAMPLE = 4096
_BINARY_RATIO = 0.10
# Generic walks over unknown JSON visit at most this many nodes.
_WALK_NODES = 20000
# Integer literals longer than this are read as infinite (int() refuses 4,300+ digits).
_INT_DIGITS = 400

# Bytes that never appear in text bodies (C0 controls except tab/LF/CR, and DEL).
_CONTROL_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32), 127])
_TEXT_BYTES = bytes(b for b in range(256) if b not in _CONTROL_BYTES)

_SCALAR_PARAMS = (
    "model",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "logprobs",
    "top_logprobs",
    "n",
    "temperature",
    "top_p",
    "stream",
    "seed",
)
_DICT_PARAMS = ("stream_options", "reasoning", "thinking")
#: The output-length parameters, in the order they are honoured (OpenAI names).
MAX_TOKEN_PARAMS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
_SCALAR, _DICT, _BIAS, _TOOLS = range(4)
_PARAM_KINDS = {
    **dict.fromkeys(_SCALAR_PARAMS, _SCALAR),
    **dict.fromkeys(_DICT_PARAMS, _DICT),
    "logit_bias": _BIAS,
    "tools": _TOOLS,
}
# Gemini generationConfig (camelCase and the snake_case the REST API also accepts).
_GEMINI_PARAMS = {
    "maxOutputTokens": "max_tokens",
    "max_output_tokens": "max_tokens",
    "responseLogprobs": "logprobs",
    "response_logprobs": "logprobs",
    "logprobs": "top_logprobs",
    "candidateCount": "n",
    "candidate_count": "n",
    "temperature": "temperature",
    "topP": "top_p",
    "top_p": "top_p",
    "seed": "seed",
    "thinkingConfig": "thinking",
    "thinking_config": "thinking",
}

_SYSTEM_ROLES = frozenset({"system", "developer"})
_TEXT_PART_TYPES = frozenset({"text", "input_text"})

# Truncated/invalid JSON: a string literal following one of the keys we care about. The body
# of the literal is the "unrolled loop" [^"\\]*(?:\\.[^"\\]*)*: no two ways to match the same
# text, so it is linear (and 50x faster in sre than an alternation inside a star); an
# unterminated literal (the cut) simply runs to the end of the input.
_KEY_STRING = re.compile(
    r'"(content|text|prompt|input|instructions|system|role)"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)',
    re.DOTALL,
)
_SYSTEM_KEY = re.compile(r'"(?:system|anthropic_version)"\s*:')
_PARTIAL_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{0,3})?\Z")

# --- text helpers ---------------------------------------------------------------------------


def _cap(text: str, max_chars: int) -> str:
    """Keep head and tail halves: templates put instructions at both ends."""
    if max_chars <= 0:
        return ""
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    return text[:half] + "\n" + text[len(text) - (max_chars - half - 1) :]


class _Texts:
    """Accumulates text pieces up to a character budget, so a huge body stays cheap."""

    __slots__ = ("budget", "parts", "size", "tail")

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.parts: list[str] = []
        self.size = 0
        # Pieces beyond the budget still matter (the tail); keep the last few.
        self.tail: list[str] = []

    def add(self, s: str) -> None:
        if not s:
            return
        if self.size < self.budget:
            self.parts.append(s)
            self.size += len(s) + 1
        else:
            self.tail.append(s)
            if len(self.tail) > 64:
                del self.tail[:32]

    def text(self, max_chars: int) -> str:
        return _cap("\n".join(self.parts + self.tail), max_chars)


def _content_text(content: Any, odd: set[str] | None = None) -> str:
    """Text of an OpenAI/Anthropic/Bedrock message ``content`` (string or list of parts).

    Odd shapes no SDK sends (a number, nested lists) are read around and noted in ``odd``.
    """
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        if content is not None and odd is not None:
            odd.add("content")
        return ""
    out: list[str] = []
    # Nested lists are flattened (bounded): the text inside still gets scored.
    stack = list(reversed(content))
    budget = _WALK_NODES
    while stack and budget > 0:
        budget -= 1
        part = stack.pop()
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict):
            t = part.get("text")
            typ = part.get("type")
            odd_type = typ is not None and not isinstance(typ, str)
            if odd_type and odd is not None:
                odd.add("content")
            if isinstance(t, str) and (typ is None or odd_type or typ in _TEXT_PART_TYPES):
                out.append(t)
        elif isinstance(part, list):
            if odd is not None:
                odd.add("content")
            stack.extend(reversed(part))
    return "\n".join(out)


def _gemini_one(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        parts = content.get("parts")
        if isinstance(parts, dict):
            parts = [parts]
        if isinstance(parts, list):
            return "\n".join(
                p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
        t = content.get("text")
        return t if isinstance(t, str) else ""
    return ""


def _gemini_text(content: Any) -> str:
    if not isinstance(content, list):
        return _gemini_one(content)
    # Lists of lists are flattened with a stack: deep nesting must not exhaust recursion.
    out: list[str] = []
    stack = [iter(content)]
    budget = _WALK_NODES
    while stack and budget > 0:
        budget -= 1
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            stack.append(iter(item))
        else:
            out.append(_gemini_one(item))
    return "\n".join(out)


_END = object()


# --- parameters -----------------------------------------------------------------------------


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _clean_scalar(v: Any) -> Any:
    if isinstance(v, str) and len(v) > _PARAM_STR_CAP:
        return v[:_PARAM_STR_CAP]
    return v


def _shallow_dict(d: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if len(out) >= _DICT_PARAM_CAP:
            break
        if isinstance(k, str) and _scalar(v):
            out[k[:_PARAM_STR_CAP]] = _clean_scalar(v)
    return out


def _params(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # One pass over the request's own keys (a handful) instead of probing every known name.
    for key, v in d.items():
        kind = _PARAM_KINDS.get(key)
        if kind is None:
            continue
        if kind == _SCALAR:
            if _scalar(v):
                out[key] = _clean_scalar(v)
        elif kind == _DICT:
            if isinstance(v, dict):
                out[key] = _shallow_dict(v)
        elif kind == _BIAS:
            if isinstance(v, dict):
                capped: dict[str, Any] = {}
                for k, bias in v.items():
                    if len(capped) >= _LOGIT_BIAS_CAP:
                        break
                    if _scalar(bias):
                        capped[str(k)[:_PARAM_STR_CAP]] = bias
                out[key] = capped
        elif isinstance(v, list):  # tools
            out["tools_count"] = len(v)
    gc = d.get("generationConfig", d.get("generation_config"))
    if isinstance(gc, dict):
        for src, dst in _GEMINI_PARAMS.items():
            if src not in gc:
                continue
            v = gc[src]
            if dst == "thinking":
                if isinstance(v, dict):
                    out[dst] = _shallow_dict(v)
            elif _scalar(v):
                out[dst] = _clean_scalar(v)
    return out


# --- format-specific extraction ---------------------------------------------------------------


@dataclass(slots=True)
class _Extract:
    system: _Texts
    user: _Texts
    last_user: str = ""
    n_messages: int = 0
    odd: set[str] = field(default_factory=set)
    assistant: list[str] = field(default_factory=list)

    def add_assistant(self, text: str) -> None:
        if text:
            self.assistant.append(text[:ASSISTANT_TURN_CHARS])
            if len(self.assistant) > MAX_ASSISTANT_TURNS:
                del self.assistant[0]


def _role(m: dict[str, Any], ex: _Extract) -> str | None:
    role = m.get("role")
    if role is None or isinstance(role, str):
        return role
    # ["user"], {"x": 1}, 7: no API accepts it, so no honest client sends it. Read the
    # content as a user turn (what a lenient upstream would do) rather than drop it.
    ex.odd.add("role")
    return "user"


def _messages(d: dict[str, Any], ex: _Extract, key: str = "messages") -> bool:
    msgs = d.get(key)
    if isinstance(msgs, dict):
        msgs = [msgs]
    if not isinstance(msgs, list):
        return False
    ex.n_messages = len(msgs)
    for m in msgs:
        if not isinstance(m, dict):
            continue
        role = _role(m, ex)
        text = _content_text(m.get("content"), ex.odd)
        if role in _SYSTEM_ROLES:
            ex.system.add(text)
        elif role == "user" or (role is None and key == "input" and "content" in m):
            ex.user.add(text)
            if text:
                # A turn holding only images or tool results has no text; the question the
                # user typed is still the previous one.
                ex.last_user = text
        elif role == "assistant":
            ex.add_assistant(text)
    return True


def _anthropic_system(d: dict[str, Any], ex: _Extract) -> None:
    sys_ = d.get("system")
    if sys_ is not None:
        ex.system.add(_content_text(sys_, ex.odd))


def _chat(d: dict[str, Any], ex: _Extract) -> bool:
    return _messages(d, ex)


def _anthropic(d: dict[str, Any], ex: _Extract) -> bool:
    _anthropic_system(d, ex)
    return _messages(d, ex)


def _responses(d: dict[str, Any], ex: _Extract) -> bool:
    ins = d.get("instructions")
    if isinstance(ins, str):
        ex.system.add(ins)
    inp = d.get("input")
    if isinstance(inp, str):
        ex.user.add(inp)
        ex.last_user = inp
        ex.n_messages = 1
        return True
    if isinstance(inp, list):
        return _messages(d, ex, "input")
    return isinstance(ins, str)


def _completions(d: dict[str, Any], ex: _Extract) -> bool:
    prompt = d.get("prompt")
    if isinstance(prompt, str):
        prompt = [prompt]
    if not isinstance(prompt, list):
        return False
    ex.n_messages = len(prompt)
    for p in prompt:
        # Token-id arrays carry no text we can read cheaply; skip them.
        if isinstance(p, str):
            ex.user.add(p)
            ex.last_user = p
    return True


def _gemini(d: dict[str, Any], ex: _Extract) -> bool:
    sys_ = d.get("systemInstruction", d.get("system_instruction"))
    if sys_ is not None:
        ex.system.add(_gemini_text(sys_))
    contents = d.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if isinstance(contents, str):
        ex.user.add(contents)
        ex.last_user = contents
        ex.n_messages = 1
        return True
    if not isinstance(contents, list):
        return sys_ is not None
    ex.n_messages = len(contents)
    for c in contents:
        if not isinstance(c, dict):
            continue
        role = _role(c, ex)
        if role is None or role == "user":
            text = _gemini_text(c)
            ex.user.add(text)
            if text:
                ex.last_user = text
        elif role == "model":
            ex.add_assistant(_gemini_text(c))
    return True


_EXTRACTORS = {
    "openai.chat": _chat,
    "anthropic.messages": _anthropic,
    "openai.responses": _responses,
    "openai.completions": _completions,
    "gemini": _gemini,
}

_GENERIC_USER_KEYS = frozenset({"content", "text", "prompt", "input", "query", "question"})
_GENERIC_SYSTEM_KEYS = frozenset({"system", "instructions", "system_prompt"})


def _generic(root: Any, ex: _Extract, max_depth: int) -> None:
    """Collect text under well-known keys anywhere in an unknown JSON document."""
    if isinstance(root, str):
        ex.user.add(root)
        ex.last_user = root
        return
    stack: list[tuple[Any, int, str]] = [(root, 0, "")]
    visited = 0
    while stack and visited < _WALK_NODES:
        node, depth, key = stack.pop()
        visited += 1
        if isinstance(node, str):
            if key in _GENERIC_SYSTEM_KEYS:
                ex.system.add(node)
            elif key in _GENERIC_USER_KEYS:
                ex.user.add(node)
                ex.last_user = node
            continue
        if depth >= max_depth:
            continue
        if isinstance(node, dict):
            items = [(v, depth + 1, k if isinstance(k, str) else "") for k, v in node.items()]
            stack.extend(reversed(items))
        elif isinstance(node, list):
            # List items inherit their key: {"input": ["a", "b"]} is two inputs.
            stack.extend((v, depth + 1, key) for v in reversed(node))


def _huge_int(literal: str) -> Any:
    if len(literal) <= _INT_DIGITS:
        return int(literal)
    return float("-inf") if literal.startswith("-") else float("inf")


def _loads(text: str, ex: _Extract) -> Any:
    try:
        return jsonio.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError:
        # Not a syntax error: an integer literal over the interpreter's int() digit limit
        # (Python 3.11+). One such field must not hide the whole body: read it as infinite.
        ex.odd.add("huge_int")
        return json.loads(text, parse_int=_huge_int)


# --- tolerant recovery --------------------------------------------------------------------------


def _unescape(raw: str) -> str:
    raw = _PARTIAL_ESCAPE.sub("", raw)
    try:
        out = jsonio.loads('"' + raw + '"')
    except (ValueError, RecursionError):
        return raw
    return out if isinstance(out, str) else raw


def _recover(text: str, ex: _Extract) -> None:
    """Pull the string values of text-bearing keys out of broken or cut JSON."""
    window = 4 * max(ex.user.budget, 1024)
    if len(text) > 2 * window:
        # Bounded work on a huge cut body: the head holds the system prompt and the first
        # turns, the tail the last (cut) turn.
        _recover_span(text[:window], ex)
        _recover_span(text[-window:], ex)
    else:
        _recover_span(text, ex)


def _recover_span(text: str, ex: _Extract) -> None:
    role = ""
    for m in _KEY_STRING.finditer(text):
        key, raw = m.group(1), m.group(2)
        if key == "role":
            role = raw
            continue
        value = _unescape(raw)
        if key in ("system", "instructions") or role in _SYSTEM_ROLES:
            ex.system.add(value)
        elif role in ("assistant", "model"):
            continue
        else:
            ex.user.add(value)
            if value:
                ex.last_user = value
            ex.n_messages += 1


def _prefix_format(text: str) -> str:
    head = text[:4096]
    if '"contents"' in head or '"systemInstruction"' in head:
        return "gemini"
    if '"messages"' in head:
        if _SYSTEM_KEY.search(head):
            return "anthropic.messages"
        return "openai.chat"
    if '"instructions"' in head or '"input"' in head:
        return "openai.responses"
    if '"prompt"' in head:
        return "openai.completions"
    return "json"


# --- entry point ----------------------------------------------------------------------------------


def _finish(
    fmt: str, ex: _Extract, params: dict[str, Any], truncated: bool, error: str, max_chars: int
) -> ParsedPrompt:
    user = ex.user
    # The join is ``user`` itself when nothing spilled into the tail and it needs no cut.
    whole = not user.tail and user.size - 1 <= max_chars
    return ParsedPrompt(
        format=fmt,
        system=ex.system.text(max_chars),
        user=user.text(max_chars),
        last_user=_cap(ex.last_user, max_chars),
        params=params,
        n_messages=ex.n_messages,
        truncated=truncated,
        error=error,
        oddities=tuple(sorted(ex.odd)),
        assistant=tuple(ex.assistant),
        user_turns=tuple(user.parts) if whole else (),
    )


def _empty(fmt: str, truncated: bool, error: str = "") -> ParsedPrompt:
    return ParsedPrompt(fmt, "", "", "", {}, 0, truncated, error)


def parse_body(
    body: bytes,
    content_type: str | None = None,
    *,
    truncated: bool = False,
    path: str = "",
    max_depth: int = 64,
    max_chars: int = 65536,
) -> ParsedPrompt:
    """Parse an LLM API request body; never raises.

    ``content_type`` and ``path`` (e.g. ``/v1/chat/completions``) are hints; the JSON shape
    decides when they are missing. ``truncated`` tells that ``body`` is a prefix cut at the
    size cap: the text is then recovered from the readable part. ``max_depth`` bounds the walk
    over unknown JSON; ``max_chars`` caps ``system``, ``user`` and ``last_user`` each.
    """
    try:
        return _parse(body, content_type, truncated, path, max_depth, max_chars)
    except Exception as exc:
        # RecursionError/MemoryError-class surprises in exotic inputs must not become a 500.
        return _empty("invalid", truncated, f"internal: {type(exc).__name__}")


def _parse(
    body: bytes,
    content_type: str | None,
    truncated: bool,
    path: str,
    max_depth: int,
    max_chars: int,
) -> ParsedPrompt:
    if not isinstance(body, (bytes, bytearray, memoryview)):
        return _empty("invalid", truncated, "type")
    body = bytes(body)
    refused = _refuse(body, truncated)
    if refused is not None:
        return refused
    text, error = _decode(body, truncated)
    hint = format_from_path(path)
    ex = _Extract(_Texts(max_chars), _Texts(max_chars))
    first = text[:1]
    if first.isspace():
        first = text.lstrip()[:1]
    ctype = (content_type or "").lower()
    looks_json = first in ("{", "[", '"') or "json" in ctype
    if not looks_json:
        if "x-www-form-urlencoded" in ctype:
            text = unquote_plus(text)
        ex.user.add(text)
        ex.last_user = text
        ex.n_messages = 1
        return _finish("text", ex, {}, truncated, error, max_chars)

    try:
        doc = _loads(text, ex)
    except RecursionError:
        # Thousands of nested brackets: the C scanner gives up; recover what text there is.
        _recover(text, ex)
        ex.odd.add("depth")
        return _finish("invalid", ex, {}, truncated, "depth", max_chars)
    except ValueError as exc:
        _recover(text, ex)
        if truncated:
            fmt = hint or _prefix_format(text)
            return _finish(fmt, ex, {}, truncated, error, max_chars)
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "decode"
        return _finish("invalid", ex, {}, truncated, f"json: {msg}"[:64], max_chars)

    if not isinstance(doc, dict):
        if isinstance(doc, (str, list)):
            _generic(doc, ex, max_depth)
            return _finish("json", ex, {}, truncated, error, max_chars)
        return _finish("json", ex, {}, truncated, error, max_chars)

    params = _params(doc)
    fmt, ex = _extract(doc, hint, ex, max_depth, max_chars)
    return _finish(fmt, ex, params, truncated, error, max_chars)


def _refuse(body: bytes, truncated: bool) -> ParsedPrompt | None:
    """The result for an empty or binary body, else None."""
    if not body or body.isspace():  # what "not body.strip()" says, without the copy
        return _empty("empty", truncated)
    if b"\x00" in body:
        return _empty("binary", truncated, "binary: nul")
    sample = body[:_BINARY_SAMPLE]
    if len(sample.translate(None, _TEXT_BYTES)) > _BINARY_RATIO * len(sample):
        return _empty("binary", truncated, "binary: control")
    return None


def _decode(body: bytes, truncated: bool) -> tuple[str, str]:
    """The body's text and the decoding error ("" or "utf8")."""
    error = ""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = body.decode("utf-8", errors="replace")
        # A cut in the middle of a multi-byte character is expected in a truncated body.
        if not (truncated and exc.start >= len(body) - 3):
            error = "utf8"
        else:
            text = body[: exc.start].decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, error


def _extract(doc: dict[str, Any], hint: str, ex: _Extract, max_depth: int,
             max_chars: int) -> tuple[str, _Extract]:
    """The API format and the extracted texts of a JSON object."""
    fmt = ""
    if hint:
        fmt = hint
        if not _EXTRACTORS[hint](doc, ex):
            # The path lied or the client used another dialect: trust the shape instead.
            ex = _Extract(_Texts(max_chars), _Texts(max_chars))
            fmt = ""
    if not fmt:
        fmt = format_from_shape(doc)
        extractor = _EXTRACTORS.get(fmt)
        if extractor is None or not extractor(doc, ex):
            fmt = "json"
            _generic(doc, ex, max_depth)
    if fmt == "openai.chat" and "system" in doc:
        _anthropic_system(doc, ex)
    return fmt, ex
