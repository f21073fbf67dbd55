"""The fingerprints' shortcuts give what the algorithms they replaced gave.

Each reference below is the code the shortcut replaced, kept verbatim (names aside): the
callback that masked every capitalised run, the window sketch that re-split its bytes and
sorted every hash, the word count of the whole masked text. The shortcuts are compared with
them directly and through ``skeletonize`` and ``fingerprint_prompt`` with the references
put back in their place, over hypothesis-generated and hand-made texts (ASCII and not, CJK,
cue words, texts longer than the skeleton's and the sketch's spans).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import accumulate
from typing import Any

import pytest
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from antidistill.fingerprints import memo as memo_mod
from antidistill.fingerprints import prompt
from antidistill.fingerprints.normalize import normalize_text
from antidistill.fingerprints.parse import parse_body

FAST = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

# --- the replaced code -------------------------------------------------------------------------


def _name_ref(m: Any) -> str:
    start = m.start()
    prev = m.string[start - 1] if start else "."
    if prev in prompt._TERMINATORS:
        return str(m.group())
    words = m.group().split()
    for i, word in enumerate(words):
        if word.lower() in prompt._CUE_WORDS:
            head = _wrap_ref(words[:i]) if i and _mid_ref(prev) else " " + " ".join(words[:i])
            return (head if i else "") + ". " + " ".join(words[i:])
    return _wrap_ref(words) if _mid_ref(prev) else str(m.group())


def _wrap_ref(words: list[str]) -> str:
    return " " + prompt._NAME_OPEN + " ".join(words) + prompt._NAME_CLOSE


def _mid_ref(prev: str) -> bool:
    return prev.islower() or prev in ",;"


def _mask_names_ref(text: str) -> str:
    return prompt._NAME.sub(_name_ref, text)


def _window_sketch_ref(b: bytes) -> list[int]:
    words = b.split(b" ")
    n = prompt.SEGMENT_WINDOW
    if len(words) <= n:
        return [xxhash.xxh3_64_intdigest(b)]
    starts = list(accumulate([len(w) + 1 for w in words], initial=0))
    hashes = [xxhash.xxh3_64_intdigest(b[starts[i] : starts[i + n] - 1])
              for i in range(len(words) - n + 1)]
    return [hashes[0], hashes[-1], *sorted(set(hashes))[: prompt.SEGMENT_K]]


def _window_hashes_ref(words: list[bytes]) -> list[int]:
    n = prompt.SEGMENT_WINDOW
    if len(words) < n:
        return []
    b = b" ".join(words)
    starts = list(accumulate([len(w) + 1 for w in words], initial=0))
    return [xxhash.xxh3_64_intdigest(b[starts[i] : starts[i + n] - 1])
            for i in range(len(words) - n + 1)]


def _kept_words_ref(units: list[str]) -> int:
    text = prompt._PLACEHOLDER.sub(" ", " ".join(units))
    n = len(text.split())
    if not text.isascii():
        n += len(prompt._CJK_CHAR.findall(text))
    return n


@contextmanager
def _replaced_by_references() -> Iterator[None]:
    """The module as it was: every shortcut swapped for the code it replaced."""
    swaps: dict[str, Callable[..., Any]] = {
        "_mask_names": _mask_names_ref,
        "_enough_words": lambda units, minimum: _kept_words_ref(units) >= minimum,
        "_window_sketch": lambda b, words: _window_sketch_ref(b),
        "_window_hashes": _window_hashes_ref,
    }
    saved = {name: getattr(prompt, name) for name in swaps}
    try:
        for name, fn in swaps.items():
            setattr(prompt, name, fn)
        yield
    finally:
        for name, fn in saved.items():
            setattr(prompt, name, fn)


# --- inputs ------------------------------------------------------------------------------------

_CUES = sorted(prompt._CUE_WORDS)
_VOCAB = [
    "the", "order", "to", "ref", "qty", "total", "EUR", "Bilbao", "New", "York", "Lyon",
    "O'Brien", "Jean-Luc", "X", "A", "I", "it's", "12", "3.5", "2024-06-24", "{n}", "{q}",
    "é", "Émile", "Σίσυφος", "İstanbul", "\u212aelvin", "ǅemal", "東京", "北京市", "。",
    "ﬁ", "Ｔｈｉｎｋ", "naïve", "O\u2019Neil", "don\u2019t", "\ud800", "__init__", "x_Y",
    *_CUES[::3], *(c.title() for c in _CUES), *(c.upper() for c in _CUES[::4]),
]
_SEPS = [" ", " ", " ", "  ", "   ", ", ", "; ", ". ", "! ", "? ", ": ", "\n", "\n\n", ",",
         ";", "。", "：", "\t", "-", "'", '"', "(", ")", "\u3000", "\xa0", "", "`"]


@st.composite
def _texts(draw: st.DrawFn, max_tokens: int = 60) -> str:
    words = draw(st.lists(st.sampled_from(_VOCAB) | st.text(max_size=6), max_size=max_tokens))
    seps = draw(st.lists(st.sampled_from(_SEPS), min_size=len(words), max_size=len(words)))
    return draw(st.sampled_from(["", " ", "\n", ". "])) + "".join(
        w + s for w, s in zip(words, seps, strict=True))


def _export(rng: random.Random, lines: int, cue: str = "") -> str:
    """A pasted order export, name- and number-dense like overhead.py's sized bodies."""
    towns = ["Bilbao", "Turin", "Leeds", "Cork", "Porto", "Graz", "Malmo", "Gdansk", "San Jose"]
    out = [f"How do I merge these two boards without losing comments? {cue}Under 300 words."]
    for i in range(lines):
        out.append(f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} order "
                   f"{rng.randint(1000, 999999)} {rng.choice(['packed', 'shipped'])} to "
                   f"{rng.choice(towns)} ref {rng.randint(10000, 99999)} qty {i % 9 + 1} "
                   f"total {rng.random() * 900:.2f} EUR, via {rng.choice(towns)} Hub")
    return "\n".join(out)


def _long_texts() -> list[str]:
    rng = random.Random(15)
    prose = ("Please summarise the following customer notes for the Lisbon office and "
             "list the open questions. ")
    cjk = "请一步一步地思考并给出答案。東京の天気について教えてください。"
    return [
        _export(rng, 40), _export(rng, 400), _export(rng, 3000),
        _export(rng, 200, cue="Think step by step. "), _export(rng, 200, cue="then Please "),
        prose * 300, (prose + cjk) * 120, cjk * 400, "word " * 5000, "Word " * 5000,
        ("Ünïcödé Names like Zoë Saldaña, " * 700), ("x " * 3000) + ("A" * 9000),
        " ".join(f"{{n}} {{q}} tok{i}" for i in range(3000)), "{n} " * 4000,
        "\n".join(f"Item {i}: Alpha Beta, Gamma; Delta. Epsilon" for i in range(800)),
    ]


# --- the shortcuts, one by one -----------------------------------------------------------------


def _mask_names_split(text: str) -> str:
    """``_mask_names`` with its split path taken on text of any length."""
    saved = prompt._NAME_SPLIT_CHARS
    prompt._NAME_SPLIT_CHARS = 0
    try:
        return prompt._mask_names(text)
    finally:
        prompt._NAME_SPLIT_CHARS = saved


@FAST
@given(_texts())
def test_mask_names_is_the_callback(text: str) -> None:
    assert prompt._mask_names(text) == _mask_names_ref(text)
    assert _mask_names_split(text) == _mask_names_ref(text)
    assert prompt._NAME.sub(prompt._name, text) == _mask_names_ref(text)


@FAST
@given(st.text(alphabet=" ,;.\nAaBbZz'-’é東1", max_size=80))
def test_mask_names_on_odd_alphabets(text: str) -> None:
    assert _mask_names_split(text) == _mask_names_ref(text)


@pytest.mark.parametrize("index", range(len(_long_texts())))
def test_mask_names_on_long_texts(index: int) -> None:
    text = _long_texts()[index]
    assert prompt._mask_names(text) == _mask_names_ref(text)


def test_mask_names_takes_both_paths() -> None:
    plain = "sent to Bilbao Spain, Madrid and 5 EUR. Paris here; London too"
    expected = ("sent to \x01Bilbao Spain\x02, \x01Madrid\x02 and 5 EUR. Paris here; "
                "London too")
    assert _mask_names_split(plain) == expected == _mask_names_ref(plain)
    long = (plain + " ") * 40
    assert prompt._mask_names(long) == _mask_names_split(long) == _mask_names_ref(long)
    # A cue word mid-sentence restores a sentence boundary: the callback's path.
    cue = "the data set Think step by step, with Porto"
    assert _mask_names_split(cue) == _mask_names_ref(cue)
    assert ". Think" in _mask_names_split(cue)


@FAST
@given(st.lists(st.sampled_from([b"a", b"b", b"ab", b"", b"\xe4\xb8\x80", b"{n}", b"x" * 40])
                | st.binary(max_size=5).filter(lambda w: b" " not in w), max_size=700))
def test_window_sketch_is_the_reference(words: list[bytes]) -> None:
    b = b" ".join(words)
    tokens = b.split(b" ")
    assert prompt._window_sketch(b, tokens) == _window_sketch_ref(b)
    assert prompt._chunk_sketch(tokens) == _window_sketch_ref(b)
    assert prompt._window_hashes(tokens) == _window_hashes_ref(tokens)


@pytest.mark.parametrize("period", [1, 2, 3, 7, 12])
def test_window_sketch_of_repeating_text(period: int) -> None:
    # Few distinct windows over many: fewer than k hashes fall under the bound.
    words = [b"w%d" % (i % period) for i in range(640)]
    b = b" ".join(words)
    assert prompt._window_sketch(b, words) == _window_sketch_ref(b)
    assert len(set(_window_sketch_ref(b)[2:])) == min(period, prompt.SEGMENT_K)


_UNIT = st.sampled_from(["{n}", "{q}", "{p}", "{name}", "{n}{n}", "a{n}b", "東京", "word",
                         "two words", " ", "", "{x", "n}", "。", "Ab"]) | st.text(max_size=12)


@FAST
@given(st.lists(_UNIT, max_size=400), st.sampled_from([0, 1, 3, 8, 50, 10**6]))
def test_enough_words_is_the_count(units: list[str], minimum: int) -> None:
    assert prompt._enough_words(units, minimum) == (_kept_words_ref(units) >= minimum)


def test_enough_words_on_long_texts() -> None:
    for text in _long_texts():
        for minimum in (3, 8, 1000, 10**6):
            assert prompt._enough_words([text], minimum) == (_kept_words_ref([text]) >= minimum)
    # A prefix of placeholders only, words after it: the whole text decides.
    text = "{n} " * 200 + "one two three"
    assert prompt._enough_words([text], 3) and not prompt._enough_words([text], 4)
    # No space to cut at: a prefix cut inside "{n}" would count "{n" as a word.
    assert not prompt._enough_words(["{n}" * 200], 1) and _kept_words_ref(["{n}" * 200]) == 0
    assert not prompt._enough_words(["{n}" * 100 + " {n}" * 100], 1)


# --- the whole fingerprint, shortcuts against references ---------------------------------------


def _both(fn: Callable[[], Any]) -> tuple[Any, Any]:
    new = fn()
    with _replaced_by_references():
        old = fn()
    return new, old


@FAST
@given(_texts(max_tokens=120))
def test_skeleton_and_sketch_unchanged(text: str) -> None:
    new, old = _both(lambda: (prompt.skeletonize(text), prompt._sketch(normalize_text(text))))
    assert new == old


def _body(turns: list[str]) -> bytes:
    msgs: list[dict[str, str]] = []
    for i, turn in enumerate(turns):
        msgs += [{"role": "user", "content": turn}, {"role": "assistant", "content": f"ok {i}"}]
    return json.dumps({"model": "m", "messages": msgs[:-1]}).encode()


@pytest.mark.parametrize("index", range(len(_long_texts())))
def test_fingerprint_prompt_unchanged_on_long_texts(index: int) -> None:
    text = _long_texts()[index]
    for turns in ([text], [text[:3000], text], ["short question first", text[:9000]]):
        parsed = parse_body(_body(turns))
        new, old = _both(lambda p=parsed: prompt.fingerprint_prompt(p))
        assert new == old


@FAST
@given(st.lists(_texts(max_tokens=40), min_size=1, max_size=6))
def test_fingerprint_prompt_unchanged_turn_by_turn(turns: list[str]) -> None:
    # Through the turn memo too: a conversation's summaries are built from the shortcuts.
    scopes = memo_mod.TurnMemo().scope("identity"), memo_mod.TurnMemo().scope("identity")
    assert scopes[0] is not None and scopes[1] is not None
    for n in range(1, len(turns) + 1):
        parsed = parse_body(_body(turns[:n]))
        new = prompt.fingerprint_prompt(parsed, scopes[0])
        with _replaced_by_references():
            old = prompt.fingerprint_prompt(parsed, scopes[1])
        assert new == old == prompt.fingerprint_prompt(parsed)
