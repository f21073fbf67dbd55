"""OpenAI and Anthropic routes shared by the stand-ins (fake completions, no model)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from upstream_app import anthropic_events, complete_json, openai_events, reply_for

router = APIRouter()


def _seen(request: Request) -> dict[str, str]:
    """What antidistill decided, for the test to check (a stand-in only: never expose it)."""
    decision = getattr(request.state, "antidistill", None)
    if decision is None:
        return {"x-antidistill": "absent"}
    return {"x-antidistill": decision.action.value, "x-antidistill-identity": decision.identity}


async def _complete(request: Request) -> Response:
    body: dict[str, Any] = await request.json()
    model, text = str(body.get("model", "stand-in")), reply_for(body)
    path = request.url.path
    if not body.get("stream"):
        return JSONResponse(complete_json(path, model, text), headers=_seen(request))
    if path == "/v1/messages":
        events = [f"event: {n}\ndata: {json.dumps(d)}\n\n"
                  for n, d in anthropic_events(model, text)]
    else:
        events = [f"data: {json.dumps(d)}\n\n" for d in openai_events(model, text)]
        events.append("data: [DONE]\n\n")

    async def stream() -> Any:
        for event in events:
            yield event

    return StreamingResponse(stream(), media_type="text/event-stream", headers=_seen(request))


router.add_api_route("/v1/chat/completions", _complete, methods=["POST"])
router.add_api_route("/v1/messages", _complete, methods=["POST"])


@router.get("/v1/models")
async def models() -> dict[str, Any]:
    return {"object": "list", "data": [{"id": "stand-in", "object": "model"}]}


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
