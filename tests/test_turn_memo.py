"""The per-identity turn memo (``fingerprints.memo``) changes no result, only the work.

Conversations are built from the golden inputs (``tests/data/make_prompt_golden.py``: repo
texts under the usual evasions, CJK, lone surrogates, every size boundary) and sent turn by
turn, as a client resends its history; every request's fingerprints, intent verdict and
continuity checks are computed with the memo and without it and must be equal.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

from antidistill.fingerprints.memo import PER_IDENTITY, SKETCH, TurnMemo
from antidistill.fingerprints.normalize import normalize_text
from antidistill.fingerprints.parse import ParsedPrompt, parse_body
from antidistill.fingerprints.prompt import _SEGMENT_TOKENS, fingerprint_prompt
from antidistill.signals.continuity import history_checks
from antidistill.signals.pipeline import _remembered_intent, instruction_intent

SCRIPT = Path(__file__).parent / "data" / "make_prompt_golden.py"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    spec = importlib.util.spec_from_file_location("make_prompt_golden", SCRIPT)
    assert spec is not None and spec.loader is not None
    gen: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = gen
    spec.loader.exec_module(gen)
    out = [t for case in gen.cases(gen.load())[::5] for t in case.turns if t]
    assert len(out) > 2000
    return out


def _pseudo(kind: str, value: str) -> str:
    return f"{kind}:{hash(value) & 0xFFFFFFFF:08x}"


def _body(turns: list[str], answers: list[str]) -> bytes:
    msgs: list[dict[str, str]] = [{"role": "system", "content": "You are helpful."}]
    for i, turn in enumerate(turns):
        msgs.append({"role": "user", "content": turn})
        if i < len(answers):
            msgs.append({"role": "assistant", "content": answers[i]})
    return json.dumps({"model": "m", "messages": msgs}).encode("utf-8", "surrogatepass")


def test_conversations_give_the_same_results_with_and_without_the_memo(
        texts: list[str]) -> None:
    rng = random.Random(15)
    memo = TurnMemo()
    requests = with_memo_path = 0
    pos = 0
    while pos < len(texts):
        ident = f"key:{rng.randrange(40)}"  # identities interleave, as on a real day
        length = rng.randint(1, 9)
        convo, pos = texts[pos : pos + length], pos + length
        for n in range(1, len(convo) + 1):
            p = parse_body(_body(convo[:n], convo[1:n]), "application/json",
                           path="/v1/chat/completions")
            scope = memo.scope(ident)
            assert scope is not None
            assert fingerprint_prompt(p, scope) == fingerprint_prompt(p)
            assert _remembered_intent(p.user, 4096, scope) == instruction_intent(p.user, 4096)
            assert history_checks(ident, p.assistant, _pseudo, scope) == \
                history_checks(ident, p.assistant, _pseudo)
            requests += 1
            with_memo_path += len(p.user_turns) > 1
    assert requests > 2000 and with_memo_path > 1000


def test_turn_join_normalises_like_the_whole(texts: list[str]) -> None:
    """What the memo relies on: normalisation never looks across the newline that joins
    two turns, so the normalised join is the join of the normalised turns."""
    rng = random.Random(12)
    for _ in range(3000):
        turns = rng.sample(texts, rng.randint(2, 4))
        joined = " ".join(n for t in turns if (n := normalize_text(t)))
        assert normalize_text("\n".join(turns)) == joined


def test_long_conversation_reuses_its_history() -> None:
    """A history past two sketch chunks: each turn's sketch reads the remembered summary of
    the text before it, and the result still equals the uncached one."""
    rng = random.Random(3)
    words = [f"w{i}" for i in range(400)]
    memo = TurnMemo()
    turns: list[str] = []
    for _ in range(12):
        turns.append(" ".join(rng.choice(words) for _ in range(90)))
        p = ParsedPrompt("openai.chat", "", "\n".join(turns), turns[-1], {}, len(turns),
                         user_turns=tuple(turns))
        scope = memo.scope("key:long")
        assert scope is not None
        before = len(scope.entries)
        assert fingerprint_prompt(p, scope) == fingerprint_prompt(p)
        assert len(scope.entries) <= PER_IDENTITY
        assert before <= len(scope.entries) or len(scope.entries) == PER_IDENTITY
    assert len(" ".join(turns).split()) > 2 * _SEGMENT_TOKENS


def test_entries_are_per_identity_and_bounded() -> None:
    memo = TurnMemo(identities=3, seed=1)
    a, b = memo.scope("key:a"), memo.scope("key:b")
    assert a is not None and b is not None
    assert a.key(SKETCH, b"same text") != b.key(SKETCH, b"same text")
    for i in range(PER_IDENTITY + 5):
        a.put(a.key(SKETCH, str(i).encode()), i)
    assert len(a.entries) == PER_IDENTITY
    assert a.get(a.key(SKETCH, b"0")) is None  # the oldest went first
    assert a.get(a.key(SKETCH, str(PER_IDENTITY + 4).encode())) == PER_IDENTITY + 4
    for name in ("key:c", "key:d", "key:e"):
        memo.scope(name)
    assert len(memo._scopes) == 3  # "key:a" and "key:b" were the least recently seen
    assert TurnMemo(identities=0).scope("key:a") is None


def test_memo_keeps_no_text() -> None:
    memo = TurnMemo()
    secret = "the quarterly numbers of project nightingale are confidential"
    turns = (secret, "and summarise them for the board in three lines please")
    p = ParsedPrompt("openai.chat", "", "\n".join(turns), turns[-1], {}, 2, user_turns=turns)
    scope = memo.scope("key:x")
    assert scope is not None
    fingerprint_prompt(p, scope)
    _remembered_intent(p.user, 4096, scope)
    history_checks("key:x", [secret], _pseudo, scope)
    held = repr(memo._scopes)
    assert scope.entries and "nightingale" not in held and "quarterly" not in held
    for key, value in scope.entries.items():
        assert isinstance(key, bytes) and len(key) == 16
        assert not isinstance(value, str) or ":" in value  # hashes and pseudonyms only
