"""Wrap a Python model server's ASGI app with antidistill before it starts, then run it.

For servers that build a module-level FastAPI ``app`` and start uvicorn themselves, without a
``--middleware`` option (SGLang, LiteLLM's proxy)::

    python -m antidistill.proxy.launch sglang.srt.entrypoints.http_server:app \\
        sglang.launch_server --model-path ... --port 30000

imports the module holding the app, adds :class:`~antidistill.AntiDistillMiddleware` (configured
from ``ANTIDISTILL_*`` variables), then runs the server's own entry module as ``__main__`` with
the remaining arguments. The server's ``uvicorn.run(app)``, or ``uvicorn.run("module:app")`` in
the same process, then serves the wrapped app. Worker processes that import the module afresh
(``--workers`` > 1) are not wrapped: use a module of your own that calls :func:`protect` at
import time, or ``antidistill proxy``.
"""

from __future__ import annotations

import importlib
import runpy
import sys
from collections.abc import Sequence
from typing import Any

USAGE = ("usage: python -m antidistill.proxy.launch MODULE:APP RUN_MODULE [ARGS...]\n"
         "  MODULE:APP   the server's ASGI app to protect, e.g. "
         "sglang.srt.entrypoints.http_server:app\n"
         "  RUN_MODULE   the module that starts the server (run as __main__), e.g. "
         "sglang.launch_server")


def protect(app: Any) -> Any:
    """Add ``AntiDistillMiddleware`` (from the environment) to a Starlette/FastAPI ``app``
    that has not started yet, as its outermost middleware so far; returns ``app``."""
    from antidistill.middleware import AntiDistillMiddleware

    app.add_middleware(AntiDistillMiddleware)
    return app


def load_app(spec: str) -> Any:
    """The object ``module:attr`` names (imported once; later imports get the same object)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"not MODULE:APP: {spec!r}\n{USAGE}")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Protect ``argv[0]``'s app, then run module ``argv[1]`` with the remaining arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 2
    spec, run_module, rest = args[0], args[1], args[2:]
    protect(load_app(spec))
    sys.argv = [run_module, *rest]
    runpy.run_module(run_module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess in the tests
    sys.exit(main())
