"""A stand-in model server for the proxy tests, run as its own uvicorn process.

Pure ASGI, so the tests see exactly what reached it: OpenAI ``/v1/chat/completions`` and
Anthropic ``/v1/messages``, JSON and SSE. Test controls, by request header:

- ``x-test-gate: ID``: stream the first event, then wait until ``POST /_control/release/ID``.
- ``x-test-hang: ID``: stream the first event, then wait for the client to go away and count
  it in ``/_control/state`` (``disconnects``): how the tests see a cancellation arrive.
- ``x-test-slow: SECONDS``: answer only after that long (an upstream timeout).

``GET /headers`` returns the request headers it got; ``GET /gzip`` a gzip-encoded JSON body;
``/_control/state`` what happened so far. Run: ``uvicorn upstream_app:app`` from ``tests/``.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]

GZIP_BODY = gzip.compress(json.dumps({"compressed": True, "pad": "x" * 2000}).encode(), mtime=0)
STATE: dict[str, Any] = {"requests": 0, "disconnects": [], "finished": [], "seen": {}}
GATES: dict[str, asyncio.Event] = {}
MAX_WAIT = 30.0


def reply_for(body: dict[str, Any]) -> str:
    """The deterministic reply: describes the last user turn, so a test can check that the
    whole request body arrived (length and hash of the text)."""
    turns = body.get("messages") or [{}]
    content = turns[-1].get("content", "")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    text = str(content)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"Heard {len(text)} chars, sha {digest}. Here is my answer, word by word."


def seen_params(body: dict[str, Any]) -> dict[str, Any]:
    """What the proxy let through of the parameters a degrade rewrite changes."""
    return {k: body.get(k) for k in ("max_tokens", "logprobs", "top_logprobs", "n")}


async def _json(send: Send, status: int, payload: Any) -> None:
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()),
                            (b"x-upstream", b"stand-in")]})
    await send({"type": "http.response.body", "body": data})


async def _read(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def openai_events(model: str, text: str) -> list[dict[str, Any]]:
    words = text.split(" ")
    base = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": model}
    out = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                 "finish_reason": None}]}]
    for i, w in enumerate(words):
        piece = w if i == 0 else " " + w
        out.append({**base, "choices": [{"index": 0, "delta": {"content": piece},
                                         "finish_reason": None}]})
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    out.append({**base, "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens":
                                                  len(words), "total_tokens": 7 + len(words)}})
    return out


def anthropic_events(model: str, text: str) -> list[tuple[str, dict[str, Any]]]:
    words = text.split(" ")
    message = {"id": "msg_up", "type": "message", "role": "assistant", "model": model,
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": 7, "output_tokens": 1}}
    out: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}})]
    for i, w in enumerate(words):
        out.append(("content_block_delta", {
            "type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": w if i == 0 else " " + w}}))
    out += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                               "usage": {"output_tokens": len(words)}}),
            ("message_stop", {"type": "message_stop"})]
    return out


def complete_json(path: str, model: str, text: str) -> dict[str, Any]:
    words = len(text.split(" "))
    if path == "/v1/messages":
        return {"id": "msg_up", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                "stop_sequence": None, "usage": {"input_tokens": 7, "output_tokens": words}}
    return {"id": "chatcmpl-up", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": words,
                      "total_tokens": 7 + words}}


async def _stream(path: str, model: str, text: str, controls: dict[str, str],
                  receive: Receive, send: Send) -> None:
    if path == "/v1/messages":
        events = [f"event: {n}\ndata: {json.dumps(d)}\n\n"
                  for n, d in anthropic_events(model, text)]
    else:
        events = [f"data: {json.dumps(d)}\n\n" for d in openai_events(model, text)]
        events.append("data: [DONE]\n\n")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"),
                            (b"cache-control", b"no-cache")]})
    tag = controls.get("gate") or controls.get("hang") or ""
    for i, event in enumerate(events):
        await send({"type": "http.response.body", "body": event.encode(), "more_body": True})
        if i == 0 and controls.get("gate"):
            gate = GATES.setdefault(tag, asyncio.Event())
            await asyncio.wait_for(gate.wait(), MAX_WAIT)
        if i == 0 and controls.get("hang"):
            await _wait_for_disconnect(receive, tag)
            return
    await send({"type": "http.response.body", "body": b""})
    if tag:
        STATE["finished"].append(tag)


async def _wait_for_disconnect(receive: Receive, tag: str) -> None:
    deadline = time.monotonic() + MAX_WAIT
    while time.monotonic() < deadline:
        message = await asyncio.wait_for(receive(), MAX_WAIT)
        if message["type"] == "http.disconnect":
            STATE["disconnects"].append(tag)
            return


async def _completion(scope: Any, receive: Receive, send: Send) -> None:
    raw = await _read(receive)
    body = json.loads(raw)
    headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
    controls = {name: headers.get(f"x-test-{name}", "") for name in ("gate", "hang", "slow")}
    tag = controls["gate"] or controls["hang"] or headers.get("x-test-id", "")
    if tag:
        STATE["seen"][tag] = {**seen_params(body), "bytes": len(raw)}
    if controls["slow"]:
        await asyncio.sleep(float(controls["slow"]))
    model = str(body.get("model", "stand-in"))
    text = reply_for(body)
    if body.get("stream"):
        await _stream(scope["path"], model, text, controls, receive, send)
    else:
        await _json(send, 200, complete_json(scope["path"], model, text))


async def _control(scope: Any, receive: Receive, send: Send) -> None:
    path = scope["path"]
    if path.startswith("/_control/release/"):
        GATES.setdefault(path.rsplit("/", 1)[1], asyncio.Event()).set()
        await _json(send, 200, {"released": True})
    else:
        await _json(send, 200, STATE)


async def app(scope: Any, receive: Receive, send: Send) -> None:
    """The stand-in server (ASGI)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    if path.startswith("/_control/"):
        await _control(scope, receive, send)
        return
    STATE["requests"] += 1
    if path in ("/v1/chat/completions", "/v1/messages") and scope["method"] == "POST":
        await _completion(scope, receive, send)
    elif path == "/headers":
        await _read(receive)
        await _json(send, 200, [[k.decode(), v.decode()] for k, v in scope["headers"]])
    elif path == "/gzip":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-encoding", b"gzip"),
                                (b"content-length", str(len(GZIP_BODY)).encode())]})
        await send({"type": "http.response.body", "body": GZIP_BODY})
    elif path == "/v1/models":
        await _json(send, 200, {"object": "list", "data": [{"id": "stand-in",
                                                             "object": "model"}]})
    else:
        await _json(send, 404, {"error": {"message": "not found", "type": "not_found"}})
