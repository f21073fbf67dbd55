"""Session continuity: does a request's history hold what this server answered before?

In an honest multi-turn session every "assistant" turn of the history is an answer the
server gave that identity. A campaign that fakes its history (to make each request look
like the middle of a conversation) sends assistant turns the server never produced. So
after each response the guard keeps a keyed hash of the first characters of the answer
(normalised), twice: for the identity, and for the deployment as a whole; both are kept
in the store's ``resp`` list with a TTL (``ObserveBatch.list_checks``, so no extra round
trip on the request path; the write happens after the response).

* an assistant turn produced for this identity is *benign evidence*: the identity keeps its
  own risk, but a cluster's risk does not flow into it;
* assistant turns the server produced for nobody, from an identity the server has already
  answered, are campaign-like (per-account behaviour: alone never more than weak).

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


@dataclass(frozen=True, slots=True)
class AnswerKeys:
    """The two list members of one answer: this identity's and the deployment's."""

    identity: str
    anyone: str


def answer_keys(identity: str, text: str, pseudonymize: Callable[[str, str], str]
                ) -> AnswerKeys | None:
    """Keyed hashes of an answer (None for a too-short answer)."""
    norm = normalise(text)
    if len(norm) < MIN_CHARS:
        return None
    return AnswerKeys(pseudonymize("ra", identity + "\x00" + norm), pseudonymize("rg", norm))


def answer_members(identity: str, text: str, pseudonymize: Callable[[str, str], str]
                   ) -> list[str]:
    """The ``LIST`` members to add after an answer: its two keys and the identity's marker."""
    keys = answer_keys(identity, text, pseudonymize)
    if keys is None:
        return []
    return [keys.identity, keys.anyone, answered_marker(identity, pseudonymize)]


def answered_marker(identity: str, pseudonymize: Callable[[str, str], str]) -> str:
    """The list member saying the server's answers to ``identity`` are being recorded."""
    return pseudonymize("rm", identity)


def history_checks(identity: str, turns: Sequence[str],
                   pseudonymize: Callable[[str, str], str]) -> list[tuple[str, str]]:
    """The ``(list, member)`` checks for a history's assistant turns: two per turn, then
    the identity's marker (none at all for a history without assistant turns)."""
    checks: list[tuple[str, str]] = []
    for turn in turns:
        keys = answer_keys(identity, turn, pseudonymize)
        if keys is not None:
            checks += [(LIST, keys.identity), (LIST, keys.anyone)]
    if checks:
        checks.append((LIST, answered_marker(identity, pseudonymize)))
    return checks


@dataclass(frozen=True, slots=True)
class Continuity:
    """What the history's assistant turns tell: how many were checked, answered to this
    identity, and answered to nobody."""

    turns: int
    own: int
    foreign: int
    answered_before: bool  # the server's answers to this identity were recorded before


def continuity(checks: Sequence[tuple[str, str]], listed: Set[tuple[str, str]]
               ) -> Continuity:
    """Count the history checks (pairs from :func:`history_checks`) that matched."""
    turns = own = never = 0
    for i in range(0, len(checks) - 1, 2):
        turns += 1
        if checks[i] in listed:
            own += 1
        elif checks[i + 1] not in listed:
            never += 1
    answered = bool(checks) and checks[-1] in listed
    return Continuity(turns, own, never, answered)


def continuity_signal(c: Continuity) -> Signal | None:
    """Campaign-like evidence: history the server never produced, from an identity whose
    answers are recorded (so its own would have matched)."""
    if c.turns == 0 or c.own > 0 or c.foreign == 0 or not c.answered_before:
        return None
    score = 0.5 if c.foreign == 1 else 0.8
    return Signal("continuity", score,
                  f"{c.foreign} of {c.turns} assistant turns never answered by this server")
