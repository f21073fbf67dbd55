"""Quoted or pasted material in a user turn: the part of a prompt that is not its instruction.

Extraction intent belongs to what the sender asks, not to a page, document, log, code block
or earlier answer it pasted. A browser extension wraps the page a user reads, an agent
quotes a tool's output, a student pastes an essay that says "rate this": the words inside
such material were written by someone else, and match the intent lexicon as often as any
text does. So the intent detector scores the instruction part separately and weighs what
it finds only inside material down (:func:`antidistill.signals.pipeline` ``_intent``).

Material is decided structurally, never by its words, in one pass over the lines:

* fenced blocks (three or more backticks or tildes) and triple-quoted blocks;
* blocks between a pair of delimiter lines (``--- page ---``, ``=== BEGIN ===``, ``*****``);
* XML-style blocks whose opening tag starts a line (``<document>`` ... ``</document>``,
  ``<tool_result name="...">`` ...);
* lines quoted with ``>``.

Only when the instruction left outside has at least ``MIN_INSTRUCTION_WORDS`` words: a
prompt that is all one fenced block is its own instruction.
"""

from __future__ import annotations

import re
from bisect import bisect_left

__all__ = ["MIN_INSTRUCTION_WORDS", "instruction_part"]

MIN_INSTRUCTION_WORDS = 6
UNCLOSED_WORDS = 50  # an unclosed delimiter marks the rest as material from this length
# Texts without any of these characters have no material: the common case costs one scan.
_MARKS = ("```", "~~~", '"""', "'''", "---", "===", "***", "___", "###", "<", ">")
_FENCE = re.compile(r"\s*(```|~~~|\"\"\"|''')")
_DELIM = re.compile(r"\s*([-=*_#~+])\1{2,}[^\n]{0,60}$")
_OPEN_TAG = re.compile(r"\s*<([A-Za-z][\w:.-]{0,40})(?:\s[^<>]*)?>")
_CLOSE_TAG = re.compile(r"</([A-Za-z][\w:.-]{0,40})>")
_WORD = re.compile(r"\w+")
_MAX_LINES = 4000  # longer texts: the lines after this are scanned as instruction


def _has_marks(text: str) -> bool:
    return any(m in text for m in _MARKS)


def _fence_end(lines: list[str], i: int, mark: str) -> int:
    """Index of the line closing the fence opened at ``i`` (``len(lines)`` if unclosed)."""
    for j in range(i + 1, len(lines)):
        if mark in lines[j]:
            return j
    return len(lines)


def _closings(lines: list[str]) -> dict[str, list[int]]:
    """Tag -> the (ascending) indexes of the lines holding ``</tag>``, in one pass: a
    forward search per opening tag would be quadratic in lines of unclosed tags."""
    out: dict[str, list[int]] = {}
    for j, line in enumerate(lines):
        if "</" in line:
            for tag in _CLOSE_TAG.findall(line):
                rows = out.setdefault(tag, [])
                if not rows or rows[-1] != j:
                    rows.append(j)
    return out


def _tag_end(closings: dict[str, list[int]], i: int, tag: str) -> int | None:
    """Index of the line holding ``</tag>`` at or after ``i`` (None if never closed)."""
    rows = closings.get(tag)
    if not rows:
        return None
    k = bisect_left(rows, i)
    return rows[k] if k < len(rows) else None


def _delim_end(lines: list[str], i: int) -> int | None:
    """Index of the next delimiter line after ``i``; without one, the last line when what
    follows is long enough to be pasted material (a horizontal rule before a short
    instruction is not)."""
    for j in range(i + 1, len(lines)):
        if _DELIM.match(lines[j]):
            return j
    words = sum(len(line.split()) for line in lines[i + 1:])
    return len(lines) - 1 if words >= UNCLOSED_WORDS else None


# The characters a block's first line can start with (after spaces): fences, delimiter
# lines, tags, quotes. Any other line is tested without a regex.
_BLOCK_STARTS = frozenset("`~\"'-=*_#+<>")


def _block_end(lines: list[str], i: int, closings: dict[str, list[int]]) -> int | None:
    """The last line of the material block that starts at line ``i``, or None."""
    line = lines[i]
    if line[:1] not in _BLOCK_STARTS and line.lstrip()[:1] not in _BLOCK_STARTS:
        return None
    m = _FENCE.match(line)
    if m is not None:
        mark = m.group(1)
        if line.count(mark) >= 2:
            return i  # an inline fence on one line
        return _fence_end(lines, i, mark)
    if _DELIM.match(line):
        return _delim_end(lines, i)
    m = _OPEN_TAG.match(line)
    if m is not None:
        return _tag_end(closings, i, m.group(1))
    if line.lstrip().startswith(">"):
        return i
    return None


def instruction_part(text: str) -> str | None:
    """``text`` without its quoted or pasted material, or None when it has none (or when
    too little instruction would be left for the material to be material)."""
    if not _has_marks(text):
        return None
    lines = text.split("\n")
    kept: list[str] = []
    found = False
    i, n = 0, min(len(lines), _MAX_LINES)
    closings = _closings(lines)
    while i < n:
        end = _block_end(lines, i, closings)
        if end is None:
            kept.append(lines[i])
            i += 1
            continue
        found = True
        kept.append("")  # a paragraph break: cues do not join across the removed block
        i = min(end, len(lines) - 1) + 1
    if not found:
        return None
    kept.extend(lines[n:])
    rest = "\n".join(kept)
    if len(_WORD.findall(rest)) < MIN_INSTRUCTION_WORDS:
        return None
    return rest
