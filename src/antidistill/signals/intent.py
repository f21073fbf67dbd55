"""Extraction-intent detector: does a prompt *aim* at harvesting what the model knows?

Five categories: chain-of-thought / reasoning-trace elicitation, reward-model or rubric
grading, system-prompt extraction, jailbreak framings, and reasoning extraction (asking for
the model's *own hidden* reasoning to be shown, continued, re-encoded, translated, wrapped
in markup or quoted; its tables are in ``reasoning_lexicon``, see ``docs/intent.md``).

How it works (a few linear passes, no backtracking-prone regexes):

1. The text is capped at ``max_chars`` (head + tail), normalised with ``normalize_text``
   (NFKC, casefold, zero-width and homoglyph removal) and split into tokens: runs of Latin
   letters and digits, and single CJK characters. Normalising comes first so that
   zero-width splits and look-alike letters cannot hide a word from the pre-filter.
2. Pre-filter, in C: every primary cue has a slot made of ``ANCHOR_CONCEPTS`` (checked at
   import); the rarest token of each surface form of that slot is an anchor. A text with no
   anchor token (and no ``<think>``-style tag) returns ``()`` without further work; this is
   most short benign prompts.
3. The lexicon keys present give the concepts that may occur; only cues whose every slot may
   be filled, in categories where such a primary cue exists, are evaluated, and only the
   tokens of their concepts reach the Python loop that records positions (multi-word forms
   are checked only when their anchor token matches).
4. A cue (``intent_lexicon.CUES``) fires when all its tags occur within its window. A category
   combines its fired cues by noisy-OR, ``1 - prod(1 - w)``, plus a conjunction bonus of
   ``CONJUNCTION_BONUS`` for each primary multi-tag cue of weight >= 0.1 beyond the first
   (at most 0.2): independent concept pairs agreeing (verb + object, qualifier + object,
   granularity + object) are what separates intent from a coincidental phrase. Cues are
   combined only inside one region of the text (``REGION_WORDS``: about 40 words for CoT,
   grading and system-prompt requests, 200 for jailbreak framings, which spread over a long
   preamble), so a long document cannot add up words scattered over pages. A region scores
   only if a primary cue fired in it; support cues (weak context: "act as", "step by step",
   a bare "internal reasoning") add to it, together removing at most ``_MAX_SUPPORT`` of its
   miss probability. Suppressor cues (negative weight, e.g. "do not reveal your reasoning",
   "paste this as your system prompt") scale the region's score down by ``1 + weight``.

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
from functools import reduce
from itertools import accumulate, compress, product
from operator import not_ as _not
from operator import or_

from antidistill.fingerprints.normalize import normalize_text
from antidistill.signals.intent_lexicon import (
    ANCHOR_CONCEPTS,
    CATEGORIES,
    CONCEPTS,
    CUES,
    REGION_WORDS,
    Cue,
)
from antidistill.signals.reasoning_lexicon import RX

__all__ = [
    "CATEGORIES",
    "CONJUNCTION_BONUS",
    "FLAG_THRESHOLD",
    "INTENT_THRESHOLD",
    "REASONING_EXTRACTION",
    "REASONING_EXTRACTION_DEGRADE",
    "REASONING_EXTRACTION_SIGNAL",
    "IntentMatch",
    "detect_intent",
    "primary_match",
]

FLAG_THRESHOLD = 0.3
INTENT_THRESHOLD = 0.5
REASONING_EXTRACTION = RX
# The Signal the pipeline emits for this category, and the score at which the request is
# answered with its reasoning withheld on that evidence alone (``policy.actions``).
REASONING_EXTRACTION_SIGNAL = "intent:" + RX
REASONING_EXTRACTION_DEGRADE = 0.8
CONJUNCTION_BONUS = 0.1
# The bonus stops growing after a few cues so long benign texts cannot pile up weak pairs.
_MAX_BONUS = 0.2
# Weak context cues (a bare "step by step" next to "reasoning") earn no bonus of their own.
_BONUS_MIN_WEIGHT = 0.1
# Support cues together remove at most this share of a region's miss probability: context
# words piling up in a long operator prompt must not turn one weak primary cue into intent.
_MAX_SUPPORT = 0.2

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
    rough = (text.encode("utf-8", "surrogatepass").translate(_ASCII_PUNCT_TO_SPACE)
             .decode("utf-8", "surrogatepass").split())
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
# so the scan never stops on "the", "a" or "to" (a fifth of all English tokens), and the
# pre-filter (see ``_ANCHOR_KEYS``) is built from the same choice. The list is hand-written:
# English function words and the verbs and nouns every task prompt uses.
_COMMON = (
    "the of and to a in is you that it for on are with as i be this at or by from not but "
    "what all your can will an if we do my so no up about which there one have me was would "
    "how they more any each before should must s t re ll don it has had were been their "
    "then than some into out its our these those also just like only new other get make "
    "time very when who way may use over after where most many much such well even here "
    "now first two three set start end top add help keep point text output input answer "
    "response give write list find want need know see look say said used using following "
    "example data code file line number value work words word question information please "
    "sure yes ok okay model ai user name type step steps make best good better free every "
    "always never without around follow same different possible include includes able "
    "m d ve am does did being off down again why because while through per via 1 2 3 0 "
    "a b c x y n "
    "之 的 你 是 我 了 在 一 不 有 这 个 们 中 上 下 出 说 给 好 要 以 前 为 和 会 对 可 能 把 请 "
    "用 作 生 写 得 最 到 也 就 人 地 时 后 来 他 她 它 都 而 及 与 或 等 被 从 自 己 么"
).split()
_COMMON_SET = frozenset(_COMMON)
# The head of the list is in frequency order ("the" first); later entries rank as rarer.
_RANK = {w: r for r, w in reversed(list(enumerate(_COMMON)))}

# token -> (tags of the token alone, ((offset of the token in the phrase, phrase, tags), ...))
_Phrase = tuple[int, tuple[str, ...], tuple[str, ...]]
_Entry = tuple[tuple[str, ...], tuple[_Phrase, ...]]


def _anchor(toks: tuple[str, ...], uni: set[str] | dict[str, set[str]]) -> int:
    # Least frequent token first; among equals, one that is a lexicon key anyway (it is
    # visited in any case, so the phrase adds no new stop to the scan), then the longer
    # (longer words are rarer).
    return max(
        range(len(toks)),
        key=lambda k: (
            toks[k] not in _COMMON_SET, _RANK.get(toks[k], 0), toks[k] in uni, len(toks[k])
        ),
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


def _check_cues() -> None:
    known = set(CONCEPTS)
    for cue in CUES:
        if cue.category not in CATEGORIES:
            raise ValueError(f"cue {cue.id} has unknown category {cue.category!r}")
        for spec in cue.tags:
            for tag in spec.split("|"):
                if tag not in known:
                    raise ValueError(f"cue {cue.id} uses unknown concept {tag!r}")


_check_cues()

def _is_primary(cue: Cue) -> bool:
    return cue.weight > 0 and not cue.support


def _rarest(toks: tuple[str, ...]) -> str:
    # Unlisted before listed words, then the longer: the token a form can least do without.
    return max(toks, key=lambda t: (t not in _COMMON_SET, len(t)))


def _filter_tokens(spec: str) -> frozenset[str]:
    """One token per surface form of the slot's concepts: its rarest token."""
    return frozenset(
        _rarest(toks)
        for tag in spec.split("|")
        for form in CONCEPTS[tag]
        if not form.startswith("<")
        for toks in _expand(form)
    )


_THINK = "think_tag"
_PRIMARY = tuple(_is_primary(cue) for cue in CUES)
# Per cue: the lexicon keys of each slot (a slot that is only the <think> regex has none).
_CUE_TAGS = tuple(frozenset("|".join(cue.tags).split("|")) for cue in CUES)
_SLOT_TAGS = tuple(tuple(frozenset(spec.split("|")) for spec in cue.tags) for cue in CUES)


def _build_anchors() -> tuple[frozenset[str], dict[str, tuple[int, ...]], tuple[int, ...]]:
    """Pre-filter vocabulary: for each primary cue, the tokens of its rarest anchor slot.

    A primary cue fires only if every slot matches, so one of the chosen slot's tokens must
    be in the text: a text holding none of them cannot score (support and suppressor cues
    never score alone). Returns the tokens, token -> primary cue indices, and the cues
    anchored on the ``<think>`` regex instead.
    """
    by_token: dict[str, list[int]] = {}
    tag_cues: list[int] = []
    for i, cue in enumerate(CUES):
        if not _is_primary(cue):
            continue
        if _THINK in cue.tags:
            tag_cues.append(i)
            continue
        slots = [s for s in cue.tags if set(s.split("|")) <= ANCHOR_CONCEPTS]
        if not slots:
            raise ValueError(f"cue {cue.id} has no slot made of ANCHOR_CONCEPTS")
        for tok in min((_filter_tokens(s) for s in slots), key=len):
            by_token.setdefault(tok, []).append(i)
    return (
        frozenset(by_token),
        {t: tuple(v) for t, v in by_token.items()},
        tuple(tag_cues),
    )


_ANCHOR_KEYS, _ANCHOR_CUES, _TAG_CUES = _build_anchors()
_OTHER_ANCHORS = _ANCHOR_KEYS - _LEXICON_KEYS  # anchor tokens that are no lexicon key
_CATEGORY_CUES: dict[str, tuple[int, ...]] = {
    c: tuple(i for i, cue in enumerate(CUES) if cue.category == c) for c in CATEGORIES
}
# How far (in tokens) from an anchor token anything can still count: a region holds a
# primary cue, which lies within its window of an anchor; any cue in that region lies within
# its own window of its concepts. Positions are in half-words and a token is at least one,
# so half-words bound tokens; 16 covers the rest of a multi-word form.
_REACH: dict[str, int] = {
    c: 2 * (REGION_WORDS[c] + 2 * max((CUES[i].window for i in _CATEGORY_CUES[c]), default=0))
    + 16
    for c in CATEGORIES
}



# "Can cue i fire?" (each of its slots has a concept that may occur) as bit operations: each
# distinct slot is a bit; a concept sets the bits of the slots holding it, a lexicon key the
# bits of every concept it can stand for. The slots a text may fill are then the OR over its
# keys (a C-level reduce), and cue i can fire iff all its bits are among them.
def _slot_bits() -> tuple[dict[str, int], tuple[int, ...], int]:
    bit: dict[frozenset[str], int] = {}
    for slots in _SLOT_TAGS:
        for slot in slots:
            bit.setdefault(slot, 1 << len(bit))
    tag_bits: dict[str, int] = {}
    for slot, b in bit.items():
        for tag in slot:
            tag_bits[tag] = tag_bits.get(tag, 0) | b
    cue_bits = tuple(reduce(or_, (bit[slot] for slot in slots), 0) for slots in _SLOT_TAGS)
    key_bits = {
        k: reduce(or_, (tag_bits.get(tag, 0) for tag in tags), 0) for k, tags in _KEY_TAGS.items()
    }
    return key_bits, cue_bits, tag_bits.get(_THINK, 0)


_KEY_BITS, _CUE_BITS, _THINK_BITS = _slot_bits()
# Per category, (cue index, slot bits) of its cues in order.
_CATEGORY_CUE_BITS: dict[str, tuple[tuple[int, int], ...]] = {
    c: tuple((i, _CUE_BITS[i]) for i in _CATEGORY_CUES[c]) for c in CATEGORIES
}


def _spans(toks: list[str], anchors: frozenset[str], reach: int) -> list[tuple[int, int]]:
    """Merged token ranges within ``reach`` of an anchor token: the only ones that matter."""
    spans: list[tuple[int, int]] = []
    n = len(toks)
    for i in compress(range(n), map(anchors.__contains__, toks)):
        lo, hi = max(0, i - reach), min(n, i + reach + 1)
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    return spans


def _positions(
    text: str, toks: list[str], active: frozenset[str], tags_needed: frozenset[str],
    tagged: bool, spans: list[tuple[int, int]],
) -> dict[str, list[int]]:
    """Concept tag -> sorted positions, in half-words (see ``_fire_positions``)."""
    n = len(toks)
    pos: defaultdict[str, list[int]] = defaultdict(list)
    # Per call, keep only the unigram tags and phrases some live cue can use: a key such
    # as "you" anchors dozens of phrases, most of them irrelevant to the cues in play.
    plan: dict[str, tuple[tuple[str, ...], list[_Phrase]]] = {}
    for k in active:
        all_uni, all_phrases = _LEXICON[k]
        plan[k] = (
            tuple(t for t in all_uni if t in tags_needed),
            [ph for ph in all_phrases if not tags_needed.isdisjoint(ph[2])],
        )
    if active:
        # compress/map run in C, so only tokens that matter reach the Python loop.
        hits: list[int] = []
        for lo, hi in spans:
            hits.extend(compress(range(lo, hi), map(active.__contains__, toks[lo:hi])))
        # A CJK character is about half a word: it advances the position by 1, a Latin
        # word by 2.
        if text.isascii() or _HAS_CJK.search(text) is None:
            where = None
        else:
            where = list(accumulate(1 if len(t) == 1 and t >= "\u3040" else 2 for t in toks))
        # The input is capped at max_chars, so the lists are bounded by its token count.
        for i in hits:
            uni_tags, phrases = plan[toks[i]]
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
    if tagged and _THINK in tags_needed:
        for nth, m in enumerate(_THINK_TAG.finditer(text)):
            if nth >= _MAX_TAG_MATCHES:
                break
            at = 2 * len(_tokenize(text[: m.start()]))
            pos[_THINK].append(at)
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


def _in_range(where: list[int], lo: int, hi: int) -> bool:
    i = bisect_left(where, lo)
    return i < len(where) and where[i] < hi


def _region_score(
    fired: list[tuple[Cue, list[int]]], region: int
) -> tuple[float, tuple[Cue, ...]]:
    """Best noisy-OR score over text regions of ``region`` half-words (two offset grids).

    A region scores only if a primary cue fired in it: support cues (weak context such as
    "act as" or "step by step") and suppressors only modify a primary cue's evidence. So
    only regions holding a primary cue are visited, and each fired cue is looked up there
    by bisection (its positions are sorted).
    """
    half = region // 2
    starts: set[int] = set()
    for cue, where in fired:
        if cue.weight > 0 and not cue.support:
            for p in where:
                starts.add(p // region * region)
                starts.add((p + half) // region * region - half)
    best, best_cues = 0.0, tuple[Cue, ...]()
    for lo in sorted(starts):  # sorted: ties go to the earliest region, deterministically
        hi = lo + region
        miss = support = damp = 1.0
        conj = 0
        cues: list[Cue] = []
        for cue, where in fired:
            if not _in_range(where, lo, hi):
                continue
            cues.append(cue)
            if cue.weight < 0:
                damp *= 1.0 + cue.weight
                continue
            if cue.support:
                support *= 1.0 - cue.weight
            else:
                miss *= 1.0 - cue.weight
            # Only primary conjunctions earn the bonus: weak context piling up is not
            # independent evidence.
            conj += len(cue.tags) > 1 and cue.weight >= _BONUS_MIN_WEIGHT and not cue.support
        miss *= max(support, 1.0 - _MAX_SUPPORT)
        bonus = min(_MAX_BONUS, CONJUNCTION_BONUS * max(0, conj - 1))
        score = min(1.0, 1.0 - miss + bonus) * damp
        if score > best:
            best, best_cues = score, tuple(cues)
    return best, best_cues


def cap_text(text: str, max_chars: int) -> str:
    """The part of ``text`` intent reads: all of it, or its head and tail at ``max_chars``."""
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
    text = cap_text(user_text, max_chars)
    if not normalized:
        # Before the pre-filter: zero-width splits and homoglyphs must not hide an anchor.
        text = normalize_text(text)
    toks = _tokenize(text)
    # Pre-filter, in C: most benign prompts hold no anchor token and stop here.
    tagged = "<" in text and _THINK_TAG.search(text) is not None
    if _ANCHOR_KEYS.isdisjoint(toks) and not tagged:
        return ()
    # One pass over the tokens (their hashes are cached on the strings); the anchors are
    # then looked up among the few keys present, and only the others among the tokens.
    present = _LEXICON_KEYS.intersection(toks)
    # The slots that may be filled (a phrase's tags count if its anchor token is present).
    filled: int = reduce(or_, map(_KEY_BITS.__getitem__, present), 0)
    if tagged:
        filled |= _THINK_BITS
    cand: set[int] = set(_TAG_CUES) if tagged else set()
    anchors = _ANCHOR_KEYS.intersection(present)
    if _OTHER_ANCHORS:
        anchors |= _OTHER_ANCHORS.intersection(toks)
    for tok in anchors:
        cand.update(_ANCHOR_CUES[tok])
    live = {CUES[i].category for i in cand if _CUE_BITS[i] & filled == _CUE_BITS[i]}
    if not live:
        return ()
    # Every cue of a live category that can fire (primary, support or suppressor).
    fire = {
        c: [i for i, bits in _CATEGORY_CUE_BITS[c] if bits & filled == bits]
        for c in CATEGORIES
        if c in live
    }
    tags_needed: set[str] = set().union(*(_CUE_TAGS[i] for ids in fire.values() for i in ids))
    active = frozenset(k for k in present if not _KEY_TAGS[k].isdisjoint(tags_needed))
    if tagged:
        spans = [(0, len(toks))]  # the <think> regex anchors by character offset: scan all
    else:
        spans = _spans(toks, frozenset(anchors), max(_REACH[c] for c in live))
    pos = _positions(text, toks, active, frozenset(tags_needed), tagged, spans)
    out = [m for category, ids in fire.items()
           if (m := _category_match(category, ids, pos)) is not None]
    out.sort(key=lambda m: -m.score)
    return tuple(out)


def _category_match(category: str, ids: list[int],
                    pos: dict[str, list[int]]) -> IntentMatch | None:
    """The category's match from the positions its cues' tags were found at, if it scores."""
    # A region scores only around a primary cue (``_region_score``): when none fires, the
    # support and suppressor cues need not be evaluated, the category scores nothing.
    primary = {i: w for i in ids if _PRIMARY[i] and (w := _fire_positions(CUES[i], pos))}
    if not primary:
        return None
    fired = []
    for i in ids:  # in the cues' order, as before: the region arithmetic is order-sensitive
        where = primary.get(i) if _PRIMARY[i] else _fire_positions(CUES[i], pos)
        if where:
            fired.append((CUES[i], where))
    score, cues = _region_score(fired, 2 * REGION_WORDS[category])
    if score <= 0.0:
        return None
    ids_sorted = sorted(cues, key=lambda c: (c.weight < 0, -abs(c.weight), c.id))
    return IntentMatch(category, round(score, 4), "+".join(c.id for c in ids_sorted))


def primary_match(matches: tuple[IntentMatch, ...]) -> IntentMatch | None:
    """The match that speaks for the request: a reasoning-extraction match of at least
    ``INTENT_THRESHOLD``, else the highest score.

    A request for the model's hidden reasoning usually also scores as chain-of-thought
    elicitation, often higher; the narrower category is the one the policy acts on.
    """
    if not matches:
        return None
    for m in matches:
        if m.category == RX and m.score >= INTENT_THRESHOLD:
            return m
    return max(matches, key=lambda m: m.score)
