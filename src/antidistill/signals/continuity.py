"""Session continuity: does a request's history hold what this server answered before?

In an honest multi-turn session every "assistant" turn of the history is an answer the
server gave that identity. A campaign that fakes its history (to make each request look
like the middle of a conversation) sends assistant turns the server never produced. So
after each response the guard keeps a keyed hash of the identity and the first characters
of the answer (normalised) in the store's ``resp`` list with a TTL, and a marker that this
identity's answers are recorded (checked with ``ObserveBatch.list_checks``, so no extra
round trip on the request path; the write happens after the response). One member per
answer: the state is what a replay or a flood of answers costs, bounded by the TTL and the
store's caps.

* an assistant turn produced for this identity is *benign evidence*: the identity keeps its
  own risk, but a cluster's risk does not flow into it;
* assistant turns the server never gave this identity, from an identity whose answers are
  recorded, are campaign-like (per-account behaviour: alone never more than weak).

Client identity (headers, system prompt, session ids) is never part of this: relays forge it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass

from antidistill.decision import Signal

LIST = "resp"
TTL = 2 * 86400.0  # seconds an answer is remembered (wall clock, like every list entry)
NORMALISED_CHARS = 256  # the answer prefix that is hashed, after normalisation
MIN_CHARS = 16  # shorter answers ("OK", "Yes") are shared by everyone: no evidence
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """The hashed form of an answer: whitespace collapsed, stripped, its first characters."""
    return _SPACE.sub(" ", text[: 2 * NORMALISED_CHARS]).strip()[:NORMALISED_CHARS]


def answer_key(identity: str, text: str, pseudonymize: Callable[[str, str], str]
               ) -> str | None:
    """The keyed hash of an answer given to ``identity`` (None for a too-short answer)."""
    norm = normalise(text)
    if len(norm) < MIN_CHARS:
        return None
    return pseudonymize("ra", identity + "\x00" + norm)


def answer_members(identity: str, text: str, pseudonymize: Callable[[str, str], str]
                   ) -> list[str]:
    """The ``LIST`` members to add after an answer: its key and the identity's marker."""
    key = answer_key(identity, text, pseudonymize)
    if key is None:
        return []
    return [key, answered_marker(identity, pseudonymize)]


def answered_marker(identity: str, pseudonymize: Callable[[str, str], str]) -> str:
    """The list member saying the server's answers to ``identity`` are being recorded."""
    return pseudonymize("rm", identity)


def history_checks(identity: str, turns: Sequence[str],
                   pseudonymize: Callable[[str, str], str]) -> list[tuple[str, str]]:
    """The ``(list, member)`` checks for a history's assistant turns: one per turn, then
    the identity's marker (none at all for a history without assistant turns)."""
    checks: list[tuple[str, str]] = []
    for turn in turns:
        key = answer_key(identity, turn, pseudonymize)
        if key is not None:
            checks.append((LIST, key))
    if checks:
        checks.append((LIST, answered_marker(identity, pseudonymize)))
    return checks


@dataclass(frozen=True, slots=True)
class Continuity:
    """What the history's assistant turns tell: how many were checked, answered to this
    identity, and never answered to it."""

    turns: int
    own: int
    foreign: int
    answered_before: bool  # the server's answers to this identity were recorded before


def continuity(checks: Sequence[tuple[str, str]], listed: Set[tuple[str, str]]
               ) -> Continuity:
    """Count the history checks (pairs from :func:`history_checks`) that matched."""
    turns = len(checks) - 1 if checks else 0
    own = sum(1 for c in checks[:-1] if c in listed)
    answered = bool(checks) and checks[-1] in listed
    return Continuity(turns, own, turns - own, answered)


def continuity_signal(c: Continuity) -> Signal | None:
    """Campaign-like evidence: history the server never produced, from an identity whose
    answers are recorded (so its own would have matched)."""
    if c.turns == 0 or c.own > 0 or c.foreign == 0 or not c.answered_before:
        return None
    score = 0.5 if c.foreign == 1 else 0.8
    return Signal("continuity", score,
                  f"{c.foreign} of {c.turns} assistant turns never answered to this identity")
