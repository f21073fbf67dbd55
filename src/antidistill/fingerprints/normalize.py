"""Text normalisation shared by every prompt fingerprint and the intent detector.

The goal is that trivial evasions (case, whitespace runs, zero-width and bidi characters,
full-width forms, Latin small capitals, Cyrillic/Greek look-alikes mixed into Latin words)
map to the same string, in a few linear passes built from C-implemented primitives
(``unicodedata``, ``str.casefold``, ``re``). ASCII text, the common case, costs one
``lower()``, one ``split()`` and one ``join()``.

Cyrillic and Greek look-alikes are mapped to Latin only inside a word that mixes them with
Latin letters (``ѕуѕtеm`` -> ``system``): that is what the evasion looks like, and genuine
Russian or Greek text (``текст``, ``ένα``) keeps its letters.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["NORMALIZATION_VERSION", "normalize_text"]

# Invisible characters: zero-width space/joiners, word joiner, BOM, soft hyphen,
# bidi controls, Mongolian vowel separator, variation selectors, Hangul fillers.
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u200b\u200c\u200d"
    "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067"
    "\u2068\u2069\u206a\u206b\u206c\u206d\u206e\u206f\u3164\ufe00\ufe01\ufe02\ufe03\ufe04"
    "\ufe05\ufe06\ufe07\ufe08\ufe09\ufe0a\ufe0b\ufe0c\ufe0d\ufe0e\ufe0f\ufeff\uffa0"
)

# Cyrillic, Greek and Armenian letters that look Latin (after casefolding), mapped only in
# words that mix them with Latin letters. A small, explicit subset of Unicode's
# confusables.txt: enough to defeat the usual "ѕуѕtеm рrоmрt" trick.
_SCRIPT_CONFUSABLES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i",
    "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ո": "n",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ϲ": "c", "ς": "c",
}
# Look-alikes mapped everywhere: no language writes words with them.
_CONFUSABLES = {
    # Latin extensions and symbols often used as look-alikes
    "ɡ": "g", "ı": "i", "ȷ": "j", "ℓ": "l", "ɑ": "a", "ɩ": "i", "ʀ": "r", "ᴀ": "a",
    "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j",
    "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ꜱ": "s", "ᴛ": "t",
    "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    # Quotes and dashes
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "‟": '"',
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-",
}

_MAP: dict[str, str] = {c: "" for c in _INVISIBLE}
_MAP.update(_CONFUSABLES)
# Unicode tag characters (U+E0000..U+E007F) smuggle invisible ASCII.
_MAP.update({chr(cp): "" for cp in range(0xE0000, 0xE0080)})
_SCRIPT_TABLE = str.maketrans(_SCRIPT_CONFUSABLES)


def _char_class(cps: set[int] | frozenset[int]) -> str:
    # Ranges keep the class compact: sre checks a long list of single literals one by one.
    ordered = sorted(cps)
    parts: list[str] = []
    start = prev = ordered[0]
    for cp in [*ordered[1:], -1]:
        if cp == prev + 1:
            prev = cp
            continue
        lo, hi = re.escape(chr(start)), re.escape(chr(prev))
        parts.append(lo if start == prev else f"{lo}-{hi}")
        start = prev = cp
    return "[" + "".join(parts) + "]"


# A character class finds the few characters to replace; str.translate with a dict costs
# a lookup per character and is ten times slower on long, mostly clean prompts.
_SPECIAL = re.compile(_char_class({ord(c) for c in _MAP}))


# A Latin letter touching a look-alike, inside one whitespace-delimited word. The word is
# matched from its first character (lookbehind), so the lazy scan is linear per word.
_SCRIPT_CLASS = _char_class({ord(c) for c in _SCRIPT_CONFUSABLES})
_SCRIPT = re.compile(_SCRIPT_CLASS)
# Starts with the look-alike class, so sre skips every other character at C speed.
_MIXED = re.compile(f"{_SCRIPT_CLASS}(?:(?=[a-z])|(?<=[a-z]{_SCRIPT_CLASS}))")
_MIXED_WORD = re.compile(rf"(?<!\S)\S*?(?:[a-z]{_SCRIPT_CLASS}|{_SCRIPT_CLASS}[a-z])\S*")


def _map_word(m: re.Match[str]) -> str:
    return m.group().translate(_SCRIPT_TABLE)


# --- NFKC on the characters that need it ------------------------------------------------------
#
# unicodedata.normalize() returns at C speed when its quick check says the text is already
# NFKC, but one full-width comma or no-break space sends the whole text through the slow
# path (75 to 150 ns a character). Replacing a character by its own NFKC keeps the text
# compatibility-equivalent, so after replacing the decomposable characters one by one
# (str.replace, at memchr speed) a final normalize() gives exactly NFKC of the input, and
# is then a quick check unless the text holds combining characters that may compose.

# Frequent in Chinese and Japanese text (full-width punctuation) and in pasted text.
_COMMON_FIXES = tuple(
    (c, unicodedata.normalize("NFKC", c)) for c in "，：？（）！；\u3000\xa0…～"
)
_CHAR_NFKC: dict[str, str] = {}
_CHAR_NFKC_MAX = 50_000


def _composing_code_points() -> set[int]:
    """Second halves of canonical compositions: where the quick check answers "maybe".

    A superset is harmless (it only picks the one-pass path below). The scanned ranges
    hold the precomposed characters of Latin, Greek, Cyrillic, the Indic scripts, kana,
    and the astral Brahmic scripts.
    """
    out = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul jamo (algorithmic)
    decomposition = unicodedata.decomposition
    for lo, hi in ((0xC0, 0x2000), (0x3000, 0x3100), (0xFB00, 0xFB50), (0x11000, 0x11A00)):
        for cp in range(lo, hi):
            d = decomposition(chr(cp))
            if d and d[0] != "<":
                parts = d.split()
                if len(parts) == 2:
                    out.add(int(parts[1], 16))
    return out


_COMPOSING = re.compile(_char_class(_composing_code_points()))


def _nfkc(text: str, rest: str) -> str:
    """NFKC of ``text``; ``rest`` holds its non-ASCII characters (see :func:`_non_ascii`)."""
    normalize = unicodedata.normalize
    if _COMPOSING.search(rest) is not None:
        # The quick check would run the full algorithm to answer: run it once.
        return normalize("NFKC", text)
    if unicodedata.is_normalized("NFKC", text):
        return text
    for c, r in _COMMON_FIXES:
        if c in rest:
            text = text.replace(c, r)
    if not unicodedata.is_normalized("NFKC", text):
        cache = _CHAR_NFKC
        for c in set(_non_ascii(text)):
            r = cache.get(c) or ""
            if not r:
                r = normalize("NFKC", c)
                if len(cache) < _CHAR_NFKC_MAX:
                    cache[c] = r
            if r != c:
                text = text.replace(c, r)
        text = normalize("NFKC", text)
    return text


_ASCII_BYTES = bytes(range(128))


def _non_ascii(text: str) -> str:
    """The non-ASCII characters of ``text``, in order: a few C passes, usually a short string.

    Every regex scan below runs on this residue first, since sre tests a character class
    at about 15 ns a character and most prompts have a handful of non-ASCII characters.
    """
    # Deleting whole ASCII bytes leaves every multi-byte sequence intact.
    b = text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES)
    return b.decode("utf-8", "surrogatepass")


def _normalize_unicode(text: str) -> str:
    rest = _non_ascii(text)
    t = _nfkc(text, rest)
    if t is not text:
        rest = _non_ascii(t)
    t = t.casefold()
    # casefold maps one character at a time, so the residue's casefold holds every
    # non-ASCII character of the casefolded text.
    rest = rest.casefold()
    if _SPECIAL.search(rest) is not None:
        # One str.replace (memchr speed) per distinct character beats a callback per hit.
        for c in set(_SPECIAL.findall(rest)):
            t = t.replace(c, _MAP[c])
    t = " ".join(t.split())
    if _SCRIPT.search(rest) is not None and _MIXED.search(t) is not None:
        t = _MIXED_WORD.sub(_map_word, t)
    return t


# --- entry point ------------------------------------------------------------------------------

NORMALIZATION_VERSION = 2

# The last few (input, output) pairs, matched by identity: the guard normalises the same
# user text for the fingerprints and again for the intent detector. One tuple per slot, so a
# reader in another thread sees a consistent pair.
_RECENT_SLOTS = 4
_recent: list[tuple[str, str]] = [("", "")] * _RECENT_SLOTS
_next_slot = 0


def normalize_text(text: str) -> str:
    """Return the canonical form used for hashing and matching.

    NFKC (full-width and compatibility forms), casefold, drop invisible characters, map
    look-alikes to Latin (Cyrillic/Greek ones only inside words that mix scripts), collapse
    whitespace runs to one space, strip the ends.
    """
    global _next_slot
    if not text:
        return ""
    for seen, out in _recent:
        if seen is text:
            return out
    if text.isascii():
        out = " ".join(text.lower().split())
    else:
        out = _normalize_unicode(text)
    slot = _next_slot
    _next_slot = (slot + 1) % _RECENT_SLOTS
    _recent[slot] = (text, out)
    return out
