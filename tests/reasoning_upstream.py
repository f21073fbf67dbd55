"""Realistic reasoning-model responses in every API format, as JSON and as SSE.

Every piece of reasoning (text, summaries, signatures, encrypted blobs) contains the
marker ``ZQX``, so one substring check proves nothing of it reached a client; the answer is
always :data:`ANSWER`. The shapes follow the providers' published wire formats (OpenAI chat
and Responses, DeepSeek/vLLM ``reasoning_content``, OpenRouter ``reasoning_details``,
Anthropic Messages with extended thinking, Gemini ``generateContent`` with thoughts).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

MARK = "ZQX"
ANSWER = "The first primes are 2, 3, 5 and 7."
ANSWER_PIECES = ["The first", " primes are", " 2, 3,", " 5 and 7."]
REASONING_PIECES = ["ZQX1 the user wants primes, ", "so I list ZQX2 small ones; ",
                    "9 is 3*3 ZQX3."]
REASONING = "".join(REASONING_PIECES)
SIGNATURE = "EqQBCkgIARABZQXsig/+=="
REDACTED = "EmwKAhgBEgZQXredacted=="
ENCRYPTED = "gAAAAABoZQXencrypted_content-_=="
GEMINI_SIG = "CiQBZQXthoughtsig+/=="
# Inline reasoning with the tags split across deltas, then a second block.
THINK_PIECES = ["<thi", "nk>ZQX1 the user wants", " primes ZQX2</th", "ink>\n\nThe first",
                " primes are <think>ZQX3 more</think>", "2, 3,", " 5 and 7."]
THINK_CLOSE_PIECES = ["ZQX1 reasoning that the template opened,", " ZQX2 still</thi",
                      "nk>\n\n", "The first primes", " are 2, 3, 5 and 7."]
# "Student" text that mentions the tag must survive when it is not a reasoning span.
FORMATS = ("chat.deepseek", "chat.openrouter", "chat.think", "chat.think_close",
           "completions.think", "responses", "anthropic", "gemini")
USAGE = {"prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52}
_LOGPROBS = {"content": [{"token": "The", "logprob": -0.01, "bytes": [84, 104, 101],
                          "top_logprobs": []}], "refusal": None}


def _sse(events: list[tuple[str | None, dict[str, Any] | str]]) -> bytes:
    out = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        out.append((f"event: {name}\n" if name else "") + f"data: {text}\n\n")
    return "".join(out).encode()


# -- OpenAI chat / completions ------------------------------------------------------------------


def _chat_deltas(variant: str) -> list[dict[str, Any]]:
    if variant == "deepseek":
        return ([{"role": "assistant", "content": "", "reasoning_content": None}]
                + [{"reasoning_content": p, "content": None} for p in REASONING_PIECES]
                + [{"content": p, "reasoning_content": None} for p in ANSWER_PIECES])
    if variant == "openrouter":
        return ([{"role": "assistant", "content": ""}]
                + [{"content": "", "reasoning": p, "reasoning_details": [
                    {"type": "reasoning.text", "text": p, "format": "unknown", "index": 0}]}
                   for p in REASONING_PIECES]
                + [{"content": "", "reasoning_details": [
                    {"type": "reasoning.encrypted", "data": ENCRYPTED, "index": 1}]}]
                + [{"content": p} for p in ANSWER_PIECES])
    pieces = THINK_PIECES if variant == "think" else THINK_CLOSE_PIECES
    return [{"role": "assistant", "content": ""}] + [{"content": p} for p in pieces]


def chat_sse(variant: str) -> bytes:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1764650000,
            "model": "reasoner-1", "system_fingerprint": "fp_1"}
    events: list[tuple[str | None, dict[str, Any] | str]] = []
    for delta in _chat_deltas(variant):
        events.append((None, {**base, "choices": [{"index": 0, "delta": delta,
                                                   "logprobs": _LOGPROBS,
                                                   "finish_reason": None}]}))
    events.append((None, {**base, "choices": [{"index": 0, "delta": {},
                                               "finish_reason": "stop"}]}))
    events.append((None, {**base, "choices": [], "usage": USAGE}))
    events.append((None, "[DONE]"))
    return _sse(events)


def chat_json(variant: str) -> bytes:
    msg: dict[str, Any] = {"role": "assistant", "content": ANSWER, "refusal": None}
    if variant == "deepseek":
        msg["reasoning_content"] = REASONING
    elif variant == "openrouter":
        msg["reasoning"] = REASONING
        msg["reasoning_details"] = [{"type": "reasoning.text", "text": REASONING, "index": 0},
                                    {"type": "reasoning.encrypted", "data": ENCRYPTED}]
    else:
        msg["content"] = "".join(THINK_PIECES if variant == "think" else THINK_CLOSE_PIECES)
    return json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "created": 1764650000,
                       "model": "reasoner-1", "choices": [
                           {"index": 0, "message": msg, "logprobs": _LOGPROBS,
                            "finish_reason": "stop"}], "usage": USAGE}).encode()


def completions_sse() -> bytes:
    base = {"id": "cmpl-1", "object": "text_completion", "created": 1764650000,
            "model": "reasoner-1"}
    events: list[tuple[str | None, dict[str, Any] | str]] = [
        (None, {**base, "choices": [{"index": 0, "text": p, "logprobs": None,
                                     "finish_reason": None}]}) for p in THINK_PIECES]
    events.append((None, {**base, "choices": [{"index": 0, "text": "", "logprobs": None,
                                               "finish_reason": "stop"}], "usage": USAGE}))
    events.append((None, "[DONE]"))
    return _sse(events)


def completions_json() -> bytes:
    return json.dumps({"id": "cmpl-1", "object": "text_completion", "created": 1764650000,
                       "model": "reasoner-1", "choices": [
                           {"index": 0, "text": "".join(THINK_PIECES), "logprobs": None,
                            "finish_reason": "stop"}], "usage": USAGE}).encode()


# -- OpenAI Responses ---------------------------------------------------------------------------


def _reasoning_item(done: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"id": "rs_1", "type": "reasoning", "summary": []}
    if done:
        item["summary"] = [{"type": "summary_text", "text": REASONING}]
        item["content"] = [{"type": "reasoning_text", "text": REASONING}]
        item["encrypted_content"] = ENCRYPTED
        item["status"] = "completed"
    return item


def _message_item(done: bool) -> dict[str, Any]:
    content = [{"type": "output_text", "text": ANSWER, "annotations": [],
                "logprobs": [{"token": "The", "logprob": -0.1, "bytes": [84],
                              "top_logprobs": []}]}] if done else []
    return {"id": "msg_1", "type": "message", "role": "assistant",
            "status": "completed" if done else "in_progress", "content": content}


def responses_doc(done: bool = True) -> dict[str, Any]:
    return {"id": "resp_1", "object": "response", "created_at": 1764650000,
            "status": "completed" if done else "in_progress", "model": "o-reasoner",
            "output": [_reasoning_item(True), _message_item(True)] if done else [],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "reasoning": {"effort": "high", "summary": "auto"},
            "usage": {"input_tokens": 12, "output_tokens": 40, "total_tokens": 52,
                      "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens_details": {"reasoning_tokens": 30}} if done else None}


def responses_json() -> bytes:
    return json.dumps(responses_doc()).encode()


def responses_sse() -> bytes:
    ev: list[dict[str, Any]] = [
        {"type": "response.created", "response": responses_doc(False)},
        {"type": "response.in_progress", "response": responses_doc(False)},
        {"type": "response.output_item.added", "output_index": 0, "item": _reasoning_item(False)},
        {"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "output_index": 0,
         "summary_index": 0, "part": {"type": "summary_text", "text": ""}},
    ]
    ev += [{"type": "response.reasoning_summary_text.delta", "item_id": "rs_1",
            "output_index": 0, "summary_index": 0, "delta": p} for p in REASONING_PIECES]
    ev += [{"type": "response.reasoning_summary_text.done", "item_id": "rs_1",
            "output_index": 0, "summary_index": 0, "text": REASONING},
           {"type": "response.reasoning_summary_part.done", "item_id": "rs_1",
            "output_index": 0, "summary_index": 0,
            "part": {"type": "summary_text", "text": REASONING}}]
    ev += [{"type": "response.reasoning_text.delta", "item_id": "rs_1", "output_index": 0,
            "content_index": 0, "delta": p} for p in REASONING_PIECES]
    ev += [{"type": "response.reasoning_text.done", "item_id": "rs_1", "output_index": 0,
            "content_index": 0, "text": REASONING},
           {"type": "response.output_item.done", "output_index": 0, "item": _reasoning_item(True)},
           {"type": "response.output_item.added", "output_index": 1, "item": _message_item(False)},
           {"type": "response.content_part.added", "item_id": "msg_1", "output_index": 1,
            "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": [],
                                         "logprobs": []}}]
    ev += [{"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1,
            "content_index": 0, "delta": p,
            "logprobs": [{"token": p, "logprob": -0.2, "top_logprobs": []}]}
           for p in ANSWER_PIECES]
    ev += [{"type": "response.output_text.done", "item_id": "msg_1", "output_index": 1,
            "content_index": 0, "text": ANSWER, "logprobs": []},
           {"type": "response.content_part.done", "item_id": "msg_1", "output_index": 1,
            "content_index": 0, "part": _message_item(True)["content"][0]},
           {"type": "response.output_item.done", "output_index": 1, "item": _message_item(True)},
           {"type": "response.completed", "response": responses_doc(True)}]
    for n, e in enumerate(ev):
        e["sequence_number"] = n
    return _sse([(e["type"], e) for e in ev])


# -- Anthropic Messages ---------------------------------------------------------------------


def anthropic_json() -> bytes:
    return json.dumps({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-reasoner",
        "content": [{"type": "thinking", "thinking": REASONING, "signature": SIGNATURE},
                    {"type": "redacted_thinking", "data": REDACTED},
                    {"type": "text", "text": ANSWER}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 40}}).encode()


def anthropic_sse() -> bytes:
    msg = {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-reasoner",
           "content": [], "stop_reason": None, "stop_sequence": None,
           "usage": {"input_tokens": 12, "output_tokens": 1}}
    ev: list[dict[str, Any]] = [
        {"type": "message_start", "message": msg},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "thinking", "thinking": "", "signature": ""}}]
    ev += [{"type": "content_block_delta", "index": 0,
            "delta": {"type": "thinking_delta", "thinking": p}} for p in REASONING_PIECES]
    ev += [{"type": "content_block_delta", "index": 0,
            "delta": {"type": "signature_delta", "signature": SIGNATURE}},
           {"type": "content_block_stop", "index": 0},
           {"type": "content_block_start", "index": 1,
            "content_block": {"type": "redacted_thinking", "data": REDACTED}},
           {"type": "content_block_stop", "index": 1},
           {"type": "ping"},
           {"type": "content_block_start", "index": 2,
            "content_block": {"type": "text", "text": ""}}]
    ev += [{"type": "content_block_delta", "index": 2,
            "delta": {"type": "text_delta", "text": p}} for p in ANSWER_PIECES]
    ev += [{"type": "content_block_stop", "index": 2},
           {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 40}},
           {"type": "message_stop"}]
    return _sse([(e["type"], e) for e in ev])


# -- Gemini ---------------------------------------------------------------------------------


def _gemini_chunk(parts: list[dict[str, Any]], last: bool) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    doc: dict[str, Any] = {"candidates": [cand], "modelVersion": "gemini-reasoner",
                           "responseId": "r1"}
    if last:
        cand["finishReason"] = "STOP"
        cand["avgLogprobs"] = -0.2
        cand["logprobsResult"] = {"topCandidates": [], "chosenCandidates": [
            {"token": "The", "logProbability": -0.1}]}
        doc["usageMetadata"] = {"promptTokenCount": 12, "candidatesTokenCount": 10,
                                "thoughtsTokenCount": 30, "totalTokenCount": 52}
    return doc


def gemini_json() -> bytes:
    parts = [{"text": REASONING, "thought": True},
             {"text": ANSWER, "thoughtSignature": GEMINI_SIG}]
    return json.dumps(_gemini_chunk(parts, True)).encode()


def gemini_sse() -> bytes:
    chunks = [_gemini_chunk([{"text": p, "thought": True}], False) for p in REASONING_PIECES]
    first = {"text": ANSWER_PIECES[0], "thoughtSignature": GEMINI_SIG}
    chunks.append(_gemini_chunk([first], False))
    chunks += [_gemini_chunk([{"text": p}], False) for p in ANSWER_PIECES[1:-1]]
    chunks.append(_gemini_chunk([{"text": ANSWER_PIECES[-1]}], True))
    # Google's servers end events with CRLF pairs.
    return b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks)


def body(fmt: str, stream: bool) -> bytes:
    """The upstream body for one of :data:`FORMATS`."""
    family, _, variant = fmt.partition(".")
    if family == "chat":
        return chat_sse(variant) if stream else chat_json(variant)
    makers = {"completions": (completions_sse, completions_json),
              "responses": (responses_sse, responses_json),
              "anthropic": (anthropic_sse, anthropic_json),
              "gemini": (gemini_sse, gemini_json)}
    sse, js = makers[family]
    return sse() if stream else js()


def answer_of(fmt: str, raw: bytes, stream: bool) -> str:
    """The answer text a client assembles from a (filtered) body."""
    if not stream:
        return _answer_doc(json.loads(raw))
    text = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        for line in block.split(b"\n"):
            if line.startswith(b"data: ") and line[6:7] == b"{":
                text.append(_answer_event(json.loads(line[6:])))
    return "".join(text)


def _answer_doc(doc: dict[str, Any]) -> str:
    if "choices" in doc:
        ch = doc["choices"][0]
        return str(ch["message"]["content"] if "message" in ch else ch["text"])
    if doc.get("object") == "response":
        return "".join(c["text"] for it in doc["output"] if it["type"] == "message"
                       for c in it["content"])
    if doc.get("type") == "message":
        return "".join(b.get("text", "") for b in doc["content"])
    return "".join(p.get("text", "") for p in doc["candidates"][0]["content"]["parts"])


def _answer_event(ev: dict[str, Any]) -> str:
    if "choices" in ev:
        out = ""
        for ch in ev["choices"]:
            delta = ch.get("delta")
            out += (delta.get("content") or "") if isinstance(delta, dict) else ch.get("text", "")
        return out
    kind = ev.get("type", "")
    if kind == "response.output_text.delta":
        return str(ev["delta"])
    if kind == "content_block_delta" and ev["delta"].get("type") == "text_delta":
        return str(ev["delta"]["text"])
    if "candidates" in ev:
        return "".join(p.get("text", "") for c in ev["candidates"]
                       for p in c.get("content", {}).get("parts", []))
    return ""


# -- the app ----------------------------------------------------------------------------------


async def _reply(request: Request, fmt: str, stream: bool) -> Response:
    raw = body(fmt, stream)
    request.app.state.requests.append(await request.body())
    if not stream:
        return Response(raw, media_type="application/json")

    async def pieces() -> Any:
        # Split every event in two so the filter sees events cut mid-line.
        for event in raw.split(b"\n\n" if b"\r\n" not in raw else b"\r\n\r\n"):
            if event:
                sep = b"\n\n" if b"\r\n" not in raw else b"\r\n\r\n"
                whole = event + sep
                half = len(whole) // 2
                yield whole[:half]
                yield whole[half:]

    return StreamingResponse(pieces(), media_type="text/event-stream")


def _variant(doc: dict[str, Any]) -> str:
    model = str(doc.get("model", ""))
    return model if model in ("deepseek", "openrouter", "think", "think_close") else "deepseek"


async def chat(request: Request) -> Response:
    doc = json.loads(await request.body())
    return await _reply(request, "chat." + _variant(doc), bool(doc.get("stream")))


async def completions(request: Request) -> Response:
    doc = json.loads(await request.body())
    return await _reply(request, "completions.think", bool(doc.get("stream")))


async def responses(request: Request) -> Response:
    doc = json.loads(await request.body())
    return await _reply(request, "responses", bool(doc.get("stream")))


async def messages(request: Request) -> Response:
    doc = json.loads(await request.body())
    return await _reply(request, "anthropic", bool(doc.get("stream")))


async def gemini(request: Request) -> Response:
    stream = request.path_params["method"] == "streamGenerateContent"
    return await _reply(request, "gemini", stream)


def make_reasoning_app() -> Starlette:
    """A Starlette app answering every format; ``app.state.requests`` records the bodies."""
    app = Starlette(routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/responses", responses, methods=["POST"]),
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1beta/models/{model}:{method}", gemini, methods=["POST"]),
    ])
    app.state.requests = []
    return app
