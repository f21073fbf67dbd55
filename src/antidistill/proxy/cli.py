"""``antidistill proxy``: run the protected reverse proxy under uvicorn.

uvicorn's own proxy-header handling is off unless asked for: antidistill reads
``X-Forwarded-For``/``Forwarded`` itself, from ``ANTIDISTILL_TRUSTED_PROXIES`` only, and uvicorn's
default (believe those headers from any loopback peer) would rewrite the client address before
antidistill sees it. Decision events are logged to stderr (``ANTIDISTILL_LOG_EVENTS``, on here
unless set to false).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

APP = "antidistill.proxy:app"


def add_subcommands(subparsers: Any) -> None:
    """Register ``proxy`` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "proxy", help="run a protected reverse proxy in front of a model server",
        description="Forward every request to --upstream through the antidistill middleware "
                    "(all other settings from ANTIDISTILL_* variables).")
    p.add_argument("--upstream", metavar="URL", default=None,
                   help="model server, e.g. http://127.0.0.1:8000 "
                        "(default: ANTIDISTILL_UPSTREAM_URL)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (8080)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (more than one needs shared storage: "
                        "ANTIDISTILL_STORAGE_URI=redis://...)")
    p.add_argument("--proxy-headers", action="store_true",
                   help="let uvicorn take the client address from X-Forwarded-For, from "
                        "ANTIDISTILL_TRUSTED_PROXIES only (off: antidistill reads them itself)")
    p.add_argument("--access-log", action="store_true",
                   help="uvicorn's access log (off: it would log client addresses)")
    p.add_argument("--log-level", default="info",
                   choices=("critical", "error", "warning", "info", "debug"))


def uvicorn_options(args: argparse.Namespace, trusted_proxies: list[str]) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` (checked by the tests)."""
    if args.proxy_headers and not trusted_proxies:
        raise SystemExit("--proxy-headers needs ANTIDISTILL_TRUSTED_PROXIES (the addresses "
                         "whose X-Forwarded-For may be believed)")
    options: dict[str, Any] = {
        "host": args.host, "port": args.port, "workers": args.workers,
        "lifespan": "on", "log_level": args.log_level, "access_log": args.access_log,
        "proxy_headers": bool(args.proxy_headers),
        # The upstream's own Server and Date headers are passed through instead.
        "server_header": False, "date_header": False,
    }
    if args.proxy_headers:
        options["forwarded_allow_ips"] = ",".join(trusted_proxies)
    return options


def run(args: argparse.Namespace) -> int:
    """Run ``proxy`` from parsed arguments (blocks until the server stops)."""
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - the extra is missing
        print("antidistill proxy needs the proxy extra: pip install 'antidistill[proxy]'",
              file=sys.stderr)
        return 2
    from antidistill.proxy.upstream import UpstreamProxy
    from antidistill.settings import Settings

    if args.upstream:
        os.environ["ANTIDISTILL_UPSTREAM_URL"] = args.upstream
    os.environ.setdefault("ANTIDISTILL_LOG_EVENTS", "true")
    settings = Settings()  # fail here, with pydantic's message, rather than in each worker
    if not settings.upstream_url:
        print("antidistill proxy: give --upstream URL or set ANTIDISTILL_UPSTREAM_URL",
              file=sys.stderr)
        return 2
    UpstreamProxy(settings.upstream_url)  # validates the URL
    uvicorn.run(APP, **uvicorn_options(args, list(settings.trusted_proxies)))
    return 0
