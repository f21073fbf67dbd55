"""Text normalisation shared by every prompt fingerprint and the intent detector.

The goal is that trivial evasions (case, whitespace runs, zero-width and bidi characters,
full-width forms, homoglyphs from Cyrillic/Greek) map to the same string, in one linear pass
built from C-implemented primitives (``unicodedata.normalize``, ``str.translate``, ``re``).
"""

from __future__ import annotations

import re
import unicodedata

# Invisible characters: zero-width space/joiners, word joiner, BOM, soft hyphen,
# bidi controls, Mongolian vowel separator, tag characters are handled by category below.
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u200b\u200c\u200d"
    "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067"
    "\u2068\u2069\u206a\u206b\u206c\u206d\u206e\u206f\u3164\ufe00\ufe01\ufe02\ufe03\ufe04"
    "\ufe05\ufe06\ufe07\ufe08\ufe09\ufe0a\ufe0b\ufe0c\ufe0d\ufe0e\ufe0f\ufeff\uffa0"
)

# Homoglyphs that NFKC leaves alone (Cyrillic and Greek letters that look Latin), mapped
# to their Latin look-alike after casefolding. A small, explicit subset of Unicode's
# confusables.txt: enough to defeat the usual "ѕуѕtеm рrоmрt" trick.
_CONFUSABLES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i",
    "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g", "ո": "n",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ϲ": "c", "ς": "c",
    # Latin extensions and symbols often used as look-alikes
    "ı": "i", "ȷ": "j", "ℓ": "l", "ɑ": "a", "ɩ": "i", "ʀ": "r", "ᴀ": "a", "ʙ": "b",
    "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k",
    "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u",
    "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    # Quotes and dashes
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "‟": '"',
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-",
}

_MAP: dict[str, str] = {c: "" for c in _INVISIBLE}
_MAP.update(_CONFUSABLES)
_MAP.update({chr(cp): "" for cp in range(0xE0000, 0xE0080)})
# A character class finds the few characters to replace; str.translate with a dict costs
# a lookup per character and is ten times slower on long, mostly clean prompts.


def _char_class(chars: str) -> str:
    # Ranges keep the class compact: sre checks a long list of single literals one by one.
    cps = sorted({ord(c) for c in chars})
    parts: list[str] = []
    start = prev = cps[0]
    for cp in cps[1:] + [-1]:
        if cp == prev + 1:
            prev = cp
            continue
        lo, hi = re.escape(chr(start)), re.escape(chr(prev))
        parts.append(lo if start == prev else f"{lo}-{hi}")
        start = prev = cp
    return "[" + "".join(parts) + "]"


_SPECIAL = re.compile(_char_class("".join(_MAP)))


def _replace(m: re.Match[str]) -> str:
    return _MAP[m.group()]

NORMALIZATION_VERSION = 1


def normalize_text(text: str) -> str:
    """Return the canonical form used for hashing and matching.

    NFKC (full-width and compatibility forms), casefold, drop invisible characters,
    map homoglyphs to Latin, collapse whitespace runs to one space, strip the ends.
    """
    if not text:
        return ""
    if text.isascii():
        t = text.lower()
    else:
        # Unicode tag characters (U+E0000..U+E007F) smuggle invisible ASCII; they are in _MAP.
        t = _SPECIAL.sub(_replace, unicodedata.normalize("NFKC", text).casefold())
    return " ".join(t.split())
