"""Extraction-intent detector: does a prompt *aim* at harvesting what the model knows?

Four categories: chain-of-thought / reasoning-trace elicitation, reward-model or rubric
grading, system-prompt extraction and jailbreak framings.

How it works (one linear pass, no backtracking-prone regexes):

1. The text is capped at ``max_chars`` (head + tail), normalised with ``normalize_text``
   (NFKC, casefold, zero-width and homoglyph removal) and split into tokens: runs of Latin
   letters and digits, and single CJK characters.
2. One dict lookup per token maps it to concept tags (``intent_lexicon.CONCEPTS``); multi-word
   forms are checked only when their first token matches. Each tag keeps its token positions.
3. A cue (``intent_lexicon.CUES``) fires when all its tags occur within its window. A category
   combines its fired cues by noisy-OR, ``1 - prod(1 - w)``, plus a conjunction bonus of
   ``CONJUNCTION_BONUS`` for each multi-tag cue beyond the first (at most 0.2): independent
   concept pairs agreeing (verb + object, qualifier + object, granularity + object) are
   what separates intent from a coincidental phrase.

Thresholds (documented contract):

* ``score < FLAG_THRESHOLD`` (0.3): a single weak cue; what students, tutors and QA tools
  write ("explain step by step", "rate this reply 1-10", "act as a Linux terminal").
* ``FLAG_THRESHOLD <= score < INTENT_THRESHOLD``: suspicious; use only in conjunction with
  other signals (template fan-out, new accounts, machine timing).
* ``score >= INTENT_THRESHOLD`` (0.5): several independent cues agree, or one very specific
  phrase fired: this is intent, not coincidence.

Evidence strings name the cue ids that fired; raw prompt text never leaves this module.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from itertools import product

from antidistill.fingerprints.normalize import normalize_text
from antidistill.signals.intent_lexicon import CATEGORIES, CONCEPTS, CUES, Cue

__all__ = [
    "CATEGORIES",
    "CONJUNCTION_BONUS",
    "FLAG_THRESHOLD",
    "INTENT_THRESHOLD",
    "IntentMatch",
    "detect_intent",
]

FLAG_THRESHOLD = 0.3
INTENT_THRESHOLD = 0.5
CONJUNCTION_BONUS = 0.1
# The bonus stops growing after a few cues so long benign texts cannot pile up weak pairs.
_MAX_BONUS = 0.2
# Bounds the work of the window checks on adversarial input that repeats one word.
_MAX_POSITIONS = 256

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"[a-z0-9\u00c0-\u024f]+|[{_CJK}]")
# Angle-bracket reasoning tags ("<think>", "</reasoning>") vanish in tokenisation. The
# pattern starts with a literal, so sre skips straight to each "<".
_THINK_TAG = re.compile(
    r"<\s?/?\s?(?:think|thinking|thought|thoughts|reasoning|reason|scratchpad|cot|"
    r"inner_monologue|internal_monologue|reflection|analysis|chain_of_thought)\s?>"
)
_MAX_TAG_MATCHES = 4


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """One category's verdict for a prompt.

    ``evidence`` holds the ids of the cues that fired (joined with ``+``), never raw text.
    """

    category: str
    score: float
    evidence: str


def _inflect(word: str) -> set[str]:
    # Over-generation is harmless: a non-word never occurs in real text.
    forms = {word, word + "s", word + "es", word + "ed", word + "ing"}
    if word.endswith("e"):
        forms |= {word + "d", word[:-1] + "ing"}
    if word.endswith("y"):
        forms |= {word[:-1] + "ies", word[:-1] + "ied"}
    if len(word) <= 4 and word[-1] not in "aeiouwy":
        forms |= {word + word[-1] + "ed", word + word[-1] + "ing"}
    return forms


def _expand(form: str) -> list[tuple[str, ...]]:
    words = form.split(" ")
    options = [sorted(_inflect(w[:-1])) if w.endswith("~") else [w] for w in words]
    out: list[tuple[str, ...]] = []
    for combo in product(*options):
        toks = tuple(_TOKEN.findall(normalize_text(" ".join(combo))))
        if toks:
            out.append(toks)
    return out


# token -> (tags of the token alone, [(rest of phrase, tags), ...])
_Entry = tuple[tuple[str, ...], tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]]


def _build_lexicon() -> dict[str, _Entry]:
    uni: dict[str, set[str]] = {}
    phrases: dict[str, dict[tuple[str, ...], set[str]]] = {}
    for tag, forms in CONCEPTS.items():
        for form in forms:
            if form.startswith("<"):
                continue  # matched by _THINK_TAG
            for toks in _expand(form):
                if len(toks) == 1:
                    uni.setdefault(toks[0], set()).add(tag)
                else:
                    phrases.setdefault(toks[0], {}).setdefault(toks[1:], set()).add(tag)
    lex: dict[str, _Entry] = {}
    for tok in uni.keys() | phrases.keys():
        rest = phrases.get(tok, {})
        lex[tok] = (
            tuple(sorted(uni.get(tok, ()))),
            tuple((r, tuple(sorted(t))) for r, t in sorted(rest.items(), key=lambda x: -len(x[0]))),
        )
    return lex


_LEXICON = _build_lexicon()
_CUES_BY_CATEGORY: dict[str, tuple[Cue, ...]] = {
    c: tuple(cue for cue in CUES if cue.category == c) for c in CATEGORIES
}


def _check_cues() -> None:
    known = set(CONCEPTS)
    for cue in CUES:
        for spec in cue.tags:
            for tag in spec.split("|"):
                if tag not in known:
                    raise ValueError(f"cue {cue.id} uses unknown concept {tag!r}")


_check_cues()


def _positions(text: str) -> dict[str, list[int]]:
    toks = _TOKEN.findall(text)
    pos: dict[str, list[int]] = {}
    lex_get = _LEXICON.get
    n = len(toks)
    # Positions count half-words: a CJK character is about half a word, so a window of
    # w words spans 2w CJK characters; Latin tokens advance by 2.
    cjk = text.isascii() is False
    p = -2
    for i, tok in enumerate(toks):
        p += 1 if cjk and tok >= "\u3040" and len(tok) == 1 else 2
        entry = lex_get(tok)
        if entry is None:
            continue
        uni_tags, phrases = entry
        for tag in uni_tags:
            lst = pos.setdefault(tag, [])
            if len(lst) < _MAX_POSITIONS:
                lst.append(p)
        for rest, tags in phrases:
            k = len(rest)
            if i + k < n and tuple(toks[i + 1 : i + 1 + k]) == rest:
                for tag in tags:
                    lst = pos.setdefault(tag, [])
                    if len(lst) < _MAX_POSITIONS and (not lst or lst[-1] != p):
                        lst.append(p)
    if "<" in text:
        for k, m in enumerate(_THINK_TAG.finditer(text)):
            if k >= _MAX_TAG_MATCHES:
                break
            at = 2 * len(_TOKEN.findall(text, 0, m.start()))
            pos.setdefault("think_tag", []).append(at)
    return pos


def _tag_positions(pos: dict[str, list[int]], spec: str) -> list[int]:
    if "|" not in spec:
        return pos.get(spec, [])
    merged: set[int] = set()
    for tag in spec.split("|"):
        merged.update(pos.get(tag, ()))
    return sorted(merged)


def _near(lst: list[int], p: int, window: int) -> bool:
    i = bisect_left(lst, p - window)
    return i < len(lst) and lst[i] <= p + window


def _fires(cue: Cue, pos: dict[str, list[int]]) -> bool:
    first = _tag_positions(pos, cue.tags[0])
    if not first:
        return False
    if len(cue.tags) == 1:
        return True
    others = [_tag_positions(pos, spec) for spec in cue.tags[1:]]
    if not all(others):
        return False
    w = 2 * cue.window  # positions count half-words
    return any(all(_near(lst, p, w) for lst in others) for p in first)


def _cap(text: str, max_chars: int) -> str:
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    half = max_chars // 2
    return text[:half] + " " + text[-(max_chars - half) :]


def detect_intent(
    user_text: str, *, normalized: bool = False, max_chars: int = 16384
) -> tuple[IntentMatch, ...]:
    """Score ``user_text`` for extraction intent, one :class:`IntentMatch` per category hit.

    Only categories with a positive score are returned, highest score first. Pass
    ``normalized=True`` when the text already went through ``normalize_text``. Texts longer
    than ``max_chars`` are scored on their head and tail (where instructions usually sit).
    """
    if not user_text:
        return ()
    text = _cap(user_text, max_chars)
    if not normalized:
        text = normalize_text(text)
    pos = _positions(text)
    if not pos:
        return ()
    out: list[IntentMatch] = []
    for category in CATEGORIES:
        fired = [cue for cue in _CUES_BY_CATEGORY[category] if _fires(cue, pos)]
        if not fired:
            continue
        miss = 1.0
        for cue in fired:
            miss *= 1.0 - cue.weight
        conj = sum(1 for cue in fired if len(cue.tags) > 1)
        bonus = min(_MAX_BONUS, CONJUNCTION_BONUS * max(0, conj - 1))
        score = min(1.0, 1.0 - miss + bonus)
        fired.sort(key=lambda c: (-c.weight, c.id))
        out.append(
            IntentMatch(category, round(score, 4), "+".join(cue.id for cue in fired))
        )
    out.sort(key=lambda m: -m.score)
    return tuple(out)
