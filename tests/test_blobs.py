"""Reasoning-blob binding: sealing, verification, request-side unwrap and stripping."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from antidistill import AntiDistillMiddleware
from antidistill.enforcement.blobs import PREFIX, BlobBinder
from apps import make_guard

A, B = "key:aaaaaaaaaaaaaaaaaaaa", "key:bbbbbbbbbbbbbbbbbbbb"
BLOB = "EqQBCkgIARAB+/sig=="


@pytest.fixture
def binder() -> BlobBinder:
    return BlobBinder(b"k" * 32)


def test_seal_open(binder: BlobBinder) -> None:
    sealed = binder.seal(BLOB, A)
    assert sealed.startswith(PREFIX) and sealed.endswith("." + BLOB)
    assert A not in sealed and "aaaa" not in sealed  # the issuer travels encrypted
    assert binder.open(sealed, A).original == BLOB
    opened = binder.open(sealed, B)
    assert (opened.status, opened.issuer, opened.original) == ("replay", A, None)
    assert binder.open(BLOB, A).status == "unbound"
    assert binder.open(sealed[:-3] + "xx=", A).status == "forged"  # original swapped
    assert binder.open(PREFIX + "!!!.x", A).status == "forged"
    assert binder.open(PREFIX + "abc", A).status == "forged"
    assert BlobBinder(b"other" * 8).open(sealed, A).status == "forged"
    assert binder.sealer(A)(sealed) == sealed  # never wrapped twice


def _anthropic(sig: str) -> dict[str, Any]:
    return {"model": "c", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": sig},
                                          {"type": "text", "text": "answer"}]}]}


def _responses(blob: str) -> dict[str, Any]:
    return {"model": "o", "input": [{"type": "reasoning", "id": "rs_1", "summary": [],
                                     "encrypted_content": blob},
                                    {"role": "user", "content": "next"}]}


def _gemini(blob: str) -> dict[str, Any]:
    return {"contents": [{"role": "model", "parts": [{"text": "a", "thoughtSignature": blob}]}]}


@pytest.mark.parametrize("make", [_anthropic, _responses, _gemini])
def test_check_request(binder: BlobBinder, make: Any) -> None:
    sealed = binder.seal(BLOB, A)
    own = binder.check_request(json.dumps(make(sealed)).encode(), A)
    assert own.changed and own.own == 1 and own.stripped == 0 and own.signal() is None
    assert json.loads(own.body) == make(BLOB)
    other = binder.check_request(json.dumps(make(sealed)).encode(), B)
    assert other.replays == (A,) and BLOB not in other.body.decode()
    sig = other.signal()
    assert sig is not None and sig.name == "blob_replay" and sig.score == 1.0
    raw = binder.check_request(json.dumps(make(BLOB)).encode(), A)
    assert raw.unbound == 1 and BLOB not in raw.body.decode()
    weak = raw.signal()
    assert weak is not None and weak.score < 1.0


def test_check_request_bad_bodies(binder: BlobBinder) -> None:
    for bad in (b"", b"[1]", b"{not json", b'{"messages": 3, "input": {}, "contents": [1]}'):
        got = binder.check_request(bad, A)
        assert got.body == bad and not got.changed


async def test_middleware_strips_replay_before_the_app() -> None:
    guard = make_guard(bind_reasoning_blobs=True)
    seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        msg = await receive()
        seen.append(msg["body"])
        headers = dict(scope["headers"])
        assert int(headers[b"content-length"]) == len(msg["body"])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    mw = AntiDistillMiddleware(app, guard=guard)
    binder = BlobBinder(guard.pseudonymize.derive(b"antidistill-blob"))
    sealed = binder.seal(BLOB, guard.pseudonymize("key", "sk-a"))
    transport = httpx.ASGITransport(app=mw)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for key in ("sk-a", "sk-b"):
            r = await client.post("/v1/messages", json=_anthropic(sealed),
                                  headers={"x-api-key": key})
            assert r.status_code == 200
    assert BLOB in seen[0].decode() and PREFIX not in seen[0].decode()
    assert BLOB not in seen[1].decode()
    assert guard.counters["blob_replays"] == 1


@pytest.mark.parametrize("make", [_anthropic, _responses, _gemini])
def test_monitor_mode_counts_but_forwards(binder: BlobBinder, make: Any) -> None:
    sealed = binder.seal(BLOB, A)
    got = binder.check_request(json.dumps(make(sealed)).encode(), B, strip=False)
    assert got.replays == (A,) and json.loads(got.body) == make(BLOB)
    raw = binder.check_request(json.dumps(make(BLOB)).encode(), B, strip=False)
    assert raw.unbound == 1 and not raw.changed and raw.body == json.dumps(make(BLOB)).encode()
