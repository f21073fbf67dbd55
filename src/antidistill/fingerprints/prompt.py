"""Prompt fingerprints: exact hash, template skeleton, near-duplicate sketch.

Three views of the user turns of one request, all versioned strings that are stable across
processes and deployments (xxh3 with seed 0, never Python's ``hash()``), so two providers
can compare them:

``exact`` (``px1:``)
    xxh3-64 of the normalised user text (case, whitespace, zero-width characters, full-width
    forms and look-alikes do not change it; over 8,192 characters a head and tail only).
``skeleton`` (``pt1:``)
    The last user turn with its slot values masked and, for "instruction, payload,
    instruction" text, the payload replaced by one placeholder: one template filled with
    thousands of questions yields one skeleton.
``segments`` (``pg2:``)
    A Blacklight-style sketch: the 8 smallest hashes of 5-token windows, plus the first and
    last windows, which anchor a template's constant prefix and suffix.
``anchor``
    The sketch's first window, always counted by the fan-out detector: a short instruction
    before a long payload rarely reaches the bottom of the sketch.
``informative``
    False for short user text ("make it shorter" is shared by honest users everywhere).

How each is computed, why these and not SimHash or MinHash, and the measurements behind
the choices: ``docs/fingerprints.md`` (``benchmarks/fingerprint_choice.py`` reproduces them).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

import xxhash

from .memo import SKELETON, SKETCH, MemoScope
from .normalize import normalize_text
from .parse import ParsedPrompt

__all__ = [
    "FINGERPRINT_VERSION",
    "PromptFingerprint",
    "fingerprint_prompt",
    "similarity",
    "skeletonize",
]

# 2: segments are pg2 (5-word windows; pg1 had 6). Exact, skeleton and system are unchanged.
FINGERPRINT_VERSION = 2

_MIN_WORDS = 6
_MIN_CHARS = 30
# Skeleton work is bounded: very long turns are skeletonised from their head and tail,
# where templates put their instructions.
_SKELETON_SPAN = 2000
# Segment sketch parameters (see the module docstring for the measurements behind them).
SEGMENT_WINDOW = 5
SEGMENT_K = 8
# Characters, then tokens, sketched from each end of a long text.
_SEGMENT_CHARS = 4000
_SEGMENT_TOKENS = 320
# User text longer than twice this is normalised (for the exact hash and the sketch) from
# a head and a tail window only.
_EXACT_SPAN = 4096
_MIN_KEPT_WORDS = 8
_MIN_MASKED_WORDS = 3

_h64 = xxhash.xxh3_64_hexdigest
_h64i = xxhash.xxh3_64_intdigest
_h128 = xxhash.xxh3_128_digest


@dataclass(frozen=True, slots=True)
class PromptFingerprint:
    """Fingerprints of one request's user text; see the module docstring."""

    exact: str
    skeleton: str
    system: str | None
    segments: tuple[str, ...]
    n_chars: int
    n_words: int
    informative: bool
    # The sketch's first window (one of ``segments``): every fill of a template that opens
    # the user turn shares it, however long the payload after it. Counted with the sketch.
    anchor: str | None = None


def _utf8(text: str) -> bytes:
    # JSON \\ud800 escapes decode to lone surrogates, which strict UTF-8 refuses.
    return text.encode("utf-8", "surrogatepass")


# --- skeleton ---------------------------------------------------------------------------------

# Line marker: survives normalize_text, which collapses newlines. An ASCII character keeps
# ASCII prompts on normalize_text's fast path; NUL is not whitespace to str.split() and
# is removed from the input first.
_LINE = "\x00"
_L = _LINE
_LINE_BREAK = f" {_LINE} "

_FENCE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
# Capitalised runs mid-sentence: names, places, products. The pattern starts with a literal
# space, which sre finds fast (written "  *", not " +": a leading repeat is no literal
# prefix and is tried at every position); the preceding character is checked in the callback.
# The lookbehind lets a match start only at the first space of a run: tried from every space
# of a 4,000-space run, " *" rescanned the run each time (quadratic, issue #11 finding 8).
# A match always starts a run anyway (leftmost, and the previous match ends in a word).
_NAME = re.compile(r" (?<!  ) *[A-Z][\w'’-]+(?: [A-Z][\w'’-]+)*")
# A _NAME match always starts a run of spaces. One whose run follows a sentence terminator
# (or nothing) is left as it is by _name, so when no run of spaces before a capitalised word
# follows anything else (the lookbehind), the substitution is skipped: one fast search.
_NAME_CANDIDATE = re.compile(r" (?<![ .!?:;\n。！？：；] ) *[A-Z][\w'’-]")

# Slot kinds, each a separate pass; the rare ones run only when their trigger character is
# present. (One alternation of everything costs every alternative at every position and is
# ten times slower; patterns that start with a literal or a small class are scanned fast.)
# ASCII control characters, like _LINE, so that ASCII prompts stay ASCII.
_NAME_OPEN, _NAME_CLOSE = "\x01", "\x02"
_MARKERS = (_LINE, _NAME_OPEN, _NAME_CLOSE)
_NAMED = re.compile(_NAME_OPEN + "[^" + _NAME_CLOSE + "]*" + _NAME_CLOSE)
_TERMINATORS = frozenset(".!?:;\n。！？：；")
_CODE = re.compile(r"`[^`\n" + _L + r"]{1,300}`")
# URLs are masked by _mask_urls, which gives what the regex
# "[a-z][a-z0-9+.-]*://[^\s]+|www\.[^\s]+" (\s with the line marker) gives, in linear time:
# tried from every letter of a long scheme-like token, that regex rescanned the token.
_URL_TAIL = re.compile(r"[^\s" + _L + r"]+")
_SCHEME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789+.-"
_SCHEME_NON_LETTERS = "0123456789+.-"
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+")
# Quoted strings, but not JSON keys ("key": ...): the keys of a structured prompt are its
# template, the values are its slots.
_ASCII_QUOTES = (
    r'"[^"\n' + _L + r']{1,500}"(?!\s?:)'
    # The lookbehind sits after the quote (not before it) so that every alternative starts
    # with a literal: sre then skips to the next quote character at C speed.
    r"|'(?<!\w')[^'\n" + _L + r"]{1,300}'(?!\w)"
)
_QUOTE_ASCII = re.compile(_ASCII_QUOTES)
# The bracket quotes: what the alternatives 「[^」]{1,500}」, 『[^』]{1,500}』,
# «[^»]{1,500}» and 《[^》]{1,200}》 after the ASCII ones would match. In sre every
# opener scanned up to 500 characters for its closer: 6x a normal prompt for a text of
# openers (issue #11, item 4); _mask_quotes finds the next closer once per closer instead.
_BRACKETS = {"「": ("」", 500), "『": ("』", 500), "«": ("»", 500), "《": ("》", 200)}


@lru_cache(maxsize=16)
def _quote_start(openers: str) -> re.Pattern[str]:
    return re.compile("[\"'" + openers + "]")
# Numbers with their units and separators, and ids that start with a digit (hex, UUIDs).
_NUMBER = re.compile(r"[0-9][0-9a-z.,:/%_-]*")

# Units: sentences and "label:" heads. After NFKC the full-width 。！？；： of CJK text are
# ASCII except the ideographic full stop, and have no space after them.
# A space before a CJK character is a boundary too: it is where an English slot value meets
# a Chinese template.
# Every alternative starts with a literal, so sre skips to the next candidate at C speed
# (a leading character class, as in "[!?;:。] ?", makes it try the pattern at every position).
_UNIT_SPLIT = re.compile(
    r"(! ?|\? ?|; ?|: ?|。 ?|\. | (?=[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]))"
)
# The same on ASCII text, where neither "。" nor a CJK character can occur: without the
# alternative that starts with a space, sre no longer stops at every space.
_UNIT_SPLIT_ASCII = re.compile(r"(! ?|\? ?|; ?|: ?|\. )")

# Model-directed cues. Precision matters more than recall here: a template sentence taken
# for content is merely absorbed into the payload, but a payload sentence taken for an
# instruction leaks the slot value into the skeleton. So no "calculate/find/how many".
_IMPERATIVE = (
    r"think|reason|explain|show|answer|respond|reply|write|output|return|format|provide|give"
    r"|grade|rate|score|evaluate|assess|judge|critique|translate|summari[sz]e|rewrite"
    r"|paraphrase|classify|solve|complete|continue|generate|describe|analy[sz]e|review"
    r"|verify|act|pretend|imagine|ignore|repeat|begin|start|use|include|make sure|be sure"
    r"|remember|do not|don't|never|always|only|please|let's|let us|you are|you will"
    r"|you must|you should|here is|here are|consider|read|note|i want you"
    r"|i need you|i would like you|can you|could you|would you|help me"
)
_STRONG = (
    r"step[- ]by[- ]step|reasoning|chain[- ]of[- ]thought|thought process|your|final answer"
    r"|the following|below|above|rubric|json|markdown|internal|act as"
)
_CJK_CUES = (
    r"请|一步|逐步|分步|推理|思考|思路|过程|答案|回答|解答|解决|你是|作为|以下|下面|给出|输出|格式"
    r"|评分|打分|翻译|总结|步骤"
)
# A strong cue is a whole word or phrase of _STRONG, a unit ending in a colon, or a CJK cue:
# "\b(?:" + _STRONG + r")\b|[:：]$|" + _CJK_CUES, split into three checks. The English
# pattern is grouped by first letter and the leading \b becomes a lookbehind after that
# letter, so that every alternative starts with a literal and sre only tries the pattern
# where one of those letters occurs (a leading \b is tried at every position, 3x slower).
# The CJK cues cannot occur in ASCII text.


def _strong_pattern(alternatives: list[str]) -> str:
    by_first: dict[str, list[str]] = {}
    for alt in alternatives:
        by_first.setdefault(alt[0], []).append(alt[1:])
    return "|".join(
        f"{first}(?<!\\w.)(?:{'|'.join(rests)})\\b" for first, rests in by_first.items()
    )


_CUE_STRONG_WORDS = re.compile(_strong_pattern(_STRONG.split("|")))
_CUE_STRONG_CJK = re.compile(_CJK_CUES)
# What "[:：]$" matches at the end of a unit ($ also matches before a final newline).
_COLON_ENDS = (":", "：", ":\n", "：\n")
_CUE_START = re.compile(r"(?:" + _IMPERATIVE + r")\b")


def _cue_words(alternatives: list[str]) -> frozenset[str]:
    # The words _CUE_START.fullmatch accepts: its one-word alternatives, "[sz]" spelled out.
    # A set lookup per capitalised word of a name-dense text instead of a regex call.
    words: set[str] = set()
    for alt in alternatives:
        if " " not in alt:
            words.update(alt.replace("[sz]", c) for c in "sz")
    if any(not w.replace("'", "").isalpha() for w in words):
        raise ValueError("an imperative cue holds a pattern the word set cannot express")
    return frozenset(words)


_CUE_WORDS = _cue_words(_IMPERATIVE.split("|"))
_PLACEHOLDER = re.compile(r"\{[a-z]+\}")


# _NAME's matches on ASCII text, by the character before them: after a lower-case letter or
# a comma (wrapped by _name, unless a cue word is in them), after a terminator (kept as they
# are), or after anything else (kept, unless a cue word is in them). The groups hold a match
# but its first space. It starts with _NAME's literal space, which sre finds fast.
_NAME_RUN = r"[A-Z][\w'’-]+(?: [A-Z][\w'’-]+)*"
# The lookahead fails most spaces (those before a lower-case word) before any alternative.
_NAME_PARTS = re.compile(
    rf" (?<!  )(?= *[A-Z][\w'’-])"
    rf"(?:(?<=[a-z,] ) *({_NAME_RUN})|(?<=[.!?:;\n] )( *{_NAME_RUN})|( *{_NAME_RUN}))"
)
_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def _name(m: re.Match[str]) -> str:
    start = m.start()
    prev = m.string[start - 1] if start else "."
    if prev in _TERMINATORS:
        return m.group()
    return _rename(m.group(), _mid_sentence(prev))


def _rename(group: str, mid: bool) -> str:
    """What _name gives for a run not after a terminator; ``mid``: _mid_sentence."""
    # One C-level set test decides the common case: no cue word in the run.
    if _CUE_WORDS.isdisjoint(group.lower().split()):
        return " " + _NAME_OPEN + " ".join(group.split()) + _NAME_CLOSE if mid else group
    words = group.split()
    for i, word in enumerate(words):
        if word.lower() in _CUE_WORDS:
            # "...in the dataset Think step by step": a sentence whose full stop is missing,
            # typically where a template's text meets the slot value. Restore the boundary.
            head = _wrap(words[:i]) if i and mid else " " + " ".join(words[:i])
            return (head if i else "") + ". " + " ".join(words[i:])
    return _wrap(words) if mid else group


def _wrap(words: list[str]) -> str:
    # Names are marked, not yet masked: in the kept instruction text they are the template
    # ("act as a Linux Terminal"), elsewhere they are slot values.
    return " " + _NAME_OPEN + " ".join(words) + _NAME_CLOSE


def _mid_sentence(prev: str) -> bool:
    # After a lower-case word or a comma: a name rather than a sentence start.
    return prev.islower() or prev in ",;"


_NAME_SPLIT_CHARS = 512


def _mask_names(text: str) -> str:
    """What ``_NAME.sub(_name, text)`` returns."""
    # On short text the callback is as cheap (measured: equal at about 400 characters). A
    # run at the very start follows no character, which _NAME_PARTS cannot see.
    if len(text) < _NAME_SPLIT_CHARS or not text.isascii() or text.startswith(" "):
        return _NAME.sub(_name, text)
    # One split sorts the runs by the character before them (see _NAME_PARTS); a group
    # holds a run but its first space.
    parts = _NAME_PARTS.split(text)
    wrapped, kept, other = parts[1::4], parts[2::4], parts[3::4]
    parts[2::4] = [" " + w if w else "" for w in kept]
    words = " ".join([w for w in wrapped if w] + [w for w in other if w]).lower().split()
    if _CUE_WORDS.isdisjoint(words):
        # No cue word: _name wraps or keeps each run, and no function is called per run.
        parts[1::4] = [" " + _NAME_OPEN + w + _NAME_CLOSE if w else "" for w in wrapped]
        parts[3::4] = [" " + w if w else "" for w in other]
    else:
        parts[1::4] = [_rename(" " + w, True) if w else "" for w in wrapped]
        parts[3::4] = [_rename(" " + w, False) if w else "" for w in other]
    return "".join(parts)


def _next_scheme_url(text: str, pos: int) -> tuple[int, int]:
    """(start, tail start) of the leftmost "scheme://tail" match at or after ``pos``."""
    last = pos
    at = text.find("://", pos)
    while at >= 0:
        if _URL_TAIL.match(text, at + 3) is not None:
            # The scheme is the run of scheme characters before "://" (it cannot reach back
            # past the previous "://": ':' is no scheme character); it starts at its first
            # letter, as the regex's leftmost match would.
            run = text[last:at]
            run = run[len(run.rstrip(_SCHEME_CHARS)) :]
            lead = len(run) - len(run.lstrip(_SCHEME_NON_LETTERS))
            if lead < len(run):
                return at - len(run) + lead, at + 3
        last = at + 3
        at = text.find("://", at + 1)
    return -1, -1


def _next_www(text: str, pos: int) -> int:
    at = text.find("www.", pos)
    while at >= 0 and _URL_TAIL.match(text, at + 4) is None:
        at = text.find("www.", at + 1)
    return at


def _mask_urls(text: str) -> str:
    """Replace URLs with ``{u}``; linear time (see _URL_TAIL)."""
    out: list[str] = []
    pos = 0
    scheme, scheme_tail = _next_scheme_url(text, 0)
    www = _next_www(text, 0)
    while scheme >= 0 or www >= 0:
        if scheme >= 0 and (www < 0 or scheme <= www):
            start, tail = scheme, scheme_tail
        else:
            start, tail = www, www + 4
        m = _URL_TAIL.match(text, tail)
        end = m.end() if m is not None else tail
        out.append(text[pos:start])
        out.append("{u}")
        pos = end
        if scheme >= 0 and scheme < pos:
            scheme, scheme_tail = _next_scheme_url(text, pos)
        if www >= 0 and www < pos:
            www = _next_www(text, pos)
    out.append(text[pos:])
    return "".join(out)


def _mask_quotes(text: str) -> str:
    """Replace quoted strings with ``{q}``; linear time (see _BRACKETS)."""
    if text.isascii():
        return _QUOTE_ASCII.sub("{q}", text)
    # An opener whose closer never occurs cannot match: only the others are candidates.
    live = "".join(o for o, (c, _) in _BRACKETS.items() if o in text and c in text)
    if not live:
        return _QUOTE_ASCII.sub("{q}", text)
    out: list[str] = []
    pos = 0
    closer_at: dict[str, int] = {}
    for cand in _quote_start(live).finditer(text):
        i = cand.start()
        if i < pos:
            continue
        opener = text[i]
        if opener in _BRACKETS:
            closer, span = _BRACKETS[opener]
            at = closer_at.get(closer, -2)
            if at != -1 and at <= i:
                at = closer_at[closer] = text.find(closer, i + 1)
            end = at + 1 if 2 <= at - i <= span + 1 else -1
        else:
            m = _QUOTE_ASCII.match(text, i)
            end = m.end() if m is not None else -1
        if end > 0:
            out.append(text[pos:i])
            out.append("{q}")
            pos = end
    out.append(text[pos:])
    return "".join(out)


def _mask_slots(norm: str) -> str:
    if "`" in norm:
        norm = _CODE.sub("{c}", norm)
    if "://" in norm or "www." in norm:
        norm = _mask_urls(norm)
    if "@" in norm:
        norm = _EMAIL.sub("{e}", norm)
    if '"' in norm or "'" in norm or not norm.isascii():
        norm = _mask_quotes(norm)
    return _NUMBER.sub("{n}", norm)


def _mask(text: str) -> list[str]:
    """Mask slot values; return the normalised lines."""
    if len(text) > 2 * _SKELETON_SPAN:
        text = text[:_SKELETON_SPAN] + "\n" + text[-_SKELETON_SPAN:]
    for marker in _MARKERS:
        if marker in text:
            text = text.replace(marker, "")
    if "```" in text:
        text = _FENCE.sub("\n{c}\n", text)
    if _NAME_CANDIDATE.search(text) is not None:
        text = _mask_names(text)
    norm = _mask_slots(normalize_text(text.replace("\n", _LINE_BREAK)))
    return [s for line in norm.split(_LINE) if (s := line.strip())]


def _units(line: str) -> list[str]:
    parts = (_UNIT_SPLIT_ASCII if line.isascii() else _UNIT_SPLIT).split(line)
    # split() with a group alternates text and delimiter; glue each delimiter back on.
    pairs = zip(parts[::2], parts[1::2], strict=False)  # the last text has no delimiter
    units = [(text + delim).rstrip() for text, delim in pairs]
    if parts[-1]:
        units.append(parts[-1])
    return [u for u in units if u]


def _strength(unit: str) -> int:
    """2 for a strong model-directed cue, 1 for an imperative opening only, 0 for content."""
    if (
        unit.endswith(_COLON_ENDS)
        or _CUE_STRONG_WORDS.search(unit) is not None
        or (not unit.isascii() and _CUE_STRONG_CJK.search(unit) is not None)
    ):
        return 2
    return 1 if _CUE_START.match(unit) else 0


def _run(units: list[str], minimum: int, from_end: bool, seen: dict[str, int]) -> list[str]:
    """The run of units with at least ``minimum`` strength at one end of a line.

    ``seen`` remembers the strength of each unit already rated during this call of
    :func:`skeletonize` (both passes look at the same end units).
    """
    out: list[str] = []
    seq = reversed(units) if from_end else iter(units)
    for unit in seq:
        strength = seen.get(unit)
        if strength is None:
            strength = seen[unit] = _strength(unit)
        if strength < minimum:
            break
        if not from_end and out and out[-1].endswith(":"):
            break  # a "label:" head ends the leading run: the payload follows it
        out.append(unit)
    if from_end:
        out.reverse()
    return out


def _kept_words(text: str) -> int:
    # Words (placeholders excepted) plus CJK characters.
    text = _PLACEHOLDER.sub(" ", text)
    n = len(text.split())
    if not text.isascii():
        n += len(_CJK_CHAR.findall(text))
    return n


_WORDS_PREFIX = 200


def _enough_words(units: list[str], minimum: int) -> bool:
    """``_kept_words`` of the units joined by spaces (no word or placeholder spans two units
    then) is at least ``minimum``."""
    text = " ".join(units)
    # The count of a prefix that ends before a space is at most the whole text's: on a long
    # text a short prefix usually settles it.
    cut = text.rfind(" ", 0, _WORDS_PREFIX) if len(text) > 2 * _WORDS_PREFIX else -1
    return (cut > 0 and _kept_words(text[:cut]) >= minimum) or _kept_words(text) >= minimum


def skeletonize(normalized_text: str) -> str:
    """Return the template skeleton of one user turn (see the module docstring).

    Accepts normalised or original text. Original text gives a better skeleton: its line
    breaks delimit the payload and its capitals mark names, so :func:`fingerprint_prompt`
    passes the original last user turn. The result is normalised.
    """
    lines = _mask(normalized_text)
    if not lines:
        return ""
    first = _units(lines[0])
    last = _units(lines[-1]) if len(lines) > 1 else first
    # Strong cues first ("step by step", "your", "the following", "label:"): a payload's own
    # first or last sentence is more often a bare imperative ("Write a script...") than a
    # strong cue, so weak units are used only when neither end has a strong one.
    seen: dict[str, int] = {}
    for minimum in (2, 1):
        lead = _run(first, minimum, False, seen)
        rest = last[len(lead) :] if len(lines) == 1 else last
        trail = _run(rest, minimum, True, seen)
        if lead or trail:
            break
    middle = len(lines) > 1 or len(lead) + len(trail) < len(first)
    if middle and _enough_words(lead + trail, _MIN_KEPT_WORDS):
        kept = " ".join([*lead, "{p}", *trail])
        return kept.replace(_NAME_OPEN, "").replace(_NAME_CLOSE, "")
    masked = _NAMED.sub("{name}", " ".join(lines))
    if _NAME_CLOSE in masked or _NAME_OPEN in masked:
        # A quote that swallowed half of a name leaves the other marker behind.
        masked = masked.replace(_NAME_OPEN, "").replace(_NAME_CLOSE, "")
    if _enough_words([masked], _MIN_MASKED_WORDS):
        return masked
    # Almost everything was a slot (a prompt wholly in quotes, a bare number): keep the text.
    return normalize_text(normalized_text)


# --- segments ----------------------------------------------------------------------------------

_CJK = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)
_CJK_TOKEN = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
    r"|[^\s\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+"
)


def _tokens_bytes(norm: str) -> bytes:
    """The normalised text as space-separated tokens (CJK characters one token each)."""
    if norm.isascii() or not _CJK.search(norm):
        return _utf8(norm)
    return _utf8(" ".join(_CJK_TOKEN.findall(norm)))


# "%016x" % h is f"{h:016x}" (h is a non-negative 64-bit int).
_SEGMENT_FORMAT = "pg2:%016x"


def _segment_hashes(head: str, tail: str = "") -> tuple[str, ...]:
    return _sketch(head, tail)[0]


def _sketch(head: str, tail: str = "") -> tuple[tuple[str, ...], str | None]:
    """The segment sketch and its anchor (the first window, also in the sketch)."""
    if not head:
        return (), None
    if not tail and len(head) > 2 * _SEGMENT_CHARS:
        head, tail = head[:_SEGMENT_CHARS], head[-_SEGMENT_CHARS:]
    n = _SEGMENT_TOKENS
    if tail:
        # Long text: sketch a head and a tail window, cut at word boundaries.
        first = _tokens_bytes(head[:_SEGMENT_CHARS].rsplit(" ", 1)[0]).split(b" ")
        last = _tokens_bytes(tail[-_SEGMENT_CHARS:].split(" ", 1)[-1]).split(b" ")
        picked = _chunk_sketch(first[:n]) + _chunk_sketch(last[-n:])
    else:
        encoded = _tokens_bytes(head)
        tokens = encoded.split(b" ")
        if len(tokens) > 2 * n:
            # Bounded work: at most n tokens from each end (CJK characters are tokens).
            picked = _chunk_sketch(tokens[:n]) + _chunk_sketch(tokens[-n:])
        else:
            picked = _window_sketch(encoded, tokens)
    return tuple(map(_SEGMENT_FORMAT.__mod__, sorted(set(picked)))), _SEGMENT_FORMAT % picked[0]


# The k smallest of N uniform 64-bit hashes are, in all but about one text in 10^7, below
# 4k/N of the range: only the about 4k hashes under it are kept and sorted.
_BOTTOM_BOUND = (1 << 64) * 4 * SEGMENT_K


def _chunk_sketch(words: list[bytes]) -> list[int]:
    return _window_sketch(b" ".join(words), words)


def _window_sketch(b: bytes, words: list[bytes]) -> list[int]:
    """First and last window hash, then the bottom k; ``words`` is ``b.split(b" ")``."""
    n = SEGMENT_WINDOW
    if len(words) <= n:
        return [_h64i(b)]
    starts = list(accumulate([len(w) + 1 for w in words], initial=0))
    # The k smallest distinct hashes, without a list of every hash (see _BOTTOM_BOUND): every
    # hash left out is at least the bound, so above k kept ones; with fewer, sort them all.
    bound = _BOTTOM_BOUND // (len(words) - n + 1)
    low = sorted({x for i, j in zip(starts, starts[n:], strict=False)
                  if (x := _h64i(b[i : j - 1])) < bound})
    if len(low) < SEGMENT_K:
        low = sorted(set(_hashes(b, words)))
    # The first window first: it is the anchor of the sketch (see PromptFingerprint.anchor).
    return [_h64i(b[: starts[n] - 1]), _h64i(b[starts[-n - 1] :]), *low[:SEGMENT_K]]


def _hashes(b: bytes, words: list[bytes]) -> list[int]:
    """The hash of every ``SEGMENT_WINDOW``-token window; ``b`` is ``b" ".join(words)``."""
    starts = list(accumulate([len(w) + 1 for w in words], initial=0))
    # Window i is b[starts[i] : starts[i + SEGMENT_WINDOW] - 1]; zip stops at the last one.
    return [_h64i(b[i : j - 1]) for i, j in zip(starts, starts[SEGMENT_WINDOW:], strict=False)]


# --- public API ----------------------------------------------------------------------------------


# UTF-8 lead bytes of U+3000..U+9FFF (CJK symbols, kana, ideographs) and U+AC00..U+D7FF
# (Hangul): counting them in the encoded text is a C-speed count of CJK characters.
_CJK_LEAD_BYTES = tuple(bytes([b]) for b in range(0xE3, 0xEE))


def _count_words(norm: str, encoded: bytes) -> int:
    if not norm:
        return 0
    words = norm.count(" ") + 1
    if len(encoded) != len(norm):
        # Chinese and Japanese have no spaces: count each CJK character as a word.
        words += sum(encoded.count(b) for b in _CJK_LEAD_BYTES)
    return words


# The system prompt is usually one of a few per application: its hash is remembered, keyed by
# a 128-bit hash of the raw text (no text is kept), so normalising it is skipped.
_SYSTEM_CACHE: OrderedDict[bytes, str | None] = OrderedDict()
_SYSTEM_CACHE_SIZE = 256


def _system_hash(system: str) -> str | None:
    if not system:
        return None
    key = _h128(_utf8(system))
    try:
        return _SYSTEM_CACHE[key]
    except KeyError:
        pass
    sys_norm = normalize_text(system)
    value = f"ps1:{_h64(_utf8(sys_norm))}" if sys_norm else None
    _SYSTEM_CACHE[key] = value
    if len(_SYSTEM_CACHE) > _SYSTEM_CACHE_SIZE:
        # Oldest first; a concurrent pop from another thread is harmless.
        _SYSTEM_CACHE.pop(next(iter(_SYSTEM_CACHE)), None)
    return value


def _exact(user: str) -> tuple[str, str, str, int, int]:
    """(exact hash, sketch head, sketch tail, n_chars, n_words) of the user text."""
    if len(user) <= 2 * _EXACT_SPAN:
        norm = normalize_text(user)
        encoded = _utf8(norm)
        return f"px1:{_h64(encoded)}", norm, "", len(norm), _count_words(norm, encoded)
    # Long text: normalise a head and a tail window only, cut at word boundaries so that
    # both stay robust to the usual tricks; the counts of the middle are estimated.
    head = normalize_text(user[:_EXACT_SPAN]).rsplit(" ", 1)[0]
    tail = normalize_text(user[-_EXACT_SPAN:]).split(" ", 1)[-1]
    encoded = _utf8(head + _LINE + tail)
    n_chars = len(head) + len(tail) + 1
    n_words = _count_words(head, _utf8(head)) + _count_words(tail, _utf8(tail))
    scale = len(user) / (2 * _EXACT_SPAN)
    return f"px1:{_h64(encoded)}", head, tail, round(n_chars * scale), round(n_words * scale)


def fingerprint_prompt(p: ParsedPrompt, memo: MemoScope | None = None) -> PromptFingerprint:
    """Compute the fingerprints of a parsed request's user text.

    With ``memo`` (the identity's :class:`~antidistill.fingerprints.memo.MemoScope`), what
    was derived from this identity's earlier texts is reused: a conversation's history is
    not sketched again. The result is the same."""
    exact, head, tail, n_chars, n_words = _exact(p.user)
    turns = p.user_turns
    if memo is not None and not tail and turns:
        segments, anchor = _sketch_memo(head, turns[-1] if len(turns) > 1 else "", memo)
    else:
        segments, anchor = _sketch(head, tail)
    return PromptFingerprint(
        exact=exact,
        skeleton=_skeleton_hash(p.last_user or p.user, memo if len(turns) > 1 else None),
        system=_system_hash(p.system),
        segments=segments,
        n_chars=n_chars,
        n_words=n_words,
        informative=n_words >= _MIN_WORDS and n_chars >= _MIN_CHARS,
        anchor=anchor,
    )


def _skeleton_hash(text: str, memo: MemoScope | None) -> str:
    if memo is None:
        return f"pt1:{_h64(_utf8(skeletonize(text)))}"
    # An agent's last user turn stays the same while tool results follow it.
    key = memo.key(SKELETON, _utf8(text))
    got: str | None = memo.get(key)
    if got is None:
        got = f"pt1:{_h64(_utf8(skeletonize(text)))}"
        memo.put(key, got)
    return got


# --- segments of a text that extends one seen before -------------------------------------------
#
# A conversation's user text is the previous request's plus one turn. Its window hashes are
# the previous text's, plus those of the windows that start in its last few tokens or in
# the new turn; and the k smallest distinct hashes of a union are among the k smallest of
# its parts. So the memo keeps, per text, a summary: (tokens, first window's hash, last
# window's hash, the k smallest over all windows (up to 2 x _SEGMENT_TOKENS tokens), the
# head chunk's sketch (once computed), the tail chunk's sketch (beyond that)).

_Summary = tuple[int, int, int, tuple[int, ...] | None, tuple[int, ...] | None,
                 tuple[int, ...] | None]


def _sketch_memo(norm: str, last_turn: str, memo: MemoScope
                 ) -> tuple[tuple[str, ...], str | None]:
    """What ``_sketch(norm)`` returns; ``last_turn`` is the raw last user turn ("" when it is
    the only one)."""
    if len(norm) > 2 * _SEGMENT_CHARS or not (norm.isascii() or not _CJK.search(norm)):
        return _sketch(norm)  # the head-and-tail or CJK token paths
    encoded = _utf8(norm)
    tokens = encoded.split(b" ")
    if len(tokens) <= SEGMENT_WINDOW:
        return _sketch(norm)
    key = memo.key(SKETCH, encoded)
    got: _Summary | None = memo.get(key)
    if got is None:
        got = _summarise(encoded, tokens, _previous(norm, last_turn, memo) if last_turn else None)
        memo.put(key, got)
    _, first, last, bottom, head, tail = got
    picked = [first, last, *bottom] if bottom is not None else [*(head or ()), *(tail or ())]
    return tuple(map(_SEGMENT_FORMAT.__mod__, sorted(set(picked)))), _SEGMENT_FORMAT % picked[0]


def _previous(norm: str, last_turn: str, memo: MemoScope) -> _Summary | None:
    """The summary of ``norm`` without its last turn, if this identity sent that text."""
    last = normalize_text(last_turn)
    cut = len(norm) - len(last) - 1
    if not last or cut <= 0 or norm[cut] != " " or not norm.endswith(last):
        return None
    prev: _Summary | None = memo.get(memo.key(SKETCH, _utf8(norm[:cut])))
    return prev


def _summarise(encoded: bytes, tokens: list[bytes], prev: _Summary | None) -> _Summary:
    """The summary of ``tokens`` (``encoded.split(b" ")``, more than ``SEGMENT_WINDOW``);
    ``prev`` is that of a prefix of them, if known."""
    total, n, w = len(tokens), _SEGMENT_TOKENS, SEGMENT_WINDOW
    if total <= 2 * n:
        if prev is not None and prev[3] is not None and prev[0] >= w:
            new = _window_hashes(tokens[prev[0] - w + 1 :])  # windows not inside the prefix
            bottom = sorted(set(prev[3]).union(new))[:SEGMENT_K]
            first, last = prev[1], new[-1]
        else:
            first, last, *bottom = _window_sketch(encoded, tokens)
        return total, first, last, tuple(bottom), None, None
    # Two chunks: the head's is the prefix's once the prefix had two; the tail moves on.
    head = prev[4] if prev is not None and prev[4] is not None else tuple(
        _chunk_sketch(tokens[:n]))
    tail = tuple(_chunk_sketch(tokens[-n:]))
    return total, head[0], tail[1], None, head, tail


def _window_hashes(words: list[bytes]) -> list[int]:
    """The hash of every ``SEGMENT_WINDOW``-token window of ``words`` ([] if fewer)."""
    if len(words) < SEGMENT_WINDOW:
        return []
    return _hashes(b" ".join(words), words)


def similarity(a: PromptFingerprint, b: PromptFingerprint) -> float:
    """Overlap of the two segment sketches (Jaccard) in [0, 1]; 1.0 for equal exact hashes."""
    if a.exact == b.exact:
        return 1.0
    sa, sb = set(a.segments), set(b.segments)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)
