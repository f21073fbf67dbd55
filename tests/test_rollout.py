"""Roll-out-safe defaults (#14 item 3): with no ANTIDISTILL_* variable set, monitor mode
answers everything and enforce mode throttles only on detection."""

from __future__ import annotations

import pytest

from antidistill import AntiDistillMiddleware, Guard, RequestContext, Settings, Signal
from apps import FakeClock, asgi_client, clear_env, make_starlette_app

CHAT = {"model": "m", "messages": [{"role": "user", "content": "Summarise the water cycle."}]}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


async def _two_hundred(guard: Guard) -> list[int]:
    app, _ = make_starlette_app()
    async with asgi_client(AntiDistillMiddleware(app, guard=guard)) as client:
        return [(await client.post("/echo", json=CHAT,
                                   headers={"authorization": "Bearer sk-batch-job"})).status_code
                for _ in range(200)]


@pytest.mark.parametrize("mode", ["monitor", "enforce"])
async def test_no_configuration_never_throttles_a_busy_honest_key(
        monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    if mode == "monitor":
        monkeypatch.setenv("ANTIDISTILL_MODE", "monitor")
    # One virtual second for all 200: far beyond the default bucket (120 burst, 2/s).
    guard = Guard(Settings(), clock=FakeClock(), load_env_hooks=False)
    assert await _two_hundred(guard) == [200] * 200
    assert guard.counters["throttle"] == 0


async def test_no_configuration_enforce_mode_still_acts_on_detection() -> None:
    guard = Guard(Settings(weights={"custom": 1.0}), clock=FakeClock(), load_env_hooks=False)

    @guard.scorer
    def distiller(ctx: RequestContext) -> Signal:
        return Signal("custom", 1.0, "test: known campaign")

    codes = await _two_hundred(guard)
    assert set(codes) == {403}  # a host scorer is an operator's word: it may block alone


async def test_configured_budgets_are_enforced() -> None:
    guard = Guard(Settings(request_capacity=5, request_refill_rate=0.001), clock=FakeClock(),
                  load_env_hooks=False)
    codes = await _two_hundred(guard)
    assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}
