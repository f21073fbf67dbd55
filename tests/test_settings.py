"""Settings from ``ANTIDISTILL_*`` environment variables, and the middleware built from them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from antidistill import AntiDistillMiddleware, Settings
from apps import asgi_client, clear_env, make_starlette_app


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


def test_defaults() -> None:
    s = Settings()
    assert s.mode == "enforce" and s.storage_uri == "memory://"
    assert s.api_key_headers == ["authorization", "x-api-key", "x-goog-api-key", "api-key"]
    assert s.trusted_proxies == [] and s.routes == {} and s.secret is None


@pytest.mark.parametrize("raw", [
    "10.0.0.0/8,192.168.0.0/16, 2001:db8::/32",
    "10.0.0.0/8; 192.168.0.0/16;2001:db8::/32",
    '["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"]',
])
def test_lists_from_csv_or_json(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("ANTIDISTILL_TRUSTED_PROXIES", raw)
    assert Settings().trusted_proxies == ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"]


def test_empty_list_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTIDISTILL_DETECTORS", "")
    monkeypatch.setenv("ANTIDISTILL_API_KEY_HEADERS", "x-goog-api-key")
    s = Settings()
    assert s.detectors == [] and s.api_key_headers == ["x-goog-api-key"]


def test_mappings_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTIDISTILL_ROUTES",
                       '{"GET /health": "exempt", "POST /v1/**": "inspect", "* /admin/*": '
                       '"budget"}')
    monkeypatch.setenv("ANTIDISTILL_WEIGHTS", '{"intent": 0.5, "custom": 1}')
    monkeypatch.setenv("ANTIDISTILL_THRESHOLDS", '{"block": 0.99}')
    s = Settings()
    assert s.routes == {"GET /health": "exempt", "POST /v1/**": "inspect",
                        "* /admin/*": "budget"}
    assert s.weights == {"intent": 0.5, "custom": 1.0}
    assert s.thresholds == {"block": 0.99}


def test_scalars_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTIDISTILL_MODE", "monitor")
    monkeypatch.setenv("ANTIDISTILL_REQUEST_CAPACITY", "5")
    monkeypatch.setenv("ANTIDISTILL_MAX_BODY_BYTES", "65536")
    monkeypatch.setenv("ANTIDISTILL_EVENTS", "false")
    monkeypatch.setenv("ANTIDISTILL_SECRET", "hunter2-very-secret")
    s = Settings()
    assert (s.mode, s.request_capacity, s.max_body_bytes, s.events) == (
        "monitor", 5.0, 65536, False)
    assert s.secret is not None and s.secret.get_secret_value() == "hunter2-very-secret"
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())


def test_lowercase_variable_names_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("antidistill_mode", "monitor")
    assert Settings().mode == "monitor"


def test_explicit_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTIDISTILL_MODE", "monitor")
    monkeypatch.setenv("ANTIDISTILL_TRUSTED_PROXIES", "10.0.0.0/8")
    monkeypatch.setenv("ANTIDISTILL_REQUEST_CAPACITY", "5")
    s = Settings(mode="enforce", trusted_proxies=["172.16.0.0/12"])
    assert s.mode == "enforce"
    assert s.trusted_proxies == ["172.16.0.0/12"]
    assert s.request_capacity == 5  # the rest still comes from the environment


@pytest.mark.parametrize(("name", "value"), [
    ("ANTIDISTILL_TRUSTED_PROXIES", "10.0.0.0/33"),
    ("ANTIDISTILL_TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip"),
    ("ANTIDISTILL_TRUSTED_PROXIES", '["10.0.0.0/8", "300.1.1.1"]'),
    ("ANTIDISTILL_ROUTES", '{"GET /health": "ignore"}'),
    ("ANTIDISTILL_ROUTES", "GET /health=exempt"),
    ("ANTIDISTILL_ACTIONS", "allow,flag,ban"),
    ("ANTIDISTILL_MODE", "shadow"),
    ("ANTIDISTILL_REQUEST_CAPACITY", "0"),
    ("ANTIDISTILL_EVENT_SAMPLE_ALLOW", "1.5"),
    ("ANTIDISTILL_FAIL_MODE", "sometimes"),
])
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str,
                                    value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises((ValidationError, ValueError)):
        Settings()


def test_invalid_cidr_in_code_is_refused() -> None:
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(trusted_proxies=["192.168.1.0/24", "192.168.1.300/32"])


def test_settings_are_frozen_and_strict() -> None:
    s = Settings()
    with pytest.raises(ValidationError):
        s.mode = "monitor"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Settings(no_such_setting=1)  # type: ignore[call-arg]


async def test_middleware_without_arguments_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTIDISTILL_SECRET", "env-secret")
    monkeypatch.setenv("ANTIDISTILL_REQUEST_CAPACITY", "2")
    monkeypatch.setenv("ANTIDISTILL_REQUEST_INTERVAL", "3600")  # 2 requests per hour
    monkeypatch.setenv("ANTIDISTILL_ROUTES", '{"GET /health": "exempt"}')
    app, _ = make_starlette_app()
    app.add_middleware(AntiDistillMiddleware)
    headers = {"x-api-key": "sk-env"}
    async with asgi_client(app) as client:
        health = [(await client.get("/health", headers=headers)).status_code for _ in range(4)]
        codes = [(await client.get("/decision", headers=headers)).status_code for _ in range(3)]
        denied = await client.get("/decision", headers=headers)
    assert health == [200] * 4
    assert codes == [200, 200, 429]
    # One request refills in 3600 / 2 s; the real clock moved by milliseconds at most.
    assert denied.headers["retry-after"] == "1800"
