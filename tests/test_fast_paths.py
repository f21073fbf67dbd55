"""Shortcuts on the per-request path answer exactly as the code they replace."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antidistill.enforcement import metering
from antidistill.fingerprints import prompt


def _candidates() -> set[str]:
    out: set[str] = set()
    for alt in prompt._IMPERATIVE.split("|"):
        for a in (alt.replace("[sz]", "s"), alt.replace("[sz]", "z"), alt):
            out |= {a, a.upper(), a.title(), a + "s", a + "ed", a[:-1], a + "'", "x" + a,
                    a.replace("'", "\u2019"), a + "-", a + "\u2019", *a.split()}
    out |= {"", "'", "Lyon", "EUR", "Summarise", "Analyze", "DON'T", "Let's", "İ", "ǅ"}
    # _name looks words up one by one: a word from str.split() holds no whitespace
    return {c for c in out if not any(ch.isspace() for ch in c)}


@pytest.mark.parametrize("word", sorted(_candidates()))
def test_cue_word_set_is_the_imperative_regex(word: str) -> None:
    """``_name`` tests ``word.lower() in _CUE_WORDS`` where it ran ``_CUE_START.fullmatch``."""
    lowered = word.lower()
    assert (lowered in prompt._CUE_WORDS) == (prompt._CUE_START.fullmatch(lowered) is not None)


def test_cue_word_set_refuses_patterns_it_cannot_express() -> None:
    with pytest.raises(ValueError):
        prompt._cue_words(["think", "wr(i|o)te"])
    assert prompt._cue_words(["summari[sz]e", "do not"]) == {"summarise", "summarize"}


def _choice_chars_by_lookup(choice: dict[str, Any]) -> int:
    """The five-lookup form ``metering._choice_chars`` replaced (one pass over the delta)."""
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        text = choice.get("text")
        return len(text) if isinstance(text, str) else 0
    n = 0
    for key in ("content", "refusal", "reasoning_content", "reasoning"):
        text = delta.get(key)
        if isinstance(text, str):
            n += len(text)
    calls = delta.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            fn = call.get("function") if isinstance(call, dict) else None
            args = fn.get("arguments") if isinstance(fn, dict) else None
            if isinstance(args, str):
                n += len(args)
    return n


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
_CALL = st.fixed_dictionaries({}, optional={"function": st.fixed_dictionaries(
    {}, optional={"arguments": _JSON}) | _JSON, "index": st.integers()}) | _JSON
_DELTA_KEYS = ("content", "refusal", "reasoning_content", "reasoning", "role", "x")
_DELTA = st.fixed_dictionaries({}, optional={
    **{k: _JSON for k in _DELTA_KEYS}, "tool_calls": st.lists(_CALL, max_size=3) | _JSON})
_CHOICE = st.fixed_dictionaries({}, optional={"delta": _DELTA | _JSON, "text": _JSON,
                                              "index": st.integers()})


@settings(max_examples=500, deadline=None)
@given(_CHOICE)
def test_choice_chars_is_the_lookup_form(choice: dict[str, Any]) -> None:
    assert metering._choice_chars(choice) == _choice_chars_by_lookup(choice)


def test_choice_chars_counts_every_text_field() -> None:
    delta = {"role": "assistant", "content": "abc", "refusal": "de", "reasoning_content": "f",
             "reasoning": "gh", "tool_calls": [{"function": {"arguments": "{}"}}, "odd"]}
    assert metering._choice_chars({"delta": delta}) == 3 + 2 + 1 + 2 + 2
    assert metering._choice_chars({"text": "legacy"}) == 6
