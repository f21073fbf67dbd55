"""The shape of vLLM's ``build_app`` (vllm-project/vllm, ``vllm/entrypoints/openai/api_server.py``):
routers, CORS, exception handlers, a pure-ASGI authentication middleware for ``--api-key``
values, the request-id middleware, then every ``--middleware`` entry imported by dotted path and
added with ``app.add_middleware(cls)`` and no arguments (a coroutine function is added as an
``@app.middleware("http")`` instead). Added last, a ``--middleware`` class is the outermost
layer: it sees each request before vLLM's own authentication.
"""

from __future__ import annotations

import importlib
import inspect
from argparse import Namespace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers

from standins.routes import router


class AuthenticationMiddleware:
    """vLLM's: ``Authorization: Bearer <one of --api-key>`` on ``/v1`` paths, else 401."""

    def __init__(self, app: Any, tokens: list[str]) -> None:
        self.app = app
        self.tokens = {f"Bearer {t}" for t in tokens}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("method") == "OPTIONS" \
                or not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
            return
        if Headers(scope=scope).get("authorization") not in self.tokens:
            await JSONResponse({"error": "Unauthorized"}, status_code=401)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class XRequestIdMiddleware:
    """vLLM's ``--enable-request-id-headers``: echo or add ``X-Request-Id``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = Headers(scope=scope).get("x-request-id", "req-stand-in").encode()

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)


def build_app(args: Namespace) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=True,
                       allow_methods=["*"], allow_headers=["*"])

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": {"message": "invalid request", "type": "BadRequestError",
                                       "code": 400}}, status_code=400)

    if args.api_key:
        app.add_middleware(AuthenticationMiddleware, tokens=list(args.api_key))
    if args.enable_request_id_headers:
        app.add_middleware(XRequestIdMiddleware)
    for middleware in args.middleware:
        module_path, object_name = middleware.rsplit(".", 1)
        imported = getattr(importlib.import_module(module_path), object_name)
        if inspect.isclass(imported):
            app.add_middleware(imported)
        elif inspect.iscoroutinefunction(imported):
            app.middleware("http")(imported)
        else:
            raise ValueError(f"Invalid middleware {middleware}. Must be a function or a class.")
    return app
