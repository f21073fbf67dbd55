"""The shape of SGLang's server (sgl-project/sglang,
``python/sglang/srt/entrypoints/http_server.py``): a module-level
``app = FastAPI(lifespan=...)`` with CORS added at import, and ``launch_server``,
which adds the ``--api-key`` check as an ``@app.middleware("http")`` function and then calls
``uvicorn.run(app, ...)`` on that object (one tokenizer worker). There is no ``--middleware``
option: ``antidistill.proxy.launch`` wraps ``app`` before ``launch_server`` runs.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from standins.routes import router


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.ready = True
    yield


app = FastAPI(lifespan=lifespan)
app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=True,
                   allow_methods=["*"], allow_headers=["*"])
app.include_router(router)


def add_api_key_middleware(app: FastAPI, api_key: str) -> None:
    @app.middleware("http")
    async def authentication(request: Any, call_next: Any) -> Any:
        if request.method == "OPTIONS" or request.url.path.startswith("/health"):
            return await call_next(request)
        if request.headers.get("Authorization") != "Bearer " + api_key:
            return JSONResponse(content={"error": "Unauthorized"}, status_code=401)
        return await call_next(request)


def launch_server(server_args: Namespace) -> None:
    if server_args.api_key:
        add_api_key_middleware(app, server_args.api_key)
    uvicorn.run(app, host=server_args.host, port=server_args.port, log_level="warning",
                timeout_keep_alive=5)
