"""Harvesting-parameter detector: sampling parameters that read out the model's distribution.

Distillers want more than text: the top-k log-probabilities of every position (soft labels),
many samples per prompt, and ``logit_bias`` sweeps that force chosen tokens so their
probabilities can be read one batch of ids at a time. Honest clients ask for some of this too:
a classifier reads label probabilities with ``logprobs: true, top_logprobs: 1-5,
max_tokens: 1`` and a ``logit_bias`` of a handful of entries bans or favours a few words.
So single mild features score near zero and only maxed-out or combined features add up.

Feature weights (combined by noisy-OR, ``1 - prod(1 - w)``):

========================  ======  =============================================================
feature                   weight  when
========================  ======  =============================================================
``logprobs_max``          0.40    top_logprobs >= ``top_logprobs_max`` (legacy ``logprobs`` >= 5)
``logprobs_high``         0.20    top_logprobs >= half the maximum (and > 5)
``logit_bias_sweep``      0.35    >= 50 logit_bias entries (+0.15 at >= 200)
``logit_bias_large``      0.15    11-49 entries
``logit_bias_extreme``    0.15    >= 10 entries at |bias| >= 50 (the +100/-100 sweep shape)
``logit_bias_probe``      0.20    a +bias >= 50 together with logprobs (read a forced token)
``n_gt1``                 0.20    n > 1 with logprobs (0.30 at n >= 8; 0.05 without logprobs)
``max_tokens_cap``        0.15    max_tokens at the configured cap (``max_tokens_cap > 0``)
``one_token_probe``       0.15    max_tokens <= 2 with logprobs and a logit_bias of > 10 entries
``malformed_params``      0.25    a numeric parameter (or logit_bias value) of the wrong type,
                                  beyond 2**63, infinite or NaN
========================  ======  =============================================================

``score >= 0.5`` needs a conjunction (e.g. maxed top_logprobs plus n > 1, or a big extreme
logit_bias sweep); a lone maxed ``top_logprobs`` stays at 0.4. Every number is read with
:func:`~antidistill.fingerprints.values.read_number`: values of the wrong type or out of range
are clamped or ignored for the features and counted by ``malformed_params``, never raised on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import xxhash

from antidistill.fingerprints.parse import MAX_TOKEN_PARAMS
from antidistill.fingerprints.values import read_number, safe_int, safe_number

__all__ = ["SWEEP_VALUES", "HarvestFinding", "score_harvesting", "sweep_key"]

_EXTREME_BIAS = 50.0
_SWEEP_ENTRIES = 50
_BIG_SWEEP_ENTRIES = 200
_LARGE_ENTRIES = 10
_SWEEP_KEYS = ("temperature", "top_p", "seed", "top_logprobs", "n")
#: The identity-value names :func:`sweep_key` writes (other detectors count other values).
SWEEP_VALUES = frozenset((*_SWEEP_KEYS, "logit_bias"))


@dataclass(frozen=True, slots=True)
class HarvestFinding:
    """Result of :func:`score_harvesting`: a score in [0, 1], a numbers-only detail string
    and short feature tags (stable names, usable as metric labels)."""

    score: float
    detail: str
    features: tuple[str, ...]


def _num(value: Any) -> float | None:
    return safe_number(value)


def _int(value: Any) -> int | None:
    return safe_int(value)


# Parameters that must be numbers (logprobs may also be a bool). A value of the wrong type,
# beyond 2**63 or non-finite there is what a fuzzing or evading client sends, not an SDK.
_NUMERIC_KEYS = (*MAX_TOKEN_PARAMS, "top_logprobs", "n", "temperature", "top_p", "seed")
_MALFORMED_WEIGHT = 0.25


def _malformed(params: Mapping[str, Any]) -> list[str]:
    """``key:issue`` for every numeric parameter (and logit_bias value) that is malformed."""
    out: list[str] = []
    for key in _NUMERIC_KEYS:
        if key in params:
            issue = read_number(params[key])[1]
            if issue:
                out.append(f"{key}:{issue}")
    lp = params.get("logprobs")
    if lp is not None and not isinstance(lp, bool):
        issue = read_number(lp)[1]
        if issue and not (isinstance(lp, str) and lp.strip().lower() in ("true", "false")):
            out.append(f"logprobs:{issue}")
    bias = params.get("logit_bias")
    if bias is not None and not isinstance(bias, Mapping):
        out.append("logit_bias:type")
    elif isinstance(bias, Mapping):
        bad = sum(1 for v in bias.values() if read_number(v)[1])
        if bad:
            out.append(f"logit_bias:{bad} values")
    return out


# The parameters every feature but the output cap needs (one of them must be present).
_PROBE_KEYS = frozenset({"logprobs", "top_logprobs", "logit_bias", "n"})


_NOTHING = HarvestFinding(0.0, "", ())


def _logprobs_on(params: Mapping[str, Any]) -> tuple[bool, int | None]:
    """(logprobs requested, legacy integer count if the completions API form was used)."""
    lp = params.get("logprobs")
    if lp is True:
        return True, None
    if isinstance(lp, str) and lp.strip().lower() == "true":
        return True, None
    k = _int(lp)
    if k is not None and k > 0:
        return True, k
    return False, None


def _bias_stats(bias: Any) -> tuple[int, int, int]:
    """(entries, entries with |bias| >= 50, entries with bias >= +50)."""
    if not isinstance(bias, Mapping):
        return 0, 0, 0
    extreme = positive = 0
    for v in bias.values():
        f = _num(v)
        if f is None:
            continue
        if abs(f) >= _EXTREME_BIAS:
            extreme += 1
            if f > 0:
                positive += 1
    return len(bias), extreme, positive


def score_harvesting(
    params: Mapping[str, Any],
    *,
    max_tokens_cap: int = 0,
    top_logprobs_max: int = 20,
    oddities: tuple[str, ...] = (),
) -> HarvestFinding:
    """Score one request's sampling parameters for logprob / distribution harvesting.

    ``params`` uses OpenAI names (``max_tokens``, ``max_completion_tokens``,
    ``max_output_tokens``, ``logprobs``, ``top_logprobs``, ``logit_bias``, ``n``, ...).
    ``max_tokens_cap`` is the route's output-token ceiling (0 = unknown, feature off);
    ``top_logprobs_max`` is the provider's largest allowed ``top_logprobs``. ``oddities``
    (:attr:`~antidistill.fingerprints.parse.ParsedPrompt.oddities`) count towards
    ``malformed_params`` like malformed numbers.
    """
    if not isinstance(params, Mapping):
        return HarvestFinding(0.0, "", ())
    bad = _malformed(params)
    if oddities:
        bad.extend(f"shape:{o}" for o in oddities[:8] if isinstance(o, str))
    if not bad and params.keys().isdisjoint(_PROBE_KEYS):
        # No log-probability, bias or multi-sample parameter (most requests): only the
        # output-cap feature can fire.
        if max_tokens_cap > 0:
            for key in MAX_TOKEN_PARAMS:
                max_tokens = _int(params.get(key))
                if max_tokens is not None:
                    if max_tokens >= max_tokens_cap:
                        return HarvestFinding(0.15, f"max_tokens={max_tokens} (cap)",
                                              ("max_tokens_cap",))
                    break
        return _NOTHING
    found = _Found()
    add = found.add
    logprobs, entries = _logprob_and_bias_features(params, top_logprobs_max, add)
    n = _int(params.get("n"))
    if n is not None and n > 1:
        if logprobs:
            add("n_gt1", 0.30 if n >= 8 else 0.20, f"n={n} with logprobs")
        else:
            add("n_gt1", 0.05, f"n={n}")
    max_tokens = None
    for key in MAX_TOKEN_PARAMS:
        max_tokens = _int(params.get(key))
        if max_tokens is not None:
            break
    if max_tokens_cap > 0 and max_tokens is not None and max_tokens >= max_tokens_cap:
        add("max_tokens_cap", 0.15, f"max_tokens={max_tokens} (cap)")
    if logprobs and max_tokens is not None and 0 < max_tokens <= 2 and entries > _LARGE_ENTRIES:
        add("one_token_probe", 0.15, f"max_tokens={max_tokens} with logit_bias")
    if bad:
        add("malformed_params", _MALFORMED_WEIGHT, "malformed " + ",".join(bad))
    weights, features, details = found.weights, found.features, found.details

    miss = 1.0
    for w in weights:
        miss *= 1.0 - w
    return HarvestFinding(round(1.0 - miss, 4), "; ".join(details), tuple(features))


def _canon(value: Any) -> str:
    # Never echo a client-supplied string: storage keys must not carry raw request data.
    f = _num(value)
    if f is None:
        return "invalid:" + type(value).__name__
    return repr(round(f, 4)) if not f.is_integer() else str(int(f))


def sweep_key(params: Mapping[str, Any]) -> dict[str, str]:
    """Canonical values for cross-request "distinct values" counters (sweep detection).

    Returns only keys present in ``params``: ``temperature``, ``top_p``, ``seed``,
    ``top_logprobs``, ``n`` as canonical numbers (``"0.7"``, ``"20"``; a value of the wrong type
    becomes ``"invalid:<type>"``) and ``logit_bias`` as a 64-bit xxh3 hex digest of its sorted
    token ids (so a sweep that rotates ids shows many distinct values).
    """
    if not isinstance(params, Mapping):
        return {}
    out: dict[str, str] = {}
    for key in _SWEEP_KEYS:
        if key in params:
            out[key] = _canon(params[key])
    if "logit_bias" in params:
        bias = params["logit_bias"]
        if isinstance(bias, Mapping):
            ids = sorted(str(k) for k in bias)
            ids.sort(key=lambda s: (not s.isdigit(), len(s), s))
            out["logit_bias"] = xxhash.xxh3_64_hexdigest(",".join(ids).encode("utf-8", "replace"))
        else:
            out["logit_bias"] = "invalid:" + type(bias).__name__
    return out


class _Found:
    """The harvesting features one request shows, with their weights and details."""

    __slots__ = ("weights", "features", "details")

    def __init__(self) -> None:
        self.weights: list[float] = []
        self.features: list[str] = []
        self.details: list[str] = []

    def add(self, feature: str, weight: float, detail: str) -> None:
        self.features.append(feature)
        self.weights.append(weight)
        self.details.append(detail)


def _logprob_and_bias_features(
    params: Mapping[str, Any], top_logprobs_max: int,
    add: Callable[[str, float, str], None],
) -> tuple[bool, int]:
    """Log-probability and logit-bias features; returns (logprobs on, logit_bias entries)."""
    logprobs, legacy_k = _logprobs_on(params)
    top_k = _int(params.get("top_logprobs"))
    lp_max = max(1, top_logprobs_max)
    if logprobs and top_k is not None and top_k > 0:
        if top_k >= lp_max:
            add("logprobs_max", 0.40, f"top_logprobs={top_k} (max)")
        elif top_k > 5 and top_k * 2 >= lp_max:
            add("logprobs_high", 0.20, f"top_logprobs={top_k}")
    elif legacy_k is not None and legacy_k >= 5:
        # The legacy completions API capped integer logprobs at 5.
        add("logprobs_max", 0.40, f"logprobs={legacy_k} (legacy max)")
    entries, extreme, positive = _bias_stats(params.get("logit_bias"))
    if entries >= _SWEEP_ENTRIES:
        w = 0.50 if entries >= _BIG_SWEEP_ENTRIES else 0.35
        add("logit_bias_sweep", w, f"logit_bias entries={entries}")
    elif entries > _LARGE_ENTRIES:
        add("logit_bias_large", 0.15, f"logit_bias entries={entries}")
    if extreme >= 10:
        add("logit_bias_extreme", 0.15, f"logit_bias |bias|>=50 entries={extreme}")
    if logprobs and positive > 0:
        add("logit_bias_probe", 0.20, f"logit_bias +bias>=50 entries={positive} with logprobs")
    return logprobs, entries
