"""The overhead histogram (``antidistill_overhead_seconds``) is fed by the middleware: one
observation per checked request, labelled by route pattern, measured before the app runs."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from antidistill import AntiDistillMiddleware, Guard, Settings
from antidistill.reporting.metrics import Metrics
from apps import SECRET, FakeClock, asgi_client, clear_env, make_starlette_app


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


def _overhead(reg: CollectorRegistry, suffix: str) -> dict[str, float]:
    return {s.labels["route"]: s.value for metric in reg.collect()
            if metric.name == "antidistill_overhead_seconds" for s in metric.samples
            if s.name == f"antidistill_overhead_seconds_{suffix}"}


async def test_every_checked_request_is_one_overhead_observation() -> None:
    guard = Guard(Settings(secret=SECRET, metrics=True, max_delay=0.0,
                           routes={"POST /v1/chat/completions": "inspect"}), clock=FakeClock())
    reg = CollectorRegistry()
    guard.metrics = Metrics(reg)
    app, _ = make_starlette_app()
    async with asgi_client(AntiDistillMiddleware(app, guard=guard)) as c:
        for i in range(3):
            r = await c.post("/v1/chat/completions", json={"model": "m", "messages": [
                {"role": "user", "content": f"Name a river, number {i}"}]},
                headers={"authorization": f"Bearer sk-overhead-{i}"})
            assert r.status_code == 200
    counts, sums = _overhead(reg, "count"), _overhead(reg, "sum")
    assert counts == {"POST /v1/chat/completions": 3.0}  # the pattern, never a key or path
    assert 0.0 < sums["POST /v1/chat/completions"] < 3.0
