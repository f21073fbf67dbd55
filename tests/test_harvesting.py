from __future__ import annotations

from typing import Any

import pytest

from antidistill.signals.harvesting import HarvestFinding, score_harvesting, sweep_key

HONEST: list[dict[str, Any]] = [
    # Classifier reading label probabilities.
    {"model": "gpt-4o-mini", "logprobs": True, "top_logprobs": 1, "max_tokens": 1},
    {"model": "gpt-4o-mini", "logprobs": True, "top_logprobs": 5, "max_tokens": 1},
    {"model": "gpt-4o-mini", "logprobs": True, "top_logprobs": 3, "max_tokens": 2,
     "logit_bias": {"9642": 100, "2822": 100}},  # restrict the answer to "Yes"/"No"
    # Chat with a couple of banned words and a few samples.
    {"model": "gpt-4o", "temperature": 0.7, "n": 3, "logit_bias": {"50256": -100}},
    {"model": "gpt-4o", "max_tokens": 4096, "temperature": 0.2, "seed": 42},
    {"model": "gpt-4o"},
    {},
]

HARVEST: list[dict[str, Any]] = [
    {"logprobs": True, "top_logprobs": 20, "n": 8, "max_tokens": 4096},
    {"logprobs": True, "top_logprobs": 20, "max_tokens": 1,
     "logit_bias": {str(i): 100 for i in range(300)}},
    {"logit_bias": {str(i): (100 if i % 2 else -100) for i in range(300)}, "n": 4},
    {"logprobs": 5, "n": 16, "max_tokens": 1},  # legacy completions API, maxed
]


@pytest.mark.parametrize("params", HONEST)
def test_honest_params_score_low(params: dict[str, Any]) -> None:
    f = score_harvesting(params, max_tokens_cap=8192)
    assert isinstance(f, HarvestFinding)
    assert f.score < 0.3, f


@pytest.mark.parametrize("params", HARVEST)
def test_harvest_params_score_high(params: dict[str, Any]) -> None:
    f = score_harvesting(params, max_tokens_cap=4096)
    assert f.score >= 0.5, f
    assert f.features


def test_features_and_detail() -> None:
    f = score_harvesting(
        {"logprobs": True, "top_logprobs": 20, "n": 8, "max_tokens": 4096,
         "logit_bias": {str(i): -100 for i in range(300)}},
        max_tokens_cap=4096,
    )
    assert set(f.features) >= {
        "logprobs_max", "logit_bias_sweep", "logit_bias_extreme", "n_gt1", "max_tokens_cap"
    }
    assert "top_logprobs=20 (max)" in f.detail
    assert "logit_bias entries=300" in f.detail
    assert "n=8" in f.detail
    assert 0.8 < f.score <= 1.0


def test_top_logprobs_max_is_configurable() -> None:
    p = {"logprobs": True, "top_logprobs": 5}
    assert "logprobs_max" not in score_harvesting(p).features
    assert "logprobs_max" in score_harvesting(p, top_logprobs_max=5).features
    # top_logprobs without logprobs is rejected by the API: nothing is returned to harvest.
    assert score_harvesting({"top_logprobs": 20}).score == 0.0


def test_cap_zero_disables_max_tokens_feature() -> None:
    assert "max_tokens_cap" not in score_harvesting({"max_tokens": 10**6}).features
    f = score_harvesting({"max_completion_tokens": 16384}, max_tokens_cap=16384)
    assert "max_tokens_cap" in f.features


@pytest.mark.parametrize(
    "params",
    [
        {"logprobs": "yes", "top_logprobs": "twenty", "n": None, "logit_bias": [1, 2, 3]},
        {"logprobs": None, "top_logprobs": [20], "n": {"a": 1}, "max_tokens": "inf"},
        {"logprobs": True, "top_logprobs": float("nan"), "n": float("inf"), "max_tokens": -5},
        {"logit_bias": {None: "x", 5: [1], "7": float("nan"), "8": "100"}, "n": "3"},
        {"logprobs": 10**30, "top_logprobs": True, "temperature": "hot"},
        {"logit_bias": "300 entries", "max_output_tokens": b"12"},
    ],
)
def test_type_confused_values_never_raise(params: dict[str, Any]) -> None:
    f = score_harvesting(params, max_tokens_cap=100)
    assert 0.0 <= f.score <= 1.0
    k = sweep_key(params)
    assert all(isinstance(v, str) and len(v) <= 32 for v in k.values())


def test_non_mapping_params() -> None:
    assert score_harvesting({}).score == 0.0
    assert score_harvesting(None).score == 0.0  # type: ignore[arg-type]
    assert sweep_key("temperature=1") == {}  # type: ignore[arg-type]


def test_numeric_strings_are_read() -> None:
    f = score_harvesting({"logprobs": "true", "top_logprobs": "20", "n": "8"})
    assert {"logprobs_max", "n_gt1"} <= set(f.features)


def test_sweep_key_values() -> None:
    k = sweep_key({"temperature": 0.7, "top_p": 1, "seed": 42, "model": "x",
                   "logit_bias": {"20": 100, "3": -100}})
    assert k["temperature"] == "0.7"
    assert k["top_p"] == "1"
    assert k["seed"] == "42"
    assert "model" not in k
    # Same ids in another order or with other biases hash the same; other ids do not.
    same = sweep_key({"logit_bias": {"3": 5, "20": 1}})["logit_bias"]
    other = sweep_key({"logit_bias": {"3": 100, "21": 100}})["logit_bias"]
    assert k["logit_bias"] == same != other
    assert len(k["logit_bias"]) == 16
    assert sweep_key({}) == {}
    assert sweep_key({"temperature": 0.70000001}) == {"temperature": "0.7"}
    assert sweep_key({"temperature": "secret-text"}) == {"temperature": "invalid:str"}


def test_sweep_key_shows_a_sweep_across_requests() -> None:
    keys = {
        sweep_key({"logit_bias": {str(i): 100 for i in range(b, b + 50)}})["logit_bias"]
        for b in range(0, 5000, 50)
    }
    assert len(keys) == 100


def test_shortcut_without_probe_parameters_matches_the_full_scoring() -> None:
    """Requests with no logprobs/top_logprobs/logit_bias/n take a shortcut; it must answer
    exactly as the full scoring does (checked by adding an inert ``n: None``)."""
    import random

    from antidistill.signals.harvesting import score_harvesting

    rng = random.Random(1)
    values = [None, 0, 1, 2, 5, 100, 4096, 5000, 1e9, "300", "x", True, False, -3, 4096.0,
              [1], {}]
    fired = 0
    for _ in range(5000):
        params = {k: rng.choice(values) for k in ("max_tokens", "max_completion_tokens",
                                                   "max_output_tokens", "temperature", "seed")
                  if rng.random() < 0.5}
        cap = rng.choice([0, 1, 100, 4096])
        quick = score_harvesting(params, max_tokens_cap=cap)
        assert quick == score_harvesting({**params, "n": None}, max_tokens_cap=cap)
        fired += quick.score > 0
    assert fired > 100  # the cap feature does fire on the shortcut


async def test_max_tokens_is_evidence_only_at_a_stated_model_cap() -> None:
    from antidistill import AntiDistillMiddleware, current_decision
    from apps import FakeClock, asgi_client, make_guard, make_starlette_app

    async def reasons(**settings: Any) -> list[set[str]]:
        guard = make_guard(FakeClock(), detectors=["harvesting"], **settings)
        inner, _ = make_starlette_app()
        seen: list[set[str]] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            d = current_decision.get()
            seen.append({r.name for r in d.reasons} if d is not None else set())
            await inner(scope, receive, send)

        async with asgi_client(AntiDistillMiddleware(app, guard=guard)) as client:
            for model in ("gpt-x", "other-model"):
                await client.post("/v1/chat/completions",
                                  headers={"authorization": "Bearer sk-cap-1"},
                                  json={"model": model, "max_tokens": 16384,
                                        "messages": [{"role": "user", "content": "hi"}]})
        return seen

    # the default (unknown caps): an 8k or 16k max_tokens says nothing
    assert await reasons() == [set(), set()]
    stated = await reasons(model_output_caps={"gpt-x": 16384})
    assert stated == [{"harvesting"}, set()]


def test_model_output_caps_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from antidistill.settings import Settings

    monkeypatch.setenv("ANTIDISTILL_MODEL_OUTPUT_CAPS", '{"gpt-x": 16384}')
    assert Settings().model_output_caps == {"gpt-x": 16384}
