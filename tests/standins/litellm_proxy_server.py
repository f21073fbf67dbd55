"""The shape of LiteLLM's proxy (BerriAI/litellm, ``litellm/proxy/proxy_server.py``): a
module-level FastAPI ``app``; the ``litellm`` command (``litellm/proxy/proxy_cli.py``,
``run_server``) starts it with ``uvicorn.run("litellm.proxy.proxy_server:app", ...)``, an import
string that resolves to the module already imported in the same process (one worker).
Virtual keys arrive as ``Authorization: Bearer sk-...`` (or ``x-litellm-api-key``).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from standins.routes import router

app = FastAPI(title="LiteLLM stand-in")
app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=True,
                   allow_methods=["*"], allow_headers=["*"])
app.include_router(router)
