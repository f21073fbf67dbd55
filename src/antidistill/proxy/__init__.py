"""``antidistill proxy``: antidistill in front of any OpenAI-, Anthropic- or Gemini-compatible
model server (vLLM, SGLang, llama.cpp, Ollama, TGI, a LiteLLM gateway, ...).

``antidistill.proxy:app`` is the protected reverse proxy configured from the environment
(``ANTIDISTILL_UPSTREAM_URL`` and the other ``ANTIDISTILL_*`` settings), for any ASGI server::

    ANTIDISTILL_UPSTREAM_URL=http://127.0.0.1:8000 uvicorn antidistill.proxy:app --no-proxy-headers

It is built on first access, so importing this package needs no configuration (nor httpx). Needs the
``proxy`` extra (``pip install 'antidistill[proxy]'``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["UpstreamProxy", "app", "create_proxy_app"]

# The forwarder lives in upstream.py: a submodule named `app` would shadow this attribute.
_app: Any = None


def __getattr__(name: str) -> Any:
    # Lazy: ``antidistill --help`` imports this package's cli without httpx installed.
    global _app
    if name == "app":
        if _app is None:
            from antidistill.proxy.upstream import create_proxy_app

            _app = create_proxy_app()
        return _app
    if name in ("UpstreamProxy", "create_proxy_app"):
        from antidistill.proxy import upstream as module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
