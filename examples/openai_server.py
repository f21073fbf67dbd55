"""An OpenAI-compatible chat server (no model) protected by antidistill.

Run it::

    ANTIDISTILL_SECRET=change-me uvicorn examples.openai_server:app --port 8000

and point any OpenAI client at it::

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="sk-anything")
    client.chat.completions.create(model="mock-1", messages=[{"role": "user", "content": "hi"}])

The reply is computed deterministically from the prompt, so the server needs no model and no
network. Both response styles report token usage (``usage`` in JSON; a final chunk with
``stream_options={"include_usage": true}``), which antidistill meters to charge the caller's
token budget. Every setting comes from ``ANTIDISTILL_*`` environment variables.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from antidistill import AntiDistillMiddleware

MODELS = ("mock-1", "mock-1-mini")
_WORDS = (
    "certainly", "here", "is", "a", "short", "answer", "about", "your", "question", "which",
    "depends", "on", "context", "and", "careful", "reasoning", "in", "practice", "the", "key",
    "idea", "works", "well", "for", "most", "cases",
)

app = FastAPI(title="antidistill example: OpenAI-compatible mock")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _tokens(text: str) -> int:
    return (len(text) + 3) // 4


def compose_reply(messages: list[dict[str, Any]], max_tokens: int | None) -> tuple[str, str]:
    """A deterministic reply (and finish reason) derived from the conversation."""
    prompt = "\n".join(_text(m.get("content")) for m in messages if isinstance(m, dict))
    digest = hashlib.sha256(prompt.encode("utf-8", "replace")).digest()
    length = 8 + digest[0] % 17
    words = [_WORDS[b % len(_WORDS)] for b in digest[1:1 + length]]
    finish = "stop"
    if max_tokens is not None and max_tokens < len(words):
        words, finish = words[:max(max_tokens, 0)], "length"
    text = " ".join(words)
    return (text[:1].upper() + text[1:] + ("." if finish == "stop" else "")), finish


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error",
                                   "param": None, "code": code}}, status_code=status)


@app.get("/v1/models")
async def list_models() -> dict[str, Any]:
    return {"object": "list", "data": [
        {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "example"}
        for m in MODELS]}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return _error(400, "We could not parse the JSON body of your request.")
    if not isinstance(body, dict):
        return _error(400, "The request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _error(400, "'messages' must be a non-empty array.", "invalid_messages")
    model = body.get("model")
    if model not in MODELS:
        return _error(404, f"The model {model!r} does not exist.", "model_not_found")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    reply, finish = compose_reply(messages, max_tokens if isinstance(max_tokens, int) else None)
    prompt_tokens = sum(_tokens(_text(m.get("content"))) + 4 for m in messages
                        if isinstance(m, dict))
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": _tokens(reply),
             "total_tokens": prompt_tokens + _tokens(reply)}
    cid = "chatcmpl-" + hashlib.sha256(reply.encode()).hexdigest()[:24]
    created = int(time.time())

    if not body.get("stream"):
        return JSONResponse({
            "id": cid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                         "logprobs": None, "finish_reason": finish}],
            "usage": usage,
        })

    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return b"data: " + json.dumps({
            "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish_reason}],
        }).encode() + b"\n\n"

    async def events() -> AsyncIterator[bytes]:
        yield chunk({"role": "assistant", "content": ""})
        for i, word in enumerate(reply.split(" ")):
            yield chunk({"content": (" " if i else "") + word})
        yield chunk({}, finish)
        if include_usage:
            yield b"data: " + json.dumps({
                "id": cid, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [], "usage": usage,
            }).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache"})


# One line protects every route, including those added later with include_router.
app.add_middleware(AntiDistillMiddleware)
