"""A small OpenAI-compatible chat server (no model: replies are derived from the prompt).

Used by ``antidistill demo`` in-process and by the examples. ``/v1/chat/completions``
answers JSON or, with ``"stream": true``, Server-Sent Events with a final usage chunk when
``stream_options.include_usage`` is set, as OpenAI does.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

WORDS = ("the answer follows from the question as stated and the steps are short "
         "so here is a concise reply").split()


# The varied replies' vocabulary: the answer to one conversation differs from the answer to
# another (so a session's history can be told from another session's), same length as before.
VARIED = tuple(sorted(set(WORDS) | set(
    "a an and are as be but by can code data do each for from has how if in is it its make "
    "more most new not now of on one or our out so some than that then there these this time "
    "to two use value was we what when which with work you your first next result check list "
    "file test case step value error change line call return".split())))


def _reply(prompt_chars: int, max_tokens: int, salt: int | None = None) -> list[str]:
    n = max(1, min(max_tokens, 16 + prompt_chars % 48))
    if salt is None:
        return [WORDS[i % len(WORDS)] for i in range(n)]
    return [VARIED[(salt >> (i % 24) ^ i * 2654435761) % len(VARIED)] for i in range(n)]


def _salt(messages: list[Any]) -> int:
    """A stable number from the conversation's last message (crc32, cheap and deterministic)."""
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    return zlib.crc32(str(last.get("content", "")).encode("utf-8", "replace"))


async def chat_completions(request: Request) -> Response:
    return await _chat(request, varied=False)


async def varied_chat_completions(request: Request) -> Response:
    return await _chat(request, varied=True)


async def _chat(request: Request, varied: bool) -> Response:
    try:
        body: Any = json.loads(await request.body() or b"{}")
    except ValueError:
        return JSONResponse({"error": {"message": "invalid JSON", "type": "invalid_request_error",
                                       "param": None, "code": None}}, status_code=400)
    if not isinstance(body, dict):
        body = {}
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    prompt_chars = sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, dict))
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens") or 64
    if not isinstance(max_tokens, int) or max_tokens < 1:
        max_tokens = 64
    words = _reply(prompt_chars, max_tokens, _salt(messages) if varied else None)
    prompt_tokens = max(1, prompt_chars // 4)
    created = int(time.time())
    model = str(body.get("model", "demo-model"))
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def events() -> AsyncIterator[bytes]:
            for i, word in enumerate(words):
                delta: dict[str, str] = {"content": word + " "}
                if i == 0:
                    delta["role"] = "assistant"
                chunk = {"id": "chatcmpl-demo", "object": "chat.completion.chunk",
                         "created": created, "model": model,
                         "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                yield b"data: " + json.dumps(chunk).encode() + b"\n\n"
            final = {"id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": created,
                     "model": model, "choices": [{"index": 0, "delta": {},
                                                  "finish_reason": "stop"}]}
            yield b"data: " + json.dumps(final).encode() + b"\n\n"
            if include_usage:
                usage = {"id": "chatcmpl-demo", "object": "chat.completion.chunk",
                         "created": created, "model": model, "choices": [],
                         "usage": {"prompt_tokens": prompt_tokens,
                                   "completion_tokens": len(words),
                                   "total_tokens": prompt_tokens + len(words)}}
                yield b"data: " + json.dumps(usage).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")
    hide = False
    decision = getattr(request.state, "antidistill", None)
    if decision is not None and getattr(decision, "hide_reasoning", False):
        hide = True
    return JSONResponse({
        "id": "chatcmpl-demo",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": " ".join(words)},
                     **({} if hide else {"logprobs": None})}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                  "total_tokens": prompt_tokens + len(words)},
    })


async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": "demo-model", "object": "model"}]})


def create_app(*, varied: bool = False) -> Starlette:
    """The demo server. ``varied``: replies depend on the conversation's last message (the
    harder day uses it, so each session's history holds answers no other session got)."""
    return Starlette(routes=[
        Route("/v1/chat/completions", varied_chat_completions if varied else chat_completions,
              methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
    ])
