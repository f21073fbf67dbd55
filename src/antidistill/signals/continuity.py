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
What a relay cannot forge cheaply is the sessions themselves: a young identity whose every
tool-bearing request opens a new session (no history) is campaign-like too
(:func:`single_shot_signal`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass

from antidistill.decision import Signal
from antidistill.fingerprints.memo import ANSWER, MemoScope
from antidistill.fingerprints.parse import ParsedPrompt

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


def _remembered_key(identity: str, text: str, pseudonymize: Callable[[str, str], str],
                    memo: MemoScope) -> str | None:
    # normalise() reads no further than this prefix, so it names the key.
    mkey = memo.key(ANSWER, text[: 2 * NORMALISED_CHARS].encode("utf-8", "surrogatepass"))
    got: str | None = memo.get(mkey)
    if got is None:
        got = answer_key(identity, text, pseudonymize) or ""
        memo.put(mkey, got)
    return got or None


def answered_marker(identity: str, pseudonymize: Callable[[str, str], str]) -> str:
    """The list member saying the server's answers to ``identity`` are being recorded."""
    return pseudonymize("rm", identity)


def history_checks(identity: str, turns: Sequence[str],
                   pseudonymize: Callable[[str, str], str],
                   memo: MemoScope | None = None) -> list[tuple[str, str]]:
    """The ``(list, member)`` checks for a history's assistant turns: one per turn, then
    the identity's marker (none at all for a history without assistant turns).

    ``memo`` (the identity's) remembers the keys of turns seen before: a history is resent
    every turn."""
    checks: list[tuple[str, str]] = []
    for turn in turns:
        key = answer_key(identity, turn, pseudonymize) if memo is None else \
            _remembered_key(identity, turn, pseudonymize, memo)
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


# Identity field (``Assessment.fields``): how many of the identity's requests continued a
# session with this server's own answers. An identity whose requests mostly do is an
# honest multi-turn user, which a campaign can only imitate by sending its prompts as real
# conversations (each new prompt after the last answer, the whole history resent).
CONTINUED_FIELD = "cs"
CONTINUED_MIN = 3
CONTINUED_SHARE = 0.5
BENIGN_SESSION = "session continuity"  # this request continues a session with own answers
BENIGN_SESSIONS = "continuous sessions"  # the identity's requests mostly do


def continued_fields(c: Continuity | None, fields: Mapping[str, float]) -> dict[str, float]:
    """The identity-field update after a request whose history held its own answers."""
    if c is None or c.own == 0:
        return {}
    return {CONTINUED_FIELD: fields.get(CONTINUED_FIELD, 0.0) + 1.0}


def continuous_sessions(fields: Mapping[str, float], requests: int) -> bool:
    """Benign evidence of its own for a request that opens a session: most of the identity's
    ``requests`` (before this one) continued sessions with the server's own answers."""
    done = fields.get(CONTINUED_FIELD, 0.0)
    return done >= CONTINUED_MIN and done >= CONTINUED_SHARE * requests


def continuity_signal(c: Continuity) -> Signal | None:
    """Campaign-like evidence: history the server never produced, from an identity whose
    answers are recorded (so its own would have matched)."""
    if c.turns == 0 or c.own > 0 or c.foreign == 0 or not c.answered_before:
        return None
    score = 0.5 if c.foreign == 1 else 0.8
    return Signal("continuity", score,
                  f"{c.foreign} of {c.turns} assistant turns never answered to this identity")


# --- single-shot agent sessions -------------------------------------------------------------

# Identity-value counter (``ObserveBatch.identity_values``) of the requests that open a tool
# session: one distinct value per opening request, so its count is the number of openings.
OPENING_VALUE = "ss:o"
# Alone below the flag threshold (a new batch job may send tools one-shot), unless the
# requests come from a hosting, VPN or proxy network.
SINGLE_SHOT_MAX = 0.8
YOUNG_AGE = 2 * 86400.0  # an identity older than this with openings only is a known pipeline
OPENING_CHARS = 512  # the opening question's prefix that tells two openings apart


def opens_tool_session(parsed: ParsedPrompt) -> bool:
    """A request that declares tools and carries no history: the first turn of a session.
    An agent's later turns carry its assistant turns and tool results."""
    if not parsed.params.get("tools_count"):
        return False
    turns = parsed.n_messages - (1 if parsed.system else 0)
    return not parsed.assistant and turns <= 1


def opening_values(identity: str, parsed: ParsedPrompt | None,
                   pseudonymize: Callable[[str, str], str]) -> dict[str, str]:
    """The identity-value entry of a request that opens a tool session (else nothing): a
    keyed hash of its question, so a retried opening counts once."""
    if parsed is None or not opens_tool_session(parsed):
        return {}
    text = parsed.last_user[:OPENING_CHARS]
    return {OPENING_VALUE: pseudonymize("so", identity + "\x00" + text)[-12:]}


def single_shot_signal(openings: int, requests: int, age: float,
                       anonymous: bool = False) -> Signal | None:
    """Campaign-like evidence: a young identity whose every tool session is one request.

    A relay forging an agent's headers and system prompt sends each harvested question as a
    new session (a fresh session id, no history); the real agent's sessions run for several
    turns that carry the server's answers. ``openings`` counts this identity's session
    openings (this one included), ``requests`` all its requests. From an ``anonymous``
    network (hosting, VPN, proxy) it is full evidence: that is where relays run."""
    if openings < 2 or requests < 2 or age > YOUNG_AGE:
        return None
    ratio = openings / requests
    share = min(1.0, max(0.0, (ratio - 0.5) / 0.4))
    breadth = min(1.0, (openings - 1) / 2)
    score = round((1.0 if anonymous else SINGLE_SHOT_MAX) * share * breadth, 4)
    if score <= 0.0:
        return None
    return Signal("continuity", score,
                  f"{openings} of {requests} requests open a new tool session")
