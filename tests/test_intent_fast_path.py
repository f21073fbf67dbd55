"""Intent's early exit: a category whose primary cues all miss is dropped before its support
and suppressor cues are evaluated. The verdict must be the one of the full evaluation.

``_full_category_match`` is the reference: every cue of the category evaluated, then the
regions scored (what ``intent._category_match`` did before the early exit). Both are run
over the intent corpora in tests/data (positives, negatives, jailbreaks, reasoning
extraction) and over generated texts made of lexicon words, where cues fire in part.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antidistill.signals import intent
from antidistill.signals.intent import IntentMatch, detect_intent
from antidistill.signals.intent_lexicon import CONCEPTS, CUES, REGION_WORDS

DATA = Path(__file__).parent / "data" / "intent"


def _full_category_match(category: str, ids: list[int],
                         pos: dict[str, list[int]]) -> IntentMatch | None:
    fired = []
    for i in ids:
        cue = CUES[i]
        where = intent._fire_positions(cue, pos)
        if where:
            fired.append((cue, where))
    if not fired:
        return None
    score, cues = intent._region_score(fired, 2 * REGION_WORDS[category])
    if score <= 0.0:
        return None
    ids_sorted = sorted(cues, key=lambda c: (c.weight < 0, -abs(c.weight), c.id))
    return IntentMatch(category, round(score, 4), "+".join(c.id for c in ids_sorted))


def _reference(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[IntentMatch, ...]:
    with monkeypatch.context() as m:
        m.setattr(intent, "_category_match", _full_category_match)
        return detect_intent(text)


def _corpus() -> list[str]:
    texts: list[str] = []
    for path in sorted(DATA.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                texts.extend(str(v) for k, v in row.items() if k in ("text", "prompt"))
    for path in sorted(DATA.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data if isinstance(data, list) else list(data.values())
        texts.extend(str(x) for x in items)
    return texts


def test_corpus_verdicts_equal_the_full_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _corpus()
    assert len(texts) > 500
    scored = 0
    for text in texts:
        fast = detect_intent(text)
        assert fast == _reference(text, monkeypatch), text[:80]
        scored += bool(fast)
    assert scored > 100  # the corpus exercises the scoring path, not only the exit


_WORDS = sorted({w for forms in CONCEPTS.values() for f in forms if not f.startswith("<")
                 for w in f.replace("~", "").split()} | {"the", "a", "please", "and", "model"})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=60))
def test_generated_verdicts_equal_the_full_evaluation(words: list[str]) -> None:
    text = " ".join(words)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(intent, "_category_match", _full_category_match)
        want = detect_intent(text)
    assert detect_intent(text) == want
