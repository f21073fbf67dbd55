"""The ``degrade`` action: rewrite a suspicious request so it yields less to distil from.

A degraded request still gets an answer, but a short one (``max_tokens`` capped), without
token log-probabilities (``logprobs``/``top_logprobs``/``logit_bias`` dropped, ``n`` forced
to 1) and without visible reasoning (reasoning effort lowered, ``thinking`` removed). The
rewrite understands OpenAI chat/completions, legacy completions and Responses, Anthropic
Messages and Gemini ``generateContent`` bodies, and never raises: a body it cannot parse
is passed through unchanged.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from dataclasses import dataclass
from typing import Any

from antidistill.fingerprints.formats import API_FORMATS, UNKNOWN, detect_format
from antidistill.fingerprints.parse import MAX_TOKEN_PARAMS
from antidistill.fingerprints.values import read_number, safe_number

__all__ = [
    "API_FORMATS",
    "DegradePlan",
    "DegradeResult",
    "degrade_body",
    "detect_format",
]

# Integer literals longer than this are kept as text (int() refuses 4,300+ digits).
_INT_DIGITS = 400
# OpenAI reasoning models reject max_tokens and want max_completion_tokens.
_REASONING_MODEL = re.compile(r"(?:^|/)(?:o[1-9]|gpt-5)")
_LOW_EFFORTS = frozenset({"none", "minimal", "low"})
_KNOWN_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
_INCLUDE_LOGPROBS = "message.output_text.logprobs"
_INCLUDE_REASONING = "reasoning.encrypted_content"

# Gemini's REST API accepts both proto JSON spellings; a client can pick either to dodge
# a rewrite that only knows one.
_GEMINI_CONFIG = ("generationConfig", "generation_config")
_GEMINI_MAX = ("maxOutputTokens", "max_output_tokens")
_GEMINI_DROP = {
    "logprobs": ("responseLogprobs", "response_logprobs", "logprobs"),
    "top_logprobs": ("logprobs",),
    "logit_bias": (),
}
_GEMINI_N = ("candidateCount", "candidate_count")
_GEMINI_THINKING = ("thinkingConfig", "thinking_config")


@dataclass(frozen=True, slots=True)
class DegradePlan:
    """What a degraded request loses.

    ``max_tokens_cap``: the output-token ceiling (``None`` leaves output length alone).
    ``drop_params``: request parameters to remove; ``"n"`` is set to 1 instead of removed.
    ``hide_reasoning``: lower reasoning effort and remove ``thinking``/``reasoning`` fields.
    """

    max_tokens_cap: int | None = 256
    drop_params: tuple[str, ...] = ("logprobs", "top_logprobs", "logit_bias", "n")
    hide_reasoning: bool = True


@dataclass(frozen=True, slots=True)
class DegradeResult:
    """The rewritten body and what changed (``changes`` is empty when nothing did).

    Change labels name fields and numbers only, never request text, so they are safe to log.
    """

    body: bytes
    changes: tuple[str, ...]
    # The body looks like JSON (starts with "{" or "[") but cannot be read: invalid, truncated
    # or nested deeper than the parser goes. It cannot be rewritten; another parser may still
    # read it, so the caller refuses it rather than pass it whole.
    unreadable: bool = False


def degrade_body(body: bytes, plan: DegradePlan, *, api_format: str | None = None) -> DegradeResult:
    """Rewrite a JSON request body according to ``plan``.

    ``api_format`` (one of :data:`API_FORMATS`, the parser's names) overrides detection; the
    guard passes the parser's format, which came from the route or the body's shape.
    Everything the plan does not touch is preserved (re-serialised compactly with
    ``ensure_ascii=False``; number literals a float cannot hold, such as
    ``1e400`` or a 5,000-digit integer, are written back as they came). The output is always
    strict JSON: ``NaN``/``Infinity`` literals (not JSON) become ``null``. Invalid JSON, a
    non-object or a truncated body comes back unchanged with ``changes=()`` (``unreadable``
    set when it looked like JSON but could not be read); this function never raises.
    """
    try:
        return _degrade(body, plan, api_format)
    except Exception:  # a shape nobody foresaw must not become a 500 (tests fuzz _degrade)
        return DegradeResult(body, ())


def _degrade(body: bytes, plan: DegradePlan, api_format: str | None) -> DegradeResult:
    unchanged = DegradeResult(body, ())
    raw: list[_Raw] = []
    try:
        obj = _load(body, raw)
    except (ValueError, RecursionError, TypeError):
        return DegradeResult(body, (), unreadable=body.lstrip()[:1] in (b"{", b"["))
    if not isinstance(obj, dict):
        return unchanged
    fmt = api_format if api_format in API_FORMATS else detect_format(obj)
    changes: list[str] = []
    if fmt == "gemini":
        _degrade_gemini(obj, plan, changes)
    else:
        _degrade_openai_anthropic(obj, plan, fmt, changes)
    if not changes:
        return unchanged
    if any(isinstance(r, _Constant) for r in raw):
        changes.append("nonfinite->null")
    try:
        out = _dump(obj, raw)
    except (ValueError, RecursionError, TypeError):
        return unchanged
    return DegradeResult(out, tuple(changes))


_RAW_PREFIX = "\x00antidistill-raw-"


class _Raw(str):
    """A number literal kept as its source text, standing in the tree as a placeholder."""

    __slots__ = ("literal",)
    literal: str


class _Constant(_Raw):
    """``NaN``/``Infinity``: accepted by Python's parser, not JSON; written as ``null``."""

    __slots__ = ()


def _load(body: bytes, raw: list[_Raw]) -> Any:
    """``json.loads`` that keeps out-of-range number literals instead of turning them into
    ``inf`` (which ``json.dumps`` would write as the non-JSON ``Infinity``)."""
    nonce = secrets.token_hex(8)

    def keep(literal: str, cls: type[_Raw] = _Raw) -> _Raw:
        value = cls(f"{_RAW_PREFIX}{nonce}-{len(raw)}")
        value.literal = "null" if cls is _Constant else literal
        raw.append(value)
        return value

    def parse_float(literal: str) -> float | _Raw:
        f = float(literal)
        return f if math.isfinite(f) else keep(literal)

    def parse_int(literal: str) -> int | _Raw:
        return int(literal) if len(literal) <= _INT_DIGITS else keep(literal)

    return json.loads(body, parse_float=parse_float, parse_int=parse_int,
                      parse_constant=lambda c: keep(c, _Constant))


def _dump(obj: Any, raw: list[_Raw]) -> bytes:
    try:
        out = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        data = out.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates from "\ud800"-style escapes cannot be raw UTF-8; escaping them
        # keeps the body valid and means the same thing.
        out = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
        data = out.encode("ascii")
    if not raw:
        return data
    # One pass over the output: the placeholder holds a NUL, which json.dumps always writes
    # as \u0000, and a random nonce, so no string from the body can look like one.
    nonce = raw[0][len(_RAW_PREFIX) : len(_RAW_PREFIX) + 16]
    literals = [value.literal.encode("ascii") for value in raw]
    pattern = re.compile(rb'"\\u0000antidistill-raw-' + nonce.encode("ascii") + rb'-(\d+)"')
    return pattern.sub(lambda m: literals[int(m.group(1))], data)


def _show(value: object) -> str:
    """A log-safe rendering of a client-supplied scalar."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "?"


def _cap(container: dict[str, Any], key: str, cap: int, label: str, changes: list[str]) -> None:
    value = container[key]
    number, issue = read_number(value)
    if isinstance(value, (int, float)) and not issue and number is not None and number <= cap:
        return  # NaN, 1e400, strings and bools are capped like any non-number
    container[key] = cap
    changes.append(f"{label}:{_show(value)}->{cap}")


def _present(value: object) -> bool:
    # 0 still counts: legacy completions' logprobs=0 returns the sampled token's logprob.
    return value is not None and value is not False


def _degrade_openai_anthropic(
    obj: dict[str, Any], plan: DegradePlan, fmt: str, changes: list[str]
) -> None:
    cap = plan.max_tokens_cap
    if cap is not None:
        found = False
        # Every spelling is capped whatever the format, so a misdetected body still loses
        # its limit; only adding a missing field needs the format.
        for key in MAX_TOKEN_PARAMS:
            if key in obj:
                found = True
                _cap(obj, key, cap, key, changes)
        if not found and fmt != UNKNOWN:
            key = _missing_max_field(obj, fmt)
            obj[key] = cap
            changes.append(f"add:{key}={cap}")

    for name in plan.drop_params:
        if name not in obj:
            continue
        value = obj[name]
        if name == "n":
            if value != 1 or isinstance(value, bool):
                obj["n"] = 1
                changes.append(f"n:{_show(value)}->1")
        elif _present(value):
            del obj[name]
            changes.append(f"drop:{name}")
    if (
        fmt == "openai.chat"
        and "logprobs" in plan.drop_params
        and "top_logprobs" in obj
        and not obj.get("logprobs")
    ):
        # Chat rejects top_logprobs without logprobs=true, so it cannot stay on its own.
        del obj["top_logprobs"]
        changes.append("drop:top_logprobs")

    include = obj.get("include")
    if isinstance(include, list):
        unwanted: list[str] = []
        if "logprobs" in plan.drop_params:
            unwanted.append(_INCLUDE_LOGPROBS)
        if plan.hide_reasoning:
            unwanted.append(_INCLUDE_REASONING)
        kept = [item for item in include if not (isinstance(item, str) and item in unwanted)]
        if len(kept) != len(include):
            for item in unwanted:
                if item in include:
                    changes.append(f"drop:include[{item}]")
            obj["include"] = kept

    if plan.hide_reasoning:
        _hide_reasoning(obj, fmt, changes)
    elif cap is not None:
        _fit_thinking_budget(obj, changes)


def _missing_max_field(obj: dict[str, Any], fmt: str) -> str:
    if fmt == "openai.responses":
        return "max_output_tokens"
    if fmt == "openai.chat":
        model = obj.get("model")
        if "reasoning_effort" in obj or (
            isinstance(model, str) and _REASONING_MODEL.search(model[:200].lower())
        ):
            return "max_completion_tokens"
    # Chat, legacy completions and Anthropic (where it is required) all use max_tokens.
    return "max_tokens"


def _lower_effort(container: dict[str, Any], key: str, label: str, changes: list[str]) -> None:
    value = container[key]
    if isinstance(value, str) and value in _LOW_EFFORTS:
        return
    container[key] = "low"
    shown = value if isinstance(value, str) and value in _KNOWN_EFFORTS else _show(value)
    changes.append(f"{label}:{shown}->low")


def _hide_reasoning(obj: dict[str, Any], fmt: str, changes: list[str]) -> None:
    if "thinking" in obj:
        del obj["thinking"]
        changes.append("drop:thinking")
    if "reasoning_effort" in obj:
        _lower_effort(obj, "reasoning_effort", "reasoning_effort", changes)
    if "include_reasoning" in obj:  # OpenRouter
        del obj["include_reasoning"]
        changes.append("drop:include_reasoning")
    reasoning = obj.get("reasoning")
    if fmt == "openai.responses" and isinstance(reasoning, dict):
        # Keep the object (removing it would restore the default, medium effort) but
        # lower it and stop the reasoning summary from being returned.
        if "effort" in reasoning:
            _lower_effort(reasoning, "effort", "reasoning.effort", changes)
        else:
            reasoning["effort"] = "low"
            changes.append("add:reasoning.effort=low")
        for key in ("summary", "generate_summary"):
            if key in reasoning:
                del reasoning[key]
                changes.append(f"drop:reasoning.{key}")
    elif "reasoning" in obj:
        del obj["reasoning"]
        changes.append("drop:reasoning")


def _fit_thinking_budget(obj: dict[str, Any], changes: list[str]) -> None:
    """Anthropic rejects budget_tokens >= max_tokens; drop thinking if the cap broke that."""
    thinking = obj.get("thinking")
    if not isinstance(thinking, dict):
        return
    budget = safe_number(thinking.get("budget_tokens"))
    max_tokens = safe_number(obj.get("max_tokens"))
    if budget is not None and max_tokens is not None and budget >= max_tokens:
        del obj["thinking"]
        changes.append("drop:thinking(budget>=max_tokens)")


def _degrade_gemini(obj: dict[str, Any], plan: DegradePlan, changes: list[str]) -> None:
    name = next((k for k in _GEMINI_CONFIG if k in obj), _GEMINI_CONFIG[0])
    config = obj.get(name)
    if not isinstance(config, dict):
        if config is not None:
            return  # a malformed config: upstream will reject it, nothing to save
        if plan.max_tokens_cap is None:
            return
        config = {}
        obj[name] = config
    cap = plan.max_tokens_cap
    if cap is not None:
        found = False
        for key in _GEMINI_MAX:
            if key in config:
                found = True
                _cap(config, key, cap, f"{name}.{key}", changes)
        if not found:
            config[_GEMINI_MAX[0]] = cap
            changes.append(f"add:{name}.{_GEMINI_MAX[0]}={cap}")

    for param in plan.drop_params:
        if param == "n":
            for key in _GEMINI_N:
                if key in config and (config[key] != 1 or isinstance(config[key], bool)):
                    changes.append(f"{name}.{key}:{_show(config[key])}->1")
                    config[key] = 1
            continue
        for key in _GEMINI_DROP.get(param, (param,)):
            if key in config and _present(config[key]):
                del config[key]
                changes.append(f"drop:{name}.{key}")

    if plan.hide_reasoning:
        for key in _GEMINI_THINKING:
            if key in config:
                del config[key]
                changes.append(f"drop:{name}.{key}")
