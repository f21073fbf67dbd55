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
   ``CONJUNCTION_BONUS`` for each multi-tag cue of weight >= 0.1 beyond the first (at most
   0.2): independent
   concept pairs agreeing (verb + object, qualifier + object, granularity + object) are
   what separates intent from a coincidental phrase. Cues are combined only inside one
   region of the text (``REGION_WORDS``: about 40 words for CoT, grading and system-prompt
   requests, 200 for jailbreak framings, which spread over a long preamble), so a long
   document cannot add up words scattered over pages. Suppressor cues (negative weight,
   e.g. "do not reveal your reasoning", "paste this as your system prompt") scale the
   region's score down by ``1 + weight``.

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
from collections import defaultdict
from dataclasses import dataclass
from itertools import accumulate, compress, product
from operator import not_ as _not

from antidistill.fingerprints.normalize import normalize_text
from antidistill.signals.intent_lexicon import CATEGORIES, CONCEPTS, CUES, REGION_WORDS, Cue

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
# Weak context cues (a bare "step by step" next to "reasoning") earn no bonus of their own.
_BONUS_MIN_WEIGHT = 0.1

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# Splits a non-ASCII chunk: Latin words (with accents) stay whole, each CJK character is a
# token, everything else (emoji, CJK punctuation) is dropped.
_WIDE_TOKEN = re.compile(rf"[a-z0-9\u00c0-\u024f]+|[{_CJK}]")
_HAS_CJK = re.compile(rf"[{_CJK}]")
_WIDE_LETTER = re.compile(rf"[\u00c0-\u024f{_CJK}]")
# Tokenising with bytes.translate + split runs in C and is several times faster than
# re.findall: ASCII punctuation becomes a space, bytes >= 0x80 (UTF-8) are kept as they are.
_ASCII_PUNCT_TO_SPACE = bytes(
    c if (48 <= c <= 57 or 97 <= c <= 122 or c >= 128) else 32 for c in range(256)
)
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


def _tokenize(text: str) -> list[str]:
    """Tokens of normalised text: Latin words and digits, and single CJK characters."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_PUNCT_TO_SPACE).decode("ascii").split()
    if _WIDE_LETTER.search(text) is None:
        # Only symbols (emoji, box drawing, arrows) are non-ASCII: they separate words and
        # nothing more, so "?" (then a space) stands in for them.
        raw = text.encode("ascii", "replace")
        return raw.translate(_ASCII_PUNCT_TO_SPACE).decode("ascii").split()
    rough = text.encode("utf-8").translate(_ASCII_PUNCT_TO_SPACE).decode("utf-8").split()
    # Only the few tokens holding non-ASCII characters need the (slower) regex split.
    wide = list(compress(range(len(rough)), map(_not, map(str.isascii, rough))))
    if not wide:
        return rough
    out: list[str] = []
    last = 0
    for i in wide:
        out.extend(rough[last:i])
        out.extend(_WIDE_TOKEN.findall(rough[i]))
        last = i + 1
    out.extend(rough[last:])
    return out


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
        toks = tuple(_tokenize(normalize_text(" ".join(combo))))
        if toks:
            out.append(toks)
    return out


# Frequent tokens, most frequent first. A phrase is indexed under its *least* frequent token
# so the scan never stops on "the", "a" or "to" (a fifth of all English tokens).
_COMMON = (
    "the of and to a in is you that it for on are with as i be this at or by from not but "
    "what all your can will an if we do my so no up about which there one have me was would "
    "how they more any each before should must s t re ll don it has had were been their "
    "then than some into out its our these those also just like only new other get make "
    "time very when who way may use over after where most many much such well even here "
    "之 的 你 是 我 了 在 一 不 有 这 个 们 中 上 下 出 说 给 好 要 以 前 为 和 会 对 可 能 把 请"
).split()
_RANK = {w: r for r, w in enumerate(_COMMON)}

# token -> (tags of the token alone, ((offset of the token in the phrase, phrase, tags), ...))
_Phrase = tuple[int, tuple[str, ...], tuple[str, ...]]
_Entry = tuple[tuple[str, ...], tuple[_Phrase, ...]]


def _anchor(toks: tuple[str, ...], uni: set[str] | dict[str, set[str]]) -> int:
    # Least frequent token first; among equals, one that is a lexicon key anyway (it is
    # visited in any case, so the phrase adds no new stop to the scan).
    return max(
        range(len(toks)),
        key=lambda k: (_RANK.get(toks[k], len(_RANK)), toks[k] in uni),
    )


def _build_lexicon() -> dict[str, _Entry]:
    uni: dict[str, set[str]] = {}
    phrases: dict[tuple[str, ...], set[str]] = {}
    for tag, forms in CONCEPTS.items():
        for form in forms:
            if form.startswith("<"):
                continue  # matched by _THINK_TAG
            for toks in _expand(form):
                if len(toks) == 1:
                    uni.setdefault(toks[0], set()).add(tag)
                else:
                    phrases.setdefault(toks, set()).add(tag)
    anchored: dict[str, list[_Phrase]] = {}
    for toks, tags in phrases.items():
        k = _anchor(toks, uni)
        anchored.setdefault(toks[k], []).append((k, toks, tuple(sorted(tags))))
    lex: dict[str, _Entry] = {}
    for tok in uni.keys() | anchored.keys():
        lex[tok] = (tuple(sorted(uni.get(tok, ()))), tuple(sorted(anchored.get(tok, []))))
    return lex


_LEXICON = _build_lexicon()
_LEXICON_KEYS = frozenset(_LEXICON)
# Every concept a key can stand for, alone or as the anchor of a phrase (an upper bound).
_KEY_TAGS: dict[str, frozenset[str]] = {
    k: frozenset(uni).union(*(tags for _, _, tags in phrases))
    for k, (uni, phrases) in _LEXICON.items()
}
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


def _cue_specs(cue: Cue) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(spec.split("|")) for spec in cue.tags)


_CUE_SPECS = tuple((cue, _cue_specs(cue)) for cue in CUES)


def _needed_tags(maybe: set[str]) -> set[str]:
    """Tags of the cues that could fire given the concepts possibly present."""
    needed: set[str] = set()
    for _, specs in _CUE_SPECS:
        if all(not spec.isdisjoint(maybe) for spec in specs):
            for spec in specs:
                needed |= spec
    return needed


def _positions(text: str) -> dict[str, list[int]]:
    """Concept tag -> sorted positions, in half-words (see ``_fires``)."""
    toks = _tokenize(text)
    n = len(toks)
    # Pass 1, in C: which lexicon keys occur at all. Most benign prompts hold a few common
    # verbs ("write", "explain", "output") but no cue's full set of concepts, and stop here.
    present = _LEXICON_KEYS.intersection(toks)
    if not present:
        return {}
    maybe: set[str] = set()
    for k in present:
        maybe |= _KEY_TAGS[k]
    needed = _needed_tags(maybe)
    if not needed:
        return {}
    active = frozenset(k for k in present if not _KEY_TAGS[k].isdisjoint(needed))
    # Pass 2: compress/map run in C, so only tokens that matter reach the Python loop.
    hits = list(compress(range(n), map(active.__contains__, toks)))
    # A CJK character is about half a word: it advances the position by 1, a Latin word by 2.
    if _HAS_CJK.search(text) is None:
        where = None
    else:
        where = list(accumulate(1 if len(t) == 1 and t >= "\u3040" else 2 for t in toks))
    # The input is capped at max_chars, so the lists are bounded by its token count.
    pos: defaultdict[str, list[int]] = defaultdict(list)
    lexicon = _LEXICON
    for i in hits:
        uni_tags, phrases = lexicon[toks[i]]
        p = 2 * i if where is None else where[i]
        for tag in uni_tags:
            pos[tag].append(p)
        for off, phrase, tags in phrases:
            start = i - off
            # Cheap reject on the neighbouring token before building the slice.
            j = i + 1 if off + 1 < len(phrase) else i - 1
            if j < 0 or j >= n or toks[j] != phrase[j - start]:
                continue
            if start < 0 or tuple(toks[start : start + len(phrase)]) != phrase:
                continue
            q = 2 * start if where is None else where[start]
            for tag in tags:
                pos[tag].append(q)
    for lst in pos.values():
        lst.sort()  # phrase starts can precede earlier unigram hits
    if "<" in text:
        for nth, m in enumerate(_THINK_TAG.finditer(text)):
            if nth >= _MAX_TAG_MATCHES:
                break
            at = 2 * len(_tokenize(text[: m.start()]))
            pos.setdefault("think_tag", []).append(at)
    return pos


def _near(lst: list[int], p: int, window: int) -> bool:
    i = bisect_left(lst, p - window)
    return i < len(lst) and lst[i] <= p + window


def _fire_positions(cue: Cue, pos: dict[str, list[int]]) -> list[int]:
    """Positions (of the cue's rarest concept) where all its concepts meet; [] if none."""
    lists: list[list[int]] = []
    for spec in cue.tags:
        lst = pos.get(spec)
        if lst is None:
            if "|" not in spec:
                return []
            merged: set[int] = set()
            for tag in spec.split("|"):
                merged.update(pos.get(tag, ()))
            lst = pos[spec] = sorted(merged)  # cached for the other cues of this call
        if not lst:
            return []
        lists.append(lst)
    if len(lists) == 1:
        return lists[0]
    # Anchor on the rarest concept: fewest bisections, same meaning (all within the window).
    lists.sort(key=len)
    anchor, others = lists[0], lists[1:]
    w = 2 * cue.window  # positions count half-words
    return [p for p in anchor if all(_near(lst, p, w) for lst in others)]


def _region_score(
    fired: list[tuple[Cue, list[int]]], region: int
) -> tuple[float, tuple[Cue, ...]]:
    """Best noisy-OR score over text regions of ``region`` half-words (two offset grids)."""
    buckets: dict[tuple[int, int], dict[str, Cue]] = {}
    for cue, where in fired:
        for p in where:
            for grid in (0, 1):
                key = (grid, (p + grid * (region // 2)) // region)
                buckets.setdefault(key, {})[cue.id] = cue
    best, best_cues = 0.0, tuple[Cue, ...]()
    for cues in buckets.values():
        miss = damp = 1.0
        conj = 0
        for cue in cues.values():
            if cue.weight < 0:
                damp *= 1.0 + cue.weight
                continue
            miss *= 1.0 - cue.weight
            conj += len(cue.tags) > 1 and cue.weight >= _BONUS_MIN_WEIGHT
        bonus = min(_MAX_BONUS, CONJUNCTION_BONUS * max(0, conj - 1))
        score = min(1.0, 1.0 - miss + bonus) * damp
        if score > best:
            best, best_cues = score, tuple(cues.values())
    return best, best_cues


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
        fired = []
        for cue in _CUES_BY_CATEGORY[category]:
            where = _fire_positions(cue, pos)
            if where:
                fired.append((cue, where))
        if not fired:
            continue
        score, cues = _region_score(fired, 2 * REGION_WORDS[category])
        if score <= 0.0:
            continue
        ids = sorted(cues, key=lambda c: (c.weight < 0, -abs(c.weight), c.id))
        out.append(IntentMatch(category, round(score, 4), "+".join(c.id for c in ids)))
    out.sort(key=lambda m: -m.score)
    return tuple(out)
