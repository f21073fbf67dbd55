"""Shortcuts on the per-request path answer exactly as the code they replace."""

from __future__ import annotations

import pytest

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
