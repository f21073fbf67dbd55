"""The simulation's harder hydra: template spinning and the stealth client/network."""

from __future__ import annotations

import random

from antidistill.demo.simulate import (
    DAY,
    HYDRA_TEMPLATES,
    SHORT_HYDRA_TEMPLATES,
    SPIN_SYNONYMS,
    Account,
    Population,
    spin,
)

DAY_START = 1_780_000_000.0 - (1_780_000_000.0 % DAY)


def _hydra(pop: Population) -> list[Account]:
    return [a for a in pop.build(DAY_START) if a.cohort == "hydra"]


def test_spin_rate_zero_is_the_identity() -> None:
    rng = random.Random(1)
    for tmpl in HYDRA_TEMPLATES:
        assert spin(tmpl, 0.0, rng) == tmpl


def test_spin_swaps_listed_words_at_about_the_rate_and_keeps_the_placeholder() -> None:
    rng = random.Random(2)
    tmpl = HYDRA_TEMPLATES[2]
    listed = [w for w in tmpl.split(" ") if w.strip(".,:;!?\n").lower() in SPIN_SYNONYMS]
    assert len(listed) >= 10
    swapped = total = 0
    variants = set()
    for _ in range(400):
        out = spin(tmpl, 0.3, rng)
        variants.add(out)
        assert out.endswith("Task: {q}")
        assert "{q}" in out and out.count("{") == 1
        for word in listed:
            total += 1
            swapped += f" {word} " not in f" {out} "
    assert 0.2 < swapped / total < 0.4
    assert len(variants) > 350  # no two requests share the exact template
    assert spin(tmpl, 1.0, random.Random(3)) != tmpl


def test_default_hydra_is_the_plain_campaign() -> None:
    accounts = _hydra(Population(seed=5, scale=0.05, hydra_accounts=40))
    prefixes = {t.split("{q}")[0] for t in HYDRA_TEMPLATES}
    for acct in accounts:
        assert acct.ip.startswith("45.")
        assert dict(acct.headers)["user-agent"] == "python-httpx/0.27.2"
        for _, body in acct.requests:
            text = body["messages"][-1]["content"]
            assert any(text.startswith(p) for p in prefixes), text[:80]


def test_stealth_spun_hydra_uses_the_official_sdk_residential_addresses_and_varied_text() -> None:
    accounts = _hydra(Population(seed=5, scale=0.05, hydra_accounts=40, hydra_stealth=True,
                                 hydra_spin=0.3))
    assert len(accounts) == 40
    for acct in accounts:
        ua = dict(acct.headers)["user-agent"]
        assert ua.startswith("OpenAI/Python")
        assert not acct.ip.startswith("45.")
    heads = [r[1]["messages"][-1]["content"][:60] for x in accounts
             for r in x.requests]
    assert len(set(heads)) > len(heads) // 2


def test_hydra_templates_option() -> None:
    accounts = _hydra(Population(seed=5, scale=0.05, hydra_accounts=8,
                                 hydra_templates=SHORT_HYDRA_TEMPLATES))
    prefixes = [t.split("{q}")[0] for t in SHORT_HYDRA_TEMPLATES]
    used = {next(p for p in prefixes if r[1]["messages"][-1]["content"].startswith(p))
            for a in accounts for r in a.requests}
    assert used == set(prefixes)
